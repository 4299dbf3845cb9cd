"""A local fake of Slack: the Web API methods Paperboy uses, a Socket Mode websocket, a
``response_url`` endpoint, and helpers to send signed HTTP requests to a bot.

It binds 127.0.0.1 on a free port, records every request, checks Block Kit limits the way
Slack does (``invalid_blocks``, ``msg_blocks_too_long``, ``msg_too_long``), and can be told to
answer the next N calls of a method with a 429, an error code, a 500, or to store the message
and then drop the connection without a reply.

Rate limits as Slack's method tiers (``limit``): at most N calls of a method per workspace in
any sliding window of W seconds, more answered 429 with ``Retry-After`` (whole seconds, as
Slack sends it) and ``ratelimited``; rejected calls do not count. ``reactions.add`` and
``reactions.get`` are Tier 3 (50 a minute) unless a test sets otherwise.

Messages keep their reactions as Slack shows them (``reactions: [{name, users, count}]``):
the bot adds its own with ``reactions.add``, people react through ``react`` (which also sends
the event to a connected bot, unless told the bot is away), and ``reactions.get`` reads them.
``hold`` makes calls of a method wait until the test releases them.

Channels have members, as on Slack: with ``chat:write.public`` the bot posts to a public
channel it never joined, but reading that channel's history answers ``not_in_channel`` until it
joins (``conversations.join``). A private channel is invisible to a bot that is not a member
(``channel_not_found``) and cannot be joined; an archived one refuses posts and joins
(``is_archived``). A channel first named by a post is public, without the bot.

Workspaces and the OAuth install flow (distribution): ``/oauth/v2/authorize`` stands for
Slack's consent page (the installing user picks the workspace: ``team`` in the query, as
bolt passes it from ``/slack/install?team=``) and redirects to ``redirect_uri`` with a one-time
``code``; ``oauth.v2.access`` checks the app's client id and secret and exchanges the code for
that workspace's own bot token. Every token belongs to one workspace (the default
``bot_token`` to ``TEAM_ID``), ``auth.test`` answers for the token's workspace, and a channel
belongs to the workspace whose token first used it (or ``add_channel(team=...)``): a call about
a channel of another workspace answers ``channel_not_found``, as Slack does.

Payload shapes come from the recorded examples in ``tests/fixtures/slack``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import itertools
import json
import math
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, WSMsgType, web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
TEAM_ID = "T0FAKE"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0APP"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret"
TIER3 = (50, 60.0)  # reactions.add, reactions.get: 50 calls per minute per workspace


def fixture(name: str) -> dict[str, Any]:
    """A recorded-shape payload from ``tests/fixtures/slack/<name>.json`` (a fresh copy)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class Recorded:
    """One Web API call as the fake received it (query, form and JSON arguments merged)."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass(frozen=True)
class Fault:
    """How to answer a call instead of normally."""

    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    drop: bool = False  # do the work (store the message), then close without a reply


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    latency: float  # seconds from sending the envelope to receiving its ack


@dataclass
class _Envelope:
    sent_at: float
    ack: Ack | None = None


@dataclass
class _Channel:
    messages: list[dict[str, Any]] = field(default_factory=list)
    private: bool = False
    archived: bool = False
    members: set[str] = field(default_factory=set)
    team: str | None = None


# --- Block Kit validation (Slack's documented limits) -------------------------------------------


def _texts(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_texts(v) for k, v in value.items() if k != "type")
    if isinstance(value, list):
        return sum(_texts(v) for v in value)
    return 0


def validate_blocks(blocks: Any) -> str | None:
    """The error Slack would answer for ``blocks``, or None when they are acceptable."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    block_ids: set[str] = set()
    for block in blocks:
        if not isinstance(block, dict):
            return "invalid_blocks"
        bid = block.get("block_id")
        if bid is not None:
            if not isinstance(bid, str) or len(bid) > 255 or bid in block_ids:
                return "invalid_blocks"
            block_ids.add(bid)
        kind = block.get("type")
        if kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                return "invalid_blocks"
        elif kind == "section":
            text = block.get("text")
            fields = block.get("fields")
            if text is None and not fields:
                return "invalid_blocks"
            if text is not None and not 0 < len(text.get("text", "")) <= 3000:
                return "invalid_blocks"
            if fields is not None and (
                len(fields) > 10 or any(not 0 < len(f.get("text", "")) <= 2000 for f in fields)
            ):
                return "invalid_blocks"
        elif kind == "context":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 10:
                return "invalid_blocks"
            if any(not 0 < len(e.get("text", "")) <= 3000 for e in elements):
                return "invalid_blocks"
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 25:
                return "invalid_blocks"
            action_ids = [e.get("action_id") for e in elements if e.get("action_id")]
            if len(action_ids) != len(set(action_ids)):
                return "invalid_blocks"
            for e in elements:
                if not 0 < len(e.get("text", {}).get("text", "")) <= 75:
                    return "invalid_blocks"
                if len(e.get("value", "")) > 2000 or len(e.get("url", "")) > 3000:
                    return "invalid_blocks"
                if len(e.get("action_id", "")) > 255:
                    return "invalid_blocks"
        elif kind in ("divider",):
            pass
        else:
            return "invalid_blocks"
    if _texts(blocks) > 12_000:
        return "msg_blocks_too_long"
    return None


