"""Posting to Slack channels: digests and shared answers, and finding a post again.

Posting never retries by itself: a 429 becomes ``RateLimited``, a lost reply
``TransientError(outcome_unknown=True)``, and ``find_posted`` looks the message up by its
metadata (the idempotency key) before anything is sent again. ``post`` returns as soon as the
message exists: the vote keycaps under a digest are added later, by the seeder
(``bot.platforms.slack.reactions``).

With ``chat:write.public`` the bot posts to public channels it never joined, but reading their
history needs membership: ``find_posted`` joins a public channel (``conversations.join``,
scope ``channels:join``) when history answers ``not_in_channel``, then reads it; ``join`` is
also what subscribing a channel does. Only a channel the bot cannot see or join (private,
archived, gone) is a permanent error.

In the distribution mode (a token per workspace) Slack allows an app distributed outside the
Marketplace one ``conversations.history`` call a minute per workspace, of at most 15
messages: ``find_posted`` then reads one such page (paced per workspace), and when the key is
not on a full page it cannot tell, so it raises ``TransientError`` rather than answer "not
posted" (the engine retries, then gives up without posting twice).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.core.errors import PermanentError, TransientError
from bot.core.messages import ChannelRef, Message
from bot.delivery.follows import DirectMessagesClosed
from bot.platforms.slack.connection import CALL_ERRORS, SlackConnection
from bot.platforms.slack.errors import BLOCK_ERRORS, error_code, to_delivery_error
from bot.platforms.slack.reactions import tier_limiter
from bot.platforms.slack.render import render_message

log = logging.getLogger(__name__)

METADATA_EVENT = "paperboy_digest"
FOLLOW_EVENT = "paperboy_follow_alert"
# The user does not take direct messages from the bot.
DM_CLOSED = frozenset({"cannot_dm_bot", "messages_tab_disabled"})
HISTORY_PAGES_MAX = 50
# conversations.history for apps distributed outside the Marketplace: 1 call a minute per
# workspace, 15 messages a call.
DISTRIBUTED_HISTORY = (1, 60.0)
DISTRIBUTED_HISTORY_LIMIT = 15


class SlackPosting:
    """``chat.postMessage`` with blocks, a text fallback and metadata; history lookups."""

    def __init__(self, conn: SlackConnection, *, render_options: dict[str, Any]) -> None:
        self._conn = conn
        self._render_options = render_options
        self._history = tier_limiter(*DISTRIBUTED_HISTORY)

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        """``chat.postMessage`` with blocks, text fallback and the key in message metadata."""
        rendered = render_message(message, **self._render_options)
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": idempotency_key}}
        return await self.post_rendered(channel.workspace, channel.channel, rendered, metadata)

    async def post_rendered(
        self, team: str, channel_id: str, rendered: dict[str, Any], metadata: dict[str, Any]
    ) -> str:
        """Post rendered blocks; if Slack refuses the blocks, the text alone. Returns the ts."""
        kwargs: dict[str, Any] = {
            "channel": channel_id,
            "text": rendered["text"],
            "metadata": metadata,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if rendered["blocks"]:
            kwargs["blocks"] = rendered["blocks"]
        client = await self._conn.client_for(team)
        try:
            resp = await client.chat_postMessage(**kwargs)
        except SlackApiError as exc:
            if error_code(exc) not in BLOCK_ERRORS or "blocks" not in kwargs:
                raise to_delivery_error(exc, may_have_sent=True) from exc
            # Refused (so not stored): say it in plain text rather than not at all.
            log.error("slack refused blocks (%s); posting text only", error_code(exc))
            kwargs.pop("blocks")
            try:
                resp = await client.chat_postMessage(**kwargs)
            except CALL_ERRORS as exc2:
                raise to_delivery_error(exc2, may_have_sent=True) from exc2
        except CALL_ERRORS as exc:
            raise to_delivery_error(exc, may_have_sent=True) from exc
        return str(resp["ts"])

    async def send_direct(self, team: str, user_id: str, message: Message) -> str:
        """``conversations.open`` with the user, then ``chat.postMessage`` there (scope
        ``im:write``). ``DirectMessagesClosed`` when the user does not take messages from the
        bot."""
        client = await self._conn.client_for(team)
        try:
            opened = await client.conversations_open(users=user_id)
        except SlackApiError as exc:
            if error_code(exc) in DM_CLOSED:
                raise DirectMessagesClosed(error_code(exc)) from exc
            raise to_delivery_error(exc, may_have_sent=False) from exc
        except CALL_ERRORS as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc
        channel_id = str(opened["channel"]["id"])
        rendered = render_message(message, **self._render_options)
        metadata = {"event_type": FOLLOW_EVENT, "event_payload": {"key": "follow"}}
        try:
            return await self.post_rendered(team, channel_id, rendered, metadata)
        except PermanentError as exc:
            if exc.reason in DM_CLOSED:
                raise DirectMessagesClosed(exc.reason) from exc
            raise

    async def tell_privately(self, channel: ChannelRef, user_id: str, message: Message) -> bool:
        """``chat.postEphemeral``: seen by the user alone, in the channel."""
        rendered = render_message(message, **self._render_options)
        kwargs: dict[str, Any] = {"channel": channel.channel, "user": user_id}
        kwargs["text"] = rendered["text"]
        if rendered["blocks"]:
            kwargs["blocks"] = rendered["blocks"]
        try:
            client = await self._conn.client_for(channel.workspace)
            await client.chat_postEphemeral(**kwargs)
        except (SlackApiError, *CALL_ERRORS) as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc
        return True

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        """The ts of a bot message whose metadata carries ``idempotency_key``, among those
        posted after the message ``after`` (newest first; all pages up to
        ``HISTORY_PAGES_MAX`` when None). Joins a public channel first if need be."""
        try:
            return await self._find(channel, idempotency_key, after)
        except SlackApiError as exc:
            if error_code(exc) != "not_in_channel":
                raise to_delivery_error(exc, may_have_sent=False) from exc
        await self.join(channel)
        try:
            return await self._find(channel, idempotency_key, after)
        except CALL_ERRORS as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc

    async def _find(self, channel: ChannelRef, key: str, after: str | None) -> str | None:
        """One search; Slack's own errors are raised as they are."""
        cursor: str | None = None
        client = await self._conn.client_for(channel.workspace)
        distributed = self._conn.teams.per_team
        for _ in range(1 if distributed else HISTORY_PAGES_MAX):
            kwargs: dict[str, Any] = {"oldest": after} if after else {}
            if distributed:
                await self._history.acquire(channel.workspace)
            try:
                resp = await client.conversations_history(
                    channel=channel.channel,
                    include_all_metadata=True,
                    limit=DISTRIBUTED_HISTORY_LIMIT if distributed else 200,
                    cursor=cursor,
                    **kwargs,
                )
            except SlackApiError:
                raise
            except CALL_ERRORS as exc:
                raise to_delivery_error(exc, may_have_sent=False) from exc
            finally:
                if distributed:
                    self._history.sent(channel.workspace)
            for msg in resp.get("messages") or []:
                if self._is_ours(msg, key):
                    return str(msg["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        if distributed:
            raise TransientError(
                f"cannot tell whether {channel} has the post: more than "
                f"{DISTRIBUTED_HISTORY_LIMIT} messages since, and one history read a minute"
            )
        log.warning("find_posted gave up after %d pages of %s", HISTORY_PAGES_MAX, channel)
        return None

    async def join(self, channel: ChannelRef) -> None:
        """``conversations.join``: a public channel's history is readable from now on.
        Raises ``PermanentError`` for a channel the bot cannot join (private, archived)."""
        try:
            client = await self._conn.client_for(channel.workspace)
            await client.conversations_join(channel=channel.channel)
        except CALL_ERRORS as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc
        log.info("joined %s to read its history", channel)

    def _is_ours(self, msg: dict[str, Any], key: str) -> bool:
        meta = msg.get("metadata") or {}
        if meta.get("event_type") != METADATA_EVENT:
            return False
        if (meta.get("event_payload") or {}).get("key") != key:
            return False
        bot_id, bot_user = self._conn.bot_id, self._conn.bot_user_id
        if bot_id is None and bot_user is None:
            return True
        return msg.get("bot_id") == bot_id or (bot_user is not None and msg.get("user") == bot_user)
