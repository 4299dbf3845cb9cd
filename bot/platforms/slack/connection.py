"""The connection to one Slack workspace: the Web API client, the bolt app and its transport.

Two transports share one ``AsyncApp``: Socket Mode (a websocket opened with the ``xapp-``
token) and HTTP (Events API, slash commands and interactivity at ``/slack/events`` on an aiohttp
application, signatures verified by bolt). Listeners are registered on ``app`` by their owners
(``bot.platforms.slack.listeners``); this module only gets events to them.

Web API calls never retry by themselves (no slack_sdk retry handlers): a retried post whose
reply was lost would post twice.

Socket Mode reconnects by itself (slack_sdk); every new connection starts with a ``hello``, and
each one after the first calls ``on_reconnect`` (events sent while it was down never arrive).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.errors import TransientError
from bot.platforms.slack.errors import to_delivery_error
from bot.platforms.slack.manifest import EVENTS_PATH
from bot.platforms.slack.oauth import TeamClients

log = logging.getLogger(__name__)

# What a failed Web API call raises (beyond bugs).
CALL_ERRORS = (SlackApiError, aiohttp.ClientError, TimeoutError, OSError)


class _Without(logging.Filter):
    """Drops one exact message."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.text


def _bolt_logger() -> logging.Logger:
    """bolt's logger for our app. bolt warns that a ``token`` is unused whenever a ``client`` is
    given and SLACK_BOT_TOKEN is set (it reads the variable itself): both carry the same token
    here, so that warning, at every start, says nothing."""
    logger = logging.getLogger("bot.platforms.slack.bolt")
    if not any(isinstance(f, _Without) for f in logger.filters):
        logger.addFilter(_Without(warning_client_prioritized_and_token_skipped()))
    return logger


def bolt_app(
    *,
    bot_token: str | None,
    signing_secret: str | None,
    api_base_url: str,
    oauth: AsyncOAuthSettings | None = None,
) -> AsyncApp:
    """The bolt app, with a Web API client that never retries by itself. With ``oauth`` (the
    distribution mode) the client has no token of its own: bolt authorizes each request from
    the installation store, and the install flow runs on this client."""
    client = AsyncWebClient(
        token=None if oauth is not None else bot_token,
        base_url=api_base_url,
        retry_handlers=[],
        logger=log,
    )
    return AsyncApp(
        client=client,
        oauth_settings=oauth,
        signing_secret=signing_secret or "",
        name="paperboy",
        logger=_bolt_logger(),
        # Listeners ack and hand their work to a task: the ack goes out without waiting.
        process_before_response=True,
        # The bot's own reactions still reach the vote handler, marked user_is_bot.
        ignoring_self_events_enabled=False,
    )


