"""Load generation: wrk for throughput and latency, a bounded asyncio client
for the in-flight memory scenario (P5), which wrk cannot express."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    """wrk duration ("812.00us", "51.2ms", "1.02s") in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles and errors from ``wrk --latency``."""
    result: dict[str, Any] = {}
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M)
        if match:
            result[f"p{pct}_ms"] = _ms(match.group(1))
    match = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+)", output, re.M)
    if match:
        result["requests"] = int(match.group(1))
        result["duration_s"] = _ms(match.group(2) + match.group(3)) / 1e3
    match = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if match:
        result["rps"] = float(match.group(1))
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = sum(int(g) for g in match.groups()) if match else 0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(match.group(1)) if match else 0
    return result


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk(
    url: str,
    connections: int,
    seconds: float,
    threads: int = 1,
    timeout_s: int = 10,
    script: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run wrk against ``url`` for ``seconds`` (whole seconds: wrk takes no
    fractions) with ``connections`` open connections and return its parsed
    figures (bounded by wrk's -d). ``script``: a Lua script's path and its
    arguments."""
    cmd = [
        "wrk", "--latency", "-t", str(min(threads, connections)),
        "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--timeout", f"{timeout_s}s",
        *(("-s", script[0], url, "--", *script[1:]) if script else (url,)),
    ]  # fmt: skip
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 30
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


async def _get(host: str, port: int, path: str) -> int:
    """One HTTP/1.1 GET on its own connection; returns the status code."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    status_line = data.split(b"\r\n", 1)[0].split()
    return int(status_line[1]) if len(status_line) > 1 else 0


async def _bounded(coro: Any, seconds: float) -> Any:
    async with asyncio.timeout(seconds):
        return await coro


def inflight(
    url: str,
    count: int,
    sample: Callable[[], tuple[int, int]],
    timeout: float = 60,
) -> dict[str, Any]:
    """Open ``count`` concurrent slow requests to ``url``; while they are in
    flight call ``sample()`` (RSS bytes, threads) every 50 ms and keep the
    peak. Returns peak figures, statuses and the wall time."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    peak_rss = peak_threads = 0

    async def main() -> list[Any]:
        nonlocal peak_rss, peak_threads
        tasks = [
            asyncio.create_task(_bounded(_get(host, port, parts.path), timeout))
            for _ in range(count)
        ]
        pending = set(tasks)
        while pending:
            rss, threads = sample()
            peak_rss, peak_threads = max(peak_rss, rss), max(peak_threads, threads)
            _, pending = await asyncio.wait(pending, timeout=0.05)
        return await asyncio.gather(*tasks, return_exceptions=True)

    start = time.perf_counter()
    statuses = asyncio.run(main())
    elapsed = time.perf_counter() - start
    ok = sum(1 for s in statuses if s == 200)
    return {
        "count": count,
        "ok": ok,
        "failed": count - ok,
        "peak_rss": peak_rss,
        "peak_threads": peak_threads,
        "seconds": elapsed,
    }
