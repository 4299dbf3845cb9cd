"""What a digest holds and how it is built: curated weeks and community top tens, as neutral
Messages.

A ``Digest`` is one message under a ledger key, with the papers it ranks. ``DigestProvider`` is
what the delivery engine asks for them; ``DigestBuilder`` is the one the app runs: for a
``curated`` subscription, the newest curated week not yet posted to that channel (nothing when
the newest one was already posted); for ``community``, the ten most-voted papers of the last N
days. (The ``digests/`` data folder is something else: the curated tables the archive loads.)

A curated week keeps its identity through the edits curators make after publishing it: a
re-dated heading (a new digest key), a title's typo fixed, a row reordered, replaced or added, a
link added. ``delivered_as`` finds a channel's ledger row for a digest: the row with its key, or
for a curated week a row of a curated week that is the same week by
``bot.papers.model.same_week`` (more than half of the smaller week's papers, by their stable
ids, are in the other). Such a week is not delivered again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.core.messages import Button, Link, Message, Section
from bot.core.text import truncate_words
from bot.core.weblinks import absolute, top_path, week_path
from bot.papers.catalog import Catalog, week_range_label
from bot.papers.model import CatalogPaper, Paper, Week, same_week
from bot.storage.base import Store
from bot.storage.records import Delivery, Subscription

VOTE_HINT = "React 1️⃣–🔟 to vote for a paper"
ARCHIVE_LABEL = "Browse the archive"


@dataclass(frozen=True)
class Digest:
    key: str  # ledger digest key, e.g. "week:2025-06-23" or "community:2025-06-30"
    message: Message  # kind="digest", ephemeral=False
    paper_ids: tuple[str, ...]  # by rank, recorded with the posted message so votes map


class DigestProvider(Protocol):
    """What the delivery engine asks for digests (``DigestBuilder``; tests use small fakes)."""

    async def next_digest(
        self, sub: Subscription, sent_keys: set[str], now: datetime
    ) -> Digest | None:
        """The digest to post to ``sub`` now; None when there is nothing new for it."""

    async def digest_for(
        self, sub: Subscription, key: str, paper_ids: tuple[str, ...] = ()
    ) -> Digest | None:
        """Rebuild the digest with ``key`` (to finish a delivery that was in flight at a crash
        even after a newer digest appeared); for a curated week, the same week by
        ``paper_ids`` if it was re-dated since. None when it cannot be rebuilt."""


CURATED_PREFIX = "week:"


def delivered_as(history: Sequence[Delivery], digest: Digest) -> Delivery | None:
    """The ledger row (from a channel's ``history``) that ``digest`` is: the row with its key,
    else, for a curated week, a row of the same week (``same_week``), a settled one first."""
    for row in history:
        if row.digest_key == digest.key:
            return row
    if not digest.key.startswith(CURATED_PREFIX) or not digest.paper_ids:
        return None
    same = [
        r
        for r in history
        if r.digest_key.startswith(CURATED_PREFIX) and same_week(r.paper_ids, digest.paper_ids)
    ]
    same.sort(key=lambda r: (r.status == "pending", -r.id))
    return same[0] if same else None


@dataclass(frozen=True, slots=True)
class DigestOptions:
    summary_length: int = 280
    bullets: bool = True
    links: tuple[str, ...] = ("Paper", "Code", "Tweet")
    max_papers: int = 10
    # The web archive's public address (``web.base_url``): digests get a "Browse the archive"
    # link button to their week (or the leaderboard); None: no button.
    archive_url: str | None = None


def archive_button(opts: DigestOptions, path: str) -> tuple[Button, ...]:
    """The "Browse the archive" URL button for a posted digest, when the web archive is on."""
    if opts.archive_url is None:
        return ()
    return (Button(ARCHIVE_LABEL, url=absolute(opts.archive_url, path)),)


def shown_links(links: Sequence[Link], labels: Sequence[str]) -> tuple[Link, ...]:
    """The links whose label starts with one of ``labels`` (case-insensitive), http(s) only."""
    wanted = tuple(label.casefold() for label in labels)
    return tuple(
        link
        for link in links
        if link.url.startswith(("http://", "https://"))
        and (not wanted or link.label.casefold().startswith(wanted))
    )


def paper_section(paper: Paper | CatalogPaper, rank: int | None, opts: DigestOptions) -> Section:
    return Section(
        title=paper.title,
        url=paper.url,
        body=truncate_words(paper.summary, opts.summary_length),
        rank=rank,
        links=shown_links(paper.links, opts.links),
        bullets=tuple(truncate_words(b, 200) for b in paper.bullets[:5]) if opts.bullets else (),
        paper_id=paper.paper_id,
    )


def source_url(week: Week) -> str | None:
    return week.source if week.source.startswith(("http://", "https://")) else None


def week_message(week: Week, opts: DigestOptions, *, kind: str = "digest") -> Message:
    papers = week.papers[: opts.max_papers]
    return Message(
        header=f"📰 Top papers of the week · {week_range_label(week)}",
        url=source_url(week),
        sections=tuple(paper_section(p, p.rank, opts) for p in papers),
        context=(VOTE_HINT,) if kind == "digest" else (f"Week of {week.start.isoformat()}",),
        buttons=archive_button(opts, week_path(week.start)) if kind == "digest" else (),
        kind="digest" if kind == "digest" else "reply",
        ephemeral=kind != "digest",
    )


def community_message(
    papers: Sequence[tuple[CatalogPaper, int]], label: str, opts: DigestOptions
) -> Message:
    sections = []
    for rank, (paper, votes) in enumerate(papers, start=1):
        s = paper_section(paper, rank, opts)
        sections.append(
            Section(
                title=s.title,
                url=s.url,
                body=f"{votes} vote{'s' if votes != 1 else ''} · {s.body}" if s.body else "",
                rank=rank,
                links=s.links,
                paper_id=s.paper_id,
            )
        )
    return Message(
        header=f"🏆 Community top {len(sections)} · {label}",
        sections=tuple(sections),
        context=(VOTE_HINT,),
        buttons=archive_button(opts, top_path("week")),
        kind="digest",
        ephemeral=False,
    )


class DigestBuilder:
    """The ``DigestProvider`` the app runs, over a catalog that may be swapped on refresh."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        store: Store,
        opts: DigestOptions | None = None,
        *,
        community_window_days: int = 7,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self.opts = opts or DigestOptions()
        self.community_window = timedelta(days=community_window_days)

    def curated(self, week: Week | None = None) -> Digest | None:
        week = week or self._catalog().latest_week()
        if week is None:
            return None
        msg = week_message(week, self.opts)
        return Digest(week.key, msg, tuple(p.paper_id for p in week.papers[: self.opts.max_papers]))

    async def digest_for(
        self, sub: Subscription, key: str, paper_ids: tuple[str, ...] = ()
    ) -> Digest | None:
        """Rebuild one digest by key (to finish a delivery that was in flight at a crash); a
        curated week re-dated since is found by its papers."""
        kind, _, value = key.partition(":")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
        if kind == "week":
            week = self._catalog().week(day)
            if week is not None and week.start == day:
                return self.curated(week)
            return self._same_week(paper_ids)
        if kind == "community":
            tz = ZoneInfo(sub.timezone)
            end = datetime.combine(day, time(23, 59), tzinfo=tz)
            digest = await self.community(sub, end)
            return digest if digest is not None and digest.key == key else None
        return None

    def _same_week(self, paper_ids: tuple[str, ...]) -> Digest | None:
        if not paper_ids:
            return None
        for week in self._catalog().weeks():
            ids = [p.paper_id for p in week.papers[: self.opts.max_papers]]
            if same_week(ids, paper_ids):
                return self.curated(week)
        return None

    async def community(self, sub: Subscription, now: datetime) -> Digest | None:
        local = now.astimezone(ZoneInfo(sub.timezone)).date()
        since = now - self.community_window
        entries = await self._store.leaderboard(since=since, limit=self.opts.max_papers)
        catalog = self._catalog()
        ranked = [(p, e.votes) for e in entries if (p := catalog.get(e.paper_id)) is not None]
        if not ranked:
            return None
        start = (now - self.community_window).astimezone(ZoneInfo(sub.timezone)).date()
        label = f"{start.strftime('%b %-d')} – {local.strftime('%b %-d, %Y')}"
        msg = community_message(ranked, label, self.opts)
        return Digest(f"community:{local.isoformat()}", msg, tuple(p.paper_id for p, _ in ranked))

    async def next_digest(
        self, sub: Subscription, sent_keys: set[str], now: datetime
    ) -> Digest | None:
        digest = self.curated() if sub.kind == "curated" else await self.community(sub, now)
        if digest is None or digest.key in sent_keys:
            return None
        return digest
