"""Slack through slack-bolt: posts digests, answers ``/papers``, turns reactions into votes.

``SlackAdapter`` checks its configuration and puts the parts together:

* ``connection``: the Web API client, the bolt app, Socket Mode or HTTP, start and stop;
* ``posting``: ``post`` and ``find_posted`` (the delivery engine's side);
* ``listeners``: slash commands, buttons and reactions, acked at once and worked on in the
  background (at most ``work_concurrency`` at a time);
* ``users``: who is an admin or a bot, cached.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from aiohttp import web

from bot.core.errors import ConfigError
from bot.core.messages import ChannelRef, Message
from bot.platforms import shared
from bot.platforms.base import CommandHandler, ReactionHandler
from bot.platforms.slack.connection import SlackConnection, bolt_app
from bot.platforms.slack.listeners import CommandListeners, ReactionListener
from bot.platforms.slack.posting import SlackPosting
from bot.platforms.slack.users import UserDirectory

log = logging.getLogger(__name__)

STOP_GRACE = 5.0  # seconds in-flight answers get to finish on stop


def _check(bot_token: str, app_token: str | None, signing_secret: str | None, mode: str) -> None:
    if not bot_token:
        raise ConfigError("slack.bot_token", "a bot token (xoxb-...) is required")
    if mode == "socket" and not app_token:
        raise ConfigError("slack.app_token", "Socket Mode needs an app token (xapp-...)")
    if mode == "http" and not signing_secret:
        raise ConfigError("slack.signing_secret", "HTTP mode needs the app's signing secret")
    if mode not in ("socket", "http"):
        raise ConfigError("slack.mode", f"expected 'socket' or 'http', got {mode!r}")


class SlackAdapter:
    """A Slack workspace connection implementing ``bot.platforms.base.Adapter``."""

    platform = "slack"

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str | None,
        signing_secret: str | None,
        mode: Literal["socket", "http"],
        api_base_url: str,
        commands: CommandHandler,
        reactions: ReactionHandler,
        admin_user_group: str | None = None,
        seed_reactions: bool = True,
        workspace_fallback: str = "",
        render_options: dict[str, Any] | None = None,
        socket_mode_url: str | None = None,
        http_app: web.Application | None = None,
        connect_timeout: float = 15.0,
        request_timeout: float = 30.0,
        work_concurrency: int = 8,
    ) -> None:
        _check(bot_token, app_token, signing_secret, mode)
        options = shared.check_render_options("slack", render_options)
        app = bolt_app(
            bot_token=bot_token, signing_secret=signing_secret, api_base_url=api_base_url
        )
        self.web_app = http_app if http_app is not None else web.Application()
        self._conn = SlackConnection(
            app,
            self.web_app,
            mode,
            app_token,
            socket_mode_url=socket_mode_url,
            timeouts=(connect_timeout, request_timeout),
        )
        self._users = UserDirectory(self._conn.client, admin_user_group=admin_user_group)
        self._posting = SlackPosting(
            self._conn, render_options=options, seed_reactions=seed_reactions
        )
        # Work after an ack (commands, shares, votes) runs at most this many at a time, so a
        # burst of commands cannot starve the acks of the next ones.
        self._work = shared.Background(limit=work_concurrency)
        users = self._users
        CommandListeners(
            self._conn,
            self._work,
            workspace_fallback,
            commands=commands,
            users=users,
            posting=self._posting,
            render_options=options,
        ).register(app)
        ReactionListener(
            self._conn, self._work, workspace_fallback, reactions=reactions, users=users
        ).register(app)
        app.error(self._on_error)

    @property
    def bot_user_id(self) -> str | None:
        return self._users.bot_user_id

    @property
    def team_id(self) -> str:
        """The workspace (team) id from ``auth.test``; empty before ``start``."""
        return self._conn.team_id

    async def start(self) -> None:
        """Check the token (``auth.test``) and connect; returns once Slack said hello."""
        if self._conn.started:
            return
        await self._conn.open()
        self._users.bot_user_id = self._conn.bot_user_id
        log.info("slack adapter started (%s mode, team %s)", self._conn.mode, self.team_id)

    async def stop(self) -> None:
        """Disconnect, let in-flight replies finish briefly, close every resource (idempotent)."""
        await self._conn.disconnect()
        await self._work.close(grace=STOP_GRACE)
        await self._conn.close()

    def healthy(self) -> bool:
        return self._conn.healthy()

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        """``chat.postMessage`` with blocks, text fallback and the key in message metadata."""
        return await self._posting.post(channel, message, idempotency_key)

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        """The ts of a bot message after the message ``after`` whose metadata carries
        ``idempotency_key`` (joining a public channel first if need be)."""
        return await self._posting.find_posted(channel, idempotency_key, after)

    async def prepare(self, channel: ChannelRef) -> None:
        """Join a public channel, so the bot can verify its posts there; a private channel
        the bot was invited to needs nothing (and cannot be joined)."""
        try:
            await self._posting.join(channel)
        except Exception as exc:
            log.info("did not join %s: %s", channel, exc)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("slack listener failed: %r", error, exc_info=error)
