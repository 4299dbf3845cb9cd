"""Search engines compared on real-shaped data: Tantivy (what the bot uses) and SQLite FTS5.

    python bench/engines.py [--weeks 13000] [--runs 3] [--queries 2000] [--engines tantivy,fts5]

Writes ``--weeks`` synthetic weeks once (``bench/synth.py``: ten papers a week, summaries of
500-1,500 characters, bullets), then for every engine and run a fresh Python process

* parses the files (``load_paths``) and builds the catalog's papers (``Catalog``),
* builds the engine's index over them (timed: ``index s``),
* times 2,000 mixed queries (``bench/search.py``'s mix: common, rare and multi-word queries,
  filters) with exact ranking over every match, top five, and reports p50 / p99 / max,
* reports its resident set after the load (``rss``) next to the raw text size.

``fts5`` is the former engine without its 1,500-newest window: one FTS5 table over title,
summary and filter tokens, ``bm25(fts, 8, 1, 0)`` over every match. ``tantivy`` is
``bot.papers.search.SearchIndex``. Each figure is printed as the range (min-max) over the runs,
with the machine's core count; the floor of ``--floor`` (a bare regex over the rows and an
insert of title and summary into each engine, nothing else) puts ingest in proportion.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search as search_bench
import synth
import tantivy

from bot.papers import search as search_module
from bot.papers.catalog import Catalog
from bot.papers.model import CatalogPaper, normalize_title
from bot.papers.query import SearchQuery, parse_query
from bot.papers.search import (
    SearchHit,
    SearchIndex,
    SearchPage,
    _meta_tokens,
)
from bot.papers.sources.loader import load_paths

ROW_RE = re.compile(r"^\|\s*\d+\)\s*(.*?)\s*(?:\||$)", re.MULTILINE)


def rss_mb() -> float:
    """The current resident set (Linux ``/proc``), else the peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Fts5Index:
    """The former engine, exact: bm25 over every match (no window)."""

    def __init__(self, papers: Sequence[CatalogPaper]) -> None:
        self.papers = papers
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE fts USING fts5(title, summary, meta, tokenize='porter unicode61')"
        )
        self.db.executemany(
            "INSERT INTO fts(rowid, title, summary, meta) VALUES (?, ?, ?, ?)",
            (
                (i, p.title, p.summary + " " + " ".join(p.bullets), _meta_tokens(p))
                for i, p in enumerate(papers)
            ),
        )

    def search(self, q: SearchQuery, limit: int, offset: int, week_starts: Any) -> SearchPage:
        quoted = ['"' + w.replace('"', '""') + '"' for w in q.words]
        meta = []
        if q.year is not None:
            meta.append(f'meta:"zzy{q.year}"')
        meta += [f'meta:"zzh{h}"' for h in q.has]
        if q.week is not None:
            if not week_starts:
                return SearchPage(q, [], offset, False)
            meta.append(
                "("
                + " OR ".join(
                    f'meta:"zzw{d.year:04d}{d.month:02d}{d.day:02d}"' for d in week_starts
                )
                + ")"
            )
        if not quoted:
            rows = self.db.execute(
                "SELECT rowid, 0 FROM fts WHERE fts MATCH ? ORDER BY rowid LIMIT ? OFFSET ?",
                (" AND ".join(meta), limit + 1, offset),
            ).fetchall()
        else:
            words = " AND ".join(quoted)
            match = f"{{title summary}}: ({words})"
            if (
                len(quoted) > 1
                and not self.db.execute(
                    "SELECT 1 FROM fts WHERE fts MATCH ? LIMIT 1", (match,)
                ).fetchone()
            ):
                match = f"{{title summary}}: ({' OR '.join(quoted)})"
            if meta:
                match += " AND " + " AND ".join(meta)
            rows = self.db.execute(
                "SELECT rowid, bm25(fts, 8.0, 1.0, 0.0) AS s FROM fts WHERE fts MATCH ?"
                " ORDER BY s LIMIT ? OFFSET ?",
                (match, limit + 1, offset),
            ).fetchall()
        hits = [SearchHit(self.papers[r], -float(s)) for r, s in rows]
        return SearchPage(q, hits[:limit], offset, len(hits) > limit)


