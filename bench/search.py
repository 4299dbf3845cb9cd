"""Search and autocomplete latency on a 130,000-paper catalog, exact ranking over every match.

    python bench/search.py [--weeks 13000] [--queries 2000] [--suggests 1000] [--runs 3]
                           [--profile]

Builds the catalog from synthetic files (``bench/synth.py``, 10 papers a week, real-shaped
rows: summaries of 500-1,500 characters, bullets), then, ``--runs`` times, times
``catalog.search(q)`` over a deterministic mix of queries: common and rare single words,
multi-word queries (including ones no paper holds every word of, which fall back to any-word
matches), title words, filters (``year:``, ``has:``, ``week:``, ``arxiv:``) with and without
words, and queries with no hits at all. Then ``catalog.suggest(prefix)``: title prefixes, words
from inside titles, typos (the trigram path) and empty input. Prints p50 / p90 / p99 / max per
kind of query and overall; the targets are p99 < 2 ms for search and < 5 ms for suggest.

In the same run, Tantivy's own floor for the same mix: the same index, the queries the bot
builds (``SearchIndex.plan``: the text-field clause with the boosted title clause, the same
filters, the any-word fallback decided beforehand) made before timing, and only
``searcher.search(query, limit)`` timed, no Python hit mapping. Each run prints the bot's and
the floor's p50 / p99 and the ratio bot p99 / floor p99; the summary gives min-max over the
runs with the core count. Likewise for suggest (its Tantivy searches alone). ``--profile``
prints the top cProfile entries of the slowest kind.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import math
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synth
import tantivy

from bot.papers.catalog import Catalog
from bot.papers.query import parse_query
from bot.papers.search import FUZZY_BELOW, SearchPlan
from bot.papers.sources.loader import load_paths

TARGET_P99_MS = 2.0
TARGET_SUGGEST_P99_MS = 5.0
Query = tuple[str, str]  # (kind, text)


def make_queries(n: int, catalog: Catalog, rng: random.Random) -> list[Query]:
    """``n`` queries, evenly spread over the kinds below, in a shuffled order."""
    common = synth.COMMON_WORDS[:40]
    middle = synth.COMMON_WORDS[40:] + synth.RARE_WORDS[:100]
    tail = synth.RARE_WORDS[-400:]
    titles = [w.lower() for w in synth.TITLE_WORDS]
    weeks = catalog.weeks()
    papers = catalog.papers
    years = sorted({w.end.year for w in weeks if 1990 <= w.end.year <= 2099})

    def nohit() -> str:
        return "".join(rng.choice("qxzjvkw") for _ in range(rng.randint(6, 10)))

    def arxiv_id() -> str:
        for _ in range(20):
            aid = rng.choice(papers).arxiv_id
            if aid:
                return aid
        return "2506.00001"

    kinds: dict[str, Callable[[], str]] = {
        "common word": lambda: rng.choice(common),
        "middle word": lambda: rng.choice(middle),
        "rare word": lambda: rng.choice(tail),
        "very rare word": lambda: synth.very_rare_word(rng.getrandbits(16)),
        "2 words": lambda: f"{rng.choice(common)} {rng.choice(middle)}",
        "3 words": lambda: " ".join(rng.sample(middle, 3)),
        "title words": lambda: " ".join(rng.sample(titles, 2)),
        "no paper has all": lambda: f"{rng.choice(tail)} {rng.choice(tail)} {nohit()}",
        "no hit": nohit,
        "year: + word": lambda: f"year:{rng.choice(years)} {rng.choice(common + middle)}",
        "has:code + word": lambda: f"has:code {rng.choice(common + middle)}",
        "year: + has: + word": lambda: f"{rng.choice(middle)} year:{rng.choice(years)} has:code",
        "year: + rare word": lambda: f"year:{rng.choice(years)} {rng.choice(tail)}",
        "year: only": lambda: f"year:{rng.choice(years)}",
        "has:code only": lambda: "has:code",
        "week:": lambda: f"week:{rng.choice(weeks).start.isoformat()}",
        "arxiv:": lambda: f"arxiv:{arxiv_id()}",
    }
    per = max(1, math.ceil(n / len(kinds)))
    queries = [(kind, make()) for kind, make in kinds.items() for _ in range(per)]
    rng.shuffle(queries)
    return queries[:n]


def make_prefixes(n: int, catalog: Catalog, rng: random.Random) -> list[Query]:
    papers = catalog.papers

    def typo(s: str) -> str:
        i = rng.randrange(1, len(s) - 1)
        return s[:i] + rng.choice("aeiourst") + s[i + 1 :]

    def title_prefix() -> str:
        t = rng.choice(papers).title
        return t[: rng.randint(2, min(len(t), 20))]

    def inner_words() -> str:
        words = rng.choice(papers).title.split()
        return " ".join(words[1:3]) if len(words) >= 3 else words[-1]

    def typo_title() -> str:
        t = rng.choice(papers).title
        return typo(t[: max(4, min(len(t), rng.randint(8, 24)))])

    kinds: dict[str, Callable[[], str]] = {
        "title prefix": title_prefix,
        "word inside title": inner_words,
        "typo": typo_title,
        "no match": lambda: "qxz" + "".join(rng.choice("jvkw") for _ in range(5)),
        "empty": lambda: "",
    }
    per = max(1, math.ceil(n / len(kinds)))
    out = [(kind, make()) for kind, make in kinds.items() for _ in range(per)]
    rng.shuffle(out)
    return out[:n]


def timed(fn: Callable[[str], object], queries: Sequence[Query]) -> dict[str, list[float]]:
    """Milliseconds per call, by kind (and ``all``)."""
    out: dict[str, list[float]] = {"all": []}
    clock = time.perf_counter_ns
    for kind, text in queries:
        t0 = clock()
        fn(text)
        ms = (clock() - t0) / 1e6
        out.setdefault(kind, []).append(ms)
        out["all"].append(ms)
    return out


def engine_plans(catalog: Catalog, queries: Sequence[Query]) -> list[tuple[int, SearchPlan]]:
    """The Tantivy query the bot runs for each query that reaches the index (by position in
    ``queries``), built now, outside any timing: the same ``SearchIndex.plan`` the bot's
    search calls (the text-field clause with the boosted title clause, the filters, the
    any-word fallback decided). ``arxiv:`` (a lookup by id) and queries nothing can match
    never reach the engine."""
    index = catalog._index
    out = []
    for i, (_, text) in enumerate(queries):
        q = parse_query(text)
        if q.empty or q.needs_meta or q.arxiv:
            continue
        starts = catalog._starts_covering(q.week) if q.week is not None else set()
        plan = index.plan(q, week_starts=starts)
        if plan is not None:
            out.append((i, plan))
    return out


def timed_floor(
    searcher: tantivy.Searcher,
    queries: Sequence[Query],
    plans: Sequence[tuple[int, SearchPlan]],
    limit: int,
) -> dict[str, list[float]]:
    """Milliseconds per ``searcher.search(query, limit)`` alone (no hit mapping, no Python
    ordering), by kind (and ``all``): Tantivy's own floor for the mix."""
    out: dict[str, list[float]] = {"all": []}
    clock = time.perf_counter_ns
    search = searcher.search
    asc = tantivy.Order.Asc
    for i, plan in plans:
        q = plan.query
        if plan.newest:
            t0 = clock()
            search(q, limit, count=False, order_by_field="pos", order=asc)
        else:
            t0 = clock()
            search(q, limit, count=False)
        ms = (clock() - t0) / 1e6
        out.setdefault(queries[i][0], []).append(ms)
        out["all"].append(ms)
    return out


