"""Reactions on Discord messages: the bot's vote keycaps, reading reactions back, and votes.

* ``add`` puts one of the bot's keycaps under a digest, for the seeder
  (``bot.delivery.seeding``), which paces it per channel (``REACTION_SPACING``) and honours
  every 429, however long: discord.py's own ``RateLimited`` included.
* ``read`` returns every reaction on a message now, for the backfill (``bot.chat.backfill``).
* ``Votes`` takes the raw reaction events, which fire for messages not in the cache (digests
  posted before a restart); one user's events on one message are applied in arrival order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord

from bot.core.messages import ChannelRef, ReactionEvent
from bot.platforms import shared
from bot.platforms.base import ReactionHandler
from bot.platforms.discord import translate as tr
from bot.platforms.discord.errors import to_delivery_error
from bot.platforms.discord.gateway import DiscordGateway
from bot.platforms.discord.posting import snowflake

log = logging.getLogger("paperboy.discord")

REACTION_PAGE = 100
REACTION_SPACING = 0.25  # Discord: about one reaction added per 0.25 s per channel


class DiscordReactions:
    """The bot's reactions (``PUT``) and everyone's, read back page by page."""

    def __init__(self, gateway: DiscordGateway) -> None:
        self._gateway = gateway

    async def add(self, channel: ChannelRef, message_id: str, emoji: str) -> None:
        """The bot's ``emoji`` under the message (PUT is idempotent: already there is done)."""
        client = self._gateway.require()
        channel_id = snowflake(channel.channel, "channel")
        try:
            await client.http.add_reaction(channel_id, snowflake(message_id, "message"), emoji)
        except Exception as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc

    async def read(self, channel: ChannelRef, message_id: str) -> list[ReactionEvent]:
        """Every reaction on the message now, one per (user, emoji): the message's reaction
        counts first, then the users of each emoji someone besides the bot chose."""
        client = self._gateway.require()
        channel_id = snowflake(channel.channel, "channel")
        mid = snowflake(message_id, "message")
        me = self._gateway.bot_user_id
        out: list[ReactionEvent] = []
        try:
            msg: dict[str, Any] = dict(await client.http.get_message(channel_id, mid))
            for r in msg.get("reactions") or []:
                emoji = r.get("emoji") or {}
                others = int(r.get("count") or 0) - (1 if r.get("me") else 0)
                if emoji.get("id") is not None or not emoji.get("name") or others <= 0:
                    continue  # custom emoji are never votes; nobody but the bot chose it
                name = str(emoji["name"])
                after: int | None = None
                while True:
                    users = await client.http.get_reaction_users(
                        channel_id, mid, name, REACTION_PAGE, after=after
                    )
                    page: list[dict[str, Any]] = [dict(u) for u in users]
                    for u in page:
                        bot = bool(u.get("bot")) or (me is not None and int(u["id"]) == me)
                        out.append(
                            ReactionEvent(
                                channel, message_id, str(u["id"]), name, True, user_is_bot=bot
                            )
                        )
                    if len(page) < REACTION_PAGE:
                        break
                    after = max(int(u["id"]) for u in page)
        except Exception as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc
        return out


class Votes:
    """Raw reaction events to the reaction handler, queued at once per (channel, message,
    user) and applied in arrival order."""

    def __init__(
        self,
        handler: ReactionHandler,
        work: shared.Background,
        bot_user_id: Callable[[], int | None],
    ) -> None:
        self._handler = handler
        self._ordered = shared.KeyedSerial(work)
        self._bot_user_id = bot_user_id

    async def on_raw(self, payload: discord.RawReactionActionEvent, added: bool) -> None:
        """Queued at once, per (channel, message, user): applied in arrival order."""
        key = (payload.channel_id, payload.message_id, payload.user_id)
        self._ordered.submit(key, self._vote(payload, added))

    async def _vote(self, payload: discord.RawReactionActionEvent, added: bool) -> None:
        try:
            ev = tr.reaction_event(payload, added=added, bot_user_id=self._bot_user_id())
            await self._handler.on_reaction(ev)
        except Exception:
            log.exception("discord reaction on %s failed", payload.message_id)
