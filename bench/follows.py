"""Matching the follows of many people against a new curated week.

    python bench/follows.py [--people 10000] [--runs 5] [--per-person 3]

Builds ``--people`` people with 1 to ``2 * per-person - 1`` follows each (words, two-word
phrases, ``-word`` exclusions, ``author:`` and ``cat:``), drawn from the synthetic vocabulary of
``bench/synth.py``, and a ten-paper week of synthetic papers with arXiv metadata. Times what
``FollowAlerts`` does when the week arrives, minus the database and the network: the week's
paper terms, then ``match_week`` (parse every stored follow, file them in a ``FollowIndex``,
match). Cold (the parse cache emptied: a freshly started process) and warm (a running bot,
which parsed the same follows last week). Prints each run and the range over the runs (the
target is under 100 ms), and the machine's core count.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synth

from bot.core.arxivmeta import ArxivMeta
from bot.papers.follows import match_week, paper_terms, parse_follow

TARGET_MS = 100.0
CATS = ("cs.CL", "cs.LG", "cs.CV", "cs.AI", "stat.ML", "cs.RO", "cs.IR", "q-bio.NC")
SURNAMES = tuple(w.lower() for w in synth.TITLE_WORDS[:300])


def make_follows(people: int, per_person: int, rng: random.Random) -> list[tuple[int, str]]:
    words = [w.lower() for w in (*synth.COMMON_WORDS, *synth.RARE_WORDS[:2000])]
    out: list[tuple[int, str]] = []
    for person in range(people):
        for _ in range(rng.randint(1, 2 * per_person - 1)):
            kind = rng.random()
            if kind < 0.45:
                spec = rng.choice(words)
            elif kind < 0.65:
                spec = f"{rng.choice(words)} {rng.choice(words)}"
            elif kind < 0.75:
                spec = f"{rng.choice(words)} -{rng.choice(words)}"
            elif kind < 0.9:
                spec = f"author:{rng.choice(SURNAMES)}"
            else:
                spec = f"cat:{rng.choice(CATS).lower()}"
            out.append((person, spec))
    return out


def make_week(rng: random.Random) -> list[tuple[object, ArxivMeta]]:
    weeks = synth.parsed_weeks(1, seed=rng.randint(0, 1000))
    now = datetime(2025, 7, 1, tzinfo=UTC)
    out = []
    for p in weeks[0].papers[:10]:
        meta = ArxivMeta(
            p.arxiv_id or p.paper_id,
            now,
            authors=tuple(
                f"{rng.choice(SURNAMES).title()} {rng.choice(SURNAMES).title()}"
                for _ in range(rng.randint(2, 8))
            ),
            abstract=" ".join(rng.choice(synth.COMMON_WORDS) for _ in range(120)),
            categories=tuple(rng.sample(CATS, 2)),
        )
        out.append((p, meta))
    return out


def run_once(
    follows: list[tuple[int, str]], week: list[tuple[object, ArxivMeta]], *, cold: bool
) -> tuple[dict[str, float], int]:
    """Milliseconds for the week's paper terms, for ``match_week`` (parse the stored follows,
    index them, match: what ``FollowAlerts`` runs when a week arrives, minus the database and
    the network) and in total; the number of people with matches. ``cold``: the parse cache
    is emptied first (a fresh process)."""
    if cold:
        parse_follow.cache_clear()
    t0 = time.perf_counter()
    terms = [paper_terms(p, meta) for p, meta in week]  # type: ignore[arg-type]
    t1 = time.perf_counter()
    found = match_week(follows, terms)
    t2 = time.perf_counter()
    times = {"terms": (t1 - t0) * 1000, "match": (t2 - t1) * 1000, "total": (t2 - t0) * 1000}
    return times, len(found)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--per-person", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(17)
    follows = make_follows(args.people, args.per_person, rng)
    week = make_week(rng)
    print(
        f"{args.people:,} people, {len(follows):,} follows, a week of {len(week)} papers; "
        f"{os.cpu_count()} cores"
    )
    for cold in (True, False):
        label = "cold (empty parse cache: a fresh process)" if cold else "warm (a running bot)"
        print(label)
        runs: list[dict[str, float]] = []
        for run in range(1, args.runs + 1):
            times, matched = run_once(follows, week, cold=cold)
            runs.append(times)
            phases = "  ".join(f"{k} {v:6.1f}" for k, v in times.items())
            print(f"  run {run}: {phases} ms; {matched:,} people with matches")
        for phase in ("terms", "match", "total"):
            values = [r[phase] for r in runs]
            print(
                f"  {phase:>5}: {min(values):6.1f}–{max(values):6.1f} ms, "
                f"median {statistics.median(values):6.1f} ms"
            )
        total = [r["total"] for r in runs]
        verdict = "met" if max(total) < TARGET_MS else "NOT met"
        print(f"  target < {TARGET_MS:.0f} ms in total: {verdict} over {len(runs)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
