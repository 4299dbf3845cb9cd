"""Ingest throughput: parse curated weekly files and index them into the catalog.

    python bench/ingest.py [--weeks 130,13000] [--weeks-per-file 130] [--repeat 3] [--profile]

For each size, synthetic files (``bench/synth.py``, every drifting row and heading shape) are
written to a temporary directory, then a fresh Python process measures

* parse: ``load_paths([dir])`` (read, decode, parse every file into Weeks),
* index: ``Catalog.build(weeks)`` and its first search (dedupe and the Tantivy index, which
  is built on first use; the trigram index for typo-tolerant suggestions is timed separately
  as ``warm``),

best of ``--repeat`` runs (small sizes run for at least two seconds), then once more under
``tracemalloc`` for the peak of Python allocations. ``maxrss`` is the child's peak resident set
after the timed runs (before tracemalloc). The target is 40,000 papers/s for parse + index, with
linear growth: the time per paper should not rise with the archive's size. ``--profile`` prints
the top cProfile entries for the largest size.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synth

from bot.papers.catalog import Catalog
from bot.papers.sources.loader import load_paths

TARGET_PAPERS_PER_S = 40_000
MIN_SECONDS = 2.0


def _maxrss_mb() -> float:
    # Linux reports kilobytes, macOS bytes.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _once(directory: Path) -> tuple[float, float, int, int, int]:
    """(parse s, index s, papers, weeks, error diagnostics) of one load."""
    t0 = time.perf_counter()
    result = load_paths([directory])
    t1 = time.perf_counter()
    catalog = Catalog.build(result.weeks)
    catalog.search("index")  # the search index is built on first use
    t2 = time.perf_counter()
    papers, weeks = len(catalog), len(catalog.weeks())
    catalog.close()
    return t1 - t0, t2 - t1, papers, weeks, len(result.errors)


def measure(directory: Path, repeat: int) -> dict[str, Any]:
    """Timings and memory for the files in ``directory`` (run in a fresh process)."""
    best_parse = best_index = math.inf
    totals: list[float] = []
    papers = weeks = errors = 0
    runs = 0
    started = time.perf_counter()
    # At least ``repeat`` runs, and small sizes keep going for MIN_SECONDS to steady the best.
    while runs < repeat or time.perf_counter() - started < MIN_SECONDS:
        gc.collect()
        parse_s, index_s, papers, weeks, errors = _once(directory)
        best_parse, best_index = min(best_parse, parse_s), min(best_index, index_s)
        totals.append(parse_s + index_s)
        runs += 1
    result = load_paths([directory])
    warnings = len(result.warnings)
    catalog = Catalog.build(result.weeks)
    catalog.search("index")
    t0 = time.perf_counter()
    catalog.warm()
    warm_s = time.perf_counter() - t0
    catalog.close()
    del result, catalog
    maxrss = _maxrss_mb()
    gc.collect()
    tracemalloc.start()
    kept = load_paths([directory])
    catalog = Catalog.build(kept.weeks)
    catalog.search("index")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    catalog.close()
    return {
        "papers": papers,
        "weeks": weeks,
        "errors": errors,
        "warnings": warnings,
        "parse_s": best_parse,
        "index_s": best_index,
        "total_min_s": min(totals),
        "total_max_s": max(totals),
        "runs": runs,
        "warm_s": warm_s,
        "peak_mb": peak / 1e6,
        "maxrss_mb": maxrss,
    }


def profile(directory: Path, top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    result = load_paths([directory])
    catalog = Catalog.build(result.weeks)
    catalog.search("index")
    prof.disable()
    catalog.close()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _child(directory: str, repeat: int) -> dict[str, Any]:
    """Run ``measure`` in a fresh interpreter so ``maxrss`` belongs to this size alone."""
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", directory, "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    )
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--weeks", default="130,13000", help="comma-separated sizes in weeks")
    ap.add_argument("--weeks-per-file", type=int, default=130)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="cProfile the largest size")
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # internal: child process mode
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure), max(1, args.repeat))))
        return 0

    sizes = [int(s) for s in args.weeks.split(",") if s.strip()]
    print(f"cores: {os.cpu_count()}; best of {args.repeat} runs per size", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="paperboy-ingest-") as tmp:
        for n in sizes:
            directory = Path(tmp) / f"w{n}"
            files = max(1, math.ceil(n / max(1, args.weeks_per_file)))
            t0 = time.perf_counter()
            paths = synth.write_files(directory, n, files=files, seed=args.seed)
            gen_s = time.perf_counter() - t0
            size_mb = sum(p.stat().st_size for p in paths) / 1e6
            print(
                f"generated {n} weeks in {files} file(s), {size_mb:.1f} MB, in {gen_s:.1f} s",
                file=sys.stderr,
            )
            row = _child(str(directory), args.repeat)
            row.update(weeks_asked=n, files=files, mb=size_mb)
            rows.append(row)
        if args.profile and sizes:
            print(profile(Path(tmp) / f"w{max(sizes)}"))

    print()
    head = (
        f"{'weeks':>6} {'papers':>7} {'files':>5} {'MB':>5} {'parse s':>8} {'index s':>8} "
        f"{'papers/s':>9} {'us/paper':>8} {'warm s':>7} {'peak MB':>8} {'maxrss MB':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        total = r["parse_s"] + r["index_s"]
        rate = r["papers"] / total if total else math.inf
        print(
            f"{r['weeks_asked']:>6} {r['papers']:>7} {r['files']:>5} {r['mb']:>5.1f} "
            f"{r['parse_s']:>8.3f} {r['index_s']:>8.3f} {rate:>9,.0f} "
            f"{1e6 * total / max(1, r['papers']):>8.1f} {r['warm_s']:>7.3f} "
            f"{r['peak_mb']:>8.1f} {r['maxrss_mb']:>9.1f}"
        )
    print()
    for r in rows:
        expected = r["weeks_asked"] * synth.PAPERS_PER_WEEK
        if r["papers"] != expected or r["weeks"] != r["weeks_asked"] or r["errors"]:
            print(
                f"CHECK FAILED for {r['weeks_asked']} weeks: {r['weeks']} weeks, "
                f"{r['papers']} papers (expected {expected}), {r['errors']} errors"
            )
        else:
            print(
                f"{r['weeks_asked']} weeks: all {expected} papers loaded, 0 errors, "
                f"{r['warnings']} warnings (inferred years)"
            )
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]

        def per_paper(r: dict[str, Any]) -> float:
            return (float(r["parse_s"]) + float(r["index_s"])) / max(1, int(r["papers"]))

        ratio = per_paper(large) / per_paper(small)
        print(
            f"per-paper time, {large['weeks_asked']} vs {small['weeks_asked']} weeks: "
            f"x{ratio:.2f} (1.00 = linear growth)"
        )
    for r in rows:
        total = r["parse_s"] + r["index_s"]
        rate = r["papers"] / total if total else math.inf
        verdict = "met" if rate >= TARGET_PAPERS_PER_S else "MISSED"
        short = (
            "" if rate >= TARGET_PAPERS_PER_S else f" ({1 - rate / TARGET_PAPERS_PER_S:.0%} short)"
        )
        print(
            f"target >= {TARGET_PAPERS_PER_S:,} papers/s at {r['papers']} papers: {verdict} "
            f"({rate:,.0f}/s){short}; over {r['runs']} runs "
            f"{r['papers'] / r['total_max_s']:,.0f}-{r['papers'] / r['total_min_s']:,.0f}/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