class SlackConnection:
    """``app`` (bolt) and its ``client`` (Web API) over a transport; who the bot is once open.

    ``mode`` "socket" connects with ``app_token`` (to ``socket_mode_url`` if given, else where
    ``apps.connections.open`` says); "http" serves ``EVENTS_PATH`` on ``web_app``. With an
    OAuth flow on ``app`` (distribution), ``web_app`` also serves its install and redirect paths,
    and ``teams`` gives the client for each workspace."""

    def __init__(
        self,
        app: AsyncApp,
        web_app: web.Application,
        mode: Literal["socket", "http"],
        app_token: str | None,
        *,
        socket_mode_url: str | None,
        timeouts: tuple[float, float],
        teams: TeamClients | None = None,
    ) -> None:
        self.app = app
        self.client = app.client
        self.teams = teams if teams is not None else TeamClients(app.client, None)
        self.web_app = web_app
        self.mode = mode
        self._app_token = app_token
        self._socket_mode_url = socket_mode_url
        self._connect_timeout, self._request_timeout = timeouts
        if mode == "http":
            web_app.router.add_post(EVENTS_PATH, self._handle_http)
        flow = app.oauth_flow
        if flow is not None:
            web_app.router.add_get(flow.install_path, self._handle_install)
            web_app.router.add_get(flow.redirect_uri_path, self._handle_oauth_redirect)
        self._handler: AsyncSocketModeHandler | None = None
        self._hello = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self.started = False
        self.on_reconnect: Callable[[], None] | None = None
        self._hellos = 0
        self.bot_id: str | None = None
        self.bot_user_id: str | None = None
        self.team_id = ""  # the workspace from ``auth.test``; empty before ``open``

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Check the token (``auth.test``) and connect; returns once Slack said hello."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._request_timeout)
        )
        self.client.session = self._session
        if self.teams.per_team:
            # Many workspaces, no token of our own: who the bot is depends on the workspace.
            if self.mode == "socket":
                await self._connect_socket()
            self.started = True
            return
        try:
            auth = await self.client.auth_test()
        except CALL_ERRORS as exc:
            await self.close()
            raise to_delivery_error(exc, may_have_sent=False) from exc
        self.bot_user_id = auth.get("user_id")
        self.bot_id = auth.get("bot_id")
        self.team_id = str(auth.get("team_id") or "")
        if self.mode == "socket":
            await self._connect_socket()
        self.started = True

    async def _connect_socket(self) -> None:
        self._hello.clear()
        self._hellos = 0
        handler = AsyncSocketModeHandler(self.app, self._app_token, web_client=self.client)
        handler.client.message_listeners.append(self._on_socket_message)
        if self._socket_mode_url:
            handler.client.wss_uri = self._socket_mode_url
        self._handler = handler
        try:
            await asyncio.wait_for(
                handler.connect_async(),  # type: ignore[no-untyped-call]
                self._connect_timeout,
            )
            await asyncio.wait_for(self._hello.wait(), self._connect_timeout)
        except (TimeoutError, *CALL_ERRORS) as exc:
            await self.disconnect()
            await self.close()
            raise TransientError(f"slack socket mode did not connect: {exc!r}") from exc

    async def _on_socket_message(self, client: Any, message: dict[str, Any], raw: Any) -> None:
        if message.get("type") == "hello":
            self._hellos += 1
            self._hello.set()
            if self._hellos > 1 and self.on_reconnect is not None:
                log.info("slack socket mode reconnected")
                self.on_reconnect()

    async def disconnect(self) -> None:
        """Stop receiving: close the Socket Mode connection and its tasks (idempotent)."""
        self.started = False
        handler, self._handler = self._handler, None
        if handler is None:
            return
        client = handler.client
        await handler.close_async()  # type: ignore[no-untyped-call]
        futures = [
            client.message_processor,
            client.current_session_monitor,
            client.message_receiver,
        ]
        for fut in futures:
            if fut is not None:
                fut.cancel()
        await asyncio.gather(*(f for f in futures if f is not None), return_exceptions=True)

    async def close(self) -> None:
        """Close the HTTP session (after ``disconnect``; idempotent)."""
        session, self._session = self._session, None
        self.client.session = None
        if session is not None:
            await session.close()

    def healthy(self) -> bool:
        if not self.started:
            return False
        if self.mode == "http":
            return True
        handler = self._handler
        if handler is None:
            return False
        client = handler.client
        ws = client.current_session
        return not client.closed and not client.stale and ws is not None and not ws.closed

    # --- HTTP ---------------------------------------------------------------------------------

    async def _handle_http(self, request: web.Request) -> web.Response:
        if not self.started:
            return web.Response(status=503, text="starting")
        retry = request.headers.get("X-Slack-Retry-Num")
        if retry:
            log.info("slack retry %s (%s)", retry, request.headers.get("X-Slack-Retry-Reason", ""))
        bolt_resp = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_resp)

    async def _handle_install(self, request: web.Request) -> web.Response:
        flow = self.app.oauth_flow
        if not self.started or flow is None:
            return web.Response(status=503, text="starting")
        bolt_resp = await flow.handle_installation(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_resp)

    async def _handle_oauth_redirect(self, request: web.Request) -> web.Response:
        flow = self.app.oauth_flow
        if not self.started or flow is None:
            return web.Response(status=503, text="starting")
        bolt_resp = await flow.handle_callback(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_resp)

    async def client_for(self, team: str) -> AsyncWebClient:
        """The Web API client to call Slack with in workspace ``team`` (see ``TeamClients``)."""
        return await self.teams.client(team)

    async def respond(self, url: str, payload: dict[str, Any]) -> None:
        """POST to a ``response_url`` over the connection's pooled session (no retries)."""
        if not url:
            log.warning("no response_url to answer on")
            return
        session = self._session
        if session is None:
            raise TransientError("slack adapter is not started")
        async with session.post(url, json=payload) as resp:
            if resp.status != 200:
                text = await resp.text()
                log.warning("response_url refused the answer: %s %s", resp.status, text[:200])
