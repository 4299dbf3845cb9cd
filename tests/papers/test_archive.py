"""The archive over several sources: which weeks are new (the same week however edited, moved
or re-dated is not), held-back copies told to the admin once, an admin's accept, the same week
in two files, two papers sharing an arXiv id, and diagnostics logged once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from support.curated import history, weekly_file
from support.listserver import ListServer, list_server

from bot.core.errors import SourceError
from bot.papers.archive import Archive
from bot.papers.model import make_paper_id

WEEKS = history(8, first=date(2026, 1, 5))


@pytest.fixture
async def st() -> AsyncIterator[ListServer]:
    async with list_server() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def starts(weeks: list) -> list[date]:  # type: ignore[type-arg]
    return sorted(w.start for w in weeks)


async def test_a_week_is_new_once_however_it_is_edited_or_moved(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st.put("/a.md", weekly_file(WEEKS[:6]))
    st.put("/b.md", weekly_file([WEEKS[0]]))
    reported: list[list[date]] = []
    archive = Archive(
        [],
        [st.url("/a.md"), st.url("/b.md")],
        cache_dir=str(tmp_path),
        on_new_weeks=lambda weeks: reported.append(starts(weeks)),
    )
    await archive.load()
    assert starts(await archive.refresh(session)) == [w.start for w in WEEKS[:6]]

    # re-dated, a title's typo, rows reordered: the same weeks
    edited = [*WEEKS[:4], replace(WEEKS[4], typo=True, reverse=True), WEEKS[5].redated(1)]
    st.put("/a.md", weekly_file(edited))
    assert await archive.refresh(session) == []
    # a new week, and a week moving from one file to the other
    st.put("/a.md", weekly_file([*edited[1:], WEEKS[6]]))
    st.put("/b.md", weekly_file([WEEKS[0], WEEKS[1]]))
    assert starts(await archive.refresh(session)) == [WEEKS[6].start]
    assert reported == [[w.start for w in WEEKS[:6]], [WEEKS[6].start]]
    assert len(archive.catalog.weeks()) == 7


async def test_weeks_already_known_at_start_are_not_new(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    local = tmp_path / "picks.md"
    local.write_text(weekly_file(WEEKS[:3]), encoding="utf-8")
    st.put("/a.md", weekly_file([w.redated(1) for w in WEEKS[:4]]))
    archive = Archive([str(local)], [st.url("/a.md")], cache_dir=str(tmp_path / "cache"))
    await archive.load()
    # the three weeks of the local file, re-dated in the remote copy, are known already
    assert starts(await archive.refresh(session)) == [WEEKS[3].redated(1).start]


async def test_a_held_back_copy_is_told_to_the_admin_once(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = st.url("/a.md")
    st.put("/a.md", weekly_file(WEEKS))
    told: list[tuple[str, str]] = []

    async def notice(key: str, text: str) -> None:
        told.append((key, text))

    archive = Archive([], [url], cache_dir=str(tmp_path), on_notice=notice)
    await archive.load()
    await archive.refresh(session)

    st.put("/a.md", weekly_file(WEEKS[5:]))  # five of eight weeks gone
    for _ in range(2):
        assert await archive.refresh(session) == []
    assert len(archive.catalog.weeks()) == 8  # the last good copy
    [(key, text)] = told
    assert key.startswith("source-held:")
    assert text.startswith(f"held back a suspicious copy of {url}: it has 3 weeks and would lose")
    assert f"`paperboy sources accept {url}`" in text
    assert any(d.message == text.replace("(seen 1)", "(seen 2)") for d in archive.diagnostics)

    st.put("/a.md", weekly_file(WEEKS[6:]))  # another loss: told again
    await archive.refresh(session)
    assert len(told) == 2 and told[1][0] != key

    accepted = await archive.accept(url, session)
    assert accepted.status == "new"
    assert [w.start for w in archive.catalog.weeks()] == [WEEKS[7].start, WEEKS[6].start]
    assert len(told) == 2


async def test_accept_refuses_an_unknown_url(
    st: ListServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    archive = Archive([], [st.url("/a.md")], cache_dir=str(tmp_path))
    with pytest.raises(SourceError, match=r"not one of the configured sources\.urls"):
        await archive.accept(st.url("/b.md"), session)


# --- combining sources --------------------------------------------------------------------------


async def test_the_same_week_in_two_files_warns_and_the_first_read_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "2025.md", tmp_path / "2026.md"
    first.write_text(weekly_file(WEEKS[:2]), encoding="utf-8")
    copy = replace(WEEKS[1], n=40)  # the same dates, other papers
    second.write_text(weekly_file([copy, WEEKS[3].redated(2)]), encoding="utf-8")
    third = tmp_path / "redated.md"
    third.write_text(weekly_file([WEEKS[3]]), encoding="utf-8")
    archive = Archive([str(first), str(second), str(third)], [])
    await archive.load()
    week = archive.catalog.week(WEEKS[1].start.isoformat())
    assert week is not None and week.source == str(first)
    assert [p.title for p in week.papers] == WEEKS[1].titles()
    same, redated = [d for d in archive.diagnostics if d.severity == "warning"]
    assert (same.source, same.line) == (str(second), 20)
    assert same.message == (
        f"the week starting {WEEKS[1].start} is also in {first}:5, which was read first: its "
        "rows are used and these are not"
    )
    assert (redated.source, redated.line) == (str(third), 5)
    assert redated.message == (
        f"week 'Top AI Papers of the Week (January 26 - February 1) - 2026' (2026-01-26 to "
        f"2026-02-01) has the papers of week 'Top AI Papers of the Week (January 28 - February "
        f"1) - 2026' (2026-01-28 to 2026-02-01) at {second}:5: the same week dated "
        "differently in two files? Both are kept"
    )


SHARED = """\
## Top AI Papers of the Week (February 9 - February 15) - 2026
| **Paper**  | **Links** |
| --- | --- |
| 1) **Harbor Benchmarks for Planning Agents** - a newer row whose link has a typo. | [Paper](https://arxiv.org/abs/2601.99001) |
| 2) **Tidal Memory for Long-Horizon Agentss** - the same paper again, title typo and all. | [Paper](https://arxiv.org/abs/2601.99002) |

## Top AI Papers of the Week (January 5 - January 11) - 2026
| **Paper**  | **Links** |
| --- | --- |
| 1) **Quiet Gradients in Late Pre-training** - the paper this arXiv id belongs to. | [Paper](https://arxiv.org/abs/2601.99001) |
| 2) **Tidal Memory for Long-Horizon Agents** - an older appearance. | [Paper](https://arxiv.org/abs/2601.99002) |
"""


async def test_two_papers_sharing_an_arxiv_id_stay_two_papers(tmp_path: Path) -> None:
    path = tmp_path / "list.md"
    path.write_text(SHARED, encoding="utf-8")
    archive = Archive([str(path)], [])
    await archive.load()
    cat = archive.catalog
    assert sorted(p.title for p in cat.papers) == [
        "Harbor Benchmarks for Planning Agents",
        "Quiet Gradients in Late Pre-training",
        "Tidal Memory for Long-Horizon Agentss",  # one paper: the newest title shows
    ]
    first = cat.paper("2601.99001")
    assert first is not None and first.title == "Quiet Gradients in Late Pre-training"
    assert first.paper_id == make_paper_id("arxiv:2601.99001")  # its votes stay where they were
    [week] = [w for w in cat.weeks() if w.start == date(2026, 2, 9)]
    typo = week.papers[0]
    assert typo.paper_id != first.paper_id
    assert cat.get(typo.paper_id) is not None
    [d] = archive.diagnostics
    assert (d.severity, d.source, d.line) == ("warning", str(path), 4)
    assert d.message == (
        "'Harbor Benchmarks for Planning Agents' links to arXiv 2601.99001, as does the "
        f"different paper 'Quiet Gradients in Late Pre-training' at {path}:10: one of the two "
        "links is probably a typo; they are kept as two papers"
    )


# --- diagnostics, once ---------------------------------------------------------------------------


async def test_a_304_without_a_cached_copy_says_so_once(
    session: aiohttp.ClientSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def always_304(request: web.Request) -> web.Response:
        return web.Response(status=304)

    app = web.Application()
    app.router.add_get("/a.md", always_304)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/a.md"))
    try:
        archive = Archive([], [url], cache_dir=str(tmp_path))
        await archive.load()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="paperboy.sources"):
            await archive.refresh(session)
            await archive.refresh(session)
    finally:
        await server.close()
    [d] = archive.diagnostics
    assert (d.severity, d.source) == ("error", url)
    assert d.message == (
        "server answered 304 but there is no cached copy; no cached copy to fall back on"
    )
    assert [(r.getMessage(), getattr(r, "source", None)) for r in caplog.records] == [
        (d.message, url)
    ]
    assert "last good copy" not in caplog.text