def _floor(directory: Path, engine: str) -> tuple[float, int, int]:
    """(seconds, rows, bytes of text): a bare regex over the files' rows, split at the first
    `` - `` into title and summary, inserted into the engine; nothing else."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.md"))]
    t0 = time.perf_counter()
    rows = [m.group(1) for text in texts for m in ROW_RE.finditer(text)]
    pairs = [r.partition(" - ")[::2] for r in rows]
    if engine == "fts5":
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE f USING fts5(title, summary, tokenize='porter unicode61')")
        db.executemany("INSERT INTO f(title, summary) VALUES (?, ?)", pairs)
        db.commit()
    else:  # the production analyzer and writer threads, two fields, nothing else
        b = tantivy.SchemaBuilder()
        b.add_text_field("title", tokenizer_name=search_module._STEM, index_option="freq")
        b.add_text_field("summary", tokenizer_name=search_module._STEM, index_option="freq")
        ix = tantivy.Index(b.build())
        search_module._register(ix)
        w = ix.writer(search_module._WRITER_HEAP, search_module._WRITER_THREADS)
        for title, summary in pairs:
            w.add_document(tantivy.Document(title=title, summary=summary))
        w.commit()
        w.wait_merging_threads()
    return time.perf_counter() - t0, len(rows), sum(len(t.encode()) for t in texts)


def pct(values: Sequence[float], q: float) -> float:
    return search_bench.pct(values, q)


def measure(directory: Path, engine: str, queries: int, seed: int) -> dict[str, Any]:
    """One run of one engine, in this (fresh) process."""
    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    result = load_paths([directory])
    t1 = time.perf_counter()
    catalog = Catalog.build(result.weeks)  # dedupe + the production (Tantivy) index
    t2 = time.perf_counter()
    del result
    searcher: Callable[[str], object]
    if engine == "fts5":
        fts = Fts5Index(catalog.papers)
        t3 = time.perf_counter()
        index_s = t3 - t2

        def searcher(text: str) -> object:
            q = parse_query(text)
            if q.arxiv:
                return catalog.search(q)
            starts = catalog._starts_covering(q.week) if q.week else set()
            return fts.search(q, 5, 0, starts)
    else:
        t3 = time.perf_counter()
        SearchIndex(catalog.papers, [normalize_title(p.title) for p in catalog.papers])
        index_s = time.perf_counter() - t3  # the same index again, on its own

        def searcher(text: str) -> object:
            return catalog.search(text, limit=5)

    gc.collect()
    rss = rss_mb() - base
    rng = random.Random(seed)
    mix = search_bench.make_queries(queries, catalog, rng)
    search_bench.timed(searcher, mix[:50])
    times = search_bench.timed(searcher, mix)["all"]
    raw = sum(p.stat().st_size for p in directory.glob("*.md"))
    floor_s, floor_rows, _ = _floor(directory, engine)
    return {
        "engine": engine,
        "papers": len(catalog),
        "parse_s": t1 - t0,
        "catalog_s": t2 - t1,
        "index_s": index_s,
        "p50_ms": pct(times, 0.5),
        "p99_ms": pct(times, 0.99),
        "max_ms": max(times),
        "rss_mb": rss,
        "raw_mb": raw / 1e6,
        "floor_s": floor_s,
        "floor_rows": floor_rows,
    }


def _child(directory: Path, engine: str, queries: int, seed: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", str(directory), "--engines", engine,
         "--queries", str(queries), "--seed", str(seed)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def span(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    lo, hi = min(values), max(values)
    return (
        fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--weeks", type=int, default=13_000)
    ap.add_argument("--weeks-per-file", type=int, default=130)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--engines", default="tantivy,fts5")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.engines, args.queries, args.seed)))
        return 0

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    print(f"cores: {os.cpu_count()}; {args.weeks * 10:,} papers; {args.runs} runs per engine")
    with tempfile.TemporaryDirectory(prefix="paperboy-engines-") as tmp:
        files = max(1, -(-args.weeks // args.weeks_per_file))
        synth.write_files(tmp, args.weeks, files=files, seed=args.seed)
        results: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
        for run in range(args.runs):
            for engine in engines:
                r = _child(Path(tmp), engine, args.queries, args.seed + run)
                results[engine].append(r)
                print(
                    f"  run {run + 1} {engine}: p99 {r['p99_ms']:.2f} ms, index "
                    f"{r['index_s']:.1f} s, rss {r['rss_mb']:.0f} MB",
                    flush=True,
                )
    head = (
        f"{'engine':<8} {'papers':>8} {'parse s':>11} {'index s':>11} {'floor s':>11} "
        f"{'p50 ms':>11} {'p99 ms':>13} {'max ms':>13} {'rss MB':>11} {'raw MB':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for engine, rs in results.items():

        def col(key: str, rs: list[dict[str, Any]] = rs) -> list[float]:
            return [float(r[key]) for r in rs]

        print(
            f"{engine:<8} {rs[0]['papers']:>8,} {span(col('parse_s')):>11} "
            f"{span(col('index_s')):>11} {span(col('floor_s')):>11} {span(col('p50_ms')):>11} "
            f"{span(col('p99_ms')):>13} {span(col('max_ms')):>13} "
            f"{span(col('rss_mb'), '{:.0f}'):>11} {rs[0]['raw_mb']:>7.0f}"
        )
    print(
        "\nexact ranking over every match, top five; ranges are min-max over the runs; "
        "floor: a bare regex over the rows plus an insert of title and summary into the engine"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
