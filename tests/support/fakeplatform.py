"""A fake chat platform for delivery tests.

``FakePoster`` is an in-process ``Poster``: it records every stored post with its idempotency
key, fails on command (scripted per call or at random) and answers ``find_posted`` from its
records, like a platform's channel history. Failure modes:

* ``429`` / ``429g``: rate limited (channel / global), nothing stored;
* ``500``: server error, nothing stored;
* ``timeout``: never answers (the engine's send timeout fires), nothing stored;
* ``timeout_stored``: stores, then never answers;
* ``lost``: stores, then the reply is lost (``TransientError(outcome_unknown=True)``);
* ``permanent``: ``PermanentError("channel_not_found")``;
* ``auth``: ``PermanentError("invalid_auth", whole_platform=True)`` (a refused token).

``FakePlatformServer`` is the same idea over HTTP (aiohttp, 127.0.0.1), for engines running in
another process: its records survive when that process is killed.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.core.errors import PermanentError, RateLimited, TransientError
from bot.core.messages import ChannelRef, Message

MODES = ("429", "429g", "500", "timeout", "timeout_stored", "lost", "permanent", "auth")


@dataclass(frozen=True)
class FakePost:
    channel: ChannelRef
    key: str
    header: str
    message_id: str
    at: datetime
    text: str = ""


class FakePoster:
    def __init__(
        self,
        platform: str = "fake",
        *,
        fail_rate: float = 0.0,
        modes: Iterable[str] = ("429", "500", "timeout", "lost"),
        seed: int = 0,
        retry_after: float = 0.01,
        latency: float = 0.0,
    ) -> None:
        self.platform = platform
        self.fail_rate = fail_rate
        self.modes = tuple(modes)
        self.rng = random.Random(seed)
        self.retry_after = retry_after
        self.latency = latency
        self.posts: list[FakePost] = []
        self.calls: Counter[str] = Counter()  # what happened: "ok", "429", "lost", ...
        self.find_calls = 0
        self.find_after: list[str | None] = []  # the ``after`` of every find_posted call
        self.prepared: list[ChannelRef] = []
        self._script: dict[str, deque[str]] = {}
        self._find_script: deque[str] = deque()
        self._ids = itertools.count(1)
        self.in_flight = 0
        self.max_in_flight = 0

    # --- scripting -------------------------------------------------------------------------------
    def fail_next(self, *modes: str, channel: ChannelRef | None = None) -> None:
        """The next posts (to ``channel``, or any channel) fail like ``modes``, in order; ``ok``
        lets one through."""
        for m in modes:
            assert m in (*MODES, "ok"), m
        self._script.setdefault(str(channel) if channel else "*", deque()).extend(modes)

    def fail_find(self, *modes: str) -> None:
        """The next ``find_posted`` calls fail (``500``) or hang (``timeout``)."""
        self._find_script.extend(modes)

    def _mode(self, channel: ChannelRef) -> str:
        for k in (str(channel), "*"):
            q = self._script.get(k)
            if q:
                return q.popleft()
        if self.fail_rate and self.rng.random() < self.fail_rate:
            return self.rng.choice(self.modes)
        return "ok"

    # --- Poster ----------------------------------------------------------------------------------
    def store(self, channel: ChannelRef, key: str, header: str, text: str = "") -> str:
        mid = f"m{next(self._ids)}"
        self.posts.append(FakePost(channel, key, header, mid, datetime.now(UTC), text))
        return mid

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        assert len(idempotency_key) <= 25
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            else:
                await asyncio.sleep(0)
            mode = self._mode(channel)
            self.calls[mode] += 1
            if mode == "ok":
                return self.store(channel, idempotency_key, message.header, message.text)
            if mode in ("429", "429g"):
                raise RateLimited(self.retry_after, is_global=mode == "429g")
            if mode == "500":
                raise TransientError("HTTP 500")
            if mode == "permanent":
                raise PermanentError("channel_not_found", "no such channel")
            if mode == "auth":
                raise PermanentError("invalid_auth", "token refused", whole_platform=True)
            if mode in ("timeout_stored", "lost"):
                self.store(channel, idempotency_key, message.header, message.text)
            if mode == "lost":
                raise TransientError("connection reset after send", outcome_unknown=True)
            await asyncio.Event().wait()  # timeout, timeout_stored: never answer
            raise AssertionError("unreachable")
        finally:
            self.in_flight -= 1

    async def prepare(self, channel: ChannelRef) -> None:
        self.prepared.append(channel)

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        self.find_calls += 1
        self.find_after.append(after)
        await asyncio.sleep(0)
        if self._find_script:
            mode = self._find_script.popleft()
            if mode == "500":
                raise TransientError("HTTP 500 on history")
            if mode == "timeout":
                await asyncio.Event().wait()
        for p in self.posts:
            if p.channel == channel and p.key == idempotency_key:
                return p.message_id
        return None

    # --- assertions ------------------------------------------------------------------------------
    def count(self, channel: ChannelRef, header: str | None = None) -> int:
        return sum(
            1 for p in self.posts if p.channel == channel and (header is None or p.header == header)
        )

    def per_channel_header(self) -> Counter[tuple[str, str]]:
        return Counter((str(p.channel), p.header) for p in self.posts)


class FakePlatformServer:
    """The fake platform over HTTP: ``POST /post`` ``{channel, key, header}`` -> ``{id}``;
    ``GET /find?channel=&key=`` -> ``{id}`` or ``{id: null}``.

    With ``fail_rate``, requests fail at random: 500 (not stored), 429 (not stored), 504 after
    storing (a lost reply). Every stored post waits ``reply_delay`` (random up to) before the
    reply, so a killed client often dies between the store and the reply.
    """

    def __init__(self, *, fail_rate: float = 0.0, reply_delay: float = 0.0, seed: int = 0) -> None:
        self.fail_rate = fail_rate
        self.reply_delay = reply_delay
        self.rng = random.Random(seed)
        self.posts: list[dict[str, Any]] = []
        self.requests = 0
        self.codes: Counter[int] = Counter()
        self._runner: web.AppRunner | None = None
        self._seen = asyncio.Event()
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/post", self._post)
        app.router.add_get("/find", self._find)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = getattr(site, "_server", None)
        port = server.sockets[0].getsockname()[1] if server is not None else 0
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_requests(self, n: int) -> None:
        """Until at least ``n`` post requests have arrived in total."""
        while self.requests < n:
            self._seen.clear()
            await self._seen.wait()

    def _reply(self, status: int, body: dict[str, Any]) -> web.Response:
        self.codes[status] += 1
        return web.json_response(body, status=status)

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        self._seen.set()
        roll = self.rng.random()
        if roll < self.fail_rate / 3:
            return self._reply(500, {"error": "internal"})
        if roll < self.fail_rate * 2 / 3:
            return self._reply(429, {"retry_after": 0.01, "global": False})
        mid = f"m{len(self.posts) + 1}"
        self.posts.append({"id": mid, **body})
        if self.reply_delay:
            await asyncio.sleep(self.rng.uniform(0, self.reply_delay))
        if roll < self.fail_rate:
            return self._reply(504, {"error": "reply lost"})
        return self._reply(200, {"id": mid})

    async def _find(self, request: web.Request) -> web.Response:
        ch, key = request.query["channel"], request.query["key"]
        for p in self.posts:
            if p["channel"] == ch and p["key"] == key:
                return self._reply(200, {"id": p["id"]})
        return self._reply(200, {"id": None})

    def per_channel_header(self) -> Counter[tuple[str, str]]:
        return Counter((p["channel"], p["header"]) for p in self.posts)
