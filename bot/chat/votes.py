"""Reactions as votes, and leaderboards.

A keycap reaction (1️⃣..🔟, Slack ``one``..``keycap_ten``) on a posted digest votes for the paper
at that rank; a 👍 (any skin tone) on a message that carries a single paper votes for it. Votes
are a set keyed on (channel, message, user, emoji) (a Slack message id is unique only within its
channel): adding twice or removing twice changes nothing, and a retried platform event (same
``event_id``) is ignored. Reactions by bots (the event says so, or the user is one of
``bot_user_ids``) and reactions on messages that are not digests are ignored.

Reactions made while the bot was not listening are read back from the platform and reconciled
(``reconcile``: the votes on a message become exactly its reactions that count). Live events and
a reconcile of the same message never interleave: each holds that message's lock.

Leaderboard windows are rolling, counted back from ``clock.now()``: ``week`` = 7 days,
``month`` = 30 days, ``year`` = 365 days, ``all`` = everything; a ``date`` means since that
day's midnight UTC. Scopes narrow the votes that count: ``here`` (or ``channel``) = this
channel, ``workspace`` (or ``server``, ``guild``) = this workspace, ``everywhere`` = every
platform combined. These rules live here only; ``/papers top`` (``bot.chat.top``) parses
what the user typed with ``parse_window`` and ``SCOPES`` and asks ``VoteService.leaderboard``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from bot.core.clock import Clock
from bot.core.messages import ChannelRef, ReactionEvent
from bot.ops.metrics import Metrics
from bot.storage.base import Store
from bot.storage.records import LeaderboardEntry, PostedDigest, Vote

log = logging.getLogger("paperboy.votes")

_SLACK_RANKS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "keycap_ten": 10,
}
_KEYCAP = "\u20e3"
_VS16 = "\ufe0f"
_TEN = "\U0001f51f"  # 🔟
_THUMBS = "\U0001f44d"  # 👍
_SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
_THUMB_NAMES = frozenset({"+1", "thumbsup", "thumbs_up"})

WINDOWS: dict[str, timedelta | None] = {
    "week": timedelta(days=7),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
    "all": None,
}

Level = Literal["channel", "workspace", "platform", "all"]

# The scope words a user may type, and the level each one means.
SCOPES: dict[str, Level] = {
    "here": "channel",
    "channel": "channel",
    "workspace": "workspace",
    "server": "workspace",
    "guild": "workspace",
    "everywhere": "all",
}
BotIds = Collection[str] | Callable[[], Collection[str]]


def _strip(emoji: str) -> str:
    e = emoji.strip()
    if len(e) > 2 and e.startswith(":") and e.endswith(":"):
        e = e[1:-1]
    return e


def emoji_to_rank(emoji: str) -> int | None:
    """1..10 for a keycap emoji (unicode, with or without U+FE0F, or a Slack name); else None."""
    e = _strip(emoji)
    if e in _SLACK_RANKS:
        return _SLACK_RANKS[e]
    if e == _TEN or e == _TEN + _VS16:
        return 10
    e = e.replace(_VS16, "")
    if len(e) == 2 and e[1] == _KEYCAP and e[0] in "123456789":
        return int(e[0])
    return None


def parse_window(text: str) -> str | date:
    """A leaderboard window as typed: ``week``, ``month``, ``year`` or ``all`` (any case), or an
    ISO date (``2025-06-01``). Raises ``ValueError`` for anything else."""
    key = text.strip().lower()
    if key in WINDOWS:
        return key
    try:
        return date.fromisoformat(key)
    except ValueError:
        raise ValueError(f"unknown window {text!r}: use week, month, year, all or a date") from None


def is_thumbs_up(emoji: str) -> bool:
    """👍 in any skin tone, or Slack's ``+1`` / ``thumbsup`` (``+1::skin-tone-3`` too)."""
    e = _strip(emoji)
    name = e.split("::", 1)[0]
    if name in _THUMB_NAMES:
        return True
    e = e.replace(_VS16, "")
    return e.startswith(_THUMBS) and all(c in _SKIN_TONES for c in e[1:])


