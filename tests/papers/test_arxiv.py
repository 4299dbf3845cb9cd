"""arXiv metadata: the client against the local fake arXiv API (``support.arxiv``), the
refresher against real stores (SQLite and, when reachable, PostgreSQL). Pacing is measured on
the fake clock the client sleeps on, so no test waits 3 s."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from support.arxiv import FakeArxiv, FakePaper, fake_arxiv
from support.clock import FakeClock

from bot.core.arxivmeta import ArxivMeta, arxiv_key
from bot.papers.arxiv import (
    BATCH_SIZE,
    MIN_INTERVAL,
    USER_AGENT,
    ArxivClient,
    ArxivIndex,
    ArxivRefresher,
    ArxivUnavailable,
    parse_feed,
)
from bot.storage import Store

T0 = datetime(2025, 7, 1, 9, tzinfo=UTC)
ATTENTION = FakePaper(
    "1706.03762",
    "Attention Is  All\nYou Need",
    ("Ashish Vaswani", "Noam Shazeer", "Łukasz Kaiser"),
    primary="cs.CL",
    categories=("cs.LG",),
    version=7,
)


def client(arxiv: FakeArxiv, clock: FakeClock, **kw: float) -> ArxivClient:
    return ArxivClient(arxiv.url, clock=clock, **kw)  # type: ignore[arg-type]


async def collect(c: ArxivClient, ids: list[str]) -> list[ArxivMeta]:
    got: list[ArxivMeta] = []

    async def keep(batch: list[ArxivMeta]) -> None:
        got.extend(batch)

    await c.fetch(ids, keep)
    return got


async def test_an_entry_becomes_metadata_and_an_unknown_id_a_not_found_record() -> None:
    clock = FakeClock(T0, auto_advance=True)
    async with fake_arxiv(clock) as arxiv:
        arxiv.add(ATTENTION)
        got = await collect(client(arxiv, clock), ["1706.03762v2", "2501.99999"])
    known, unknown = got
    assert known.arxiv_id == "1706.03762" and known.found
    assert known.title == "Attention Is All You Need"
    assert known.authors == ("Ashish Vaswani", "Noam Shazeer", "Łukasz Kaiser")
    assert known.primary_category == "cs.CL" and known.categories == ("cs.CL", "cs.LG")
    assert known.version == 7
    assert known.published == datetime(2017, 6, 12, 17, 57, 34, tzinfo=UTC)
    assert known.updated == datetime(2023, 8, 2, 0, 41, 18, tzinfo=UTC)
    assert unknown == ArxivMeta("2501.99999", T0, found=False)
    # Asked without the version suffix, with a User-Agent that says who asks and why.
    assert arxiv.asked == [["1706.03762", "2501.99999"]]
    assert arxiv.agents == [USER_AGENT]
    assert "paperboy" in USER_AGENT and "arxiv" in USER_AGENT.lower()


async def test_ids_go_in_batches_of_100_never_faster_than_one_request_per_3_seconds() -> None:
    clock = FakeClock(T0, auto_advance=True)
    ids = [f"2401.{n:05d}" for n in range(250)]
    async with fake_arxiv(clock) as arxiv:
        for aid in ids[:5]:
            arxiv.add(FakePaper(aid, f"Paper {aid}", ("A. Author",)))
        got = await collect(client(arxiv, clock), ids)
    assert MIN_INTERVAL == 3.0 and BATCH_SIZE == 100  # the defaults arXiv asks for
    assert [len(a) for a in arxiv.asked] == [100, 100, 50]
    gaps = [(b - a).total_seconds() for a, b in zip(arxiv.times, arxiv.times[1:], strict=False)]
    assert gaps and all(g >= 3.0 for g in gaps), gaps
    assert [m.arxiv_id for m in got] == ids
    assert sum(m.found for m in got) == 5


async def test_a_503_is_waited_out_as_retry_after_says_then_asked_again() -> None:
    clock = FakeClock(T0, auto_advance=True)
    async with fake_arxiv(clock) as arxiv:
        arxiv.add(ATTENTION)
        arxiv.unavailable = ["20"]
        got = await collect(client(arxiv, clock), ["1706.03762"])
    assert len(arxiv.times) == 2
    assert (arxiv.times[1] - arxiv.times[0]).total_seconds() >= 20
    assert got[0].found and got[0].authors[0] == "Ashish Vaswani"


async def test_503s_without_end_give_up_with_arxiv_unavailable() -> None:
    clock = FakeClock(T0, auto_advance=True)
    async with fake_arxiv(clock) as arxiv:
        arxiv.unavailable = ["1"] * 10
        with pytest.raises(ArxivUnavailable, match="503"):
            await collect(client(arxiv, clock), ["1706.03762"])
    assert len(arxiv.times) == 4  # the first try and three retries


def test_malformed_xml_is_an_error_not_partial_data() -> None:
    body = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://ar'
    with pytest.raises(ArxivUnavailable, match="malformed"):
        parse_feed(body, ["1706.03762"], T0)
    with pytest.raises(ArxivUnavailable, match="not an Atom feed"):
        parse_feed(b"<html><body>Service down</body></html>", ["1706.03762"], T0)


def test_arxiv_error_entries_are_not_taken_for_papers() -> None:
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>q</title>'
        b"<id>x</id><updated>2025-01-01T00:00:00Z</updated>"
        b"<entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_junk</id>"
        b"<title>Error</title><summary>incorrect id format for junk</summary></entry></feed>"
    )
    assert parse_feed(body, ["junk"], T0) == [ArxivMeta("junk", T0, found=False)]


def test_the_key_drops_the_version_and_case() -> None:
    assert arxiv_key("1706.03762v7") == "1706.03762"
    assert arxiv_key("arXiv:HEP-TH/9901001v2") == "hep-th/9901001"
    assert arxiv_key("2301.04104") == "2301.04104"


# --- the refresher, on real stores -------------------------------------------------------------


def refresher(
    arxiv: FakeArxiv | str, store: Store, clock: FakeClock, ids: list[str], **kw: float
) -> ArxivRefresher:
    url = arxiv if isinstance(arxiv, str) else arxiv.url
    c = ArxivClient(url, clock=clock, **kw)  # type: ignore[arg-type]
    return ArxivRefresher(
        c, store, ArxivIndex(), lambda: ids, clock=clock, stale_after=timedelta(days=30)
    )


async def test_refresh_stores_metadata_and_asks_again_only_for_missing_or_stale(
    store: Store,
) -> None:
    clock = FakeClock(T0, auto_advance=True)
    ids = ["1706.03762", "2501.99999"]
    async with fake_arxiv(clock) as arxiv:
        arxiv.add(ATTENTION)
        r = refresher(arxiv, store, clock, ids)
        assert await r.refresh() == 2
        assert await r.refresh() == 0  # nothing missing, nothing stale
        assert len(arxiv.asked) == 1
        ids.append("2301.04104")  # a new week brought a new paper
        await r.refresh()
        assert arxiv.asked[-1] == ["2301.04104"]
        await clock.advance(timedelta(days=31))
        await r.refresh()
        assert sorted(arxiv.asked[-1]) == sorted(ids)  # all stale now
    stored = {m.arxiv_id: m for m in await store.arxiv_meta()}
    assert stored["1706.03762"].authors == ATTENTION.authors
    assert stored["1706.03762"].categories == ("cs.CL", "cs.LG")
    assert stored["1706.03762"].published == datetime(2017, 6, 12, 17, 57, 34, tzinfo=UTC)
    assert not stored["2501.99999"].found
    assert r.index.get("1706.03762v3") == stored["1706.03762"]
    assert r.index.get("2501.99999") is None


async def test_a_fresh_start_offline_has_what_the_store_kept(store: Store) -> None:
    kept = ArxivMeta("1706.03762", T0, title="Attention", authors=("Ashish Vaswani",))
    await store.save_arxiv_meta([kept])
    clock = FakeClock(T0 + timedelta(days=1), auto_advance=True)
    with socket.socket() as s:  # a port nothing listens on: arXiv is unreachable
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/api/query"
    r = refresher(dead, store, clock, ["1706.03762", "2301.04104"])
    await r.load()
    assert r.index.get("1706.03762") == kept
    assert await r.refresh() == 0  # unreachable: the round ends, nothing lost
    assert r.index.get("1706.03762") == kept and r.index.get("2301.04104") is None


async def test_bad_answers_leave_what_was_kept_and_the_next_round_recovers(store: Store) -> None:
    clock = FakeClock(T0, auto_advance=True)
    async with fake_arxiv(clock) as arxiv:
        arxiv.add(ATTENTION)
        r = refresher(arxiv, store, clock, ["1706.03762"], timeout=0.2)
        arxiv.malformed = 1
        assert await r.refresh() == 0
        arxiv.delay = 1.0  # slower than the client waits
        assert await r.refresh() == 0
        assert await store.arxiv_meta() == []
        arxiv.delay = 0.0
        assert await r.refresh() == 1
    assert r.index.get("1706.03762") is not None


async def test_save_replaces_and_unknown_ids_are_absent(store: Store) -> None:
    first = ArxivMeta("2301.04104", T0, found=False)
    await store.save_arxiv_meta([first])
    later = ArxivMeta(
        "2301.04104",
        T0 + timedelta(days=40),
        title="Mastering Diverse Domains",
        authors=("Danijar Hafner", 'Jurgis "J" Pašukonis'),
        abstract="World models.",
        primary_category="cs.AI",
        categories=("cs.AI", "cs.LG"),
        published=T0 - timedelta(days=900),
        updated=T0 - timedelta(days=100),
        version=2,
    )
    await store.save_arxiv_meta([later])
    assert await store.arxiv_meta(["2301.04104", "9999.00000"]) == [later]


async def test_a_standby_reads_what_the_leader_stored_and_never_asks_arxiv(store: Store) -> None:
    clock = FakeClock(T0, auto_advance=True)
    async with fake_arxiv(clock) as arxiv:
        arxiv.add(ATTENTION)
        leader = refresher(arxiv, store, clock, ["1706.03762"])
        standby = refresher(arxiv, store, clock, ["1706.03762"])
        standby.leading = lambda: False
        assert await standby.refresh() == 0 and arxiv.asked == []
        await leader.refresh()
        assert await standby.refresh() == 1
        assert len(arxiv.asked) == 1
    assert standby.index.get("1706.03762") == leader.index.get("1706.03762") is not None
