"""oneloop's benchmark suite.

``python -m bench.quick`` is the quick in-process comparison (stock sync ORM,
stock async ORM, oneloop). ``python -m bench run --quick`` / ``--full`` runs the
whole suite (issue 7): every system side by side on loopback, results as JSON
in ``bench/results/``, plots in ``docs/img/`` and a table in
``docs/benchmarks.md``.
"""