SuggestCall = tuple[tantivy.Query, str]  # (query, field to order by)


def suggest_plans(catalog: Catalog, prefixes: Sequence[Query]) -> list[list[SuggestCall]]:
    """The Tantivy searches the bot's ``suggest`` makes for each non-empty prefix (empty input
    is the latest week, no search): the title-prefix query, then the title-words query when
    that found too few, then the corrected words when still too few (the correction itself is
    Python, left out). Built now, outside any timing."""
    from bot.papers import search as sm
    from bot.papers.model import normalize_title

    index = catalog._index
    limit = 25
    out: list[list[SuggestCall]] = []
    for _, text in prefixes:
        norm = normalize_title(text)[:100]
        if not norm:
            out.append([])
            continue
        regex = sm._regex_literal(norm) + ".*"
        calls: list[SuggestCall] = [(tantivy.Query.regex_query(sm._SCHEMA, "tkey", regex), "tkey")]
        seen = dict.fromkeys(index._title_prefix(norm, limit))

        def words_query(words: Sequence[str]) -> tantivy.Query:
            clauses = [
                (tantivy.Occur.Must, tantivy.Query.term_query(sm._SCHEMA, "words", w))
                for w in words[:-1]
            ]
            last = sm._regex_literal(words[-1]) + ".*"
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.regex_query(sm._SCHEMA, "words", last))
            )
            return tantivy.Query.boolean_query(clauses)

        words = norm.split()[: sm.MAX_QUERY_WORDS]
        if len(seen) < limit and words:
            calls.append((words_query(words), "pos"))
            for pos in index._title_words(words, limit):
                seen.setdefault(pos)
        if len(seen) < FUZZY_BELOW and len(norm) >= 3:
            corrected = index._fuzzy_index().correct(words)
            if corrected:
                calls.append((words_query(corrected), "pos"))
        out.append(calls)
    return out