class VoteService:
    """Turns ``ReactionEvent``s into votes (implements ``ReactionHandler``)."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        bot_user_ids: BotIds = frozenset(),
        metrics: Metrics | None = None,
        allow_thumbs_up: bool = True,
        rank_emoji: Sequence[str] = (),
    ) -> None:
        """``bot_user_ids``: a collection read on every event (a set the adapters fill in after
        login works), or a callable returning one. ``rank_emoji``: extra emoji, the i-th
        voting for rank i + 1 (configured vote emoji beyond the keycaps)."""
        self.store = store
        self.clock = clock
        self._bot_ids = bot_user_ids
        self.metrics = metrics
        self.allow_thumbs_up = allow_thumbs_up
        self._extra = {e: i + 1 for i, e in enumerate(rank_emoji) if emoji_to_rank(e) is None}
        self._locks: weakref.WeakValueDictionary[tuple[ChannelRef, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _is_bot(self, user_id: str) -> bool:
        ids = self._bot_ids() if callable(self._bot_ids) else self._bot_ids
        return user_id in ids

    def rank_of(self, emoji: str) -> int | None:
        return emoji_to_rank(emoji) or self._extra.get(emoji)

    def _may_vote(self, ev: ReactionEvent) -> bool:
        """Whether ``ev`` could be a vote at all: a person's keycap (or 👍 when allowed)."""
        if ev.user_is_bot or self._is_bot(ev.user_id):
            return False
        if self.rank_of(ev.emoji) is not None:
            return True
        return self.allow_thumbs_up and is_thumbs_up(ev.emoji)

    def _paper_for(self, ev: ReactionEvent, posted: PostedDigest) -> str | None:
        """The paper ``ev`` votes for on ``posted``, or None when it is no vote there."""
        if not self._may_vote(ev) or not posted.paper_ids:
            return None
        rank = self.rank_of(ev.emoji)
        if rank is not None:
            if rank > len(posted.paper_ids) or not posted.paper_ids[rank - 1]:
                return None  # no paper at that rank (earlier ranks of a later search page)
            return posted.paper_ids[rank - 1]
        if len(posted.paper_ids) == 1:
            return posted.paper_ids[0]
        return None  # a 👍 on a multi-paper digest says nothing about which paper

    @contextlib.asynccontextmanager
    async def _message(self, channel: ChannelRef, message_id: str) -> AsyncIterator[None]:
        """Hold the lock of one message: its live events and reconciles take turns."""
        key = (channel, message_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        """Apply one reaction add/remove; True if the vote set changed."""
        if not self._may_vote(ev):
            return False
        async with self._message(ev.channel, ev.message_id):
            posted = await self.store.get_posted(ev.channel, ev.message_id)
            paper_id = None if posted is None else self._paper_for(ev, posted)
            if paper_id is None:
                return False
            now = self.clock.now()
            if ev.event_id and not await self.store.mark_event(ev.event_id, now):
                return False  # a retried delivery of an event already applied
            if ev.added:
                vote = Vote(ev.channel, ev.message_id, ev.user_id, ev.emoji, paper_id, now)
                changed = await self.store.add_vote(vote)
            else:
                changed = await self.store.remove_vote(
                    ev.channel, ev.message_id, ev.user_id, ev.emoji
                )
        if changed:
            self._count("votes", ev.channel, "add" if ev.added else "remove")
            log.info(
                "vote " + ("added" if ev.added else "removed"),
                extra={"channel": str(ev.channel), "paper": paper_id, "emoji": ev.emoji},
            )
        return changed

    async def reconcile(
        self, posted: PostedDigest, read: Callable[[], Awaitable[Sequence[ReactionEvent]]]
    ) -> tuple[int, int]:
        """Make the votes on ``posted`` exactly what its reactions say now: ``read()`` returns
        every reaction on the message (one per user and emoji). Reactions that are no votes
        (bots, other emoji, ranks beyond the papers) are left out, as live events are.
        Idempotent. Returns (votes added, votes removed)."""
        ch, mid = posted.channel, posted.message_id
        async with self._message(ch, mid):
            reactions = await read()
            wanted: dict[tuple[str, str], str] = {}
            for ev in reactions:
                paper_id = self._paper_for(ev, posted)
                if paper_id is not None:
                    wanted[(ev.user_id, ev.emoji)] = paper_id
            have = {(v.user_id, v.emoji) for v in await self.store.votes_on(ch, mid)}
            now = self.clock.now()
            added = removed = 0
            for (user, emoji), paper_id in sorted(wanted.items()):
                if (user, emoji) not in have:
                    added += await self.store.add_vote(Vote(ch, mid, user, emoji, paper_id, now))
            for user, emoji in sorted(have - wanted.keys()):
                removed += await self.store.remove_vote(ch, mid, user, emoji)
        if added or removed:
            self._count("votes_reconciled", ch, "add", added)
            self._count("votes_reconciled", ch, "remove", removed)
            log.info(
                "votes reconciled",
                extra={"channel": str(ch), "message_id": mid, "added": added, "removed": removed},
            )
        return added, removed

    def _count(self, name: str, channel: ChannelRef, action: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.inc(name, n, platform=channel.platform, action=action)

    def since(self, window: str | date) -> datetime | None:
        """The start of a leaderboard window (None: all time). ``window``: a ``WINDOWS`` name or
        an ISO date as typed (see ``parse_window``), a date (its midnight UTC) or a datetime."""
        if isinstance(window, datetime):
            return window.astimezone(UTC) if window.tzinfo else window.replace(tzinfo=UTC)
        if isinstance(window, str):
            window = parse_window(window)
        if isinstance(window, date):
            return datetime.combine(window, time(0), tzinfo=UTC)
        span = WINDOWS[window]
        return None if span is None else self.clock.now() - span

    async def leaderboard(
        self,
        window: str | date = "week",
        *,
        channel: ChannelRef | None = None,
        level: Level = "channel",
        limit: int = 10,
    ) -> list[LeaderboardEntry]:
        """Papers by distinct voters within ``window``. With ``channel``, ``level`` narrows to
        that channel, its workspace or its platform (``all``: every platform combined); without
        one, votes from everywhere count."""
        since = self.since(window)
        if channel is None or level == "all":
            return await self.store.leaderboard(since=since, limit=limit)
        return await self.store.leaderboard(
            since=since,
            platform=channel.platform,
            workspace=channel.workspace if level in ("channel", "workspace") else None,
            channel=channel.channel if level == "channel" else None,
            limit=limit,
        )


__all__ = ["SCOPES", "WINDOWS", "VoteService", "emoji_to_rank", "is_thumbs_up", "parse_window"]
