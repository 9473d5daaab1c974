"""Every code sample in the docs runs.

Every fenced ```` ```python ```` block of ``docs/*.md`` and ``README.md``
must carry one of these markers after ``python``; an unmarked block fails
``test_every_python_block_is_marked``:

``test``
    Executed in a fresh interpreter with the bookshop demo's settings and a
    migrated, seeded SQLite database, so samples may import ``shop.models``
    and query. A sample that defines ``async def main()`` has it run with
    ``asyncio.run`` (a sync ``main()`` is called). Besides the demo's
    templates, the samples find those of ``tests/testapp_tpl/templates``
    (``tpl/email.txt``, the template the library-authors guide quotes).
    ``test continued`` runs the page's previous sample first, in the same
    interpreter, so a page can define a function in one block and call it
    in the next.

``settings``
    A fragment of ``settings.py``. It is executed on top of the demo's
    settings module namespace (so it may use ``BASE_DIR``), then the result
    is passed to ``settings.configure()``, ``django.setup()`` runs,
    ``django.core.checks.run_checks()`` must report no error, and every
    database, cache, template engine and email backend (each mailer on
    Django 6.1) it configures is instantiated (without connecting). A
    ``...`` item of a list or tuple the fragment assigns stands for the
    demo's entries that the fragment does not name, so
    ``INSTALLED_APPS = [..., "oneloop"]`` is the demo's apps plus
    ``oneloop``; ``...`` anywhere else is an error.

``pytest``
    A pytest test module. It is written to a temporary directory and run by
    pytest (pytest-django and pytest-asyncio, ``asyncio_mode = auto``)
    against the demo's settings minus its database router (which sends
    reads to the ``replica`` alias; the samples test a one-database
    project); every test must pass and at least one must run.

``conftest``
    The ``conftest.py`` of the page's ``pytest`` samples: written next to
    each of them. A page with a ``conftest`` block must have a ``pytest``
    block.

Other blocks: each command of a ```` ```sh ```` block is checked without
running it (Python entry points answer ``--help`` and list every flag shown,
shell scripts pass ``sh -n``/``bash -n`` and handle every flag, see
``test_shell_command_exists_and_takes_the_flags_shown``); the
```` ```ini ```` block of scale-out.md is parsed; ```` ```text ```` and bare
fences hold output and diagrams. A block in any other language fails.

Besides the samples: ``docs/errors.md`` must quote every message the package
raises or logs (``test_errors_page_quotes_every_message_oneloop_raises``).
"""

from __future__ import annotations

import ast
import configparser
import functools
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.examples.conftest import DEMO_DIR, ROOT, demo
from tests.servers import unavailable

DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
# The guides docs/index.md must link to.
GUIDES = [
    "getting-started.md",
    "how-it-works.md",
    "connections.md",
    "settings.md",
    "checks.md",
    "migrating.md",
    "limits.md",
    "errors.md",
    "scale-out.md",
]
MARKERS = ("test", "settings", "pytest", "conftest")
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.M | re.S)
TEMPLATE_DIR = ROOT / "tests" / "testapp_tpl" / "templates"

RUNNER = """
import asyncio, inspect, sys
import django
from django.conf import settings
settings.TEMPLATES[0]["DIRS"] = [*settings.TEMPLATES[0]["DIRS"], sys.argv[3]]
django.setup()
source = open(sys.argv[1], encoding="utf-8").read()
namespace = {"__name__": "__doc_sample__"}
exec(compile(source, sys.argv[2], "exec"), namespace)
main = namespace.get("main")
if inspect.iscoroutinefunction(main):
    asyncio.run(main())
elif callable(main):
    main()
"""

