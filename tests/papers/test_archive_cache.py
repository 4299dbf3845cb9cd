"""The persisted parse cache and search index: a restart on unchanged sources parses and
indexes nothing; a changed source is the only one parsed again; a corrupt cache is discarded
and rebuilt; and a refresh while searches run never breaks a search (each answers)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from support.curated import history, weekly_file
from support.listserver import list_server

from bot.papers.archive import REBUILD_NICE, Archive
from bot.papers.catalog import Catalog
from bot.papers.search import SearchPage

WEEKS = history(12, first=date(2025, 9, 1))


def sources(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "src" / "a.md", tmp_path / "src" / "b.md"
    a.parent.mkdir(exist_ok=True)
    a.write_text(weekly_file(WEEKS[6:]), encoding="utf-8")
    b.write_text(weekly_file(WEEKS[:6]), encoding="utf-8")
    return a, b


async def start(tmp_path: Path) -> Archive:
    """A fresh archive (as a restarted bot makes it) over the two files, loaded."""
    archive = Archive(
        [str(tmp_path / "src")],
        cache_dir=str(tmp_path / "cache"),
        index_dir=str(tmp_path / "index"),
    )
    await archive.load()
    return archive


def ranked(archive: Archive, query: str) -> list[str]:
    return [h.paper.paper_id for h in archive.catalog.search(query, limit=50).hits]


async def test_a_restart_on_unchanged_sources_parses_and_indexes_nothing(tmp_path: Path) -> None:
    sources(tmp_path)
    first = await start(tmp_path)
    assert (first.parse_cache.parsed, first.parse_cache.reused) == (2, 0)
    assert first.indexed == len(first.catalog) == 120
    before = ranked(first, "synthetic study")

    again = await start(tmp_path)
    assert (again.parse_cache.parsed, again.parse_cache.reused) == (0, 2)
    assert again.indexed == 0 and again.catalog.index_reused
    assert len(again.catalog) == 120
    assert ranked(again, "synthetic study") == before and before


async def test_a_changed_source_is_the_only_one_parsed_again(tmp_path: Path) -> None:
    a, _ = sources(tmp_path)
    await start(tmp_path)
    a.write_text(weekly_file(WEEKS[8:]), encoding="utf-8")  # two weeks fewer
    again = await start(tmp_path)
    assert (again.parse_cache.parsed, again.parse_cache.reused) == (1, 1)
    assert again.indexed == len(again.catalog) == 100  # another set of papers: indexed anew
    assert not again.catalog.index_reused
    # and the next start reuses that
    third = await start(tmp_path)
    assert (third.parse_cache.parsed, third.indexed) == (0, 0)


async def test_a_corrupt_cache_is_discarded_and_rebuilt(tmp_path: Path) -> None:
    sources(tmp_path)
    first = await start(tmp_path)
    expected = ranked(first, "synthetic study")
    parsed = sorted((tmp_path / "index" / "parsed").glob("*.pickle"))
    assert len(parsed) == 2
    parsed[0].write_bytes(b"not a pickle")
    [index] = (tmp_path / "index" / "search").iterdir()
    for f in index.iterdir():
        if f.is_file():
            # a new file under the old name, as another process would find it (rewriting the
            # file in place would pull it from under this process's memory map of it)
            garbage = f.with_name(f.name + ".new")
            garbage.write_bytes(b"\0garbage")
            os.replace(garbage, f)

    again = await start(tmp_path)
    assert (again.parse_cache.parsed, again.parse_cache.reused) == (1, 1)
    assert again.indexed == 120 and not again.catalog.index_reused
    assert ranked(again, "synthetic study") == expected
    assert (await start(tmp_path)).indexed == 0  # what was rebuilt is kept


async def test_searches_during_refreshes_all_answer(tmp_path: Path) -> None:
    async with list_server() as st, aiohttp.ClientSession() as session:
        st.put("/a.md", weekly_file(WEEKS[:4]))
        archive = Archive(
            [], [st.url("/a.md")], cache_dir=str(tmp_path / "c"), index_dir=str(tmp_path / "i")
        )
        await archive.load()
        await archive.refresh(session)
        stop = asyncio.Event()
        answered: list[SearchPage] = []

        async def searcher(query: str) -> None:
            while not stop.is_set():
                # in worker threads, as the web and chat handlers' heavy calls may be
                page = await asyncio.to_thread(archive.current().search, query)
                answered.append(page)
                suggestions = await asyncio.to_thread(archive.current().suggest, "shad")
                assert isinstance(suggestions, list)

        tasks = [
            asyncio.create_task(searcher(q)) for q in ("synthetic", "ledgers year:2025", "zzz")
        ]
        for n in range(5, 12):  # every refresh brings a changed copy: a new catalog each time
            st.put("/a.md", weekly_file(WEEKS[:n]))
            await archive.refresh(session)
            await asyncio.sleep(0)
        stop.set()
        await asyncio.gather(*tasks)  # a search that raised fails the test here
        assert len(archive.catalog) == 110
        assert answered and all(isinstance(p, SearchPage) for p in answered)
        assert any(p.hits for p in answered)
        assert archive.parse_cache.parsed == 8  # one parse per copy that changed


async def test_searches_use_the_old_catalog_while_the_new_one_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new catalog is built off the event loop: while its build is held, the loop runs and
    searches answer from the old catalog; then the reference is swapped."""
    async with list_server() as st, aiohttp.ClientSession() as session:
        st.put("/a.md", weekly_file(WEEKS[:4]))
        archive = Archive([], [st.url("/a.md")], cache_dir=str(tmp_path / "c"))
        await archive.load()
        await archive.refresh(session)
        old = archive.current()
        building, release = threading.Event(), threading.Event()
        real_build = Catalog.build

        def held_build(weeks: object, **kw: object) -> Catalog:
            building.set()
            assert release.wait(timeout=30)
            return real_build(weeks, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(Catalog, "build", held_build)
        st.put("/a.md", weekly_file(WEEKS[:6]))
        refresh = asyncio.create_task(archive.refresh(session))
        assert await asyncio.to_thread(building.wait, 30)
        for _ in range(20):  # the loop is free: these run while the build waits
            assert archive.current() is old
            assert old.search("synthetic").hits
            await asyncio.sleep(0)
        release.set()
        await refresh
        assert archive.current() is not old and len(archive.current()) == 60
        assert old.search("synthetic").hits  # the old one still answers whoever holds it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority: Linux")
async def test_a_refresh_builds_at_a_lower_cpu_priority_than_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load builds at the loop's priority; a refresh builds in a thread niced by
    ``REBUILD_NICE``, so the searches it competes with keep the cores."""
    seen: list[int] = []
    real_build = Catalog.build

    def recording_build(weeks: object, **kw: object) -> Catalog:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real_build(weeks, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Catalog, "build", recording_build)
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    async with list_server() as st, aiohttp.ClientSession() as session:
        st.put("/a.md", weekly_file(WEEKS[:4]))
        archive = Archive([], [st.url("/a.md")], cache_dir=str(tmp_path / "c"))
        seen.clear()  # the empty catalog it starts with
        await archive.load()
        await archive.refresh(session)
        st.put("/a.md", weekly_file(WEEKS[:6]))
        await archive.refresh(session)
    assert len(archive.current()) == 60
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_nice
    # the load (nothing fetched yet), then the two refreshes that brought a new copy
    assert seen == [loop_nice, *[min(19, loop_nice + REBUILD_NICE)] * 2]
