"""The headline ratios: oneloop against every peer, next to the absolute
numbers, one bullet per scenario and width. benchmarks.md shows them, and
for a full run so does the ``headline`` block of docs/evidence.md."""

from __future__ import annotations

from bench.render import p3
from bench.results import clean, fastest, find, http


def headline(results: dict, results_name: str) -> list[str]:
    """The headline ratios (oneloop / peers), each next to its absolute
    numbers, as Markdown bullet points. Used by benchmarks.md and, for a
    full run, by the generated block of docs/evidence.md."""
    out: list[str] = []
    p1 = results.get("P1", {})
    ol, sync, asy = (
        p1.get(k, {}).get("median")
        for k in ("oneloop-async", "stock-sync", "stock-async")
    )
    if ol and sync and asy:
        out.append(
            f"- **P1** oneloop `afirst()` {ol:.0f} µs vs stock `first()` {sync:.0f} µs "
            f"(**{ol / sync:.2f}x**) and stock `afirst()` {asy:.0f} µs "
            f"(**{ol / asy:.2f}x**)."
        )
    for workers in sorted({r["workers"] for r in results.get("http", [])}):
        p2 = http(results, "P2")
        for clients in sorted({r["clients"] for r in p2}):
            best = fastest(p2, ("oneloop-sync", "oneloop-async"), workers, clients)
            if not best:
                continue
            parts = []
            for peer in ("asgi-sync", "asgi-async", "wsgi", "gevent", "fastapi", "raw"):
                r = find(p2, peer, workers, clients)
                if clean(r):
                    parts.append(
                        f"{peer} {r['rps']:.0f} ({best['rps'] / r['rps']:.2f}x)"
                    )
            p99 = best.get("p99_ms")
            p50 = best.get("p50_ms")
            tail = f", p99/p50 {p99 / p50:.2f}" if p99 and p50 else ""
            cpu = best.get("cpu_us_per_request")
            cpu_text = f", {cpu:.0f} µs CPU/req" if cpu else ""
            out.append(
                f"- **P2** {clients} clients, {workers} worker(s): {best['system']} "
                f"{best['rps']:.0f} req/s{cpu_text}{tail}; vs " + ", ".join(parts) + "."
            )
        p4 = http(results, "P4")
        best = fastest(p4, ("oneloop-sync", "oneloop-async"), workers, 50)
        if best:
            parts = []
            for peer in ("asgi-sync", "asgi-async", "wsgi", "gevent", "fastapi", "raw"):
                r = find(p4, peer, workers)
                if clean(r):
                    parts.append(
                        f"{peer} {r['rps']:.0f} ({best['rps'] / r['rps']:.2f}x)"
                    )
            out.append(
                f"- **P4** {workers} worker(s): {best['system']} {best['rps']:.0f} "
                "req/s; vs " + ", ".join(parts) + "."
            )
        p5 = http(results, "P5")
        mine = [
            r
            for r in (find(p5, s, workers) for s in ("oneloop-sync", "oneloop-async"))
            if r
        ]
        if mine:
            parts = []
            for peer in ("asgi-sync", "gevent", "fastapi", "raw"):
                r = find(p5, peer, workers)
                if r:
                    parts.append(f"{peer} {r['kib_per_request']:.1f} KiB")
            out.append(
                f"- **P5** {workers} worker(s), {mine[0]['clients']} in flight: "
                + ", ".join(
                    f"{r['system']} {r['kib_per_request']:.1f} KiB/request "
                    f"({r['idle_threads']} → {r['peak_threads']} threads"
                    + (f", {r['failed']} failed" if r.get("failed") else "")
                    + ")"
                    for r in mine
                )
                + "; vs "
                + ", ".join(parts)
                + "."
            )
        p6 = http(results, "P6")
        for system in ("oneloop-sync", "oneloop-async"):
            r6 = find(p6, system, workers)
            one = find(
                p2, system, workers, min((r["clients"] for r in p2), default=None)
            )
            if clean(r6) and clean(one):
                out.append(
                    f"- **P6** {workers} worker(s): {system} 5 queries "
                    f"{r6['p50_ms']:.1f} ms p50 vs one query {one['p50_ms']:.1f} ms "
                    f"(**{r6['p50_ms'] / one['p50_ms']:.2f}x**)."
                )
    out += p3.bullets(results)
    p7 = results.get("P7", {})
    a = p7.get("asgiref", {}).get("to_sync", {}).get("median")
    b = p7.get("oneloop-bridge", {}).get("to_sync", {}).get("median")
    if a and b:
        out.append(
            f"- **P7** one async→sync call: asgiref {a:.1f} µs, oneloop {b:.2f} µs "
            f"(**{b / a:.3f}x**)."
        )
    if out:
        out.append(f"\n(From `{results_name}`.)")
    return out
