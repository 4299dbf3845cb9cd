"""Suspicious copies: a copy that would drop a large share of a source's known weeks is held
back (the last good copy stays, in memory and on disk), accepted once the same loss has been
served on several refreshes in a row or when an admin accepts it; a running bot picks up an
admin's acceptance from the cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from support.curated import history, index_file, weekly_file
from support.listserver import ListServer, list_server

from bot.papers.sources.cache import cache_paths
from bot.papers.sources.fetch import RemoteSource
from bot.papers.sources.guard import Guard, HoldBack, lost_weeks
from bot.papers.sources.loader import parse_text

WEEKS = history(10, first=date(2026, 1, 5))
FULL = weekly_file(WEEKS)
# The file cut in half and served with 200: the five newest weeks only.
HALF = FULL[: FULL.index("## Top AI Papers of the Week (February 2 - February 8)")]


@pytest.fixture
async def st() -> AsyncIterator[ListServer]:
    async with list_server() as server:
        server.put("/list/papers.md", FULL)
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def body(tmp_path: Path, url: str) -> str:
    return cache_paths(tmp_path, url)[0].read_text(encoding="utf-8")


def test_lost_weeks_match_weeks_however_edited() -> None:
    full = parse_text(FULL, "a.md").weeks
    edited_weeks = [w.redated(1) if w.n == 9 else w for w in WEEKS]
    edited_weeks[3] = replace(edited_weeks[3], typo=True, reverse=True)
    edited = parse_text(weekly_file(edited_weeks), "b.md").weeks
    assert lost_weeks(full, edited) == []
    half = parse_text(HALF, "c.md").weeks
    assert [w.start for w in lost_weeks(full, half)] == [w.start for w in reversed(WEEKS[:5])]


def test_guard_counts_the_same_loss_and_resets_on_another() -> None:
    full = parse_text(FULL, "a.md").weeks
    half = parse_text(HALF, "a.md").weeks
    fewer = parse_text(weekly_file(WEEKS[4:]), "a.md").weeks
    guard = Guard(HoldBack(max_lost_percent=25, accept_after=3))
    first, _ = guard.judge(full, half)
    assert first is not None and (first.seen, first.needed, len(first.lost)) == (1, 3, 5)
    other, _ = guard.judge(full, fewer)  # another loss starts counting again
    assert other is not None and other.seen == 1 and other.shape != first.shape
    assert guard.judge(full, half)[0].seen == 1  # type: ignore[union-attr]
    assert guard.judge(full, half)[0].seen == 2  # type: ignore[union-attr]
    assert guard.judge(full, half) == (None, 3)  # accepted on the third refresh in a row
    # losing a small share is no reason to hold anything back
    assert guard.judge(full, parse_text(weekly_file(WEEKS[1:]), "a.md").weeks) == (None, 0)


async def test_half_truncated_copy_is_held_back(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = st.url("/list/papers.md")
    source = RemoteSource(url, tmp_path)
    assert (await source.fetch(session)).status == "new"

    st.put("/list/papers.md", HALF)
    res = await source.fetch(session)
    assert res.status == "held" and not res.ok
    assert len(res.result.weeks) == 10  # the last good copy
    assert res.text == FULL
    assert body(tmp_path, url) == FULL
    assert res.held is not None and [w.start for w in res.held.lost] == [
        date(2026, 2, 2),
        date(2026, 1, 26),
        date(2026, 1, 19),
        date(2026, 1, 12),
        date(2026, 1, 5),
    ]
    warning = res.result.warnings[-1]
    assert warning.source == url
    assert warning.message == (
        f"held back a suspicious copy of {url}: it has 5 weeks and would lose 5 of the 10 "
        "known (weeks of 2026-01-05, 2026-01-12, 2026-01-19, 2026-01-26, 2026-02-02); the last "
        "good copy stays in use; accepted if served on 3 refreshes in a row (seen 1), or run "
        f"`paperboy sources accept {url}`"
    )
    assert res.error == warning.message


async def test_a_loss_served_on_enough_refreshes_is_accepted(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = st.url("/list/papers.md")
    source = RemoteSource(url, tmp_path, hold_back=HoldBack(accept_after=3))
    await source.fetch(session)
    st.put("/list/papers.md", HALF)
    assert [(await source.fetch(session)).status for _ in range(2)] == ["held", "held"]
    assert body(tmp_path, url) == FULL

    accepted = await source.fetch(session)
    assert accepted.status == "new"
    assert len(accepted.result.weeks) == 5
    assert body(tmp_path, url) == HALF
    assert accepted.result.warnings[-1].message == (
        "accepted a copy that drops some of the known weeks: it was served on 3 refreshes in a row"
    )
    assert (await source.fetch(session)).status == "not_modified"


async def test_the_good_copy_coming_back_clears_the_hold(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = st.url("/list/papers.md")
    source = RemoteSource(url, tmp_path, hold_back=HoldBack(accept_after=2))
    await source.fetch(session)
    st.put("/list/papers.md", HALF)
    assert (await source.fetch(session)).status == "held"
    st.put("/list/papers.md", FULL)
    assert (await source.fetch(session)).status == "not_modified"
    st.put("/list/papers.md", HALF)
    assert (await source.fetch(session)).status == "held"  # counting starts over


async def test_an_admin_accepts_and_the_running_bot_picks_it_up(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = st.url("/list/papers.md")
    bot = RemoteSource(url, tmp_path)
    await bot.fetch(session)
    st.put("/list/papers.md", HALF)
    assert (await bot.fetch(session)).status == "held"

    admin = RemoteSource(url, tmp_path)  # `paperboy sources accept URL`, another process
    await admin.load_cached()
    taken = await admin.accept(session)
    assert taken.status == "new" and len(taken.result.weeks) == 5
    assert body(tmp_path, url) == HALF

    later = await bot.fetch(session)  # the bot reads the accepted copy from the cache
    assert later.status == "not_modified"
    assert len(later.result.weeks) == 5
    assert later.text == HALF


async def test_a_truncated_year_file_of_an_index_is_held_back(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st.put("/list/years/2026.md", FULL)
    st.put("/list/README.md", index_file([("2026", "years/2026.md#top")]))
    source = RemoteSource(st.url("/list/README.md"), tmp_path)
    await source.fetch(session)

    st.put("/list/years/2026.md", HALF)
    res = await source.fetch(session)
    assert res.status == "held"
    assert len(res.result.weeks) == 10
    assert body(tmp_path, st.url("/list/years/2026.md")) == FULL


async def test_a_year_file_cut_in_half_is_held_back_however_many_other_years(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    older = history(10, first=date(2025, 1, 6))  # 2025.md: ten weeks
    newer = WEEKS[:4]  # 2026.md: four weeks
    st.put("/list/years/2025.md", weekly_file(older))
    st.put("/list/years/2026.md", weekly_file(newer))
    st.put("/list/README.md", index_file([("2026", "years/2026.md"), ("2025", "years/2025.md")]))
    url = st.url("/list/README.md")
    source = RemoteSource(url, tmp_path)
    await source.fetch(session)

    st.put("/list/years/2026.md", weekly_file(newer[2:]))  # 2 of 14 weeks, half of the file
    res = await source.fetch(session)
    assert res.status == "held"
    assert res.error == (
        f"held back a suspicious copy of {url}: it has 12 weeks and would lose 2 of the 14 "
        f"known (weeks of 2026-01-05, 2026-01-12 in {st.url('/list/years/2026.md')}); the last "
        "good copy stays in use; accepted if served on 3 refreshes in a row (seen 1), or run "
        f"`paperboy sources accept {url}`"
    )
