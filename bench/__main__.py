"""Command line: ``python -m bench run --quick|--full``, ``python -m bench
report [RESULTS.json]``, ``python -m bench quick``."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the suite, write JSON, table and plots")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a few minutes (default)")
    size.add_argument("--full", action="store_true", help="at most 20 minutes")
    run.add_argument(
        "--systems", help="comma-separated subset of systems (default: all)"
    )
    run.add_argument(
        "--pool-total", type=int, default=80,
        help="database connections per system, split over its workers (default 80)",
    )  # fmt: skip
    run.add_argument("--seconds", type=int, help="override each wrk duration (s)")
    run.add_argument(
        "--workers", help="comma-separated worker process counts (default: mode's)"
    )
    run.add_argument("--out", help="where the report goes (default: see docs)")
    report = sub.add_parser("report", help="render a results file")
    report.add_argument("results", nargs="?", help="results JSON (default: newest)")
    report.add_argument("--out", help="directory for benchmarks.md and img/")
    sub.add_parser("quick", help="the quick in-process comparison (bench.quick)")
    args, rest = parser.parse_known_args(argv)

    if args.command == "quick":
        from bench.quick import main as quick_main

        return quick_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    from bench import publish
    from bench.results import newest

    if args.command == "report":
        path = args.results or newest()
        out = args.out or publish.default_out(path)
        publish.report(path, out)
        print(f"report written to {out}")
        return 0

    import dataclasses

    from bench.servers import SYSTEMS
    from bench.suite import FULL, QUICK
    from bench.suite import run as run_suite

    mode = FULL if args.full else QUICK
    if args.seconds:
        mode = dataclasses.replace(mode, seconds=args.seconds)
    if args.workers:
        counts = tuple(int(w) for w in args.workers.split(","))
        mode = dataclasses.replace(mode, workers=counts)
    systems = args.systems.split(",") if args.systems else None
    unknown = set(systems or ()) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {list(SYSTEMS)}")
    path = run_suite(mode, systems, args.pool_total)
    out = args.out or publish.default_out(path)
    publish.report(path, out)
    print(f"report written to {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