class FakeSlack:
    """Start with ``await fake.start()``; point the bot at ``fake.url``; ``await fake.stop()``."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
    ) -> None:
        self._bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.requests: list[Recorded] = []
        self.responses: list[dict[str, Any]] = []  # what was POSTed to response_urls
        self.response_times: dict[str, float] = {}  # response_url key -> perf_counter at arrival
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.socket_connections = 0
        self.rate_limited: Counter[str] = Counter()  # 429s answered, by method
        self._limits: dict[str, tuple[int, float]] = {
            "reactions.add": TIER3,
            "reactions.get": TIER3,
        }
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._holds: dict[str, deque[asyncio.Event]] = {}  # one call each, in order
        self._hold_all: dict[str, asyncio.Event] = {}
        self._fixed_ts: str | None = None
        self._channels: dict[str, _Channel] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._envelopes: dict[str, _Envelope] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._last_ts = 0.0
        self._ids = itertools.count(1)
        # Slow Slack down: every stored post waits ``reply_delay`` seconds before its reply, and
        # once ``limit_posts_after`` posts are stored, further posts get a 429 (Retry-After
        # ``limit_retry_after``) until the test sets it back to None.
        self.posts_stored = 0
        self.reply_delay = 0.0
        self.limit_posts_after: int | None = None
        self.limit_retry_after = 30
        self.port = 0
        # Direct messages: users who do not take them from the bot (conversations.open
        # answers cannot_dm_bot), and what chat.postEphemeral showed, to whom.
        self.closed_dms: set[str] = set()
        self.ephemerals: list[dict[str, Any]] = []
        self.add_user(BOT_USER_ID, name="paperboy", is_bot=True)
        # Workspaces: which team each bot token belongs to; one-time OAuth codes; the team of
        # the call being answered.
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.tokens: dict[str, str] = {bot_token: TEAM_ID}  # the default one: ``bot_token``
        self.revoked: set[str] = set()
        self._codes: dict[str, str] = {}
        self._caller_team = TEAM_ID
        self.authorize_requests: list[dict[str, str]] = []

    @property
    def bot_token(self) -> str:
        """The single-workspace bot token (of ``TEAM_ID``); setting it revokes the old one."""
        return self._bot_token

    @bot_token.setter
    def bot_token(self, token: str) -> None:
        self.tokens.pop(self._bot_token, None)
        self._bot_token = token
        self.tokens[token] = TEAM_ID

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket-mode", self._socket)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_get("/oauth/v2/authorize", self._authorize)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._session = ClientSession()

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL (``AsyncWebClient(base_url=...)``)."""
        return f"{self.base_url}/api/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket-mode"

    # --- state and configuration --------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        name: str = "",
        is_admin: bool = False,
        is_owner: bool = False,
        is_primary_owner: bool = False,
        is_bot: bool = False,
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name or user_id.lower(),
            "deleted": False,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": is_primary_owner,
            "is_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
        }

    def fail_next(self, method: str, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``fault``."""
        self._faults.setdefault(method, []).extend([fault] * times)

    def rate_limit_next(self, method: str, retry_after: float = 1, times: int = 1) -> None:
        self.fail_next(
            method, Fault(status=429, error="ratelimited", retry_after=retry_after), times
        )

    def error_next(self, method: str, error: str, times: int = 1) -> None:
        self.fail_next(method, Fault(error=error), times)

    def server_error_next(self, method: str, status: int = 500, times: int = 1) -> None:
        self.fail_next(method, Fault(status=status), times)

    def drop_next(self, method: str, times: int = 1) -> None:
        self.fail_next(method, Fault(drop=True), times)

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    def limit(self, method: str, calls: int | None, per: float = 60.0) -> None:
        """At most ``calls`` calls of ``method`` per workspace in any ``per`` seconds (None:
        no limit)."""
        if calls is None:
            self._limits.pop(method, None)
        else:
            self._limits[method] = (calls, per)

    def hold(self, method: str, *, times: int | None = None) -> asyncio.Event:
        """Calls of ``method`` (the next ``times`` of them, or all) wait until the returned
        event is set; they are recorded when they arrive."""
        gate = asyncio.Event()
        if times is None:
            self._hold_all[method] = gate
        else:
            self._holds.setdefault(method, deque()).extend([gate] * times)
        return gate

    def use_ts(self, ts: str | None) -> None:
        """Posts get this ``ts`` (None: fresh ones again): Slack's ts is unique per channel
        only, so two channels may hold messages with the same one."""
        self._fixed_ts = ts

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages stored in ``channel``, oldest first (with metadata)."""
        return list(self._channels.get(channel, _Channel()).messages)

    def add_channel(
        self,
        channel: str,
        *,
        private: bool = False,
        archived: bool = False,
        member: bool = False,
        team: str | None = None,
    ) -> None:
        """Create ``channel`` (the bot a member of it if ``member``; in workspace ``team``
        if given, else the first one whose token uses it)."""
        chan = self._channels.setdefault(channel, _Channel())
        chan.private, chan.archived = private, archived
        chan.team = team
        if member:
            chan.members.add(BOT_USER_ID)

    def is_member(self, channel: str) -> bool:
        chan = self._channels.get(channel)
        return chan is not None and BOT_USER_ID in chan.members

    def add_message(self, channel: str, **fields: Any) -> dict[str, Any]:
        """Store a message as if someone else had posted it."""
        msg = {"type": "message", "ts": self._next_ts(), "text": "", **fields}
        self._channels.setdefault(channel, _Channel()).messages.append(msg)
        return msg

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        for msg in self._channels.get(channel, _Channel()).messages:
            if msg["ts"] == ts:
                return msg
        return None

    def reactions(self, channel: str, ts: str) -> dict[str, list[str]]:
        """Reaction name -> users who chose it, on one message (the bot included)."""
        msg = self.message(channel, ts) or {}
        return {r["name"]: list(r["users"]) for r in msg.get("reactions") or []}

    def bot_reactions(self, channel: str, ts: str) -> list[str]:
        """The names the bot itself reacted with on a message, in the order it added them."""
        msg = self.message(channel, ts) or {}
        return list(msg.get("bot_reactions") or [])

    def _set_reaction(self, msg: dict[str, Any], name: str, user: str, added: bool) -> bool:
        """Add or remove ``user``'s ``name`` reaction; False when that changes nothing."""
        reactions: list[dict[str, Any]] = msg.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if added:
            if entry is None:
                entry = {"name": name, "users": [], "count": 0}
                reactions.append(entry)
            if user in entry["users"]:
                return False
            entry["users"].append(user)
        else:
            if entry is None or user not in entry["users"]:
                return False
            entry["users"].remove(user)
        entry["count"] = len(entry["users"])
        msg["reactions"] = [r for r in reactions if r["count"]]
        return True

    async def react(
        self,
        channel: str,
        ts: str,
        name: str,
        user: str,
        *,
        added: bool = True,
        deliver: bool = True,
        event_id: str | None = None,
    ) -> str | None:
        """``user`` adds (or removes) the reaction ``name`` on a message, as Slack keeps it;
        with ``deliver`` and a bot connected, the event goes to the bot over Socket Mode too.
        Returns the envelope id (None when nothing was delivered)."""
        msg = self.message(channel, ts)
        assert msg is not None, f"no message {ts} in {channel}"
        self._set_reaction(msg, name, user, added)
        await self._notify()
        if not deliver or not self._sockets:
            return None
        payload = self.reaction_event(
            name, ts=ts, user_id=user, channel_id=channel, added=added, event_id=event_id
        )
        return await self.send_envelope("events_api", payload)

    async def drop_sockets(self) -> None:
        """Close every Socket Mode connection without warning (the client reconnects)."""
        for ws in list(self._sockets):
            await ws.close()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; checked after every request the fake handles."""
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _next_ts(self) -> str:
        if self._fixed_ts is not None:
            return self._fixed_ts
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    # --- Web API ------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(await request.post())
        headers = dict(request.headers)
        self.requests.append(Recorded(method, args, headers, time.monotonic()))
        await self._notify()
        await self._wait_hold(method)
        limited = self._over_limit(method)
        if limited is not None:
            return limited
        queue = self._faults.get(method)
        fault = queue.pop(0) if queue else None
        if fault is not None and not fault.drop:
            if fault.status >= 500:
                return web.Response(status=fault.status, text="upstream failure")
            hdrs = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self._json({"ok": False, "error": fault.error}, fault.status, hdrs)
        if method == "oauth.v2.access":
            return self._json(self._oauth_v2_access(args, headers))
        token = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if method == "apps.connections.open":
            if token != self.app_token:
                return self._json({"ok": False, "error": "invalid_auth"})
        elif token in self.revoked:
            return self._json({"ok": False, "error": "token_revoked"})
        elif token not in self.tokens:
            return self._json({"ok": False, "error": "invalid_auth"})
        else:
            self._caller_team = self.tokens[token]
            channel = args.get("channel")
            chan = self._channels.get(channel) if isinstance(channel, str) else None
            if chan is not None and chan.team is not None and chan.team != self._caller_team:
                return self._json({"ok": False, "error": "channel_not_found"})
        posting = method == "chat.postMessage"
        limit = self.limit_posts_after
        if posting and limit is not None and self.posts_stored >= limit:
            hdrs = {"Retry-After": str(self.limit_retry_after)}
            return self._json({"ok": False, "error": "ratelimited"}, 429, hdrs)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        body = handler(args) if handler else {"ok": False, "error": "unknown_method"}
        if posting and body.get("ok"):
            self.posts_stored += 1
        await self._notify()
        if posting and self.reply_delay:
            await asyncio.sleep(self.reply_delay)  # stored; the reply is on its way
        if fault is not None and fault.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        return self._json(body)

    async def _wait_hold(self, method: str) -> None:
        queue = self._holds.get(method)
        gate = queue.popleft() if queue else self._hold_all.get(method)
        if gate is not None:
            await gate.wait()

    def _over_limit(self, method: str) -> web.Response | None:
        """A 429 when ``method`` is over its tier in this workspace; else count the call."""
        rule = self._limits.get(method)
        if rule is None:
            return None
        calls, per = rule
        now = time.monotonic()
        window = self._windows.setdefault((method, TEAM_ID), deque())
        while window and window[0] <= now - per:
            window.popleft()
        if len(window) >= calls:
            self.rate_limited[method] += 1
            retry = max(1, math.ceil(window[0] + per - now))
            return self._json(
                {"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry)}
            )
        window.append(now)
        return None

    @staticmethod
    def _json(
        body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(body),
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://paperboy-test.slack.com/",
            "team": "Paperboy Test",
            "user": "paperboy",
            "team_id": self._caller_team,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"{self.ws_url}?ticket={next(self._ids)}"}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel", "")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        text = args.get("text", "")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if len(text) > 40_000:
            return {"ok": False, "error": "msg_too_long"}
        if blocks is not None:
            error = validate_blocks(blocks)
            if error:
                return {"ok": False, "error": error}
        chan = self._channels.setdefault(channel, _Channel())
        if chan.private and BOT_USER_ID not in chan.members:
            return {"ok": False, "error": "channel_not_found"}
        if chan.archived:
            return {"ok": False, "error": "is_archived"}
        if chan.team is None:
            chan.team = self._caller_team
        msg: dict[str, Any] = {
            "type": "message",
            "ts": self._next_ts(),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": text,
            "blocks": blocks or [],
            "team": self._caller_team,
        }
        if args.get("metadata"):
            msg["metadata"] = args["metadata"]
        chan.messages.append(msg)
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": msg}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if len(users) != 1:
            return {"ok": False, "error": "not_implemented"}
        if users[0] in self.closed_dms:
            return {"ok": False, "error": "cannot_dm_bot"}
        channel = "D" + users[0]
        self._channels.setdefault(channel, _Channel())
        return {"ok": True, "channel": {"id": channel, "is_im": True, "user": users[0]}}

    def dms(self, user: str) -> list[dict[str, Any]]:
        """What the bot posted in its direct conversation with ``user``."""
        return self.messages("D" + user)

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not args.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        self.ephemerals.append({**args, "blocks": blocks or []})
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        chan = self._channels.get(args.get("channel", ""))
        for msg in chan.messages if chan else []:
            if msg["ts"] == args.get("ts"):
                chan.messages.remove(msg)  # type: ignore[union-attr]
                return {"ok": True, "channel": args["channel"], "ts": msg["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        chan = self._channels.get(args.get("channel", ""))
        if chan is None or (chan.private and BOT_USER_ID not in chan.members):
            return {"ok": False, "error": "channel_not_found"}
        if BOT_USER_ID not in chan.members:
            return {"ok": False, "error": "not_in_channel"}
        oldest = float(args.get("oldest") or 0)
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = max(1, min(int(args.get("limit") or 100), 999))
        start = int(args.get("cursor") or 0)
        found = [m for m in reversed(chan.messages) if float(m["ts"]) > oldest]
        page = found[start : start + limit]
        out = []
        for m in page:
            m = copy.deepcopy(m)
            if not with_meta:
                m.pop("metadata", None)
            out.append(m)
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": out,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel", "")
        chan = self._channels.get(channel)
        if chan is None or (chan.private and BOT_USER_ID not in chan.members):
            return {"ok": False, "error": "channel_not_found"}
        if chan.private:
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        if chan.archived:
            return {"ok": False, "error": "is_archived"}
        chan.members.add(BOT_USER_ID)
        return {"ok": True, "channel": {"id": channel, "is_channel": True, "is_member": True}}

    def _m_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self.message(args.get("channel", ""), args.get("timestamp", ""))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        name = str(args.get("name", ""))
        if not self._set_reaction(msg, name, BOT_USER_ID, True):
            return {"ok": False, "error": "already_reacted"}
        msg.setdefault("bot_reactions", []).append(name)
        return {"ok": True}

    def _m_reactions_get(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel", "")
        msg = self.message(channel, args.get("timestamp", ""))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        shown = {k: v for k, v in copy.deepcopy(msg).items() if k != "bot_reactions"}
        return {"ok": True, "type": "message", "channel": channel, "message": shown}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.usergroups.get(args.get("usergroup", ""))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": members}

    # --- OAuth (distribution) -----------------------------------------------------------------

    def token_of(self, team: str) -> str | None:
        """The newest bot token issued to ``team`` (not revoked), if any."""
        found = [t for t, tm in self.tokens.items() if tm == team and t not in self.revoked]
        return found[-1] if found else None

    def revoke(self, team: str) -> None:
        """The workspace uninstalled the app: every token of ``team`` stops working."""
        self.revoked.update(t for t, tm in self.tokens.items() if tm == team)

    def channel_team(self, channel: str) -> str | None:
        chan = self._channels.get(channel)
        return None if chan is None else chan.team

    async def _authorize(self, request: web.Request) -> web.Response:
        """Slack's consent page, already agreed to: back to ``redirect_uri`` with a code for
        the workspace named by ``team``."""
        query = dict(request.query)
        self.authorize_requests.append(query)
        if query.get("client_id") != self.client_id or not query.get("redirect_uri"):
            return web.Response(status=400, text="bad client_id or no redirect_uri")
        code = f"code-{next(self._ids)}"
        self._codes[code] = query.get("team") or TEAM_ID
        target = (
            query["redirect_uri"]
            + "?"
            + urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
        )
        raise web.HTTPFound(target)

    def _oauth_v2_access(self, args: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        client_id, secret = args.get("client_id"), args.get("client_secret")
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        team = self._codes.pop(str(args.get("code", "")), None)
        if team is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxb-{team}-{next(self._ids)}"
        self.tokens[token] = team
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": "chat:write,commands",
            "bot_user_id": BOT_USER_ID,
            "app_id": APP_ID,
            "team": {"id": team, "name": f"Team {team}"},
            "enterprise": None,
            "authed_user": {"id": "U0INSTALLER"},
            "is_enterprise_install": False,
        }

    # --- response_url -------------------------------------------------------------------------

    def response_url(self) -> str:
        return f"{self.base_url}/response/{next(self._ids)}"

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.response_times.setdefault(request.match_info["key"], time.perf_counter())
        self.responses.append({"key": request.match_info["key"], **body})
        await self._notify()
        return web.Response(text="ok", content_type="text/plain")

    def responses_to(self, url: str) -> list[dict[str, Any]]:
        key = url.rsplit("/", 1)[-1]
        return [r for r in self.responses if r["key"] == key]

    # --- Socket Mode --------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections += 1
        await ws.send_str(json.dumps(fixture("hello")))
        await self._notify()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                env = self._envelopes.get(data.get("envelope_id", ""))
                if env is not None and env.ack is None:
                    env.ack = Ack(
                        data["envelope_id"], data.get("payload"), time.monotonic() - env.sent_at
                    )
                    await self._notify()
        finally:
            self._sockets.remove(ws)
            await self._notify()
        return ws

    @property
    def connected(self) -> bool:
        return bool(self._sockets)

    async def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> str:
        """Push an envelope (``slash_commands``, ``events_api``, ``interactive``) to the bot."""
        if not self._sockets:
            raise RuntimeError("no Socket Mode connection")
        envelope_id = f"env-{next(self._ids)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        self._envelopes[envelope_id] = _Envelope(time.monotonic())
        await self._sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        env = self._envelopes[envelope_id]
        await self.wait_for(lambda: env.ack is not None, timeout)
        assert env.ack is not None
        return env.ack

    async def request_disconnect(self) -> None:
        """Ask the connected client to reconnect, as Slack does before rotating a socket."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps({"type": "disconnect", "reason": "refresh_requested"}))

    # --- payloads (recorded shapes) -----------------------------------------------------------

    def slash_command(
        self,
        text: str,
        *,
        user_id: str = "U0MEMBER",
        user_name: str = "ada",
        channel_id: str = "C0GENERAL",
        command: str = "/papers",
    ) -> dict[str, Any]:
        payload = fixture("slash_command")
        payload.update(
            text=text,
            user_id=user_id,
            user_name=user_name,
            channel_id=channel_id,
            command=command,
            response_url=self.response_url(),
            trigger_id=f"{next(self._ids)}.1.fake",
        )
        return payload

    def reaction_event(
        self,
        reaction: str,
        *,
        ts: str,
        user_id: str = "U0MEMBER",
        channel_id: str = "C0GENERAL",
        added: bool = True,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        payload = fixture("reaction_added")
        payload["event"].update(
            type="reaction_added" if added else "reaction_removed",
            user=user_id,
            reaction=reaction,
            item={"type": "message", "channel": channel_id, "ts": ts},
        )
        payload["event_id"] = event_id or f"Ev{next(self._ids):010d}"
        return payload

    def block_action(
        self,
        action_id: str,
        value: str,
        *,
        user_id: str = "U0MEMBER",
        channel_id: str = "C0GENERAL",
    ) -> dict[str, Any]:
        payload = fixture("block_actions")
        payload["user"].update(id=user_id)
        payload["channel"]["id"] = channel_id
        payload["container"]["channel_id"] = channel_id
        payload["response_url"] = self.response_url()
        payload["actions"][0].update(action_id=action_id, value=value)
        return payload

    # --- signed HTTP requests to a bot --------------------------------------------------------

    def sign(
        self, body: str, timestamp: int | None = None, secret: str | None = None
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        key = (secret or self.signing_secret).encode()
        digest = hmac.new(key, f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    @staticmethod
    def form_body(payload: dict[str, Any]) -> str:
        """A slash command as Slack sends it over HTTP (form-encoded)."""
        return urllib.parse.urlencode(payload)

    @staticmethod
    def interactive_body(payload: dict[str, Any]) -> str:
        """An interactivity payload as Slack sends it over HTTP (``payload=<json>``)."""
        return urllib.parse.urlencode({"payload": json.dumps(payload)})

    async def post_signed(
        self,
        url: str,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """POST ``body`` to the bot at ``url``, signed like Slack (or mis-signed on request)."""
        assert self._session is not None
        hdrs = {
            "Content-Type": content_type,
            **self.sign(body, timestamp, secret),
            **(headers or {}),
        }
        async with self._session.post(url, data=body.encode(), headers=hdrs) as resp:
            return resp.status, await resp.text()
