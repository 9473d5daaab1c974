"""Pure renderers of the benchmark pages.

Each function takes a results file's contents (a dict, see
:mod:`bench.results`) and returns Markdown lines; none reads or writes a
file. :mod:`bench.publish` decides where the lines go.

- :mod:`bench.render.benchmarks`: ``docs/benchmarks.md``, section by section;
- :mod:`bench.render.headline`: the headline ratios (benchmarks.md and the
  ``headline`` block of ``docs/evidence.md``);
- :mod:`bench.render.p3`: the sync deployment cost (P3) and its noise;
- :mod:`bench.render.evidence`: the ``evidence-N`` blocks of
  ``docs/evidence.md``;
- :mod:`bench.render.comparisons`: the tables of ``docs/asgi.md``,
  ``docs/cache.md`` and ``docs/mail.md``;
- :mod:`bench.render.plots`: the figures of benchmarks.md.
"""
