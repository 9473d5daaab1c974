"""Tests of the mirrored-code measure (``bench.mirror``) on small synthetic
packages: an upstream one standing for Django, and one standing for oneloop."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bench import mirror

UPSTREAM = '''\
class Client:
    def set_many(self, data, timeout):
        """Store every item of ``data``."""
        client = self.get_client(None, write=True)
        pipeline = client.pipeline()
        pipeline.mset({k: self._serializer.dumps(v) for k, v in data.items()})
        if timeout is not None:
            for key in data:
                pipeline.expire(key, timeout)
        pipeline.execute()

    def write_report(self, rows, out):
        lines = []
        for key, cell in rows.items():
            if isinstance(key, bytes):
                key = key.decode("ascii")
            if isinstance(cell, float):
                cell = round(cell, 2)
            lines.append((str(key), repr(cell)))
        out.write({"kind": "report.start", "lines": lines})
        for chunk in self.footer:
            out.write({"kind": "report.body", "body": chunk, "more": True})
        out.write({"kind": "report.end"})

    def save(self, force=False):
        if self.pk is None or force:
            self.pk = self.manager.allocate(self.table, self.fields)
        self.manager.write(self.table, self.pk, self.values())
        self.signals.post_save.send(sender=type(self), instance=self)

    def delete(self, key):
        client = self.get_client(key, write=True)
        return bool(client.delete(key))
'''


def _method(name: str) -> str:
    """The source of ``Client.<name>`` in :data:`UPSTREAM`, dedented."""
    start = UPSTREAM.index(f"    def {name}(")
    end = UPSTREAM.find("\n\n    def ", start)
    return textwrap.dedent(UPSTREAM[start : end if end > 0 else None])


def _package(root: Path, name: str, source: str) -> list[mirror.Tree]:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    (root / name / "mod.py").write_text(textwrap.dedent(source))
    return list(mirror.parse(str(root / name)))


def _mirrors(tmp_path: Path, ours: str) -> dict[str, mirror.Mirror]:
    upstream = _package(tmp_path, "upstream", UPSTREAM)
    names = mirror.defined_names(upstream)
    index = mirror.Index(mirror.bodies(upstream, names), names)
    mine = mirror.bodies(_package(tmp_path, "mine", ours), names)
    return {m.ours.name: m for m in mirror.mirrors(mine, index)}


def test_a_copy_is_counted_with_its_lines_but_not_its_docstring(tmp_path) -> None:
    found = _mirrors(tmp_path, UPSTREAM.replace("class Client", "class Mine"))
    copy = found["mine.mod.Mine.set_many"]
    assert copy.theirs.name == "upstream.mod.Client.set_many"
    assert copy.score == pytest.approx(1.0)
    assert copy.ours.lines == 8  # def line and body; docstring left out


def test_an_async_twin_reads_as_the_sync_code_it_copies(tmp_path) -> None:
    twin = "\n\n".join(
        _method(name)
        .replace(f"def {name}", f"async def a{name}")
        .replace("pipeline.execute()", "await pipeline.execute()")
        .replace("bool(client", "bool(await client")
        for name in ("set_many", "delete")
    )
    found = _mirrors(tmp_path, "class AsyncClient:\n" + textwrap.indent(twin, "    "))
    assert found["mine.mod.AsyncClient.aset_many"].score == pytest.approx(1.0)
    # short, so matched by name only: adelete is delete's twin
    short = found["mine.mod.AsyncClient.adelete"]
    assert short.theirs.name == "upstream.mod.Client.delete"


def test_renamed_locals_and_reworded_constants_still_match(tmp_path) -> None:
    report = _method("write_report")
    loop = report[report.index("    lines = []") : report.index("    out.write(")]
    renames = {"lines": "found", "key": "name", "cell": "val", "rows": "table"}
    rewords = {'"ascii"': '"utf-8"', "2)": "3)"}
    for old, new in {**renames, **rewords}.items():
        loop = loop.replace(old, new)
    assert "lines" not in loop and "utf-8" in loop
    source = "def format_rows(table):\n" + loop + "    return found\n"
    found = _mirrors(tmp_path, source)
    # a fragment of a longer function: coverage is of the copy's tokens
    fragment = found["mine.mod.format_rows"]
    assert fragment.theirs.name == "upstream.mod.Client.write_report"
    assert fragment.score > 0.9


def test_a_thin_override_and_unrelated_code_are_not_counted(tmp_path) -> None:
    found = _mirrors(
        tmp_path,
        """\
        class Model(Client):
            def save(self, force=False):
                super().save(force)
                self.saved = True

            def delete(self, key):
                self.log.append(("delete", key))
                return super().delete(key)

        def fibonacci(n):
            a, b = 0, 1
            for _ in range(n):
                a, b = b, a + b
            while a > 1000:
                a //= 2
            return {"value": a, "steps": n, "parity": a % 2}
        """,
    )
    assert found == {}


def test_a_function_inside_a_mirrored_one_is_not_counted_again(tmp_path) -> None:
    method = textwrap.indent(_method("set_many"), "    ")
    source = "class Mine:\n" + method + "\n\n" + textwrap.indent(method, "    ")
    found = _mirrors(tmp_path, source)
    assert "mine.mod.Mine.set_many" in found
    assert "mine.mod.Mine.set_many.set_many" not in found
    assert found["mine.mod.Mine.set_many"].ours.lines == 8 + 1 + 9


def test_coverage_counts_each_token_once() -> None:
    ours = [1, 2, None, 4]  # four runs of RUN tokens, one of them an idiom
    # runs 0, 1 and 3 cover tokens 0 to RUN + 2
    assert mirror.coverage(ours, {1, 2, 4}) == pytest.approx(
        (mirror.RUN + 3) / (len(ours) + mirror.RUN - 1)
    )
    assert mirror.coverage(ours, set()) == 0
