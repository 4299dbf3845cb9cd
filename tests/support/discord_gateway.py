"""The fake Discord's gateway and interactions: HELLO, IDENTIFY -> READY + GUILD_CREATE (per
shard), heartbeat ACKs, RESUME -> RESUMED; test-driven dispatches (slash commands,
autocomplete, button clicks, reactions); and the interaction callback and webhook routes the
bot answers them on.

Frames are plain JSON text: discord.py asks for ``compress=zlib-stream`` in the URL but decodes
text frames as they are (``DiscordWebSocket.received_message``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from support.discord_payloads import (
    BOT_ID,
    CHANNEL_ID,
    EPHEMERAL,
    GUILD_ID,
    LOADING,
    MEMBER_PERMISSIONS,
    READER_ID,
    Interaction,
    fixture,
)

IDENTIFY_JITTER = (
    0.25  # lateness forgiven per IDENTIFY, at most half the spacing (_identify_too_soon)
)


@dataclass
class _Session:
    ws: web.WebSocketResponse
    shard: tuple[int, int] = (0, 1)
    seq: int = 0
    identified: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class GatewayMixin:
    """The gateway and interaction half of ``FakeDiscord`` (state lives there)."""

    guilds: dict[int, list[int]]
    channels: dict[int, int]
    identifies: list[dict[str, Any]]
    resumes: list[dict[str, Any]]
    interactions: dict[int, Interaction]
    interaction_tokens: dict[str, Interaction]
    synced: dict[int | None, list[dict[str, Any]]]
    heartbeat_interval: int
    _sessions: list[_Session]
    _notify: Callable[[], None]
    identify_spacing: float
    max_concurrency: int
    identify_refused: int
    identified_at: dict[int, float]
    hold_ready: set[int]
    _ready_released: asyncio.Event
    snowflake: Callable[[], int]
    set_reaction: Callable[..., bool]
    reject_resume: bool
    messages: dict[int, list[dict[str, Any]]]
    ephemeral: dict[int, dict[str, Any]]
    _user: Callable[..., dict[str, Any]]
    _message: Callable[..., dict[str, Any]]
    _json: Callable[..., web.Response]
    _error: Callable[..., web.Response]

    @property
    def gateway_url(self) -> str:
        raise NotImplementedError

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        session = _Session(ws)
        self._sessions.append(session)
        try:
            await self._send(
                session, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}}
            )
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                msg = json.loads(frame.data)
                op = msg.get("op")
                if op == 1:
                    await self._send(session, {"op": 11})
                elif op == 2:
                    await self._identify(session, msg["d"])
                elif op == 6:
                    self.resumes.append(msg["d"])
                    if self.reject_resume:  # the session is gone: identify anew
                        await self._send(session, {"op": 9, "d": False})
                        continue
                    session.identified = True
                    await self._dispatch_to(session, "RESUMED", {})
        finally:
            self._sessions.remove(session)
            self._notify()
        return ws

    async def _send(self, session: _Session, payload: dict[str, Any]) -> None:
        await self._send_text(session, json.dumps(payload))

    async def _send_text(self, session: _Session, text: str) -> None:
        async with session.lock:
            if not session.ws.closed:
                await session.ws.send_str(text)

    async def _dispatch_to(
        self, session: _Session, event: str, data: dict[str, Any], encoded: str | None = None
    ) -> None:
        """One dispatch frame; ``encoded`` is ``data`` already serialised (prepared events)."""
        session.seq += 1
        body = json.dumps(data) if encoded is None else encoded
        await self._send_text(session, f'{{"op":0,"t":"{event}","s":{session.seq},"d":{body}}}')

    def _guild_payload(self, guild: int) -> dict[str, Any]:
        g = fixture("guild_create")
        g["id"] = str(guild)
        g["roles"][0]["id"] = str(guild)
        g["roles"][0]["permissions"] = str(MEMBER_PERMISSIONS)
        chans = []
        for i, c in enumerate(self.guilds[guild]):
            ch = fixture("channel")
            ch.update(id=str(c), guild_id=str(guild), name=f"c{c % 1000}", position=i)
            chans.append(ch)
        g["channels"] = chans
        return g

    def _identify_too_soon(self, shard_id: int) -> bool:
        """Discord's session start rule (see ``FakeDiscord``); records an accepted IDENTIFY."""
        bucket = shard_id % max(1, self.max_concurrency)
        now = asyncio.get_running_loop().time()
        last = self.identified_at.get(bucket)
        # Measured on arrival: the client's own pacing is exact (it waits for its turn), but
        # its IDENTIFY may leave late on a loaded machine while the next one leaves on time, so
        # event-loop and network jitter up to IDENTIFY_JITTER (at most half the spacing) is
        # forgiven. An unpaced client is still refused.
        floor = self.identify_spacing - min(IDENTIFY_JITTER, self.identify_spacing / 2)
        if self.identify_spacing > 0 and last is not None and now - last < floor:
            self.identify_refused += 1
            return True
        self.identified_at[bucket] = now
        return False

    async def _identify(self, session: _Session, d: dict[str, Any]) -> None:
        self.identifies.append(d)
        shard = tuple(d.get("shard") or (0, 1))
        session.shard = (int(shard[0]), int(shard[1]))
        if self._identify_too_soon(session.shard[0]):
            await self._send(session, {"op": 9, "d": False})
            return
        if session.shard[0] in self.hold_ready:
            await self._ready_released.wait()
        mine = [g for g in self.guilds if self._shard_of(g, session.shard[1]) == session.shard[0]]
        ready = fixture("ready")
        ready.update(
            session_id=uuid.uuid4().hex,
            resume_gateway_url=self.gateway_url,
            guilds=[{"id": str(g), "unavailable": True} for g in mine],
        )
        if d.get("shard") is not None:
            ready["shard"] = list(session.shard)
        await self._dispatch_to(session, "READY", ready)
        for g in mine:
            await self._dispatch_to(session, "GUILD_CREATE", self._guild_payload(g))
        session.identified = True
        self._notify()

    @staticmethod
    def _shard_of(guild: int, count: int) -> int:
        return (guild >> 22) % count

    async def drop(self, code: int = 4000) -> None:
        """Close every gateway connection as Discord does now and then (the client resumes)."""
        for s in list(self._sessions):
            await s.ws.close(code=code)

    @property
    def connected(self) -> int:
        return sum(1 for s in self._sessions if s.identified and not s.ws.closed)

    async def dispatch(
        self, event: str, data: dict[str, Any], guild: int | None = None, encoded: str | None = None
    ) -> None:
        """Send a dispatch to the session(s) that own ``guild`` (all sessions if None)."""
        for s in list(self._sessions):
            if not s.identified:
                continue
            if guild is not None and self._shard_of(guild, s.shard[1]) != s.shard[0]:
                continue
            await self._dispatch_to(s, event, data, encoded)

    async def send(self, it: Interaction) -> Interaction:
        """Send an interaction built with ``send=False`` (its payload serialised already, so a
        burst of them goes out as fast as the socket takes it)."""
        it.sent_at = asyncio.get_running_loop().time()
        await self.dispatch("INTERACTION_CREATE", it.payload, int(it.payload["guild_id"]), it.frame)
        return it

    # --- test-driven events ---------------------------------------------------------------

    def _member(self, user_id: int, permissions: int, bot: bool = False) -> dict[str, Any]:
        m = fixture("member")
        m["user"] = self._user(user_id, bot=bot)
        m["permissions"] = str(permissions)
        return m

    async def _send_interaction(
        self,
        template: str,
        data: dict[str, Any],
        *,
        guild: int,
        channel: int,
        user: int,
        permissions: int,
        message: dict[str, Any] | None = None,
        send: bool = True,
    ) -> Interaction:
        p = fixture(template)
        iid = self.snowflake()
        token = f"tok-{uuid.uuid4().hex}"
        p.update(id=str(iid), token=token, guild_id=str(guild), channel_id=str(channel), data=data)
        p["guild"]["id"] = str(guild)
        p["channel"].update(id=str(channel), guild_id=str(guild))
        p["member"] = self._member(user, permissions)
        if message is not None:
            p["message"] = copy.deepcopy(message)
        it = Interaction(iid, token, p)
        self.interactions[iid] = it
        self.interaction_tokens[token] = it
        if not send:
            it.frame = json.dumps(p)
            return it
        return await self.send(it)

    def _command_id(self, name: str, guild: int) -> str:
        for cmd in self.synced.get(guild, []) + self.synced.get(None, []):
            if cmd.get("name") == name:
                return str(cmd["id"])
        return str(self.snowflake())

    @staticmethod
    def _options(options: dict[str, Any], focused: str | None = None) -> list[dict[str, Any]]:
        out = []
        for name, value in options.items():
            kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3
            opt: dict[str, Any] = {"name": name, "type": kind, "value": value}
            if name == focused:
                opt["focused"] = True
            out.append(opt)
        return out

    async def slash(
        self,
        sub: str,
        options: dict[str, Any] | None = None,
        *,
        command: str = "papers",
        guild: int = GUILD_ID,
        channel: int = CHANNEL_ID,
        user: int = READER_ID,
        permissions: int = MEMBER_PERMISSIONS,
        focused: str | None = None,
        send: bool = True,
    ) -> Interaction:
        """``/<command> <sub> options...`` as an INTERACTION_CREATE (autocomplete if
        ``focused`` names the option being typed); ``send=False`` only builds it, for
        ``send`` later."""
        data = {
            "type": 1,
            "id": self._command_id(command, guild),
            "name": command,
            "guild_id": str(guild),
            "options": [{"type": 1, "name": sub, "options": self._options(options or {}, focused)}],
        }
        template = "interaction_autocomplete" if focused else "interaction_command"
        return await self._send_interaction(
            template,
            data,
            guild=guild,
            channel=channel,
            user=user,
            permissions=permissions,
            send=send,
        )

    async def click(
        self,
        message: dict[str, Any],
        custom_id: str,
        *,
        user: int = READER_ID,
        permissions: int = MEMBER_PERMISSIONS,
    ) -> Interaction:
        """A button click on ``message`` (as stored here: public or ephemeral)."""
        channel = int(message["channel_id"])
        it = await self._send_interaction(
            "interaction_component",
            {"custom_id": custom_id, "component_type": 2},
            guild=self.channels.get(channel, GUILD_ID),
            channel=channel,
            user=user,
            permissions=permissions,
            message=message,
        )
        it.original = message  # what a deferred update (type 6) or an edit (type 7) changes
        return it

    async def wait_response(self, it: Interaction, timeout: float = 5.0) -> Interaction:
        await self.wait_for(lambda: bool(it.callbacks), timeout)
        return it

    async def react(
        self,
        message_id: int | str,
        emoji: str,
        *,
        user: int = READER_ID,
        channel: int = CHANNEL_ID,
        bot: bool = False,
        added: bool = True,
        deliver: bool = True,
    ) -> None:
        """The reaction is kept on the message (or dropped), and MESSAGE_REACTION_ADD (with
        member) or _REMOVE (without, as Discord sends it) dispatched, unless ``deliver`` is
        false (the bot was away: it never hears of it)."""
        self.set_reaction(int(message_id), emoji, user, added)
        if not deliver:
            return
        guild = self.channels.get(channel, GUILD_ID)
        data = fixture("reaction_add" if added else "reaction_remove")
        data.update(
            user_id=str(user),
            message_id=str(message_id),
            channel_id=str(channel),
            guild_id=str(guild),
            emoji={"name": emoji, "id": None},
        )
        if added:
            data["member"] = self._member(user, MEMBER_PERMISSIONS, bot=bot)
        await self.dispatch(
            "MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE", data, guild
        )

    # --- interactions ---------------------------------------------------------------------

    def _interaction(self, request: web.Request) -> Interaction | None:
        it = self.interaction_tokens.get(request.match_info["token"])
        iid = request.match_info.get("id")
        return None if it is None or (iid is not None and int(iid) != it.id) else it

    def _response_message(
        self, it: Interaction, data: dict[str, Any], flags: int
    ) -> dict[str, Any]:
        channel = int(it.payload["channel_id"])
        msg = self._message(channel, BOT_ID, {**data, "flags": flags})
        msg["interaction_metadata"] = {
            "id": str(it.id),
            "type": it.payload["type"],
            "user": (it.payload.get("member") or {}).get("user"),
        }
        if flags & EPHEMERAL:
            self.ephemeral[int(msg["id"])] = msg
        else:
            self.messages.setdefault(channel, []).append(msg)
        return msg

    async def _callback(self, request: web.Request, body: Any) -> web.Response:
        it = self._interaction(request)
        if it is None:
            return self._error(10062)
        if it.callbacks:
            return self._error(40060)
        body = body or {}
        it.callbacks.append(body)
        it.responded_at = asyncio.get_running_loop().time()
        if body.get("type") in (4, 7, 8):
            it.answered_at = it.responded_at
        kind, data = body.get("type"), dict(body.get("data") or {})
        flags = int(data.get("flags") or 0)
        info: dict[str, Any] = {"id": str(it.id), "type": it.payload["type"]}
        resource: dict[str, Any] | None = None
        if kind in (4, 5):
            if kind == 5:
                data, flags = {}, flags | LOADING
            it.original = self._response_message(it, data, flags)
            info.update(
                response_message_id=it.original["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
            resource = {"type": kind, "message": it.original}
        elif kind == 7 and it.original is not None:
            it.original.update({k: v for k, v in data.items() if k != "flags"})
            it.edits.append(data)
            resource = {"type": 7, "message": it.original}
        if "with_response" not in request.query:
            return web.Response(status=204)
        out: dict[str, Any] = {"interaction": info}
        if resource is not None:
            out["resource"] = resource
        return self._json(200, out)

    async def _followup(self, request: web.Request, body: Any) -> web.Response:
        it = self._interaction(request)
        if it is None:
            return self._error(10062)
        body = body or {}
        msg = self._response_message(it, body, int(body.get("flags") or 0))
        it.followups.append(msg)
        if it.answered_at is None:
            it.answered_at = asyncio.get_running_loop().time()
        return self._json(200, msg) if request.query.get("wait") else web.Response(status=204)

    async def _wh_get(self, request: web.Request, body: Any) -> web.Response:
        it = self._interaction(request)
        if it is None or it.original is None:
            return self._error(10008)
        return self._json(200, it.original)

    async def _wh_edit(self, request: web.Request, body: Any) -> web.Response:
        it = self._interaction(request)
        if it is None or it.original is None:
            return self._error(10008)
        body = dict(body or {})
        it.edits.append(body)
        if it.answered_at is None:
            it.answered_at = asyncio.get_running_loop().time()
        it.original.update(
            {k: v for k, v in body.items() if k not in ("flags", "allowed_mentions")}
        )
        it.original["flags"] = int(it.original.get("flags") or 0) & ~LOADING
        return self._json(200, it.original)