def timed_suggest_floor(
    searcher: tantivy.Searcher, prefixes: Sequence[Query], plans: Sequence[list[SuggestCall]]
) -> dict[str, list[float]]:
    """Milliseconds per prefix of the bot's Tantivy searches alone, by kind (and ``all``)."""
    out: dict[str, list[float]] = {"all": []}
    clock = time.perf_counter_ns
    search = searcher.search
    asc = tantivy.Order.Asc
    for (kind, _), calls in zip(prefixes, plans, strict=True):
        if not calls:
            continue
        t0 = clock()
        for q, field in calls:
            search(q, 25, count=False, order_by_field=field, order=asc)
        ms = (clock() - t0) / 1e6
        out.setdefault(kind, []).append(ms)
        out["all"].append(ms)
    return out


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def report(title: str, times: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    head = f"{'kind':<22} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(head)
    print("-" * len(head))
    order = sorted((k for k in times if k != "all"), key=lambda k: -pct(times[k], 0.99))
    for kind in [*order, "all"]:
        v = times[kind]
        print(
            f"{kind:<22} {len(v):>5} {statistics.median(v):>8.3f} {pct(v, 0.9):>8.3f} "
            f"{pct(v, 0.99):>8.3f} {max(v):>8.3f}"
        )


def profile(fn: Callable[[str], object], texts: Sequence[str], top: int = 20) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for text in texts:
        fn(text)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--weeks", type=int, default=13_000)
    ap.add_argument("--weeks-per-file", type=int, default=130)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--suggests", type=int, default=1_000)
    ap.add_argument("--limit", type=int, default=5, help="hits per search page")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile the slowest query kind")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="paperboy-search-") as tmp:
        files = max(1, math.ceil(args.weeks / max(1, args.weeks_per_file)))
        synth.write_files(tmp, args.weeks, files=files, seed=args.seed)
        t0 = time.perf_counter()
        result = load_paths([tmp])
        catalog = Catalog.build(result.weeks)
        catalog.search("index")  # the search index is built on first use
        build_s = time.perf_counter() - t0
    del result
    t0 = time.perf_counter()
    catalog.warm()
    warm_s = time.perf_counter() - t0
    gc.collect()
    print(
        f"catalog: {len(catalog):,} papers in {len(catalog.weeks()):,} weeks, "
        f"loaded and indexed in {build_s:.1f} s; typo index (warm) {warm_s:.2f} s"
    )

    rng = random.Random(args.seed)
    queries = make_queries(args.queries, catalog, rng)
    prefixes = make_prefixes(args.suggests, catalog, rng)

    def search(text: str) -> object:
        return catalog.search(text, limit=args.limit)

    def suggest(text: str) -> object:
        return catalog.suggest(text)

    index = catalog._index
    plans = engine_plans(catalog, queries)
    splans = suggest_plans(catalog, prefixes)
    on_engine = [i for i, _ in plans]
    timed(search, queries[:50])  # warm-up: page cache, first touches
    timed_floor(index.searcher, queries, plans[:50], args.limit)
    rows: list[dict[str, float]] = []
    for _ in range(max(1, args.runs)):
        # the bot and the engine alone, one after the other in the same run
        search_times = timed(search, queries)
        floor_times = timed_floor(index.searcher, queries, plans, args.limit)
        suggest_times = timed(suggest, prefixes)
        sfloor_times = timed_suggest_floor(index.searcher, prefixes, splans)
        bot_all = search_times["all"]
        row = {
            "search_p50": statistics.median(bot_all),
            "search_p99": pct(bot_all, 0.99),
            "search_engine_p99": pct([bot_all[i] for i in on_engine], 0.99),
            "floor_p50": statistics.median(floor_times["all"]),
            "floor_p99": pct(floor_times["all"], 0.99),
            "suggest_p99": pct(suggest_times["all"], 0.99),
            "sfloor_p50": statistics.median(sfloor_times["all"]),
            "sfloor_p99": pct(sfloor_times["all"], 0.99),
        }
        row["floor_ratio"] = row["search_p99"] / row["floor_p99"]
        row["sfloor_ratio"] = row["suggest_p99"] / row["sfloor_p99"]
        rows.append(row)
        print(
            f"  run {len(rows)}: search p50 {row['search_p50']:.3f} p99 {row['search_p99']:.3f} "
            f"ms; Tantivy floor p50 {row['floor_p50']:.3f} p99 {row['floor_p99']:.3f} ms; "
            f"bot / floor p99 {row['floor_ratio']:.2f}x; suggest p99 {row['suggest_p99']:.3f} "
            f"ms, floor p99 {row['sfloor_p99']:.3f} ms ({row['sfloor_ratio']:.2f}x)",
            flush=True,
        )
    report(f"catalog.search(q, limit={args.limit}): {len(queries)} queries", search_times)
    report(
        f"Tantivy floor, searcher.search(query, {args.limit}) alone: {len(plans)} queries "
        "(arxiv: lookups and queries nothing can match never reach the engine)",
        floor_times,
    )
    report(f"catalog.suggest(prefix): {len(prefixes)} prefixes", suggest_times)
    report("Tantivy floor of suggest, its searches alone (no typo correction)", sfloor_times)

    def span(key: str, fmt: str = "{:.2f}") -> str:
        values = [r[key] for r in rows]
        lo, hi = fmt.format(min(values)), fmt.format(max(values))
        return lo if lo == hi else f"{lo}-{hi}"

    print(f"\ncores: {os.cpu_count()}; {len(catalog):,} papers; {len(rows)} runs (min-max)")
    for name, key, target in (
        ("search", "search_p99", TARGET_P99_MS),
        ("suggest", "suggest_p99", TARGET_SUGGEST_P99_MS),
    ):
        verdict = "met" if max(r[key] for r in rows) < target else "MISSED"
        print(f"{name} p99 {span(key)} ms over the runs: target < {target} ms {verdict}")
    print(
        f"Tantivy floor (same index, same queries, search alone): p50 {span('floor_p50', '{:.3f}')}"
        f" ms, p99 {span('floor_p99')} ms; bot p99 / floor p99 = {span('floor_ratio')}x "
        f"(bot p99 over the {len(plans)} queries that reach the engine: "
        f"{span('search_engine_p99')} ms)"
    )
    print(
        f"suggest floor: p50 {span('sfloor_p50', '{:.3f}')} ms, p99 {span('sfloor_p99')} ms; "
        f"bot p99 / floor p99 = {span('sfloor_ratio')}x"
    )
    slow_kinds = [
        k for k, v in search_times.items() if k != "all" and pct(v, 0.99) >= TARGET_P99_MS
    ]
    if slow_kinds:
        print("kinds over the target at p99 (last run): " + ", ".join(sorted(slow_kinds)))

    if args.profile:
        worst = max(
            (k for k in search_times if k != "all"), key=lambda k: pct(search_times[k], 0.99)
        )
        texts = [t for k, t in queries if k == worst]
        print(f"\ncProfile of {len(texts)} '{worst}' queries:")
        print(profile(search, texts))
        worst_s = max(
            (k for k in suggest_times if k != "all"), key=lambda k: pct(suggest_times[k], 0.99)
        )
        texts = [t for k, t in prefixes if k == worst_s]
        print(f"cProfile of {len(texts)} '{worst_s}' suggestions:")
        print(profile(suggest, texts))
    catalog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
