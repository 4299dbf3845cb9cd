"""Slack through slack-bolt: posts digests, answers ``/papers``, turns reactions into votes.

Two transports share one ``AsyncApp``: Socket Mode (a websocket opened with the ``xapp-``
token) and HTTP (Events API, slash commands and interactivity at ``/slack/events`` on an aiohttp
application, signatures verified by bolt). Every listener acks at once and does its work in a
tracked background task, so Slack always gets its ack well inside 3 seconds.

Posting never retries by itself (no slack_sdk retry handlers): a 429 becomes ``RateLimited``, a
lost reply ``TransientError(outcome_unknown=True)``, and ``find_posted`` looks the message up by
its metadata before anything is sent again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.errors import CommandError, ConfigError, PermanentError, TransientError
from bot.core.messages import ChannelRef, Invocation, Message, Reply
from bot.platforms import shared
from bot.platforms.base import CommandHandler, ReactionHandler
from bot.platforms.slack import translate as tr
from bot.platforms.slack.errors import BLOCK_ERRORS, error_code, to_delivery_error
from bot.platforms.slack.render import render_message
from bot.platforms.slack.users import UserDirectory

log = logging.getLogger(__name__)

METADATA_EVENT = "paperboy_digest"
SHARE_EVENT = "paperboy_share"
EVENTS_PATH = "/slack/events"
KEYCAP_REACTIONS = (
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "keycap_ten",
)  # fmt: skip
HISTORY_PAGES_MAX = 50
RENDER_OPTIONS = frozenset({"summary_length", "show_links"})
_CALL_ERRORS = (SlackApiError, aiohttp.ClientError, TimeoutError, OSError)

Ack = Callable[..., Awaitable[Any]]


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
        if not bot_token:
            raise ConfigError("slack.bot_token", "a bot token (xoxb-...) is required")
        if mode == "socket" and not app_token:
            raise ConfigError("slack.app_token", "Socket Mode needs an app token (xapp-...)")
        if mode == "http" and not signing_secret:
            raise ConfigError("slack.signing_secret", "HTTP mode needs the app's signing secret")
        if mode not in ("socket", "http"):
            raise ConfigError("slack.mode", f"expected 'socket' or 'http', got {mode!r}")
        self._mode = mode
        self._app_token = app_token
        self._commands = commands
        self._reactions = reactions
        self._seed = seed_reactions
        self._workspace = workspace_fallback
        self._render_options = dict(render_options or {})
        unknown = set(self._render_options) - RENDER_OPTIONS
        if unknown:
            raise ConfigError("slack.render", f"unknown option(s): {', '.join(sorted(unknown))}")
        self._socket_mode_url = socket_mode_url
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        # No retry handlers: a retried post whose reply was lost would post twice.
        self._client = AsyncWebClient(
            token=bot_token, base_url=api_base_url, retry_handlers=[], logger=log
        )
        self._users = UserDirectory(self._client, admin_user_group=admin_user_group)
        self._app = AsyncApp(
            client=self._client,
            signing_secret=signing_secret or "",
            name="paperboy",
            logger=logging.getLogger("bot.platforms.slack.bolt"),
            # Listeners ack and hand their work to a task: the ack goes out without waiting.
            process_before_response=True,
            # The bot's own reactions still reach the vote handler, marked user_is_bot.
            ignoring_self_events_enabled=False,
        )
        self._app.command(re.compile(r"^/papers[\w-]*$"))(self._on_command)
        self._app.action(re.compile(r"^papers_"))(self._on_action)
        self._app.event("reaction_added")(self._on_reaction)
        self._app.event("reaction_removed")(self._on_reaction)
        self._app.error(self._on_error)
        self.web_app = http_app if http_app is not None else web.Application()
        if mode == "http":
            self.web_app.router.add_post(EVENTS_PATH, self._handle_http)
        self._handler: AsyncSocketModeHandler | None = None
        self._hello = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Work after an ack (commands, shares, votes) runs at most this many at a time, so a
        # burst of commands cannot starve the acks of the next ones.
        self._work = asyncio.Semaphore(max(1, work_concurrency))
        self._started = False
        self._bot_id: str | None = None
        self._team_id = ""

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def bot_user_id(self) -> str | None:
        return self._users.bot_user_id

    async def start(self) -> None:
        """Check the token (``auth.test``) and connect; returns once Slack said hello."""
        if self._started:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._request_timeout)
        )
        self._client.session = self._session
        try:
            auth = await self._client.auth_test()
        except _CALL_ERRORS as exc:
            await self._close_session()
            raise to_delivery_error(exc, may_have_sent=False) from exc
        self._users.bot_user_id = auth.get("user_id")
        self._bot_id = auth.get("bot_id")
        self._team_id = str(auth.get("team_id") or "")
        if self._mode == "socket":
            await self._connect_socket()
        self._started = True
        log.info("slack adapter started (%s mode, team %s)", self._mode, self._team_id)

    async def _connect_socket(self) -> None:
        self._hello.clear()
        handler = AsyncSocketModeHandler(self._app, self._app_token, web_client=self._client)
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
        except (TimeoutError, *_CALL_ERRORS) as exc:
            await self._close_socket()
            await self._close_session()
            raise TransientError(f"slack socket mode did not connect: {exc!r}") from exc

    async def _on_socket_message(self, client: Any, message: dict[str, Any], raw: Any) -> None:
        if message.get("type") == "hello":
            self._hello.set()

    async def stop(self) -> None:
        """Disconnect, let in-flight replies finish briefly, close every resource (idempotent)."""
        self._started = False
        await self._close_socket()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=5.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await self._close_session()

    async def _close_socket(self) -> None:
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

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        self._client.session = None
        if session is not None:
            await session.close()

    @property
    def team_id(self) -> str:
        """The workspace (team) id from ``auth.test``; empty before ``start``."""
        return self._team_id

    def healthy(self) -> bool:
        if not self._started:
            return False
        if self._mode == "http":
            return True
        handler = self._handler
        if handler is None:
            return False
        client = handler.client
        ws = client.current_session
        return not client.closed and not client.stale and ws is not None and not ws.closed

    # --- HTTP mode ----------------------------------------------------------------------------

    async def _handle_http(self, request: web.Request) -> web.Response:
        if not self._started:
            return web.Response(status=503, text="starting")
        retry = request.headers.get("X-Slack-Retry-Num")
        if retry:
            log.info("slack retry %s (%s)", retry, request.headers.get("X-Slack-Retry-Reason", ""))
        bolt_resp = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_resp)

    # --- Poster -------------------------------------------------------------------------------

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        """``chat.postMessage`` with blocks, text fallback and the key in message metadata."""
        rendered = render_message(message, **self._render_options)
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": idempotency_key}}
        ts = await self._post(channel.channel, rendered, metadata)
        if message.kind == "digest" and self._seed:
            await self._seed_reactions(channel.channel, ts)
        return ts

    async def _post(
        self, channel_id: str, rendered: dict[str, Any], metadata: dict[str, Any]
    ) -> str:
        kwargs: dict[str, Any] = {
            "channel": channel_id,
            "text": rendered["text"],
            "metadata": metadata,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if rendered["blocks"]:
            kwargs["blocks"] = rendered["blocks"]
        try:
            resp = await self._client.chat_postMessage(**kwargs)
        except SlackApiError as exc:
            if error_code(exc) not in BLOCK_ERRORS or "blocks" not in kwargs:
                raise to_delivery_error(exc, may_have_sent=True) from exc
            # Refused (so not stored): say it in plain text rather than not at all.
            log.error("slack refused blocks (%s); posting text only", error_code(exc))
            kwargs.pop("blocks")
            try:
                resp = await self._client.chat_postMessage(**kwargs)
            except _CALL_ERRORS as exc2:
                raise to_delivery_error(exc2, may_have_sent=True) from exc2
        except _CALL_ERRORS as exc:
            raise to_delivery_error(exc, may_have_sent=True) from exc
        return str(resp["ts"])

    async def _seed_reactions(self, channel_id: str, ts: str) -> None:
        """Add 1️⃣..🔟 under a digest so voting is one click; failures are only logged."""
        for name in KEYCAP_REACTIONS:
            try:
                await self._client.reactions_add(channel=channel_id, timestamp=ts, name=name)
            except SlackApiError as exc:
                if error_code(exc) == "already_reacted":
                    continue
                log.warning("could not seed :%s: on %s/%s: %s", name, channel_id, ts, exc)
                if exc.response.status_code == 429 or error_code(exc) in ("ratelimited",):
                    return
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("could not seed reactions on %s/%s: %s", channel_id, ts, exc)
                return

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, since: datetime
    ) -> str | None:
        """The ts of a bot message since ``since`` whose metadata carries ``idempotency_key``."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        cursor: str | None = None
        for _ in range(HISTORY_PAGES_MAX):
            try:
                resp = await self._client.conversations_history(
                    channel=channel.channel,
                    oldest=f"{since.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except _CALL_ERRORS as exc:
                raise to_delivery_error(exc, may_have_sent=False) from exc
            for msg in resp.get("messages") or []:
                if self._is_ours(msg, idempotency_key):
                    return str(msg["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        log.warning("find_posted gave up after %d pages of %s", HISTORY_PAGES_MAX, channel)
        return None

    def _is_ours(self, msg: dict[str, Any], key: str) -> bool:
        meta = msg.get("metadata") or {}
        if meta.get("event_type") != METADATA_EVENT:
            return False
        if (meta.get("event_payload") or {}).get("key") != key:
            return False
        bot_user = self._users.bot_user_id
        if self._bot_id is None and bot_user is None:
            return True
        return msg.get("bot_id") == self._bot_id or (
            bot_user is not None and msg.get("user") == bot_user
        )

    # --- listeners: ack first, then work in a task --------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._limited(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _limited(self, coro: Coroutine[Any, Any, None]) -> None:
        async with self._work:
            await coro

    async def _on_command(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        req = tr.command_request(body, self._workspace or self._team_id)
        self._spawn(self._answer(req, replace_original=None))

    async def _on_action(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        name = tr.action_name(str(action.get("action_id", "")))
        if name is None or name == "link":  # link buttons open a URL: nothing to do
            return
        value = str(action.get("value", ""))
        req = tr.action_request(body, value, self._workspace or self._team_id)
        if name == shared.SHARE_ACTION:
            self._spawn(self._share(req))
        else:  # paging and other command buttons re-run their command in place
            self._spawn(self._answer(req, replace_original=True))

    async def _on_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        self._spawn(self._vote(body, str(event.get("user", ""))))

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("slack listener failed: %r", error, exc_info=error)

    # --- the work -----------------------------------------------------------------------------

    async def _run(self, req: tr.CommandRequest) -> Reply:
        is_admin = await self._users.is_admin(req.user_id) if req.user_id else False
        inv = Invocation(
            channel=req.channel,
            user_id=req.user_id,
            text=req.text,
            is_admin=is_admin,
            user_name=req.user_name,
        )
        return await self._commands.handle(inv)

    async def _respond(self, url: str, payload: dict[str, Any]) -> None:
        """POST to a ``response_url`` over the adapter's pooled session (no retries)."""
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

    async def _answer(self, req: tr.CommandRequest, *, replace_original: bool | None) -> None:
        try:
            try:
                reply = await self._run(req)
            except CommandError as exc:
                await self._respond(req.response_url, tr.notice(str(exc)))
                return
            body = tr.response_body(
                reply.message, self._render_options, replace_original=replace_original
            )
            await self._respond(req.response_url, body)
        except Exception:
            log.exception("slack command %r failed", req.text[:200])
            await self._sorry(req)

    async def _share(self, req: tr.CommandRequest) -> None:
        try:
            reply = await self._run(req)
            rendered = render_message(shared.public_version(reply.message), **self._render_options)
            rendered = tr.shared_by(rendered, req.user_id)
            metadata = {"event_type": SHARE_EVENT, "event_payload": {"user": req.user_id}}
            try:
                ts = await self._post(req.channel.channel, rendered, metadata)
            except PermanentError as exc:
                log.warning("share to %s refused: %s", req.channel, exc.reason)
                await self._respond(req.response_url, tr.notice(tr.CANNOT_POST))
                return
            await self._commands.shared(req.channel, ts, reply)
            await self._respond(req.response_url, {"delete_original": True})
        except Exception:
            log.exception("slack share %r failed", req.text[:200])
            await self._sorry(req)

    async def _sorry(self, req: tr.CommandRequest) -> None:
        try:
            await self._respond(req.response_url, tr.notice(tr.SORRY))
        except Exception as exc:
            log.warning("could not tell the user something went wrong: %s", exc)

    async def _vote(self, body: dict[str, Any], user_id: str) -> None:
        try:
            is_bot = await self._users.is_bot(user_id) if user_id else False
            ev = tr.reaction_event(
                body, user_is_bot=is_bot, workspace=self._workspace or self._team_id
            )
            if ev is not None:
                await self._reactions.on_reaction(ev)
        except Exception:
            log.exception("slack reaction event %s failed", body.get("event_id"))
