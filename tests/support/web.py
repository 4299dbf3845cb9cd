"""The web archive under test: a catalog of real curated weeks (the shipped ``digests/``) plus
one hostile week, a ``WebSite`` over a store, votes and posted digests to show, and a server
thread for tests that drive a real browser (Selenium calls block, so the server runs on its own
event loop in another thread)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.chat.votes import VoteService
from bot.core.messages import ChannelRef, Link
from bot.papers.catalog import Catalog
from bot.papers.model import Paper, Week
from bot.papers.sources import load_paths
from bot.storage import Store, open_store
from bot.storage.records import PostedDigest, Vote
from bot.web import WebContext, WebOptions, WebSite
from support.clock import FakeClock
from support.paths import REPO

NOW = datetime(2025, 7, 16, 12, 0, tzinfo=UTC)  # a Wednesday, after every week below
HOSTILE_START = date(2025, 7, 7)
SLACK = ChannelRef("slack", "T0WORKSPACE9", "C0CHANNEL77")
DISCORD = ChannelRef("discord", "880000000000000001", "990000000000000002")

# Curated text written to break out of HTML: each payload would run script or make an element
# of its own if it were pasted into the page as markup.
SCRIPT = '<script>alert("title")</script>'
IMG = "\"><img src=x onerror=alert('summary')>"
HOSTILE = (
    Paper(
        1,
        f"{SCRIPT}Hostile <b>bold</b> title",
        f"Summary with an attribute breaker {IMG} & an ampersand.",
        ("</li><script>alert('bullet')</script>", "<svg onload=alert('svg')>"),
        (
            Link("Paper", "javascript:alert('link')"),
            Link("<iframe src=javascript:alert('label')>", "https://example.org/code"),
            Link("Tweet", "https://example.org/x\" onmouseover=\"alert('href')"),
        ),
    ),
    Paper(
        2,
        "Quote ' breaker\" onmouseover=\"alert('attr')",
        "<style>body{display:none}</style>A data: link follows.",
        (),
        (Link("Paper", "data:text/html,<script>alert('data')</script>"),),
    ),
    Paper(
        3,
        "A Plain Paper About Hostile Inputs",
        "Nothing odd here.",
        (),
        (Link("Paper", "https://arxiv.org/abs/2507.00001"),),
    ),
)
HOSTILE_WEEK = Week(
    HOSTILE_START,
    HOSTILE_START + timedelta(days=6),
    "Hostile week",
    "javascript:alert('source')",
    HOSTILE,
)
PAYLOAD_TAGS = ("script", "img", "svg", "iframe", "style", "b")


def shipped_weeks() -> list[Week]:
    return load_paths([str(REPO / "digests")]).weeks


def web_catalog(*, hostile: bool = True) -> Catalog:
    """The shipped curated weeks, and (newest) the hostile week."""
    return Catalog.build([*shipped_weeks(), *([HOSTILE_WEEK] if hostile else [])])


async def seed(store: Store, catalog: Catalog, *, at: datetime = NOW) -> None:
    """Posted digests in the two channels and votes on them: in the shipped newest week, the
    first paper gets 3 voters, the second 2, the third 1 (Slack and Discord combined); one
    Slack vote also goes to the hostile week's first paper."""
    week = next(w for w in catalog.weeks() if w.start != HOSTILE_START)
    ids = tuple(p.paper_id for p in week.papers)
    for channel, message in ((SLACK, "1752600000.000100"), (DISCORD, "1390000000000000001")):
        await store.record_posted(
            PostedDigest(channel, message, week.key, ids, at - timedelta(days=2))
        )
    votes = [
        (SLACK, "1752600000.000100", "U0VOTER01", "1️⃣", 0),
        (SLACK, "1752600000.000100", "U0VOTER02", "1️⃣", 0),
        (DISCORD, "1390000000000000001", "770000000000000001", "1️⃣", 0),
        (SLACK, "1752600000.000100", "U0VOTER01", "2️⃣", 1),
        (DISCORD, "1390000000000000001", "770000000000000002", "2️⃣", 1),
        (SLACK, "1752600000.000100", "U0VOTER03", "3️⃣", 2),
    ]
    for i, (channel, message, user, emoji, rank) in enumerate(votes):
        when = at - timedelta(hours=10 - i)
        await store.add_vote(Vote(channel, message, user, emoji, ids[rank], when))
    hostile = HOSTILE[0].paper_id
    await store.record_posted(
        PostedDigest(SLACK, "1752600000.000200", "share", (hostile,), at - timedelta(days=1))
    )
    await store.add_vote(Vote(SLACK, "1752600000.000200", "U0VOTER04", "👍", hostile, at))


def make_site(
    store: Store, catalog: Catalog, clock: FakeClock, **options: Any
) -> tuple[WebSite, web.Application]:
    votes = VoteService(store, clock=clock)
    ctx = WebContext(lambda: catalog, store, votes, clock=clock, options=WebOptions(**options))
    site = WebSite(ctx)
    app = web.Application()
    site.install(app)
    return site, app


@dataclass
class Web:
    """A served ``WebSite`` and what it reads, for tests over HTTP."""

    client: TestClient  # type: ignore[type-arg]
    site: WebSite
    store: Store
    catalog: Catalog
    clock: FakeClock

    def newest_shipped(self) -> Week:
        """The newest curated week of the shipped digests (the one with votes)."""
        return next(w for w in self.catalog.weeks() if w.start != HOSTILE_START)


@contextlib.asynccontextmanager
async def serve(store: Store, *, votes: bool = True, **options: Any) -> AsyncIterator[Web]:
    """The archive over ``store`` on a local port (with the seeded votes and posts unless
    ``votes`` is false), on a fake clock at ``NOW``; ``options`` are ``WebOptions``."""
    catalog = web_catalog()
    clock = FakeClock(NOW)
    if votes:
        await seed(store, catalog)
    site, app = make_site(store, catalog, clock, **options)
    async with TestClient(TestServer(app)) as client:
        yield Web(client, site, store, catalog, clock)


@dataclass
class ServerThread:
    """A ``WebSite`` on a SQLite file, served on 127.0.0.1 from its own thread and loop.

    ``prepare`` runs on the server's loop with the open store before it starts listening."""

    db_path: str
    catalog: Catalog
    prepare: Callable[[Store], Awaitable[None]] | None = None
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None
    _stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self._thread = threading.Thread(target=self._run, name="web-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the web test server did not start")
        if self._error is not None:
            raise RuntimeError("the web test server failed") from self._error
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(), which re-raises it
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        store = open_store(self.db_path)
        await store.open()
        try:
            if self.prepare is not None:
                await self.prepare(store)
            _, app = make_site(store, self.catalog, self.clock)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()
        finally:
            await store.close()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