SETTINGS_RUNNER = """
import importlib, os, sys
import django
from django.conf import settings
from django.core import checks

demo = {k: v for k, v in vars(importlib.import_module("bookshop.settings")).items()
        if k.isupper()}
namespace = dict(demo)
source = open(sys.argv[1], encoding="utf-8").read()
exec(compile(source, sys.argv[2], "exec"), namespace)
assigned = {k for k, v in namespace.items() if k.isupper() and demo.get(k) is not v}
assert assigned, "the fragment sets no setting"


def expand(name, value):
    if isinstance(value, (list, tuple)) and Ellipsis in value:
        rest = [item for item in demo.get(name, ()) if item not in value]
        items = [new for item in value for new in (rest if item is ... else [item])]
        value = type(value)(items)
    check(name, value)
    return value


def check(name, value):
    if value is Ellipsis:
        raise AssertionError(f"{name}: '...' is only allowed as a list item")
    if isinstance(value, dict):
        for item in value.values():
            check(name, item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            check(name, item)


for name in assigned:
    namespace[name] = expand(name, namespace[name])
# Django 6.1's checks ask a MySQL server for its version: a sample's server
# is a placeholder, so they ask the suite's MariaDB.
for db in namespace.get("DATABASES", {}).values():
    if db.get("ENGINE", "").endswith(".mysql"):
        db.update(
            NAME="test",
            HOST=os.environ.get("ONELOOP_TEST_MYSQL_HOST", "127.0.0.1"),
            PORT=os.environ.get("ONELOOP_TEST_MYSQL_PORT", "3306"),
            USER=os.environ.get("ONELOOP_TEST_MYSQL_USER", "root"),
            PASSWORD="",
        )
settings.configure(**{k: v for k, v in namespace.items() if k.isupper()})
django.setup()
errors = [m for m in checks.run_checks() if m.level >= checks.ERROR]
assert not errors, errors

from django.core import mail
from django.core.cache import caches
from django.db import connections
from django.template import engines

for alias in settings.DATABASES:
    connections[alias]
for alias in settings.CACHES:
    caches[alias]
engines.all()
if django.VERSION >= (6, 1):  # MAILERS; get_connection() is deprecated there
    for alias in mail.mailers:
        mail.mailers[alias]
else:
    mail.get_connection()
"""

PYTEST_SETTINGS = """\
from bookshop.settings import *  # noqa: F403

DATABASE_ROUTERS = []
"""
PYTEST_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


class Block(NamedTuple):
    page: str  # "docs/name.md" or "README.md"
    line: int  # of the opening fence
    marker: str  # one of MARKERS, or "" when unmarked
    continued: bool
    code: str


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        words = match.group(1).split()
        marker = words[0] if words and words[0] in MARKERS else ""
        found.append(
            Block(
                str(page.relative_to(ROOT)),
                text.count("\n", 0, match.start()) + 1,
                marker,
                "continued" in words[1:],
                match.group(2),
            )
        )
    return found


def placed(chain: list[Block]) -> str:
    """The blocks' code at their line numbers on the page, so tracebacks
    point at the page."""
    source = ""
    for block in chain:
        source += "\n" * (block.line - source.count("\n")) + block.code
    return source


def samples() -> list[tuple[str, int, str, str]]:
    """(marker, line, page, source) of every sample to run."""
    found = []
    for page in PAGES:
        chain: list[Block] = []
        page_blocks = blocks(page)
        conftest = placed([b for b in page_blocks if b.marker == "conftest"])
        for block in page_blocks:
            if block.marker == "test":
                chain = [*chain, block] if block.continued and chain else [block]
                found.append(("test", block.line, block.page, placed(chain)))
            elif block.marker in ("settings", "pytest"):
                source = placed([block])
                found.append((block.marker, block.line, block.page, source))
                if block.marker == "pytest":
                    found[-1] = (*found[-1][:3], source + "\0" + conftest)
    return found


SAMPLES = samples()


def test_every_python_block_is_marked() -> None:
    for page in PAGES:
        page_blocks = blocks(page)
        for block in page_blocks:
            assert block.marker, (
                f"{block.page}:{block.line}: a ```python block must be marked "
                f"with one of {', '.join(MARKERS)} (see tests/examples/test_docs.py)"
            )
            assert not block.continued or block.marker == "test"
        markers = {block.marker for block in page_blocks}
        if "conftest" in markers:
            assert "pytest" in markers, f"{page.name}: a conftest but no pytest block"


def test_index_links_every_guide() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for name in GUIDES:
        assert f"({name})" in index, f"docs/index.md does not link {name}"


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    database = tmp_path_factory.mktemp("docs") / "db.sqlite3"
    demo.setup(BOOKSHOP_SQLITE=str(database))
    return demo.child_env(BOOKSHOP_SQLITE=str(database))


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


