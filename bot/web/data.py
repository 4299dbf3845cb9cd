"""What the pages, feeds and API read, and how a request reaches them.

``WebContext`` holds the bot's parts the web archive reads (catalog getter, store, vote
service, clock, options) and the few reads they share: vote counts for a list of papers,
leaderboards (by period, by calendar week, for one channel) resolved to catalog papers.
``Ask`` is one request as a handler sees it: its parameters, the catalog it is answered from,
the origin absolute links use and, behind a private link, the channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import PurePosixPath

from bot.chat.votes import VoteService
from bot.core.clock import Clock
from bot.core.messages import ChannelRef, Message
from bot.delivery.digest import DigestOptions, paper_section, week_message
from bot.papers.arxiv import ArxivIndex
from bot.papers.catalog import Catalog
from bot.papers.model import CatalogPaper, Week
from bot.storage.base import Store
from bot.storage.records import LeaderboardEntry, PostedDigest
from bot.web.params import period, week_day

Ranked = list[tuple[CatalogPaper, int]]  # (paper, votes), best first


@dataclass(frozen=True, slots=True)
class Board:
    """A public leaderboard as asked for: a rolling ``period``, or the calendar week (UTC)
    starting ``monday`` when the request named one."""

    items: Ranked
    period: str
    monday: date | None = None

    @property
    def sunday(self) -> date | None:
        return None if self.monday is None else self.monday + timedelta(days=6)


@dataclass(frozen=True, slots=True)
class WebOptions:
    base_url: str | None = None  # absolute links in feeds; else the request's own origin
    cache_seconds: int = 10
    # How papers look on pages and in feed entries: full summaries, bullets, every link.
    digest: DigestOptions = field(
        default_factory=lambda: DigestOptions(summary_length=2000, bullets=True, links=())
    )
    weeks_per_page: int = 20
    results_per_page: int = 20
    top_limit: int = 25
    feed_weeks: int = 20  # curated weeks in the weeks feed
    feed_top_weeks: int = 12  # calendar weeks looked at for the community feed
    channel_posts: int = 30  # posted messages on a channel's page and feed


@dataclass(frozen=True, slots=True)
class Ask:
    """One request: query parameters, path parameters, and what it is answered from."""

    query: Mapping[str, str]
    path: Mapping[str, str]
    catalog: Catalog
    origin: str  # scheme://host[:port] for absolute links, no trailing slash
    channel: ChannelRef | None = None
    token: str = ""


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def public_source(source: str) -> str:
    """Where a week came from, as the public may see it: a URL as it is, a local file by its
    name only (the server's directories are nobody's business)."""
    if source.startswith(("http://", "https://")):
        return source
    return PurePosixPath(source.replace("\\", "/")).name


_POSTED_HEADERS = {
    "community": "🏆 Community top ten",
    "top": "🏆 Most voted papers, shared",
    "search": "🔎 Search results, shared",
}


@lru_cache(maxsize=512)
def week_digest(week: Week, opts: DigestOptions) -> Message:
    """A curated week as its digest message (memoised by value: the same week is shown on many
    channels' pages and feeds until its text changes)."""
    return week_message(week, opts, kind="reply")


def posted_message(catalog: Catalog, posted: PostedDigest, opts: DigestOptions) -> Message:
    """What a posted message showed, rebuilt from the catalog: a curated week as its digest,
    anything else (community top ten, a shared search or paper) as its papers by rank. Papers
    no longer in the catalog are left out. Nothing about the channel or who posted it."""
    kind, _, value = posted.digest_key.partition(":")
    if kind == "week":
        week = catalog.week(value)
        if week is not None and week.start.isoformat() == value:
            return week_digest(week, opts)
    papers = [p for pid in posted.paper_ids if (p := catalog.get(pid)) is not None]
    header = _POSTED_HEADERS.get(kind, "📄 Shared " + ("paper" if len(papers) == 1 else "papers"))
    sections = tuple(paper_section(p, rank, opts) for rank, p in enumerate(papers, start=1))
    return Message(header=header, sections=sections)


class WebContext:
    def __init__(
        self,
        catalog: Callable[[], Catalog],
        store: Store,
        votes: VoteService,
        *,
        clock: Clock,
        options: WebOptions | None = None,
        arxiv: ArxivIndex | None = None,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.catalog = catalog
        self.ready = ready  # False while the archive is still loading at start
        self.arxiv = arxiv if arxiv is not None else ArxivIndex()  # arXiv metadata
        self.store = store
        self.votes = votes
        self.clock = clock
        self.options = options or WebOptions()

    async def counts(self, paper_ids: Sequence[str]) -> dict[str, int]:
        return await self.store.vote_counts(paper_ids) if paper_ids else {}

    def resolve(self, catalog: Catalog, entries: Sequence[LeaderboardEntry]) -> Ranked:
        """Leaderboard entries as catalog papers (papers no longer loaded are left out)."""
        return [(p, e.votes) for e in entries if (p := catalog.get(e.paper_id)) is not None]

    async def top(self, catalog: Catalog, period: str, channel: ChannelRef | None = None) -> Ranked:
        """The most-voted papers in a rolling period, on every platform or in one channel."""
        entries = await self.votes.leaderboard(
            period,
            channel=channel,
            level="channel" if channel is not None else "all",
            limit=self.options.top_limit,
        )
        return self.resolve(catalog, entries)

    async def board(self, catalog: Catalog, query: Mapping[str, str]) -> Board:
        """The leaderboard ``/top`` and ``/api/top`` show: ``?week=<date>`` (that calendar
        week) or ``?period=week|month|year|all`` (default all), every platform combined."""
        chosen = period(query)
        in_week = week_day(query)
        if in_week is None:
            return Board(await self.top(catalog, chosen), chosen)
        monday = monday_of(in_week)
        items, _ = await self.top_week(catalog, monday, limit=self.options.top_limit)
        return Board(items, chosen, monday)

    async def top_week(
        self, catalog: Catalog, monday: date, limit: int = 10
    ) -> tuple[Ranked, datetime | None]:
        """The most-voted papers among votes cast in the calendar week (UTC) starting on
        ``monday``, and when its newest vote was cast (None: no votes that week)."""
        since, until = midnight(monday), midnight(monday + timedelta(days=7))
        last = await self.store.last_vote_at(since, until)
        if last is None:
            return [], None
        entries = await self.store.leaderboard(since=since, until=until, limit=limit)
        return self.resolve(catalog, entries), last


__all__ = [
    "Ask",
    "Board",
    "Ranked",
    "WebContext",
    "WebOptions",
    "midnight",
    "monday_of",
    "posted_message",
    "public_source",
    "week_digest",
]
