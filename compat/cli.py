"""``python -m compat``: run Django's own test suite against oneloop.

::

    python -m compat run --backend postgresql --mode bridged [labels…]
    python -m compat run --backend sqlite --mode sync --engine stock
    python -m compat run --backend postgresql --engine installed --full
                                     # Django's ENGINE, "oneloop" installed
    python -m compat run --backend mysql --mode sync
    python -m compat run --backend postgis --mode bridged   # gis_tests
    python -m compat run --backend postgresql --mode sync --full
    python -m compat report          # rebuild docs/compatibility.md
    python -m compat venv --python python3.12 --django '>=6,<7'
                                     # another Python/Django, for run --python

Without labels, ``run`` uses the CI list (``CI_LABELS``; ``GIS_LABELS`` for
the PostGIS ENGINE). Runs of the CI list
or of the full suite are recorded in ``compat/results/``; other label sets in
``compat/.cache/results/``. The exit status is runtests.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from compat import report, source

__all__ = ["CI_LABELS", "GIS_LABELS", "main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

# The labels CI runs in every mode (issue 6's acceptance list).
CI_LABELS = (
    "basic queries transactions backends model_forms forms_tests template_tests "
    "mail cache sessions_tests auth_tests async asgi handlers select_for_update "
    "get_or_create bulk_create model_fields expressions aggregation "
    "prefetch_related many_to_one one_to_one m2m_through delete update admin_views"
).split()

# The CI list of the GeoDjango ENGINE: Django's GIS tests, which need a
# spatial ENGINE (the other labels run on the PostgreSQL ENGINE it extends).
GIS_LABELS = ("gis_tests",)


def _python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def run(args: argparse.Namespace) -> int:
    """Run runtests.py once and record its results; return its exit status."""
    python = args.python or sys.executable
    commit = _commit()  # before the run: the code it runs
    version = source.django_version(python)
    tests_dir = source.ensure_source(version, python)
    if not args.no_install:
        source.ensure_requirements(python)
    if args.full:
        labels, label_set = [], "full"
    elif args.labels:
        labels, label_set = list(args.labels), "custom"
    else:
        labels = list(GIS_LABELS if args.backend == "postgis" else CI_LABELS)
        label_set = "ci"
    settings = f"compat.settings.{args.backend}"
    if args.engine in ("stock", "installed"):
        settings += "_stock"
    py = _python_version(python)
    name = f"{args.backend}-{args.engine}-{args.mode}-django{version}-py{py}"
    if label_set != "ci":
        name += f"-{label_set}"
    scratch = source.CACHE / "results"
    scratch.mkdir(parents=True, exist_ok=True)
    raw = scratch / f"{name}.raw.json"
    raw.unlink(missing_ok=True)
    log = source.CACHE / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["ONELOOP_COMPAT_RESULTS"] = str(raw)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    env.setdefault("ONELOOP_COMPAT_DB_TAG", f"compat_{args.engine}_{args.mode}")
    if args.engine == "installed":
        env["ONELOOP_COMPAT_INSTALLED"] = "1"
    cmd = [
        python,
        "-m",
        "compat.bootstrap",
        args.mode,
        str(tests_dir / "runtests.py"),
        f"--settings={settings}",
        f"--parallel={args.parallel}",
        "--noinput",
        f"--verbosity={args.verbosity}",
        *args.extra,
        *labels,
    ]
    print(f"compat: {name}: {len(labels) or 'all'} labels, log in {log}", flush=True)
    started = time.perf_counter()
    status = _run_logged(cmd, tests_dir, env, log, args.timeout)
    wall = time.perf_counter() - started
    print(f"compat: exit status {status} after {wall:.0f} s", flush=True)

    if not raw.exists():
        print("compat: runtests.py wrote no results (see the log)", file=sys.stderr)
        return status or 1
    data = json.loads(raw.read_text(encoding="utf-8"))
    for problem in data["problems"]:
        if problem.get("detail"):
            problem["detail"] = _scrub(problem["detail"], tests_dir)
    data["meta"] = {
        "backend": args.backend,
        "engine": args.engine,
        "mode": args.mode,
        "django": version,
        "python": py,
        "platform": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "commit": commit,
        "labels": labels or "all",
        "label_set": label_set,
        "parallel": args.parallel,
        "wall": round(wall, 1),
        "exit_status": status,
        "when": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    target = RESULTS if label_set in ("ci", "full") and not args.no_record else scratch
    target.mkdir(parents=True, exist_ok=True)
    out = target / f"{name}.json"
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    raw.unlink()
    print(report.summary_line(data), flush=True)
    print(f"compat: results in {out}", flush=True)
    return status


def _commit() -> str:
    """The checked-out commit of this repository, with ``+changes`` when the
    work tree differs from it: which code a recorded run ran. Results and
    docs not committed yet (earlier runs' records) are not code."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        [
            *("git", "status", "--porcelain", "--untracked-files=no", "--"),
            *(".", ":!compat/results", ":!docs", ":!bench/results"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head or 'unknown'}{'+changes' if dirty else ''}"


_LIB_PATH = re.compile(r'"[^"]*?/(?:site-packages|lib/python3\.\d+)/')
_TMPDIR = re.compile(r"/tmp/django_\w+")
_DETAIL_LINES = 12
_DETAIL_CHARS = 3000


def _scrub(text: str, tests_dir: Path) -> str:
    """A traceback fit for the repository: paths relative to Django's
    ``tests/``, the package root or the library directories, and only its
    last lines (the full text is in the run's log)."""
    text = text.replace(f"{tests_dir}/", "tests/").replace(f"{ROOT}/", "")
    text = _TMPDIR.sub("$TMPDIR", _LIB_PATH.sub('"', text))
    lines = [line for line in text.splitlines() if line.strip(" ^~")]
    if len(lines) > _DETAIL_LINES:
        lines = ["...", *lines[-_DETAIL_LINES:]]
    text = "\n".join(lines)
    if len(text) > _DETAIL_CHARS:
        text = f"{text[: _DETAIL_CHARS // 2]}\n...\n{text[-_DETAIL_CHARS // 2 :]}"
    return text


def _run_logged(
    cmd: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float
) -> int:
    """Run ``cmd``, copying its output to the terminal and to ``log``. On
    timeout, end the whole process group it started (workers included)."""
    with open(log, "w", encoding="utf-8") as fh:
        fh.write(" ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                fh.write(line)
                fh.flush()
                if time.monotonic() > deadline:
                    raise TimeoutError
            return proc.wait()
        except (TimeoutError, KeyboardInterrupt):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            fh.write(f"\ncompat: stopped after {timeout:.0f} s\n")
            return 124


def venv(args: argparse.Namespace) -> int:
    """Make (once) a virtualenv under ``compat/.cache/venvs`` with ``python``
    and the Django matching ``--django``, plus what the suite and oneloop
    need; print its interpreter for ``run --python``."""
    py = _python_version(args.python)
    spec = args.django
    tag = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in spec)
    home = source.CACHE / "venvs" / f"py{py}-django{tag}"
    python = home / "bin" / "python"
    if not python.exists():
        subprocess.run([args.python, "-m", "venv", str(home)], check=True)
        deps = [f"django{spec}", "asgiref", *source.REQUIREMENTS.values()]
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *deps], check=True
        )
    print(python)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run Django's test suite once")
    p_run.add_argument(
        "--backend", choices=("postgresql", "postgis", "sqlite", "mysql"), required=True
    )
    p_run.add_argument("--mode", choices=("sync", "bridged"), default="sync")
    p_run.add_argument(
        "--engine",
        choices=("oneloop", "stock", "installed"),
        default="oneloop",
        help="oneloop's ENGINE (default); Django's own, the baseline; or "
        "Django's own with oneloop installed (its patches applied, as "
        '"oneloop" in INSTALLED_APPS does): what a sync user runs',
    )
    p_run.add_argument("--parallel", type=int, default=2)
    p_run.add_argument("--verbosity", type=int, default=1)
    p_run.add_argument("--full", action="store_true", help="the whole suite")
    p_run.add_argument(
        "--python", help="interpreter of another environment (default: this one)"
    )
    p_run.add_argument("--timeout", type=float, default=3600.0)
    p_run.add_argument("--no-install", action="store_true")
    p_run.add_argument(
        "--no-record", action="store_true", help="keep results out of compat/results"
    )
    p_run.add_argument(
        "-x",
        "--extra",
        action="append",
        default=[],
        help="extra runtests.py argument (repeatable), e.g. -x=--failfast",
    )
    p_run.add_argument("labels", nargs="*")
    p_report = sub.add_parser("report", help="rebuild docs/compatibility.md")
    p_report.add_argument("--output", default=str(ROOT / "docs" / "compatibility.md"))
    p_venv = sub.add_parser("venv", help="an environment with another Python/Django")
    p_venv.add_argument("--python", required=True, help="interpreter to base it on")
    p_venv.add_argument("--django", required=True, help="version spec, e.g. '>=6,<7'")
    args = parser.parse_args(argv)
    if args.command == "venv":
        return venv(args)
    if args.command == "run":
        if args.engine != "oneloop" and args.mode == "bridged":
            parser.error("--mode bridged needs oneloop's ENGINEs")
        return run(args)
    report.write(RESULTS, Path(args.output))
    return 0
