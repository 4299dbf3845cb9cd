"""The archive at scale: cold ingest, start to ready on unchanged sources, RSS, and search
latency while a refresh rebuilds the catalog.

    python bench/archive.py [--weeks 13000] [--weeks-per-file 130] [--runs 3] [--queries 2000]

Writes ``--weeks`` synthetic weeks (``bench/synth.py``: real-shaped rows, summaries of
500-1,500 characters, bullets) into files of ``--weeks-per-file`` weeks, served over HTTP from
this process (the sources are ``sources.urls``, as for a live list). Then, per run, fresh
Python processes measure

* ``cold``: ``Archive.load()`` with an empty index directory (parse every file, index every
  paper): papers/s, and the floor of the same files (a bare regex over the rows and an insert
  of title and summary into the same engine, nothing else) as a ratio;
* ``warm``: ``Archive.load()`` again on the kept parse cache and index (sources unchanged):
  seconds from the call to ready, and that nothing was parsed or indexed;
* ``rss``: the process's resident set after the warm load, next to the raw text;
* ``refresh``: 2,000 mixed searches (``bench/search.py``'s mix) on the event loop, idle, then
  while a refresh brings a changed copy of one file (parsed alone, the catalog rebuilt in a
  worker thread): p99 of each, and the ratio; and Tantivy's own floor for the mix in the
  same process (``bench/search.py``: the bot's queries made beforehand, ``searcher.search``
  alone), with idle and during-refresh p99 as ratios to it.

Every figure is printed as min-max over the runs, with the core count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import engines
import search as search_bench
import synth
from aiohttp import web

from bot.papers.archive import Archive

TARGETS = {
    "warm_s": 1.0,  # start to ready on unchanged sources, 130k papers
    "ingest_per_s": 40_000,
    "floor_ratio": 2.0,
    "rss_ratio": 2.0,
    "refresh_ratio": 1.5,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _serve(directory: Path, port: int) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_static("/", directory)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, f"http://127.0.0.1:{port}"


def _archive(urls: list[str], state: Path) -> Archive:
    return Archive(
        [],
        urls,
        cache_dir=str(state / "cache"),
        index_dir=str(state / "index"),
        log_diagnostics=False,
    )


async def _measure(
    kind: str, src: Path, state: Path, queries: int, seed: int, port: int
) -> dict[str, Any]:
    # the same port in every process: the cached copies are kept by URL
    runner, base = await _serve(src, port)
    files = sorted(p.name for p in src.glob("*.md"))
    urls = [f"{base}/{name}" for name in files]
    out: dict[str, Any] = {"kind": kind}
    try:
        if kind == "fetch":  # fill the source cache (the copies a bot starts from offline)
            archive = _archive(urls, state)
            async with aiohttp.ClientSession() as session:
                for remote in archive.remotes:
                    await remote.fetch(session)
            return out
        archive = _archive(urls, state)
        t0 = time.perf_counter()
        await archive.load()
        out["load_s"] = time.perf_counter() - t0
        out["papers"] = len(archive.catalog)
        out["parsed"] = archive.parse_cache.parsed
        out["indexed"] = archive.indexed
        out["rss_mb"] = engines.rss_mb()
        out["raw_mb"] = sum(p.stat().st_size for p in src.glob("*.md")) / 1e6
        if kind == "cold":
            floor_s, _, _ = engines._floor(src, "tantivy")
            out["floor_s"] = floor_s
        if kind == "refresh":
            out |= await _refresh(archive, src, files, queries, seed)
    finally:
        await runner.cleanup()
    return out


async def _refresh(
    archive: Archive, src: Path, files: list[str], queries: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    kinds = search_bench.make_queries(queries, archive.catalog, rng)
    mix = [text for _, text in kinds]

    async def run(texts: list[str]) -> list[float]:
        times = []
        for text in texts:
            t0 = time.perf_counter()
            archive.current().search(text, limit=5)  # on the loop, as a chat handler does
            times.append((time.perf_counter() - t0) * 1e3)
            await asyncio.sleep(0)  # let the loop (and the refresh) run between searches
        return times

    await run(mix[:50])
    idle = await run(mix)
    # Tantivy's own floor for the same mix on the same index (bench/search.py)
    catalog = archive.current()
    plans = search_bench.engine_plans(catalog, kinds)
    floor = search_bench.timed_floor(catalog._index.searcher, kinds, plans, 5)["all"]
    # one file changes: its newest week loses its last row
    changed = src / files[0]
    lines = changed.read_text(encoding="utf-8").splitlines()
    cut = next(i for i, line in enumerate(lines) if line.startswith("| 10)"))
    changed.write_text("\n".join(lines[:cut] + lines[cut + 1 :]) + "\n", encoding="utf-8")
    before = archive.parse_cache.parsed
    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        refresh = asyncio.create_task(archive.refresh(session))
        during: list[float] = []
        while not refresh.done():
            during += await run(mix[len(during) % len(mix) :][:50])
        await refresh
        refresh_s = time.perf_counter() - t0
    return {
        "idle_p99_ms": search_bench.pct(idle, 0.99),
        "floor_p99_ms": search_bench.pct(floor, 0.99),
        "during_p99_ms": search_bench.pct(during, 0.99) if during else 0.0,
        "during_max_ms": max(during) if during else 0.0,
        "during_n": len(during),
        "refresh_s": refresh_s,
        "refresh_parsed": archive.parse_cache.parsed - before,
    }


def _child(kind: str, src: Path, state: Path, queries: int, seed: int, port: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--src", str(src), "--state", str(state),
         "--queries", str(queries), "--seed", str(seed), "--port", str(port)],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"{kind} failed:\n{proc.stderr}")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--weeks", type=int, default=13_000)
    ap.add_argument("--weeks-per-file", type=int, default=130)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    ap.add_argument("--state", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        data = asyncio.run(
            _measure(
                args.measure, Path(args.src), Path(args.state), args.queries, args.seed, args.port
            )
        )
        print(json.dumps(data))
        return 0

    print(f"cores: {os.cpu_count()}; {args.weeks * 10:,} papers; {args.runs} runs")
    rows: list[dict[str, Any]] = []
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="paperboy-archive-") as tmp:
        src, state = Path(tmp) / "src", Path(tmp) / "state"
        files = max(1, -(-args.weeks // args.weeks_per_file))
        synth.write_files(src, args.weeks, files=files, seed=args.seed)
        pristine = Path(tmp) / "pristine"
        shutil.copytree(src, pristine)
        for run in range(args.runs):
            shutil.rmtree(state, ignore_errors=True)
            shutil.rmtree(src)
            shutil.copytree(pristine, src)
            _child("fetch", src, state, args.queries, args.seed, port)
            shutil.rmtree(state / "index", ignore_errors=True)
            cold = _child("cold", src, state, args.queries, args.seed, port)
            warm = _child("warm", src, state, args.queries, args.seed, port)
            refresh = _child("refresh", src, state, args.queries, args.seed + run, port)
            row = {
                "ingest_per_s": cold["papers"] / cold["load_s"],
                "floor_ratio": cold["load_s"] / cold["floor_s"],
                "cold_s": cold["load_s"],
                "floor_s": cold["floor_s"],
                "warm_s": warm["load_s"],
                "warm_parsed": warm["parsed"],
                "warm_indexed": warm["indexed"],
                "rss_mb": warm["rss_mb"],
                "rss_ratio": warm["rss_mb"] / warm["raw_mb"],
                "cold_rss_mb": cold["rss_mb"],
                "idle_p99_ms": refresh["idle_p99_ms"],
                "during_p99_ms": refresh["during_p99_ms"],
                "during_max_ms": refresh["during_max_ms"],
                "refresh_ratio": refresh["during_p99_ms"] / refresh["idle_p99_ms"],
                "floor_p99_ms": refresh["floor_p99_ms"],
                "idle_floor_ratio": refresh["idle_p99_ms"] / refresh["floor_p99_ms"],
                "during_floor_ratio": refresh["during_p99_ms"] / refresh["floor_p99_ms"],
                "refresh_s": refresh["refresh_s"],
                "refresh_parsed": refresh["refresh_parsed"],
                "papers": cold["papers"],
                "raw_mb": cold["raw_mb"],
            }
            rows.append(row)
            print(f"  run {run + 1}: " + json.dumps({k: round(v, 3) for k, v in row.items()}))

    def rng(key: str, fmt: str = "{:.2f}") -> str:
        return engines.span([float(r[key]) for r in rows], fmt)

    r0 = rows[0]
    print(f"\n{r0['papers']:,} papers, {r0['raw_mb']:.0f} MB of markdown; min-max over runs")
    print(
        f"cold ingest (parse + index)   {rng('cold_s')} s = {rng('ingest_per_s', '{:,.0f}')}"
        f" papers/s (target >= {TARGETS['ingest_per_s']:,})"
    )
    print(
        f"  floor (regex + insert)      {rng('floor_s')} s; ingest / floor = "
        f"{rng('floor_ratio')}x (target <= {TARGETS['floor_ratio']}x)"
    )
    print(
        f"start to ready, unchanged     {rng('warm_s')} s (target < {TARGETS['warm_s']} s); "
        f"parsed {rng('warm_parsed', '{:.0f}')} files, indexed {rng('warm_indexed', '{:.0f}')}"
    )
    print(
        f"RSS after load                {rng('rss_mb', '{:.0f}')} MB = {rng('rss_ratio')}x "
        f"the raw text (target < {TARGETS['rss_ratio']}x); after a cold load "
        f"{rng('cold_rss_mb', '{:.0f}')} MB"
    )
    print(
        f"search p99 idle               {rng('idle_p99_ms')} ms = {rng('idle_floor_ratio')}x "
        f"Tantivy's floor for the mix ({rng('floor_p99_ms')} ms, searcher.search alone, same "
        "index, same run)"
    )
    print(f"search p99 during a refresh   {rng('during_p99_ms')} ms (max {rng('during_max_ms')}) "
          f"= {rng('refresh_ratio')}x idle (target <= {TARGETS['refresh_ratio']}x); the refresh "
          f"took {rng('refresh_s')} s and parsed {rng('refresh_parsed', '{:.0f}')} "
          "file(s)")  # fmt: skip
    print(f"  during a refresh / floor    {rng('during_floor_ratio')}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