@pytest.mark.parametrize(
    "marker,line,page,source", SAMPLES, ids=[f"{p}:{n}" for _, n, p, _ in SAMPLES]
)
def test_sample_runs(
    marker: str,
    line: int,
    page: str,
    source: str,
    demo_env: dict[str, str],
    tmp_path: Path,
) -> None:
    if marker == "pytest":
        module, conftest = source.split("\0")
        (tmp_path / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
        (tmp_path / "docs_settings.py").write_text(PYTEST_SETTINGS, encoding="utf-8")
        (tmp_path / "conftest.py").write_text(conftest, encoding="utf-8")
        (tmp_path / "test_sample.py").write_text(module, encoding="utf-8")
        output = run(
            [
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--ds",
                "docs_settings",
                "test_sample.py",
            ],
            tmp_path,
            demo_env,
        )
        assert " passed" in output and "skipped" not in output, output[-3000:]
        return
    sample = tmp_path / "sample.py"
    sample.write_text(source, encoding="utf-8")
    if marker == "settings":
        env = {k: v for k, v in demo_env.items() if k != "DJANGO_SETTINGS_MODULE"}
        run(["-W", "error", "-c", SETTINGS_RUNNER, str(sample), page], DEMO_DIR, env)
    else:
        args = [str(sample), page, str(TEMPLATE_DIR)]
        run(["-W", "error", "-c", RUNNER, *args], DEMO_DIR, demo_env)


# -- docs/errors.md quotes every message oneloop raises ------------------------

PACKAGE = ROOT / "oneloop"
# Messages no user meets, so docs/errors.md leaves them out.
UNLISTED = {
    # Control flow: raised and caught inside oneloop.
    "in a oneloop bridge": "caught by Django's async_unsafe guard",
    "loop closed": "caught a line below",
    # An internal invariant: seeing it is a bug in oneloop.
    "oneloop: the pool closer suspended unexpectedly": "a bug, not a usage error",
    # Python's own wording for a missing module attribute.
    "has no attribute": "module __getattr__",
}
LOGGER_METHODS = {"warning", "error", "exception", "critical"}
PERCENT_FORMAT = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfi%]")


def _constants(tree: ast.Module) -> dict[str, str]:
    """The module's top-level string constants (message templates)."""
    found = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found[node.targets[0].id] = node.value.value
    return found


def _literal_runs(node: ast.expr, constants: dict[str, str]) -> list[str] | None:
    """The fixed parts of a message expression, split where a value goes in;
    None when the expression is not a message written out in the code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.split(r"\{[^}]*\}", node.value)
    if isinstance(node, ast.JoinedStr):
        runs = [""]
        for part in node.values:
            if isinstance(part, ast.Constant):
                runs[-1] += str(part.value)
            else:
                runs.append("")
        return runs
    if isinstance(node, ast.Name) and node.id in constants:
        return re.split(r"\{[^}]*\}", constants[node.id])
    if (  # TEMPLATE.format(...)
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return _literal_runs(node.func.value, constants)
    return None


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def oneloop_messages() -> list[tuple[str, str]]:
    """(where, what docs/errors.md must contain) for every error and warning
    message of the package: exceptions raised or returned, logged warnings
    (the leading words of each), and system check ids."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)
        where = str(path.relative_to(ROOT))
        calls: list[ast.Call] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                calls.append(node.exc)
            elif (
                isinstance(node, ast.Return)
                and isinstance(node.value, ast.Call)
                and _callee(node.value).endswith(("Error", "Exception"))
            ):
                calls.append(node.value)
            elif isinstance(node, ast.Call):
                check_id = next((k.value for k in node.keywords if k.arg == "id"), None)
                if isinstance(check_id, ast.Constant) and str(
                    check_id.value
                ).startswith("oneloop."):
                    found.append((f"{where}:{node.lineno}", str(check_id.value)))
                elif (
                    _callee(node) in LOGGER_METHODS
                    and isinstance(node.func, ast.Attribute)
                    and getattr(node.func.value, "id", "") == "logger"
                    and node.args
                ):
                    calls.append(node)
        for call in calls:
            runs = _literal_runs(call.args[0], constants) if call.args else None
            if runs is None:
                continue  # re-raised or built elsewhere (e.g. ONELOOP: E002)
            if _callee(call) in LOGGER_METHODS:
                runs = [r for run in runs for r in PERCENT_FORMAT.split(run)]
            runs = [" ".join(run.split()) for run in runs]
            # The message's first words: its first fixed part of some length.
            lead = next((run for run in runs if len(run) >= 12), max(runs, key=len))
            if lead and not any(unlisted in lead for unlisted in UNLISTED):
                found.append((f"{where}:{call.lineno}", lead[:40].strip()))
    return found


