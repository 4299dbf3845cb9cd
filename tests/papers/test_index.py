"""Index sources: a README that links to one file per year is followed (same repository only,
anchors ignored, a bounded count), a new year's file is picked up with no config change,
GitHub page URLs are read raw, and a renamed repository's redirect is followed and reported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from support.curated import SynthWeek, history, index_file, weekly_file
from support.listserver import ListServer, list_server

from bot.papers.sources.fetch import RemoteSource
from bot.papers.sources.index import index_links, raw_url, same_repository
from bot.papers.sources.limits import SourceLimits

# --- URLs ---------------------------------------------------------------------------------------


def test_github_page_urls_are_read_raw() -> None:
    raw = "https://raw.githubusercontent.com/someone/papers/main/years/2026.md"
    assert raw_url("https://github.com/someone/papers/blob/main/years/2026.md") == raw
    assert raw_url("https://www.github.com/someone/papers/blob/main/years/2026.md?plain=1") == raw
    assert raw_url("https://github.com/someone/papers/raw/main/years/2026.md") == raw
    assert raw_url(raw) == raw
    assert raw_url("https://example.org/blob/main/x.md") == "https://example.org/blob/main/x.md"


def test_same_repository() -> None:
    readme = "https://raw.githubusercontent.com/someone/papers/main/README.md"
    assert same_repository(readme, "https://raw.githubusercontent.com/someone/papers/main/y/a.md")
    assert same_repository(readme, "https://raw.githubusercontent.com/Someone/Papers/dev/a.md")
    assert not same_repository(readme, "https://raw.githubusercontent.com/someone/other/main/a.md")
    assert not same_repository(readme, "https://raw.githubusercontent.com/else/papers/main/a.md")
    assert not same_repository(readme, "https://example.org/someone/papers/main/a.md")
    # elsewhere: the index's own folder and below
    index = "http://127.0.0.1:8000/list/README.md"
    assert same_repository(index, "http://127.0.0.1:8000/list/years/2026.md")
    assert not same_repository(index, "http://127.0.0.1:8000/other/2026.md")
    assert not same_repository(index, "http://127.0.0.1:9000/list/2026.md")
    assert not same_repository(index, "https://127.0.0.1:8000/list/2026.md")


def test_index_links() -> None:
    base = "https://raw.githubusercontent.com/someone/papers/main/README.md"
    text = index_file(
        [
            ("Top AI Papers of the Week (June 22 - June 28)", "years/2026.md#top-ai-papers-june"),
            ("Top AI Papers of the Week (June 15 - June 21)", "years/2026.md#top-ai-june-15"),
            ("Top AI Papers of the Week (Dec 29 - Jan 4)", "./years/2025.md#dec-29"),
            (
                "Archive on GitHub",
                "https://github.com/someone/papers/blob/main/years/2024.md",
            ),
            ("A fork", "https://raw.githubusercontent.com/fork/papers/main/years/2026.md"),
            ("Back to the top", "#top-ai-papers-of-the-week"),
            ("This file", "README.md#contents"),
        ],
        extra="\n![banner](pics/banner.png)\n[Newsletter](https://example.org/letter)\n",
    )
    found = index_links(text, base, max_files=2)
    assert found is not None
    root = "https://raw.githubusercontent.com/someone/papers/main/"
    assert found.files == [root + "years/2026.md", root + "years/2025.md"]
    assert found.beyond_limit == [root + "years/2024.md"]
    assert found.elsewhere == ["https://raw.githubusercontent.com/fork/papers/main/years/2026.md"]
    # not an index: a few markdown links among many others, or none at all
    assert index_links("[a](a.md) [b](https://x.example) [c](https://y.example)", base, 5) is None
    assert index_links("# Notes\n\nNo links here.\n", base, 5) is None


# --- following an index over HTTP ---------------------------------------------------------------

WEEKS = history(4, first=date(2025, 12, 15))  # two weeks of 2025, two of 2026


def year_files(st: ListServer, weeks: list[SynthWeek]) -> None:
    for year in sorted({w.end.year for w in weeks}):
        st.put(f"/list/years/{year}.md", weekly_file(w for w in weeks if w.end.year == year))


def readme(years: list[int]) -> str:
    return index_file(
        (f"Top AI Papers of {year}", f"years/{year}.md#top-ai-papers-of-the-week")
        for year in sorted(years, reverse=True)
    )


@pytest.fixture
async def st() -> AsyncIterator[ListServer]:
    async with list_server() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_index_source_follows_the_year_files(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    year_files(st, WEEKS)
    st.put("/list/README.md", readme([2025, 2026]))
    source = RemoteSource(st.url("/list/README.md"), tmp_path)
    res = await source.fetch(session)
    assert res.status == "new"
    assert res.files == (st.url("/list/years/2026.md"), st.url("/list/years/2025.md"))
    assert source.files == res.files
    assert [(w.start, w.source) for w in res.result.weeks] == [
        (date(2026, 1, 5), st.url("/list/years/2026.md")),
        (date(2025, 12, 29), st.url("/list/years/2026.md")),  # ends in 2026
        (date(2025, 12, 22), st.url("/list/years/2025.md")),
        (date(2025, 12, 15), st.url("/list/years/2025.md")),
    ]
    assert res.result.weeks[0].papers[0].title == WEEKS[3].title(1)
    assert res.result.diagnostics == []
    assert len(res.new_weeks) == 4
    assert st.requests == ["/list/README.md", "/list/years/2026.md", "/list/years/2025.md"]

    # Nothing changed: three conditional requests, three 304s.
    again = await source.fetch(session)
    assert again.status == "not_modified"
    assert len(again.result.weeks) == 4


async def test_a_new_years_file_is_picked_up_without_config_change(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    year_files(st, WEEKS)
    st.put("/list/README.md", readme([2025, 2026]))
    source = RemoteSource(st.url("/list/README.md"), tmp_path)
    await source.fetch(session)

    new_year = SynthWeek(90, date(2026, 12, 28), "2612")  # Dec 28, 2026 - Jan 3, 2027
    st.put("/list/years/2027.md", weekly_file([new_year]))
    st.put("/list/README.md", readme([2025, 2026, 2027]))
    res = await source.fetch(session)
    assert res.status == "new"
    assert res.files[0] == st.url("/list/years/2027.md")
    assert [(w.start, w.end) for w in res.new_weeks] == [(date(2026, 12, 28), date(2027, 1, 3))]
    assert len(res.result.weeks) == 5


async def test_only_files_of_the_same_repository_are_followed_and_at_most_the_limit(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    year_files(st, WEEKS)
    st.put("/other/2026.md", weekly_file([SynthWeek(70, date(2026, 3, 2), "2603")]))
    st.put(
        "/list/README.md",
        index_file(
            [
                ("2026", "years/2026.md"),
                ("somebody else's list", st.url("/other/2026.md")),
                ("2025", "years/2025.md"),
                ("2024", "years/2024.md"),
            ]
        ),
    )
    source = RemoteSource(
        st.url("/list/README.md"), tmp_path, limits=SourceLimits(max_index_files=2)
    )
    res = await source.fetch(session)
    assert res.files == (st.url("/list/years/2026.md"), st.url("/list/years/2025.md"))
    assert st.asked("/other/2026.md") == 0 and st.asked("/list/years/2024.md") == 0
    [note] = res.result.diagnostics
    assert (note.severity, note.source) == ("warning", st.url("/list/README.md"))
    assert note.message == (
        "the index links to 1 more markdown file(s) than sources.limits.max_index_files (2); "
        f"not followed: {st.url('/list/years/2024.md')}"
    )


async def test_a_renamed_repository_is_followed_and_the_log_names_the_new_url(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    year_files(st, WEEKS)
    st.put("/list/README.md", readme([2025, 2026]))
    st.moved["/old-name/README.md"] = "/list/README.md"
    source = RemoteSource(st.url("/old-name/README.md"), tmp_path)
    res = await source.fetch(session)
    assert res.status == "new"
    assert len(res.result.weeks) == 4
    # the year files resolve against where the README really is
    assert res.files == (st.url("/list/years/2026.md"), st.url("/list/years/2025.md"))
    [moved] = res.result.warnings
    assert moved.source == st.url("/old-name/README.md")
    assert moved.message == (
        f"moved permanently to {st.url('/list/README.md')}: put that URL in sources.urls "
        "instead of this one"
    )


async def test_offline_start_reads_the_index_and_its_files_from_the_cache(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    year_files(st, WEEKS)
    st.put("/list/README.md", readme([2025, 2026]))
    st.moved["/old-name/README.md"] = "/list/README.md"
    await RemoteSource(st.url("/old-name/README.md"), tmp_path).fetch(session)
    asked = len(st.requests)

    offline = await RemoteSource(st.url("/old-name/README.md"), tmp_path).load_cached()
    assert len(st.requests) == asked
    assert offline.status == "offline_cache"
    assert offline.files == (st.url("/list/years/2026.md"), st.url("/list/years/2025.md"))
    assert [w.start for w in offline.result.weeks] == [w.start for w in reversed(WEEKS)]


async def test_a_failing_year_file_keeps_its_last_good_copy(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    year_files(st, WEEKS)
    st.put("/list/README.md", readme([2025, 2026]))
    source = RemoteSource(st.url("/list/README.md"), tmp_path)
    await source.fetch(session)

    st.broken["/list/years/2025.md"] = 500
    res = await source.fetch(session)
    assert res.status == "not_modified"
    assert len(res.result.weeks) == 4
    [warning] = res.result.warnings
    assert warning.source == st.url("/list/years/2025.md")
    assert warning.message == "HTTP 500 Internal Server Error; using its last good copy"
