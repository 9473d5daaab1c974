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

    def send_response(self, response, send):
        response_headers = []
        for header, value in response.items():
            if isinstance(header, str):
                header = header.encode("ascii")
            if isinstance(value, str):
                value = value.encode("latin1")
            response_headers.append((bytes(header), bytes(value)))
        send({"type": "http.response.start", "headers": response_headers})
        for chunk in response:
            send({"type": "http.response.body", "body": chunk, "more": True})
        send({"type": "http.response.body"})

    def save(self, force=False):
        if self.pk is None or force:
            self.pk = self.manager.allocate(self.table, self.fields)
        self.manager.write(self.table, self.pk, self.values())
        self.signals.post_save.send(sender=type(self), instance=self)

    def delete(self, key):
        client = self.get_client(key, write=True)
        return bool(client.delete(key))
'''


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
    found = _mirrors(
        tmp_path,
        """\
        class AsyncClient:
            async def aset_many(self, data, timeout):
                client = self.get_client(None, write=True)
                pipeline = client.pipeline()
                pipeline.mset({k: self._serializer.dumps(v) for k, v in data.items()})
                if timeout is not None:
                    for key in data:
                        pipeline.expire(key, timeout)
                await pipeline.execute()

            async def adelete(self, key):
                client = self.get_client(key, write=True)
                return bool(await client.delete(key))
        """,
    )
    assert found["mine.mod.AsyncClient.aset_many"].score == pytest.approx(1.0)
    # short, so matched by name only: adelete is delete's twin
    short = found["mine.mod.AsyncClient.adelete"]
    assert short.theirs.name == "upstream.mod.Client.delete"


def test_renamed_locals_and_reworded_constants_still_match(tmp_path) -> None:
    found = _mirrors(
        tmp_path,
        """\
        def encode_headers(resp):
            out = []
            for name, val in resp.items():
                if isinstance(name, str):
                    name = name.encode("latin-1")
                if isinstance(val, str):
                    val = val.encode("utf-8")
                out.append((bytes(name), bytes(val)))
            return out
        """,
    )
    # a fragment of a longer function: coverage is of the copy's tokens
    fragment = found["mine.mod.encode_headers"]
    assert fragment.theirs.name == "upstream.mod.Client.send_response"
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
    start, end = UPSTREAM.index("    def set_many"), UPSTREAM.index("\n\n    def send")
    method = UPSTREAM[start:end]
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
