"""Slack distribution: the OAuth install flow of slack-bolt, with installations and OAuth states
kept in Paperboy's own store (SQLite or PostgreSQL), and a Web API client per workspace.

* ``StoreInstallationStore`` and ``StoreStateStore`` implement slack_sdk's async stores on
  ``bot.storage.Store`` (migration 7), so every replica sees the same installs and a state
  issued by one replica is consumed once, on any of them.
* ``oauth_settings`` builds bolt's ``AsyncOAuthSettings``: ``/slack/install`` redirects to
  Slack's consent page with a fresh ``state`` (also set as a cookie), and
  ``/slack/oauth_redirect`` checks the cookie against the state, consumes the state, exchanges
  the code (``oauth.v2.access``) and saves the installation.
* ``TeamClients`` gives the client for a workspace: the installation's bot token, looked up
  and kept for ``CLIENT_TTL`` (so a reinstall or uninstall handled by another replica is seen
  within that time; the replica that handled it forgets at once). A workspace without an
  installation is a ``PermanentError("not_installed")`` for whatever wanted to call Slack
  there.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.errors import PermanentError
from bot.storage.base import Store

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_TTL = timedelta(minutes=10)
CLIENT_TTL = 60.0  # seconds a workspace's token is used before it is read from the store again
NOT_INSTALLED = "not_installed"

Now = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class OAuthOptions:
    """What the install flow needs: the app's credentials, the bot scopes to ask for, the
    redirect URL registered with Slack (None: the one registered), and where Slack's consent
    page is (None: Slack's own)."""

    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    redirect_uri: str | None = None
    authorization_url: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _to_json(installation: Installation) -> str:
    def encode(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.timestamp()
        raise TypeError(f"cannot store {type(value).__name__}")

    return json.dumps(installation.to_dict_for_copying(), default=encode)


def _from_json(data: str) -> Installation:
    return Installation(**json.loads(data))


class StoreInstallationStore(AsyncInstallationStore):
    """The latest installation per workspace (or org) in Paperboy's store. Bot-only: the
    bot token is what Paperboy uses, so one installation per (enterprise, team) is kept."""

    def __init__(
        self,
        store: Store,
        *,
        now: Now = _utc_now,
        on_saved: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._now = now
        self.on_saved = on_saved  # called with the team id after each save

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        team = installation.team_id or ""
        await self._store.save_slack_installation(
            installation.enterprise_id or "", team, _to_json(installation), self._now()
        )
        log.info("slack app installed", extra={"team": team})
        if self.on_saved is not None:
            await self.on_saved(team)

    async def async_save_bot(self, bot: Bot) -> None:
        # Reached only through async_save in bolt's flow, which keeps the bot already.
        return None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        if is_enterprise_install:
            team_id = None
        data = await self._store.slack_installation(enterprise_id or "", team_id or "")
        return None if data is None else _from_json(data)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await self.async_find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return None if found is None or found.bot_token is None else found.to_bot()

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._store.delete_slack_installation(enterprise_id or "", team_id or "")

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        await self._store.delete_slack_installation(enterprise_id or "", team_id or "")

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._store.delete_slack_installation(enterprise_id or "", team_id or "")


class StoreStateStore(AsyncOAuthStateStore):
    """OAuth ``state`` values in Paperboy's store: issued at ``/slack/install``, valid once,
    for ``ttl``."""

    def __init__(self, store: Store, *, ttl: timedelta = STATE_TTL, now: Now = _utc_now) -> None:
        self._store = store
        self._ttl = ttl
        self._now = now

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        now = self._now()
        await self._store.issue_slack_oauth_state(state, now + self._ttl, now)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state:
            return False
        ok = await self._store.consume_slack_oauth_state(state, self._now())
        if not ok:
            log.warning("slack oauth state refused (unknown, used or expired)")
        return ok


def oauth_settings(
    options: OAuthOptions, installations: StoreInstallationStore, states: StoreStateStore
) -> AsyncOAuthSettings:
    """bolt's settings for the install flow on ``INSTALL_PATH`` and ``REDIRECT_PATH``."""
    return AsyncOAuthSettings(
        client_id=options.client_id,
        client_secret=options.client_secret,
        scopes=list(options.scopes),
        redirect_uri=options.redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        # /slack/install sends the browser straight on to Slack's consent page.
        install_page_rendering_enabled=False,
        installation_store=installations,
        installation_store_bot_only=True,
        state_store=states,
        state_expiration_seconds=int(STATE_TTL.total_seconds()),
        authorization_url=options.authorization_url,
        logger=log,
    )


class TeamClients:
    """A Web API client per workspace, with that workspace's bot token; or, in single-token
    mode, the one client for every workspace."""

    def __init__(
        self,
        base: AsyncWebClient,
        installations: StoreInstallationStore | None,
        *,
        ttl: float = CLIENT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base
        self._installations = installations
        self._ttl = ttl
        self._clock = clock
        self._clients: dict[str, tuple[float, AsyncWebClient]] = {}

    @property
    def per_team(self) -> bool:
        return self._installations is not None

    async def client(self, team: str) -> AsyncWebClient:
        """The client for ``team``; ``PermanentError(not_installed)`` if the app is not
        installed there (OAuth mode)."""
        if self._installations is None:
            return self._base
        hit = self._clients.get(team)
        if hit is not None and hit[0] > self._clock():
            hit[1].session = self._base.session
            return hit[1]
        self._clients.pop(team, None)
        bot = await self._installations.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None:
            raise PermanentError(NOT_INSTALLED, f"the Slack app is not installed in {team}")
        client = AsyncWebClient(
            token=bot.bot_token,
            base_url=self._base.base_url,
            session=self._base.session,
            retry_handlers=[],
            logger=self._base.logger,
        )
        self._clients[team] = (self._clock() + self._ttl, client)
        return client

    def forget(self, team: str) -> None:
        """Drop the cached client (uninstalled, tokens revoked, or installed again)."""
        self._clients.pop(team, None)


__all__ = [
    "INSTALL_PATH",
    "NOT_INSTALLED",
    "REDIRECT_PATH",
    "OAuthOptions",
    "StoreInstallationStore",
    "StoreStateStore",
    "TeamClients",
    "oauth_settings",
]
