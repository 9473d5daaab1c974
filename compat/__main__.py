"""``python -m compat``: see ``compat.cli``."""

import sys

from compat.cli import main

sys.exit(main())