def test_errors_page_quotes_every_message_oneloop_raises() -> None:
    page = " ".join((DOCS / "errors.md").read_text(encoding="utf-8").split())
    messages = oneloop_messages()
    assert len(messages) > 30, "the scan found too few messages"
    missing = [f"{where}: {lead!r}" for where, lead in messages if lead not in page]
    assert not missing, (
        "docs/errors.md does not quote these messages (quote each as the code "
        "words it, with when it happens and what to do):\n" + "\n".join(missing)
    )


# -- shell commands: each one exists and takes the flags it shows --------------

SH_FENCE = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
FENCE_LANGUAGES = {"python", "sh", "ini", "text", ""}  # "": program output
PYTHONS = {"python", "python3", ".venv/bin/python"}
CONSOLE_SCRIPTS = {"uvicorn", "gunicorn", "pytest", "nox"}
# Entry points known to print their usage for --help and exit, doing nothing
# else: the only ones this test runs. A command the docs show that is not
# here fails the test; check that its --help is harmless, then add it.
HELP_ENTRY_POINTS = {
    "bench",
    "bench.soak",
    "bench.channels_compare",
    "compat",
    "compat.channels_suite",
    "pytest",
    "uvicorn",
    "gunicorn",
    "examples/bookshop/demo.py",
}
ENV_ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=.*")
# Where the project reads its environment variables.
SOURCE_DIRS = ("oneloop", "tests", "bench", "compat", "examples", "scripts")


def shell_commands() -> list[tuple[str, int, list[str]]]:
    """(page, line, words) of every command of the docs' ```` ```sh ```` blocks,
    with continuation lines joined and comments dropped."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in SH_FENCE.finditer(text):
            first = text.count("\n", 0, match.start(1)) + 1
            command, start = "", first
            for offset, line in enumerate(match.group(1).splitlines()):
                if not command:
                    start = first + offset
                if line.rstrip().endswith("\\"):
                    command += line.rstrip()[:-1] + " "
                    continue
                words = shlex.split(command + line, comments=True)
                command = ""
                if words:
                    found.append((str(page.relative_to(ROOT)), start, words))
    return found


SHELL_COMMANDS = shell_commands()


def _flags(args: list[str]) -> list[str]:
    return [arg.split("=")[0] for arg in args if arg.startswith("-")]


def _leading(args: list[str]) -> list[str]:
    """The positional words before the first flag: subcommands, paths."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    return words


@functools.cache
def _help(entry: str, leading: tuple[str, ...]) -> str:
    """The --help output of a script (``path.py``) or ``python -m`` module."""
    assert entry in HELP_ENTRY_POINTS, (
        f"{entry}: not in HELP_ENTRY_POINTS; check that its --help only prints "
        "usage, then add it"
    )
    if not entry.endswith(".py") and importlib.util.find_spec(entry) is None:
        unavailable(f"{entry} is not installed: pip install -e '.[test]'")
    program = [str(ROOT / entry)] if entry.endswith(".py") else ["-m", entry]
    result = subprocess.run(
        [sys.executable, *program, *leading, "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "usage" in output.lower(), output[-3000:]
    return output


def _check_entry_point(entry: str, args: list[str]) -> None:
    """``entry`` runs and lists every flag of ``args`` in its --help."""
    leading = _leading(args)
    for word in leading:
        if "/" in word:
            assert (ROOT / word).exists(), f"{word} does not exist"
    usage = _help(entry, tuple(leading))
    for flag in _flags(args):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", usage), (
            f"{entry} {' '.join(leading)} --help does not list {flag}"
        )


def _forwards(script: Path) -> list[tuple[str, list[str]]]:
    """What a shell script hands its arguments (``"$@"``) to: (entry point,
    leading words) for a Python script or a ``-m`` module."""
    found = []
    for line in script.read_text(encoding="utf-8").splitlines():
        if '"$@"' not in line or line.lstrip().startswith("#"):
            continue
        words = shlex.split(line)
        before = words[: words.index("$@")]
        for i, word in enumerate(before):
            if word.endswith(".py"):
                found.append((word, before[i + 1 :]))
            elif word == "-m" and i + 1 < len(before):
                found.append((before[i + 1], before[i + 2 :]))
    return found


def _check_shell_script(shell: str, path: str, args: list[str]) -> None:
    """The script parses (``sh -n`` / ``bash -n``) and handles every flag
    shown: its own code names it, or it passes it on to a program whose
    --help lists it."""
    script = ROOT / path
    assert script.is_file(), f"{path} does not exist"
    shebang = script.read_text(encoding="utf-8").partition("\n")[0]
    assert shell == "bash" or "bash" not in shebang, f"{path} is a bash script"
    subprocess.run([shell, "-n", str(script)], check=True, timeout=30)
    code = "\n".join(
        line
        for line in script.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    )
    targets = _forwards(script)
    for flag in _flags(args):
        if re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", code):
            continue
        assert targets, f"{path} neither handles nor passes on {flag}"
        for entry, leading in targets:
            _check_entry_point(entry, [*leading, flag])


@functools.cache
def _project_source() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for name in SOURCE_DIRS
        for pattern in ("*.py", "*.sh")
        for path in (ROOT / name).rglob(pattern)
    )


