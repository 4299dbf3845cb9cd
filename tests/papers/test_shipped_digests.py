"""The curated weeks shipped in ``digests/`` load cleanly and follow the house format.

Every shipped file goes through the real loader, exactly as the bot reads the folder at start-up,
and every problem of every file is collected before one assertion lists them all, so a broken
week is fixed in one round rather than one failure at a time.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from support.paths import REPO

from bot.papers.catalog import Catalog
from bot.papers.model import ParseResult, Week, normalize_title
from bot.papers.sources.loader import load_paths

DIGESTS = REPO / "digests"
PAPERS_PER_WEEK = 10
_YEAR_IN_HEADING_RE = re.compile(r"\)\s*-\s*(\d{4})\s*$")
_ARXIV_ABS_RE = re.compile(r"^https://arxiv\.org/abs/\d{4}\.\d{4,5}$")


def _digest_files() -> list[Path]:
    return sorted(p for p in DIGESTS.glob("*.md") if p.name.lower() != "readme.md")


@pytest.fixture(scope="module")
def loaded() -> ParseResult:
    return load_paths([DIGESTS])


def _week_problems(week: Week) -> list[str]:
    where = f"{week.source}:{week.line} ({week.title!r})"
    problems: list[str] = []
    if week.kind != "weekly":
        problems.append(f"{where}: read as a {week.kind}, not a weekly table")
    if week.start.weekday() != 0:
        problems.append(f"{where}: starts on {week.start:%A %Y-%m-%d}, not a Monday")
    if week.end != week.start + timedelta(days=6):
        problems.append(f"{where}: ends on {week.end:%A %Y-%m-%d}, not the following Sunday")
    m = _YEAR_IN_HEADING_RE.search(week.title)
    if m is None:
        problems.append(f"{where}: the heading does not end with the year")
    elif int(m.group(1)) != week.end.year:
        problems.append(f"{where}: heading year {m.group(1)} is not the year of {week.end}")
    if len(week.papers) != PAPERS_PER_WEEK:
        problems.append(f"{where}: {len(week.papers)} papers, expected {PAPERS_PER_WEEK}")
    ranks = [p.rank for p in week.papers]
    if ranks != list(range(1, len(ranks) + 1)):
        problems.append(f"{where}: ranks are {ranks}, expected 1..{len(ranks)} in order")
    titles = Counter(normalize_title(p.title) for p in week.papers)
    for title, n in titles.items():
        if n > 1:
            problems.append(f"{where}: title {title!r} appears {n} times")
    for p in week.papers:
        at = f"{p.source}:{p.line} (rank {p.rank}, {p.title!r})"
        paper_links = [link for link in p.links if link.label == "Paper"]
        if not paper_links:
            problems.append(f"{at}: no [Paper](...) link")
        elif not _ARXIV_ABS_RE.match(paper_links[0].url):
            problems.append(f"{at}: Paper link {paper_links[0].url!r} is not an arXiv abs URL")
        if p.links and p.links[0].label != "Paper":
            problems.append(f"{at}: the first link is {p.links[0].label!r}, not Paper")
        if p.arxiv_id is None:
            problems.append(f"{at}: no arXiv id")
        if not p.summary.strip():
            problems.append(f"{at}: empty summary")
        if p.bullets:
            problems.append(f"{at}: unexpected bullet points {p.bullets!r}")
        for link in p.links:
            if not link.url.startswith("https://"):
                problems.append(f"{at}: link {link.label} is not https: {link.url!r}")
            if link.label.casefold() == "tweet":
                problems.append(f"{at}: shipped digests carry no tweet links")
    return problems


def test_every_shipped_week_loads_cleanly_and_follows_the_format(loaded: ParseResult) -> None:
    problems = [f"loader: {d}" for d in loaded.diagnostics]
    files = _digest_files()
    if not files:
        problems.append(f"no digest files in {DIGESTS}")
    sources = {w.source for w in loaded.weeks}
    for f in files:
        if not any(Path(s).name == f.name for s in sources):
            problems.append(f"{f.name}: no week was read from this file")
    for week in loaded.weeks:
        problems.extend(_week_problems(week))
    starts = Counter(w.start for w in loaded.weeks)
    for start, n in sorted(starts.items()):
        if n > 1:
            problems.append(f"the week starting {start} is shipped {n} times")
    arxiv = Counter(p.arxiv_id for w in loaded.weeks for p in w.papers if p.arxiv_id)
    for aid, n in sorted(arxiv.items()):
        if n > 1:
            problems.append(f"arXiv {aid} is shipped {n} times (the catalog would merge them)")
    assert not problems, f"{len(problems)} problem(s) in digests/:\n" + "\n".join(problems)


def test_weeks_in_each_file_run_newest_first(loaded: ParseResult) -> None:
    by_source: dict[str, list[Week]] = {}
    for week in loaded.weeks:
        by_source.setdefault(week.source, []).append(week)
    out_of_order = [
        f"{src}: {[str(w.start) for w in weeks]}"
        for src, weeks in by_source.items()
        if [w.start for w in weeks] != sorted((w.start for w in weeks), reverse=True)
    ]
    assert not out_of_order, "weeks not newest first:\n" + "\n".join(out_of_order)


def test_quick_start_search_finds_attention_is_all_you_need(loaded: ParseResult) -> None:
    catalog = Catalog.build(loaded.weeks)
    try:
        assert len(catalog) == sum(len(w.papers) for w in loaded.weeks)
        page = catalog.search("attention")
        titles = [hit.paper.title for hit in page.hits]
        assert "Attention Is All You Need" in titles
        paper = catalog.paper("1706.03762")
        assert paper is not None and paper.title == "Attention Is All You Need"
        latest = catalog.latest_week()
        assert latest is not None and latest.start == max(w.start for w in loaded.weeks)
    finally:
        catalog.close()
