"""A local fake of Discord for the real discord.py client: REST API v10 and the gateway.

It binds 127.0.0.1 on a free port and serves:

* REST under ``/api/v10``: login (``/users/@me``, ``/oauth2/applications/@me``), ``/gateway``
  and ``/gateway/bot``, command sync (global and guild), channels, Create Message with
  ``nonce`` + ``enforce_nonce`` de-duplication and Discord's embed limits (400/50035),
  history (``before``/``after``/``limit``), one message with its reaction counts, adding the
  bot's reactions (idempotent, as Discord's PUT is) and listing who reacted with an emoji
  (``after``/``limit``), interaction callbacks (``?with_response``), follow-ups and edits
  through the interaction webhook;
* rate limits like Discord's: a fixed-window bucket per route and major parameter
  (``X-RateLimit-*`` headers; messages 5 per 5 s per channel, reactions 1 per 0.25 s per
  channel) and a global 50 requests per second (interaction callbacks exempt); a 429 carries
  ``retry_after`` and ``global`` in JSON, ``Retry-After`` and a ``Via`` header (without ``Via``
  discord.py assumes a Cloudflare ban), and JSON is sent with ``Content-Type`` exactly
  ``application/json`` (discord.py parses nothing else);
* faults on demand: the next N calls of a route answer 403 (50001/50013), 404 (10003), 5xx or
  429;
* a gateway websocket at ``/`` (``fakes.discord_gateway``): HELLO, IDENTIFY -> READY
  (+ GUILD_CREATE per guild, per shard), heartbeat ACKs, and test-driven INTERACTION_CREATE
  and MESSAGE_REACTION_ADD/REMOVE dispatches (``react`` also keeps the reaction on the
  message, or only keeps it when the bot is away).

Every request is recorded. Payload shapes come from ``tests/fixtures/discord``
(``fakes.discord_payloads``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from support.discord_gateway import GatewayMixin, _Session
from support.discord_payloads import (
    ADMIN_PERMISSIONS,
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    DISCORD_EPOCH_MS,
    EPHEMERAL,
    ERRORS,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    OWNER_ID,
    READER_ID,
    TOKEN,
    Fault,
    Interaction,
    Recorded,
    embed_problems,
    fixture,
    u16,
)

__all__ = [
    "ADMIN_PERMISSIONS",
    "APP_ID",
    "BOT_ID",
    "CHANNEL_ID",
    "EPHEMERAL",
    "GUILD_ID",
    "MEMBER_PERMISSIONS",
    "OWNER_ID",
    "READER_ID",
    "TOKEN",
    "FakeDiscord",
    "Interaction",
    "Recorded",
    "embed_problems",
    "fixture",
    "u16",
]


@dataclass
class _Bucket:
    limit: int
    window: float
    remaining: int = 0
    reset_at: float = 0.0


class FakeDiscord(GatewayMixin):
    def __init__(
        self,
        *,
        guilds: dict[int, list[int]] | None = None,
        shards: int = 1,
        channel_limit: int = 5,
        channel_window: float = 5.0,
        reaction_window: float = 0.25,
        global_limit: int = 50,
        global_window: float = 1.0,
        nonce_window: float = 300.0,
        heartbeat_interval: int = 41250,
        identify_spacing: float = 0.0,
        max_concurrency: int = 1,
    ) -> None:
        self.guilds = guilds if guilds is not None else {GUILD_ID: [CHANNEL_ID]}
        self.shards = shards
        self.channel_limit, self.channel_window = channel_limit, channel_window
        self.reaction_window = reaction_window
        self.global_limit, self.global_window = global_limit, global_window
        self.nonce_window = nonce_window
        self.heartbeat_interval = heartbeat_interval
        # Discord's session start rule: one IDENTIFY per ``identify_spacing`` seconds per bucket
        # (shard % max_concurrency); a faster one gets "invalid session" (op 9).
        self.identify_spacing = identify_spacing
        self.max_concurrency = max_concurrency
        self.identify_refused = 0
        self.identified_at: dict[int, float] = {}
        self.hold_ready: set[int] = set()  # shards whose READY waits for ``release_ready``
        self._ready_released = asyncio.Event()
        self.channels: dict[int, int] = {c: g for g, cs in self.guilds.items() for c in cs}
        self.messages: dict[int, list[dict[str, Any]]] = {c: [] for c in self.channels}
        self.ephemeral: dict[int, dict[str, Any]] = {}
        self.reactions: dict[int, list[tuple[str, int]]] = {}
        self.requests: list[Recorded] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.synced: dict[int | None, list[dict[str, Any]]] = {}
        self.interactions: dict[int, Interaction] = {}
        self.interaction_tokens: dict[str, Interaction] = {}
        self.denied: dict[int, int] = {}  # channel -> error code (50001/50013)
        # Direct messages: the DM channel of each user, and users who do not take them (a
        # message there gets 50007, as Discord answers).
        self.dm_channels: dict[int, int] = {}
        self.closed_dms: set[int] = set()
        self.reject_resume = False  # True: a RESUME gets "invalid session", a new READY follows
        self.reply_delay = 0.0  # seconds a stored message waits for its reply
        self.hold_replies: asyncio.Event | None = None  # stored messages' replies wait for it
        self.too_many_429 = 0
        self.global_429 = 0
        self.route_429 = 0
        self._faults: dict[str, deque[Fault]] = {}
        self._nonces: dict[tuple[int, str], tuple[float, dict[str, Any]]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._global: deque[float] = deque()
        self._sessions: list[_Session] = []
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        r = app.router
        api = "/api/v10"
        routes: list[tuple[str, str, str, Callable[..., Any]]] = [
            ("GET", "/users/@me", "get_me", self._get_me),
            ("GET", "/oauth2/applications/@me", "get_application", self._get_application),
            ("GET", "/gateway", "get_gateway", self._get_gateway),
            ("GET", "/gateway/bot", "get_gateway_bot", self._get_gateway_bot),
            ("PUT", "/applications/{app}/commands", "sync_global", self._sync),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", "sync_guild", self._sync),
            ("POST", "/users/@me/channels", "create_dm", self._create_dm),
            ("GET", "/channels/{channel}", "get_channel", self._get_channel),
            ("POST", "/channels/{channel}/messages", "create_message", self._create_message),
            ("GET", "/channels/{channel}/messages", "get_messages", self._get_messages),
            ("GET", "/channels/{channel}/messages/{message}", "get_message", self._get_message),
            (
                "PUT",
                "/channels/{channel}/messages/{message}/reactions/{emoji}/@me",
                "add_reaction",
                self._add_reaction,
            ),
            (
                "GET",
                "/channels/{channel}/messages/{message}/reactions/{emoji}",
                "reaction_users",
                self._reaction_users,
            ),
            ("POST", "/interactions/{id}/{token}/callback", "interaction_callback", self._callback),
            ("POST", "/webhooks/{app}/{token}", "followup", self._followup),
            ("GET", "/webhooks/{app}/{token}/messages/{message}", "webhook_message", self._wh_get),
            ("PATCH", "/webhooks/{app}/{token}/messages/{message}", "webhook_edit", self._wh_edit),
        ]
        for method, path, name, fn in routes:
            r.add_route(method, api + path, self._wrap(name, fn))
        r.add_get("/", self._gateway)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for s in list(self._sessions):
            await s.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    # --- test controls --------------------------------------------------------------------

    def fail_next(
        self,
        route: str,
        status: int,
        *,
        code: int = 0,
        retry_after: float | None = None,
        is_global: bool = False,
        times: int = 1,
    ) -> None:
        msg = ERRORS.get(code, (status, f"{status} error"))[1]
        fault = Fault(status, code, msg, retry_after, is_global)
        self._faults.setdefault(route, deque()).extend([fault] * times)

    def release_ready(self) -> None:
        self.hold_ready = set()
        self._ready_released.set()

    def deny(self, channel: int, code: int = 50001) -> None:
        self.denied[channel] = code

    def calls(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    def stored(self, channel: int = CHANNEL_ID) -> list[dict[str, Any]]:
        return self.messages.get(channel, [])

    def add_message(self, channel: int, **fields: Any) -> dict[str, Any]:
        msg = self._message(channel, fields.pop("author_id", READER_ID), fields)
        self.messages.setdefault(channel, []).append(msg)
        return msg

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("condition not met in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.05))

    def _notify(self) -> None:
        self._changed.set()

    # --- ids, messages, responses ---------------------------------------------------------

    def snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    def _user(self, user_id: int, *, bot: bool = False) -> dict[str, Any]:
        if user_id == BOT_ID:
            return fixture("message")["author"]
        user = fixture("member")["user"]
        user.update(id=str(user_id), username=f"user{user_id % 1000}", global_name=None)
        if bot:
            user["bot"] = True
        return user

    def _message(self, channel: int, author: int, body: dict[str, Any]) -> dict[str, Any]:
        msg = fixture("message")
        mid = body.pop("id", None) or self.snowflake()
        msg.update(
            id=str(mid),
            channel_id=str(channel),
            author=self._user(author),
            timestamp=datetime.now(UTC).isoformat(),
            content=body.get("content") or "",
            embeds=[{**e, "type": "rich"} for e in body.get("embeds") or []],
            components=body.get("components") or [],
            flags=int(body.get("flags") or 0),
        )
        msg.pop("nonce", None)
        if self.channels.get(channel):
            msg["guild_id"] = str(self.channels[channel])
        return msg

    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        h = {"Content-Type": "application/json", **(headers or {})}
        return web.Response(status=status, body=json.dumps(body).encode(), headers=h)

    def _error(self, code: int, status: int | None = None) -> web.Response:
        st, text = ERRORS.get(code, (status or 400, "error"))
        return self._json(status or st, {"message": text, "code": code})

    # --- the request pipeline -------------------------------------------------------------

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            body = json.loads(raw) if raw and request.content_type == "application/json" else None
            now = asyncio.get_running_loop().time()
            self.requests.append(
                Recorded(
                    name,
                    request.method,
                    request.path,
                    dict(request.query),
                    body,
                    dict(request.headers),
                    now,
                )
            )
            self._notify()
            exempt = name in ("interaction_callback", "followup", "webhook_message", "webhook_edit")
            if not exempt and request.headers.get("Authorization") != f"Bot {TOKEN}":
                return self._json(401, {"message": "401: Unauthorized", "code": 0})
            fault = self._take_fault(name)
            if fault is not None:
                return self._fault_response(fault)
            if not exempt:
                limited = self._global_limit(now)
                if limited is not None:
                    return limited
            bucket, headers = self._bucket(name, request, now)
            if bucket is not None and bucket.remaining < 0:
                self.route_429 += 1
                retry = max(0.001, bucket.reset_at - now)
                return self._json(
                    429,
                    {
                        "message": "You are being rate limited.",
                        "retry_after": retry,
                        "global": False,
                    },
                    {**headers, "Retry-After": str(math.ceil(retry)), "Via": "1.1 google"},
                )
            resp: web.StreamResponse = await fn(request, body)
            for k, v in headers.items():
                resp.headers[k] = v
            self._notify()
            return resp

        return handler

    def _take_fault(self, name: str) -> Fault | None:
        q = self._faults.get(name)
        return q.popleft() if q else None

    def _fault_response(self, f: Fault) -> web.Response:
        if f.status == 429:
            self.too_many_429 += 1
            retry = f.retry_after if f.retry_after is not None else 0.05
            body = {
                "message": "You are being rate limited.",
                "retry_after": retry,
                "global": f.is_global,
            }
            headers = {"Retry-After": str(math.ceil(retry)), "Via": "1.1 google"}
            if f.is_global:
                headers["X-RateLimit-Global"] = "true"
                headers["X-RateLimit-Scope"] = "global"
            return self._json(429, body, headers)
        return self._json(f.status, {"message": f.message, "code": f.code})

    def _global_limit(self, now: float) -> web.Response | None:
        g = self._global
        while g and g[0] <= now - self.global_window:
            g.popleft()
        if len(g) >= self.global_limit:
            self.global_429 += 1
            retry = max(0.001, g[0] + self.global_window - now)
            body = {"message": "You are being rate limited.", "retry_after": retry, "global": True}
            headers = {
                "Retry-After": str(math.ceil(retry)),
                "Via": "1.1 google",
                "X-RateLimit-Global": "true",
                "X-RateLimit-Scope": "global",
            }
            return self._json(429, body, headers)
        g.append(now)
        return None

    def _bucket(
        self, name: str, request: web.Request, now: float
    ) -> tuple[_Bucket | None, dict[str, str]]:
        mi = request.match_info
        major = mi.get("channel") or mi.get("guild") or mi.get("token") or ""
        if name == "create_message":
            limit, window = self.channel_limit, self.channel_window
        elif name == "add_reaction":
            limit, window = 1, self.reaction_window
        else:
            limit, window = 50, 1.0
        key = f"{name}:{major}"
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(limit, window)
        if now >= b.reset_at:
            b.remaining, b.reset_at = limit, now + window
        b.remaining -= 1
        reset_after = max(0.0, b.reset_at - now)
        headers = {
            "X-RateLimit-Bucket": f"{name}-bucket",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, b.remaining)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        }
        if b.remaining < 0:
            b.remaining = -1
            headers["X-RateLimit-Scope"] = "user"
        return b, headers

    # --- REST handlers --------------------------------------------------------------------

    async def _get_me(self, request: web.Request, body: Any) -> web.Response:
        return self._json(200, fixture("user_me"))

    async def _get_application(self, request: web.Request, body: Any) -> web.Response:
        return self._json(200, fixture("application_me"))

    async def _get_gateway(self, request: web.Request, body: Any) -> web.Response:
        return self._json(200, {"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request, body: Any) -> web.Response:
        data = fixture("gateway_bot")
        data.update(url=self.gateway_url, shards=self.shards)
        data["session_start_limit"]["max_concurrency"] = self.max_concurrency
        return self._json(200, data)

    async def _sync(self, request: web.Request, body: Any) -> web.Response:
        guild = request.match_info.get("guild")
        out = []
        for cmd in body or []:
            out.append(
                {
                    **cmd,
                    "id": str(self.snowflake()),
                    "application_id": str(APP_ID),
                    "version": str(self.snowflake()),
                    **({"guild_id": guild} if guild else {}),
                }
            )
        self.synced[int(guild) if guild else None] = out
        return self._json(200, out)

    def _channel_problem(self, channel: int) -> web.Response | None:
        if channel not in self.channels:
            return self._error(10003)
        if channel in self.denied:
            return self._error(self.denied[channel])
        return None

    async def _get_channel(self, request: web.Request, body: Any) -> web.Response:
        channel = int(request.match_info["channel"])
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        data = fixture("channel")
        data.update(
            id=str(channel), guild_id=str(self.channels[channel]), name=f"c{channel % 1000}"
        )
        return self._json(200, data)

    async def _create_dm(self, request: web.Request, body: Any) -> web.Response:
        user = int((body or {}).get("recipient_id", 0))
        channel = self.dm_channels.get(user)
        if channel is None:
            channel = self.dm_channels[user] = self.snowflake()
            self.channels[channel] = 0  # no guild
            self.messages[channel] = []
        return self._json(200, {"id": str(channel), "type": 1, "recipients": [self._user(user)]})

    def dms(self, user: int) -> list[dict[str, Any]]:
        """What the bot posted in its direct conversation with ``user``."""
        channel = self.dm_channels.get(user)
        return [] if channel is None else self.messages[channel]

    async def _create_message(self, request: web.Request, body: Any) -> web.Response:
        channel = int(request.match_info["channel"])
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        if any(c == channel and u in self.closed_dms for u, c in self.dm_channels.items()):
            return self._error(50007)
        body = body or {}
        problems = embed_problems(body.get("embeds") or [])
        content = body.get("content") or ""
        if u16(content) > 2000:
            problems.append("content: longer than 2000")
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            problems.append("nonce: longer than 25")
        if not content and not body.get("embeds") and not body.get("components"):
            problems.append("empty message")
        if problems:
            return self._json(
                400, {"message": "Invalid Form Body", "code": 50035, "errors": problems}
            )
        now = asyncio.get_running_loop().time()
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((channel, str(nonce)))
            if seen is not None and now - seen[0] < self.nonce_window:
                return self._json(200, {**seen[1], "nonce": str(nonce)})
        msg = self._message(channel, BOT_ID, body)
        self.messages[channel].append(msg)
        if nonce is not None:
            self._nonces[(channel, str(nonce))] = (now, msg)
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)  # stored; the reply is on its way
        if self.hold_replies is not None:
            await self.hold_replies.wait()
        return self._json(200, {**msg, "nonce": nonce})

    async def _get_messages(self, request: web.Request, body: Any) -> web.Response:
        channel = int(request.match_info["channel"])
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        q = request.query
        limit = max(1, min(100, int(q.get("limit", "50"))))
        msgs = sorted(self.messages[channel], key=lambda m: int(m["id"]))
        if "after" in q:
            picked = [m for m in msgs if int(m["id"]) > int(q["after"])][:limit]
        elif "before" in q:
            picked = [m for m in msgs if int(m["id"]) < int(q["before"])][-limit:]
        else:
            picked = msgs[-limit:]
        return self._json(200, list(reversed(copy.deepcopy(picked))))

    def _find(self, channel: int, mid: int) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if int(m["id"]) == mid), None)

    def set_reaction(self, mid: int, emoji: str, user: int, added: bool = True) -> bool:
        """Keep (or drop) ``user``'s ``emoji`` on a message; False when that changes nothing."""
        kept = self.reactions.setdefault(mid, [])
        if added == ((emoji, user) in kept):
            return False
        if added:
            kept.append((emoji, user))
        else:
            kept.remove((emoji, user))
        return True

    async def _add_reaction(self, request: web.Request, body: Any) -> web.Response:
        channel = int(request.match_info["channel"])
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        mid = int(request.match_info["message"])
        if self._find(channel, mid) is None:
            return self._error(10008)
        self.set_reaction(mid, request.match_info["emoji"], BOT_ID)
        return web.Response(status=204)

    async def _get_message(self, request: web.Request, body: Any) -> web.Response:
        channel = int(request.match_info["channel"])
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        mid = int(request.match_info["message"])
        msg = self._find(channel, mid)
        if msg is None:
            return self._error(10008)
        counts: dict[str, list[int]] = {}
        for emoji, user in self.reactions.get(mid, []):
            counts.setdefault(emoji, []).append(user)
        out = copy.deepcopy(msg)
        out["reactions"] = [
            {
                "emoji": {"id": None, "name": emoji},
                "count": len(users),
                "count_details": {"burst": 0, "normal": len(users)},
                "me": BOT_ID in users,
                "me_burst": False,
                "burst_colors": [],
            }
            for emoji, users in counts.items()
        ]
        return self._json(200, out)

    async def _reaction_users(self, request: web.Request, body: Any) -> web.Response:
        channel = int(request.match_info["channel"])
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        mid = int(request.match_info["message"])
        if self._find(channel, mid) is None:
            return self._error(10008)
        emoji = request.match_info["emoji"]
        limit = max(1, min(100, int(request.query.get("limit", "25"))))
        after = int(request.query.get("after", "0"))
        users = sorted(u for e, u in self.reactions.get(mid, []) if e == emoji and u > after)
        return self._json(200, [self._user(u) for u in users[:limit]])
