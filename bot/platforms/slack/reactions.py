"""Reactions on Slack messages: adding the bot's vote keycaps (``reactions.add``) and reading
back who reacted with what (``reactions.get``), each paced under Slack's limit.

Both methods are Tier 3: about 50 calls a minute per workspace, each method counted on its own
(``calls`` per ``period``, configurable). ``seed_limiter`` paces ``reactions.add``; the seeder
(``bot.delivery.seeding``) acquires it before each call and honours any 429 on it. Reads take a
slot of their own limiter here, and a 429 pauses that limiter for its ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError

from bot.core.errors import RateLimited
from bot.core.messages import ChannelRef, ReactionEvent
from bot.delivery.ratelimit import RateLimiter
from bot.platforms.slack.connection import CALL_ERRORS, SlackConnection
from bot.platforms.slack.errors import error_code, to_delivery_error
from bot.platforms.slack.users import UserDirectory

KEYCAP_REACTIONS = (
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "keycap_ten",
)  # fmt: skip
TIER3_CALLS = 50
TIER3_PERIOD = 60.0


def tier_limiter(calls: int, period: float) -> RateLimiter:
    """At most ``calls`` in any ``period`` seconds per workspace (the limiter's channel key),
    with a margin of 1% of the period for the clocks between us and Slack."""
    return RateLimiter(
        global_limit=None,
        channel_limit=calls,
        channel_period=period,
        margin=0.02 + period / 100,
    )


def reaction_name(raw: str) -> str:
    """Skin tones do not change a vote: ``+1::skin-tone-3`` is ``+1``."""
    return raw.split("::", 1)[0]


class SlackReactions:
    """``reactions.add`` for seeding and ``reactions.get`` for reading votes back."""

    def __init__(
        self,
        conn: SlackConnection,
        users: UserDirectory,
        *,
        seed: bool,
        calls: int = TIER3_CALLS,
        period: float = TIER3_PERIOD,
    ) -> None:
        self._conn = conn
        self._users = users
        self.seed_emoji: tuple[str, ...] = KEYCAP_REACTIONS if seed else ()
        self.seed_limiter = tier_limiter(calls, period)
        self._reads = tier_limiter(calls, period)

    async def add(self, channel: ChannelRef, ts: str, name: str) -> None:
        """The bot's ``name`` reaction on the message (already there: done)."""
        client = await self._conn.client_for(channel.workspace)
        try:
            await client.reactions_add(channel=channel.channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            if error_code(exc) == "already_reacted":
                return
            raise to_delivery_error(exc, may_have_sent=False) from exc
        except CALL_ERRORS as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc

    async def read(self, channel: ChannelRef, ts: str) -> list[ReactionEvent]:
        """Every reaction on the message now, one per (user, emoji), each user marked as a bot
        or not (the bot's own keycaps included, marked)."""
        client = await self._conn.client_for(channel.workspace)
        await self._reads.acquire(channel.workspace)
        try:
            resp = await client.reactions_get(channel=channel.channel, timestamp=ts, full=True)
        except CALL_ERRORS as exc:
            error = to_delivery_error(exc, may_have_sent=False)
            if isinstance(error, RateLimited):
                self._reads.penalize(channel.workspace, error.retry_after)
            raise error from exc
        finally:
            self._reads.sent(channel.workspace)
        message: dict[str, Any] = resp.get("message") or {}
        out: list[ReactionEvent] = []
        seen: set[tuple[str, str]] = set()
        for reaction in message.get("reactions") or []:
            name = reaction_name(str(reaction.get("name", "")))
            for user in reaction.get("users") or []:
                user_id = str(user)
                if (user_id, name) in seen:
                    continue
                seen.add((user_id, name))
                is_bot = await self._users.is_bot(channel.workspace, user_id)
                out.append(ReactionEvent(channel, ts, user_id, name, True, user_is_bot=is_bot))
        return out
