"""The tables of the small comparisons, in docs/asgi.md, cache.md, mail.md
and (Channels) benchmarks.md.

``python -m bench.asgi_compare``, ``python bench/cache_compare.py``,
``python bench/mail_compare.py``, ``python -m bench.channels_compare`` and
``python -m bench.mysql_compare``
each write ``bench/results/<kind>-<date>.json``
(their figures, their parameters and the suite's machine metadata); these
renderers turn one such file into the lines of its page's generated block.
"""

from __future__ import annotations

from typing import Any

from bench.render.markdown import number, ratio, table
from bench.results import clean, unclean_reason

COMMANDS = {
    "asgi": "python -m bench.asgi_compare",
    "cache": "python bench/cache_compare.py",
    "mail": "python bench/mail_compare.py",
    "channels": "python -m bench.channels_compare",
    "mysql": "python -m bench.mysql_compare",
    "tail": "python -m bench.tail_compare",
}
"""The command that makes each comparison's results file."""


def _source(results: dict[str, Any], name: str, kind: str) -> list[str]:
    """Where the figures come from: results file, command, machine."""
    m = results["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["loadavg_at_start"])
    if "loadavg_at_end" in m:
        load += ", at end " + ", ".join(f"{x:.2f}" for x in m["loadavg_at_end"])
    versions = ", ".join(
        f"{k} {v}" for k, v in m["versions"].items() if v and k in VERSIONS[kind]
    )
    extra = results.get("params", {}).get("server_version")
    return [
        f"Generated from [`{name}`](../bench/results/{name}) (made by "
        f"`{COMMANDS[kind]}`; re-render with `python -m bench report`, do not "
        f"edit by hand): {m['date'][:10]}, {m['cpu_model']}, {m['cpu_count']} "
        f"CPUs shared with the servers, load average at start {load}; "
        f"Python {m['python']}"
        + (f", PostgreSQL {m['postgresql']}" if m.get("postgresql") else "")
        + (f", {extra}" if extra else "")
        + (f", {versions}" if versions else "")
        + ". Compare within one run, as ratios; absolute numbers move between "
        "runs and machines.",
        "",
    ]


VERSIONS = {
    "asgi": ("django", "uvicorn", "uvloop", "gunicorn", "psycopg"),
    "cache": ("django", "asgiref", "uvloop"),
    "mail": ("django", "asgiref", "uvloop"),
    "channels": ("django", "uvicorn", "uvloop", "psycopg"),
    "mysql": ("django", "uvicorn", "uvloop", "gunicorn", "mysqlclient", "asyncmy"),
    "tail": ("django", "uvicorn", "uvloop", "psycopg", "fastapi"),
}


def render_asgi(results: dict[str, Any], name: str) -> list[str]:
    """docs/asgi.md: throughput and memory, oneloop vs stock ASGI vs WSGI."""
    p = results["params"]
    lines = _source(results, name, "asgi")
    rows = {r["system"]: r for r in results["throughput"]}
    stock = rows.get("stock-asgi", {}).get("rps")
    lines += [
        f"1-query sync view (`{p['view']}`), `wrk -c {p['connections']} "
        f"-d {p['seconds']}s`, one worker process, pool of at most "
        f"{p['pool_max']} connections:",
        "",
    ]
    lines += table(
        ["system", "req/s", "x stock ASGI", "p50 ms", "p99 ms", "failed requests"],
        [
            [r["label"], number(r.get("rps")), ratio(r.get("rps"), stock),
             number(r.get("p50_ms"), 1), number(r.get("p99_ms"), 1), r.get("failed", 0)]
            for r in results["throughput"]
        ],
    )  # fmt: skip
    mem = {r["system"]: r for r in results["memory"]}
    stock_kib = mem.get("stock-asgi", {}).get("kib_per_request")
    lines += [
        "",
        f"Memory with {p['in_flight']} requests in flight (each waiting "
        f"`pg_sleep({p['sleep_s']:g})`), RSS of the server process:",
        "",
    ]
    lines += table(
        ["system", "RSS idle MiB", "RSS in flight MiB", "KiB per request",
         "x stock ASGI", "threads idle → in flight", "answered"],
        [
            [r["label"], number(r["idle_rss_kib"] / 1024, 1),
             number(r["busy_rss_kib"] / 1024, 1), number(r["kib_per_request"], 1),
             ratio(r["kib_per_request"], stock_kib),
             f"{r['idle_threads']} → {r['busy_threads']}",
             f"{r['ok']}/{p['in_flight']}"]
            for r in results["memory"]
        ],
    )  # fmt: skip
    ours, wsgi = rows.get("oneloop-asgi", {}), rows.get("stock-wsgi", {})
    if ours.get("rps") and wsgi.get("rps"):
        ahead, behind = (wsgi, ours) if wsgi["rps"] > ours["rps"] else (ours, wsgi)
        lines += [
            "",
            f"In this run {ahead['label']} serves {ahead['rps'] / behind['rps']:.2f}x "
            f"the requests/s of {behind['label']}.",
        ]
    return lines


def render_cache(results: dict[str, Any], name: str) -> list[str]:
    """docs/cache.md: µs per call, stock RedisCache vs oneloop's."""
    p = results["params"]
    lines = _source(results, name, "cache")
    lines += [
        f"µs per call, best of {p['rounds']} rounds of {p['calls']:,} calls, "
        "same key and value on one loopback Redis:",
        "",
    ]
    nl = results["no_loop"]
    rows = [
        ["`cache.get()`, no loop running", "-", f"{number(nl['stock_get_us'], 1)} µs",
         f"{number(nl['oneloop_get_us'], 1)} µs",
         ratio(nl["oneloop_get_us"], nl["stock_get_us"])],
    ]  # fmt: skip
    fan = p["fan_out"]
    for loop, r in results["loops"].items():
        rows += [
            ["`await cache.aget()`", loop, f"{number(r['stock_aget_us'], 1)} µs",
             f"{number(r['oneloop_aget_us'], 1)} µs",
             ratio(r["oneloop_aget_us"], r["stock_aget_us"])],
            ["sync `cache.get()` inside a bridge (oneloop only)", loop, "-",
             f"{number(r['oneloop_bridge_get_us'], 1)} µs", "-"],
            [f"{fan} concurrent `aget()`s, wall time", loop,
             f"{number(r['stock_fan_out_ms'], 1)} ms",
             f"{number(r['oneloop_fan_out_ms'], 1)} ms",
             ratio(r["oneloop_fan_out_ms"], r["stock_fan_out_ms"])],
        ]  # fmt: skip
    lines += table(
        ["measurement", "loop", "stock `RedisCache`", "oneloop `RedisCache`",
         "oneloop / stock"],
        rows,
    )  # fmt: skip
    lines += ["", "redis-py alone, the same `GET` without Django:", ""]
    lines += table(
        ["loop", "sync client µs", "`redis.asyncio` µs", "asyncio / sync",
         "oneloop's layer over `redis.asyncio` µs",
         "stock's layer over the sync client µs"],
        [
            [loop, number(nl["redis_sync_get_us"], 1),
             number(r["redis_async_get_us"], 1),
             ratio(r["redis_async_get_us"], nl["redis_sync_get_us"]),
             number(r["oneloop_aget_us"] - r["redis_async_get_us"], 1),
             number(nl["stock_get_us"] - nl["redis_sync_get_us"], 1)]
            for loop, r in results["loops"].items()
        ],
    )  # fmt: skip
    lines += [
        "",
        "A layer is the backend's call minus redis-py's own `GET` in the same "
        "run: key building, getting a client (Django's backend builds a new "
        "`redis.Redis` object for each call), unpickling.",
    ]
    return lines


def render_mail(results: dict[str, Any], name: str) -> list[str]:
    """docs/mail.md: stock send_mail in a thread vs asend_mail."""
    p = results["params"]
    lines = _source(results, name, "mail")
    lines += [
        "Real aiosmtpd servers in separate processes on loopback; stock is "
        "`send_mail` with Django's SMTP backend through asgiref "
        "`sync_to_async`, oneloop is `await asend_mail()` with its backend.",
        "",
    ]
    rows = []
    n, delay = p["concurrent"], p["delay"]
    for loop, r in results["loops"].items():
        c, seq, batch = r["concurrent"], r["sequential"], r["batch"]
        rows += [
            [f"{n} concurrent sends, server delays DATA {delay:g} s", loop,
             f"{c['stock_thread_sensitive_s']:.2f} s (`thread_sensitive=True`, "
             "Django's default: one thread)",
             f"{c['oneloop_s']:.2f} s",
             ratio(c["oneloop_s"], c["stock_thread_sensitive_s"])],
            ["the same, stock on a thread pool", loop,
             f"{c['stock_thread_pool_s']:.2f} s (`thread_sensitive=False`)",
             f"{c['oneloop_s']:.2f} s",
             ratio(c["oneloop_s"], c["stock_thread_pool_s"])],
            ["the same, oneloop's sync `send_mail` inside `run_sync`", loop,
             f"{c['stock_thread_sensitive_s']:.2f} s",
             f"{c['bridged_s']:.2f} s",
             ratio(c["bridged_s"], c["stock_thread_sensitive_s"])],
        ]  # fmt: skip
        parts = [(f"one message per connection, {p['messages']} sequential", seq)]
        if "bridged" in seq:
            parts.append((
                "the same, oneloop's sync `send_mail` inside `run_sync`",
                {"stock": seq["stock"], "oneloop": seq["bridged"]},
            ))  # fmt: skip
        parts.append((f"one message in a {p['messages']}-message batch", batch))
        for label, part in parts:
            for what in ("wall", "cpu"):
                rows.append([
                    f"{label}, {'wall' if what == 'wall' else 'client CPU'}", loop,
                    f"{number(part['stock'][f'{what}_us'])} µs",
                    f"{number(part['oneloop'][f'{what}_us'])} µs",
                    ratio(part["oneloop"][f"{what}_us"], part["stock"][f"{what}_us"]),
                ])  # fmt: skip
    lines += table(
        ["measurement", "loop", "stock `send_mail` in a thread",
         "oneloop `asend_mail`", "oneloop / stock"],
        rows,
    )  # fmt: skip
    return lines


def render_channels(results: dict[str, Any], name: str) -> list[str]:
    """benchmarks.md: WebSocket consumers, oneloop vs stock Channels."""
    p = results["params"]
    lines = _source(results, name, "channels")
    lines += [
        f"One uvicorn worker serving the Channels test project "
        f"(`AuthMiddlewareStack`, pool `max_size` {p['pool_max']}). Each "
        f"socket sends a message, waits for the reply and sends the next for "
        f"{p['seconds']:g} s; every message runs one {p['query_ms']:g} ms query "
        "(`pg_sleep`). *Unanswered*: sockets still waiting for a reply at the "
        "end. *KiB/socket*: the server's RSS growth per open, idle socket.",
        "",
    ]
    rows = results["rows"]
    oneloop = {r["sockets"]: r for r in rows if r["system"] == "oneloop-sync"}
    cells = []
    for r in rows:
        mine = oneloop.get(r["sockets"])
        cells.append([
            r["sockets"], r["label"], number(r["messages_per_s"], 1),
            number(r["p50_ms"]), number(r["p99_ms"]), r["unanswered"],
            number(r["kib_per_socket"], 1),
            "" if r["system"] == "oneloop-sync" or mine is None
            else ratio(mine["messages_per_s"], r["messages_per_s"]),
        ])  # fmt: skip
    lines += table(
        ["sockets", "system", "messages/s", "p50 ms", "p99 ms", "unanswered",
         "KiB/socket", "oneloop msg/s ÷ this"],
        cells,
    )  # fmt: skip
    return lines


MYSQL_P1 = {
    "stock-sync": "stock Django `first()` (mysqlclient, no loop)",
    "stock-async": "stock Django `afirst()` (asgiref thread hop)",
    "oneloop-async": "oneloop `afirst()` (asyncmy, on the loop)",
    "oneloop-sync": "oneloop sync `first()` inside `run_sync`",
    "mysqlclient-sync": "raw mysqlclient `execute()`",
    "asyncmy-async": "raw asyncmy `execute()`",
}


def render_mysql(results: dict[str, Any], name: str) -> list[str]:
    """benchmarks.md: P1 and P2 on MariaDB, oneloop's ENGINE vs Django's."""
    p = results["params"]
    lines = _source(results, name, "mysql")
    p1 = results["P1"]
    first = p1.get("stock-sync", {}).get("median")
    lines += [
        f"P1, the indexed lookup in-process: µs per call, median of "
        f"{p['repeats']} repeats of {p['calls']:,} calls, each system in its "
        "own interpreter.",
        "",
    ]
    lines += table(
        ["system", "µs per call (median)", "x stock `first()`"],
        [
            [MYSQL_P1.get(system, system),
             f"error: {r['error']}" if "error" in r else number(r["median"], 1),
             ratio(r.get("median"), first)]
            for system, r in p1.items()
        ],
    )  # fmt: skip
    rows = results["P2"]
    wsgi = next((r.get("rps") for r in rows if r["system"] == "wsgi"), None)
    lines += [
        "",
        f"P2, one query per request that waits 50 ms in the database "
        f"(`SLEEP(0.05)` in the lookup): `wrk -c {p['clients']} -d "
        f"{p['seconds']}s` after a {p['warmup']} s warm-up, one worker process "
        f"each. oneloop: a pool of {p['pool']} connections. Django's MySQL "
        "backend has no pool: under WSGI one persistent connection per "
        f"thread ({p['pool']} threads, `CONN_MAX_AGE = None`), under ASGI a "
        "connection per request (`CONN_MAX_AGE = 0`, as Django's docs advise "
        "for ASGI). Rows with more than 0.1 % failed requests get no ratio. "
        "*Cores*: the CPU time the server got per second of the run (req/s "
        "x CPU µs/req); *waited*: seconds per second its threads were ready "
        "to run but waited for a CPU taken by other work on the machine. At "
        "a like cost per request, a server held back more serves fewer "
        "requests.",
        "",
    ]
    lines += table(
        ["system", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "cores", "waited",
         "failed", "x WSGI"],
        [
            [r["label"], f"error: {r['error']}", "", "", "", "", "", "", ""]
            if "requests" not in r
            else [r["label"], number(r.get("rps")), number(r.get("p50_ms"), 1),
                  number(r.get("p99_ms"), 1), number(r.get("cpu_us_per_request")),
                  number((r.get("cpu_us_per_request") or 0) * r["rps"] / 1e6, 2),
                  number(r.get("cpu_wait_per_s"), 2),
                  r.get("socket_errors", 0) + r.get("non_2xx", 0),
                  ratio(r["rps"], wsgi) if clean(r) else unclean_reason(r)]
            for r in rows
        ],
    )  # fmt: skip
    return lines


def render_tail(results: dict[str, Any], name: str) -> list[str]:
    """benchmarks.md: P4 at one worker, three ways, with what the loop did."""
    p = results["params"]
    lines = _source(results, name, "tail")
    lines += [
        f"P4 at {p['clients']} connections, one uvicorn worker each, `wrk -d "
        f"{p['seconds']}s` on a settled server after a {p['warmup']} s warm-up. "
        "*suite*: as the suite measures (uvloop); *open first*: every "
        "connection opened and accepted before the first request is timed "
        "(req/s counts the 1 s hold); *asyncio loop*: the suite's way on "
        "asyncio's own loop. *First requests over*: from the first "
        "connection's first request reaching the application to the last "
        "one's. Loop lag: how late a timer due every 5 ms ran. GC: pauses "
        "of the garbage collector during the run, from `gc.callbacks`.",
        "",
    ]

    def gc_text(probe: dict[str, Any]) -> str:
        gens = probe["gc"]
        total = sum(g["total_ms"] for g in gens.values())
        full = gens["2"]
        return (
            f"{number(total)} ms; gen 2: {full['count']} x, "
            f"max {number(full['max_ms'], 1)} ms"
        )

    rows = []
    for r in results["rows"]:
        if "error" in r:
            rows.append([r["label"], r["variant"], f"error: {r['error']}"] + [""] * 6)
            continue
        probe = r["probe"]
        rows.append(
            [r["label"], r["variant"], number(r.get("rps")),
             f"{number(r['p50_ms'], 1)} / {number(r['p99_ms'], 1)}",
             ratio(r["p99_ms"], r["p50_ms"]),
             f"{number(probe['first_requests_spread_ms'])} ms "
             f"({probe['connections']} conn.)",
             f"{number(probe['lag_p50_ms'], 1)} / {number(probe['lag_p99_ms'], 1)}"
             f" / {number(probe['lag_max_ms'], 1)}",
             gc_text(probe),
             f"{number(probe['in_app_p50_ms'], 1)} / "
             f"{number(probe['in_app_p99_ms'], 1)}"]
        )  # fmt: skip
    lines += table(
        ["system", "how", "req/s", "p50 / p99 ms", "p99/p50",
         "first requests over", "loop lag p50 / p99 / max ms", "GC pauses",
         "in the app p50 / p99 ms"],
        rows,
    )  # fmt: skip
    return lines


RENDER = {
    "asgi": render_asgi,
    "cache": render_cache,
    "mail": render_mail,
    "channels": render_channels,
    "mysql": render_mysql,
    "tail": render_tail,
}
"""Each comparison's renderer: ``RENDER[kind](results, file name)``."""