def _check_pip_install(args: list[str]) -> None:
    """``pip install "django-oneloop[extra,...]"`` names this project and
    extras it declares."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = set(project["project"]["optional-dependencies"])
    assert args[0] == "install"
    for requirement in args[1:]:
        match = re.fullmatch(r"([\w.-]+)(?:\[([\w,-]+)\])?", requirement)
        assert match and match.group(1) == project["project"]["name"], requirement
        named = set(filter(None, (match.group(2) or "").split(",")))
        assert named <= extras, f"unknown extras: {named - extras}"


@pytest.mark.parametrize(
    "page,line,words",
    SHELL_COMMANDS,
    ids=[f"{page}:{line}" for page, line, _ in SHELL_COMMANDS],
)
def test_shell_command_exists_and_takes_the_flags_shown(
    page: str, line: int, words: list[str]
) -> None:
    """Checked without running the command: Python entry points answer
    --help (listing each flag shown), shell scripts pass ``sh -n`` / ``bash
    -n`` and handle each flag, environment variables are read by the project,
    ``pip install`` names this project's extras."""
    words = list(words)
    while ENV_ASSIGNMENT.fullmatch(words[0]):
        name = words.pop(0).split("=")[0]
        assert name in _project_source(), f"nothing reads {name}"
    program, *args = words
    if program == "pip":
        _check_pip_install(args)
    elif program in ("sh", "bash"):
        _check_shell_script(program, args[0], args[1:])
    elif program in PYTHONS:
        entry, rest = (args[1], args[2:]) if args[0] == "-m" else (args[0], args[1:])
        _check_entry_point(entry, rest)
    elif program in CONSOLE_SCRIPTS:
        _check_entry_point(program, args)
    elif (ROOT / program).is_file():
        assert os.access(ROOT / program, os.X_OK), f"{program} is not executable"
        shebang = (ROOT / program).read_text(encoding="utf-8").partition("\n")[0]
        _check_shell_script("bash" if "bash" in shebang else "sh", program, args)
    else:
        raise AssertionError(f"{page}:{line}: no check for {program!r}")


def test_every_fenced_block_is_a_language_these_tests_check() -> None:
    for page in PAGES:
        opening = None
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines()):
            if not line.startswith("```"):
                continue
            if opening is None:
                opening = line[3:].split()[0] if line[3:].split() else ""
                assert opening in FENCE_LANGUAGES, (
                    f"{page.name}:{number + 1}: ```{opening} blocks are not checked"
                )
            else:
                opening = None


def test_pgbouncer_ini_block_has_the_settings_the_scale_out_test_runs() -> None:
    text = (DOCS / "scale-out.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```ini\n(.*?)^```", text, re.M | re.S)
    config = configparser.ConfigParser()
    config.read_string(block)
    assert config.sections() == ["databases", "pgbouncer"]
    assert config["pgbouncer"]["pool_mode"] == "transaction"
    for dsn in config["databases"].values():
        params = dict(pair.split("=", 1) for pair in dsn.split())
        assert {"host", "port", "dbname"} <= set(params), dsn
    # The pgbouncer.ini that tests/examples/test_scale_out.py writes sets every
    # [pgbouncer] key the page shows.
    source = (ROOT / "tests" / "examples" / "test_scale_out.py").read_text(
        encoding="utf-8"
    )
    tested = source.split("[pgbouncer]\n", 1)[1].split('"""', 1)[0]
    assert set(config["pgbouncer"]) <= set(re.findall(r"^(\w+) =", tested, re.M))
