"""Slack through slack-bolt: posts digests, answers ``/papers``, turns reactions into votes.

``SlackAdapter`` checks its configuration and puts the parts together:

* ``connection``: the Web API client, the bolt app, Socket Mode or HTTP, start and stop;
* ``posting``: ``post`` and ``find_posted`` (the delivery engine's side);
* ``reactions``: the vote keycaps under digests (``add_reaction``, for the seeder in
  ``bot.delivery.seeding``) and reading reactions back (``reactions_on``, for the backfill in
  ``bot.chat.backfill``), both paced under Slack's Tier 3 limit per workspace;
* ``listeners``: slash commands, buttons and reactions, acked at once and worked on in the
  background (at most ``work_concurrency`` at a time; reactions in arrival order per user and
  message);
* ``users``: who is an admin or a bot, cached;
* ``oauth``: the distribution mode (``oauth`` given): the install flow at ``/slack/install``
  and ``/slack/oauth_redirect``, installations and states in the store, and a client with its
  own bot token for each workspace, used by every call above. When a workspace uninstalls the
  app (``app_uninstalled``, or ``tokens_revoked`` for the bot token), its installation is
  deleted and its subscriptions paused; installing again resumes them.

``on_reconnect`` (set by the app) is called when Socket Mode connects again after a drop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.core.errors import ConfigError
from bot.core.messages import ChannelRef, Message, ReactionEvent
from bot.delivery.ratelimit import RateLimiter
from bot.platforms import shared
from bot.platforms.base import CommandHandler, ReactionHandler
from bot.platforms.slack import translate as tr
from bot.platforms.slack.connection import SlackConnection, bolt_app
from bot.platforms.slack.listeners import CommandListeners, ReactionListener
from bot.platforms.slack.oauth import (
    NOT_INSTALLED,
    OAuthOptions,
    StoreInstallationStore,
    StoreStateStore,
    TeamClients,
    oauth_settings,
)
from bot.platforms.slack.posting import SlackPosting
from bot.platforms.slack.reactions import TIER3_CALLS, TIER3_PERIOD, SlackReactions
from bot.platforms.slack.users import UserDirectory
from bot.storage.base import Store

log = logging.getLogger(__name__)

STOP_GRACE = 5.0  # seconds in-flight answers get to finish on stop
UNINSTALLED = "the Slack app was uninstalled from this workspace"


def _check(
    bot_token: str | None,
    app_token: str | None,
    signing_secret: str | None,
    mode: str,
    oauth: OAuthOptions | None,
) -> None:
    if oauth is not None and mode != "http":
        raise ConfigError("slack.mode", "the OAuth install flow needs http mode")
    if not bot_token and oauth is None:
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
        bot_token: str | None,
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
        reaction_calls: int = TIER3_CALLS,
        reaction_period: float = TIER3_PERIOD,
        oauth: OAuthOptions | None = None,
        store: Store | None = None,
    ) -> None:
        """``reaction_calls`` per ``reaction_period`` seconds: Slack's limit on
        ``reactions.add`` (and, counted apart, ``reactions.get``) per workspace. ``oauth``
        (with ``store``, where installations are kept): the distribution mode."""
        _check(bot_token, app_token, signing_secret, mode, oauth)
        options = shared.check_render_options("slack", render_options)
        self._store = store
        self._installations: StoreInstallationStore | None = None
        app = self._bolt(bot_token, signing_secret, api_base_url, oauth, store)
        self._teams = TeamClients(app.client, self._installations)
        self.web_app = http_app if http_app is not None else web.Application()
        self._conn = SlackConnection(
            app,
            self.web_app,
            mode,
            app_token,
            socket_mode_url=socket_mode_url,
            timeouts=(connect_timeout, request_timeout),
            teams=self._teams,
        )
        self._users = UserDirectory(self._conn.client_for, admin_user_group=admin_user_group)
        self._posting = SlackPosting(self._conn, render_options=options)
        self._reactions = SlackReactions(
            self._conn,
            self._users,
            seed=seed_reactions,
            calls=reaction_calls,
            period=reaction_period,
        )
        # Work after an ack (commands, shares, votes) runs at most this many at a time, so a
        # burst of commands cannot starve the acks of the next ones.
        self._work = shared.Background(limit=work_concurrency)
        self._listen(app, commands, reactions, workspace_fallback, options)

    def _bolt(
        self,
        bot_token: str | None,
        signing_secret: str | None,
        api_base_url: str,
        oauth: OAuthOptions | None,
        store: Store | None,
    ) -> AsyncApp:
        """The bolt app; with ``oauth``, installations and install states kept in ``store``."""
        settings = None
        if oauth is not None:
            if store is None:
                raise ValueError("the OAuth install flow needs a store")
            self._installations = StoreInstallationStore(store, on_saved=self._on_installed)
            settings = oauth_settings(oauth, self._installations, StoreStateStore(store))
        return bolt_app(
            bot_token=bot_token,
            signing_secret=signing_secret,
            api_base_url=api_base_url,
            oauth=settings,
        )

    def _listen(
        self,
        app: AsyncApp,
        commands: CommandHandler,
        reactions: ReactionHandler,
        workspace_fallback: str,
        options: dict[str, Any],
    ) -> None:
        """Commands, shares and votes; uninstalls in the distribution mode; bolt's errors."""
        CommandListeners(
            self._conn,
            self._work,
            workspace_fallback,
            commands=commands,
            users=self._users,
            posting=self._posting,
            render_options=options,
        ).register(app)
        self._votes = ReactionListener(
            self._conn, self._work, workspace_fallback, reactions=reactions, users=self._users
        )
        self._votes.register(app)
        if self._installations is not None:
            app.event("app_uninstalled")(self._on_uninstalled)
            app.event("tokens_revoked")(self._on_uninstalled)
        app.error(self._on_error)

    @property
    def bot_user_id(self) -> str | None:
        return self._users.bot_user_id

    @property
    def on_reconnect(self) -> Callable[[], None] | None:
        return self._conn.on_reconnect

    @on_reconnect.setter
    def on_reconnect(self, callback: Callable[[], None] | None) -> None:
        self._conn.on_reconnect = callback

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

    async def send_direct(self, workspace: str, user_id: str, message: Message) -> str:
        """A direct message (follow alerts): ``conversations.open`` + ``chat.postMessage``."""
        return await self._posting.send_direct(workspace, user_id, message)

    async def tell_privately(self, channel: ChannelRef, user_id: str, message: Message) -> bool:
        """``chat.postEphemeral`` to the user in the channel."""
        return await self._posting.tell_privately(channel, user_id, message)

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

    # --- reactions: the seeder's and the backfill's side ----------------------------------------

    @property
    def seed_emoji(self) -> tuple[str, ...]:
        return self._reactions.seed_emoji

    @property
    def seed_limiter(self) -> RateLimiter:
        return self._reactions.seed_limiter

    def seed_bucket(self, channel: ChannelRef) -> str:
        """Slack limits ``reactions.add`` per workspace."""
        return channel.workspace

    async def add_reaction(self, channel: ChannelRef, message_id: str, emoji: str) -> None:
        """``reactions.add`` as the bot; a reaction already there is done."""
        await self._reactions.add(channel, message_id, emoji)

    async def reactions_on(self, channel: ChannelRef, message_id: str) -> list[ReactionEvent]:
        """Every reaction on a message now (``reactions.get``), users marked bot or not."""
        return await self._reactions.read(channel, message_id)

    def pending_votes(self, channel: ChannelRef, message_id: str, user_id: str) -> int:
        """Reaction events of one user on one message received and not yet applied."""
        return self._votes.ordered.pending((channel.channel, message_id, user_id))

    # --- distribution: installs and uninstalls ------------------------------------------------

    async def _on_installed(self, team: str) -> None:
        """A workspace installed the app (again): a fresh token, and its subscriptions paused
        because the app was not (or no longer) installed there run again."""
        self._teams.forget(team)
        if self._store is not None and team:
            now = datetime.now(UTC)
            resumed = 0
            # Paused by an uninstall, or by a digest due before the app was installed there.
            for reason in (UNINSTALLED, NOT_INSTALLED):
                resumed += await self._store.resume_workspace("slack", team, reason, now)
            if resumed:
                log.info("slack workspace installed again", extra={"team": team, "n": resumed})

    async def _on_uninstalled(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """``app_uninstalled``, or ``tokens_revoked`` naming bot tokens: the workspace's
        installation is deleted and its subscriptions paused (nothing else is touched)."""
        if event.get("type") == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens, which Paperboy never uses
        team = tr.team_of(body, "")
        if not team or self._installations is None or self._store is None:
            return
        enterprise = body.get("enterprise_id") or None
        await self._installations.async_delete_all(enterprise_id=enterprise, team_id=team)
        self._teams.forget(team)
        paused = await self._store.pause_workspace("slack", team, UNINSTALLED, datetime.now(UTC))
        log.warning(
            "slack app removed from a workspace; its subscriptions are paused",
            extra={"team": team, "event": event.get("type"), "paused": paused},
        )

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("slack listener failed: %r", error, exc_info=error)
