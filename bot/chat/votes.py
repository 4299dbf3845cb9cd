"""Reactions as votes, and leaderboards.

A keycap reaction (1️⃣..🔟, Slack ``one``..``keycap_ten``) on a posted digest votes for the paper
at that rank; a 👍 (any skin tone) on a message that carries a single paper votes for it. Votes
are a set keyed on (platform, message, user, emoji): adding twice or removing twice changes
nothing, and a retried platform event (same ``event_id``) is ignored. Reactions by bots (the
event says so, or the user is one of ``bot_user_ids``) and reactions on messages that are not
digests are ignored.

Leaderboard windows are rolling, counted back from ``clock.now()``: ``week`` = 7 days,
``month`` = 30 days, ``year`` = 365 days, ``all`` = everything; a ``date`` means since that
day's midnight UTC. Scopes narrow the votes that count: ``here`` (or ``channel``) = this
channel, ``workspace`` (or ``server``, ``guild``) = this workspace, ``everywhere`` = every
platform combined. These rules live here only; ``/papers top`` (``bot.chat.top``) parses
what the user typed with ``parse_window`` and ``SCOPES`` and asks ``VoteService.leaderboard``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from bot.core.clock import Clock
from bot.core.messages import ChannelRef, ReactionEvent
from bot.ops.metrics import Metrics
from bot.storage.base import Store
from bot.storage.records import LeaderboardEntry, Vote

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

    def _is_bot(self, user_id: str) -> bool:
        ids = self._bot_ids() if callable(self._bot_ids) else self._bot_ids
        return user_id in ids

    def rank_of(self, emoji: str) -> int | None:
        return emoji_to_rank(emoji) or self._extra.get(emoji)

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        """Apply one reaction add/remove; True if the vote set changed."""
        if ev.user_is_bot or self._is_bot(ev.user_id):
            return False
        rank = self.rank_of(ev.emoji)
        thumbs = rank is None and self.allow_thumbs_up and is_thumbs_up(ev.emoji)
        if rank is None and not thumbs:
            return False
        posted = await self.store.get_posted(ev.channel.platform, ev.message_id)
        if posted is None or not posted.paper_ids:
            return False
        if rank is not None:
            if rank > len(posted.paper_ids) or not posted.paper_ids[rank - 1]:
                return False  # no paper at that rank (earlier ranks of a later search page)
            paper_id = posted.paper_ids[rank - 1]
        elif len(posted.paper_ids) == 1:
            paper_id = posted.paper_ids[0]
        else:
            return False  # a 👍 on a multi-paper digest says nothing about which paper
        now = self.clock.now()
        if ev.event_id and not await self.store.mark_event(ev.event_id, now):
            return False  # a retried delivery of an event already applied
        if ev.added:
            changed = await self.store.add_vote(
                Vote(posted.channel, ev.message_id, ev.user_id, ev.emoji, paper_id, now)
            )
        else:
            changed = await self.store.remove_vote(
                ev.channel.platform, ev.message_id, ev.user_id, ev.emoji
            )
        if changed:
            if self.metrics is not None:
                self.metrics.inc(
                    "votes", platform=ev.channel.platform, action="add" if ev.added else "remove"
                )
            log.info(
                "vote " + ("added" if ev.added else "removed"),
                extra={"channel": str(ev.channel), "paper": paper_id, "rank": rank or 1},
            )
        return changed

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
