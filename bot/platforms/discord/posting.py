"""Posting to Discord: digests and direct messages, and finding a post again.

* ``post`` returns as soon as the message exists; the seeder (``bot.delivery.seeding``) adds
  1️⃣..🔟 later (``bot.platforms.discord.reactions``).
* ``post`` sends one embed with ``nonce=<idempotency key>``; discord.py then sets
  ``enforce_nonce``, so a retried send within Discord's window returns the message already
  stored instead of posting twice. Discord does not return the nonce when reading history, so
  the key is also written at the end of the embed footer (``… · ref <key>``) and
  ``find_posted`` matches on that, among the bot's own messages, newest first, back to the
  message the ledger says was posted before the send (Discord's ids, never the local clock).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import discord
from discord.utils import MISSING

from bot.core.errors import PermanentError
from bot.core.messages import ChannelRef, Message
from bot.delivery.follows import DirectMessagesClosed
from bot.platforms import shared
from bot.platforms.discord import interactions
from bot.platforms.discord.errors import to_delivery_error
from bot.platforms.discord.gateway import DiscordGateway
from bot.platforms.discord.render import ref_of, render_message

log = logging.getLogger("paperboy.discord")

NONCE_MAX = 25
HISTORY_PAGE = 100
HISTORY_PAGES_MAX = 10
CANNOT_DM = 50007  # Discord: "Cannot send messages to this user"


def nonce_for(key: str) -> str:
    """``key`` if it fits Discord's 25-character nonce, else a stable 25-character digest."""
    if 0 < len(key) <= NONCE_MAX:
        return key
    return "pb" + hashlib.sha1(key.encode("utf-8")).hexdigest()[: NONCE_MAX - 2]


def snowflake(value: str, what: str) -> int:
    """A Discord id from its text; ``PermanentError`` (``unknown_<what>``) when it is not one."""
    if not value.isdigit():
        raise PermanentError(f"unknown_{what}", f"not a Discord {what} id: {value!r}")
    return int(value)


class DiscordPosting:
    """Embeds to channels (with the digest's buttons) and to direct messages; history lookups."""

    def __init__(
        self,
        gateway: DiscordGateway,
        runner: interactions.Runner,
        *,
        render_options: dict[str, Any],
    ) -> None:
        self._gateway = gateway
        self._runner = runner
        self._render_options = render_options

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        """Send ``message`` as an embed with ``nonce=idempotency_key``; returns the message id."""
        client = self._gateway.require()
        channel_id = snowflake(channel.channel, "channel")
        guild_id = int(channel.workspace) if channel.workspace.isdigit() else None
        nonce = nonce_for(idempotency_key)
        rendered = render_message(message, **self._render_options, ref=nonce)
        target = client.get_partial_messageable(channel_id, guild_id=guild_id)
        view = self._runner.view(shared.public_version(message))
        try:
            sent = await target.send(
                embeds=rendered.embeds,
                nonce=nonce,
                allowed_mentions=discord.AllowedMentions.none(),
                view=view if view is not None else MISSING,
            )
        except Exception as exc:
            raise to_delivery_error(exc, may_have_sent=True) from exc
        return str(sent.id)

    async def send_direct(self, user_id: str, message: Message) -> str:
        """A direct message (follow alerts): the DM channel (``POST /users/@me/channels``),
        then the embed there. ``DirectMessagesClosed`` for Discord's 50007 (the user does not
        accept direct messages from the bot, or shares no server with it)."""
        client = self._gateway.require()
        rendered = render_message(message, **self._render_options)
        try:
            dm = await client.http.start_private_message(snowflake(user_id, "user"))
            target = client.get_partial_messageable(int(dm["id"]))
            sent = await target.send(
                embeds=rendered.embeds, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.Forbidden as exc:
            if exc.code == CANNOT_DM:
                raise DirectMessagesClosed(f"discord {exc.code}") from exc
            raise to_delivery_error(exc, may_have_sent=False) from exc
        except Exception as exc:
            raise to_delivery_error(exc, may_have_sent=True) from exc
        return str(sent.id)

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        """The id of the bot's message whose footer carries the key, among the messages newer
        than the message ``after`` (newest first; ``HISTORY_PAGES_MAX`` pages when None)."""
        client = self._gateway.require()
        channel_id = snowflake(channel.channel, "channel")
        bound = int(after) if after and after.isdigit() else 0
        key = nonce_for(idempotency_key)
        me = self._gateway.bot_user_id
        before: int | None = None
        for _ in range(HISTORY_PAGES_MAX):
            try:
                page = await client.http.logs_from(channel_id, HISTORY_PAGE, before=before)
            except Exception as exc:
                raise to_delivery_error(exc, may_have_sent=False) from exc
            for msg in page:
                if int(msg["id"]) <= bound:
                    return None  # back at what was posted before the send
                if _is_ours(msg, key, me):
                    return str(msg["id"])
            if len(page) < HISTORY_PAGE:
                return None
            before = min(int(m["id"]) for m in page)
        log.warning("find_posted gave up after %d pages of %s", HISTORY_PAGES_MAX, channel)
        return None


def _is_ours(msg: Any, key: str, me: int | None) -> bool:
    author = msg.get("author") or {}
    if me is not None and str(author.get("id")) != str(me):
        return False
    return any(ref_of((e.get("footer") or {}).get("text")) == key for e in msg.get("embeds") or [])
