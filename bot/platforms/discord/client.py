"""The discord.py client the adapter runs: intents, options, connection tracking, pacing.

* Intents: ``guilds`` and ``guild_reactions`` only (no privileged intents; message content is
  never read). ``AllowedMentions.none()`` is set client-wide: nothing Paperboy sends can ping.
* Shards identify no faster than Discord allows (``IdentifyPacer``): shard ``s`` is in bucket
  ``s % max_concurrency`` (``max_concurrency`` from ``GET /gateway/bot``) and each bucket starts
  one session per ``identify_spacing`` (5 s on Discord). discord.py's own hook waits a flat 5 s
  before every identify after the first, whatever the concurrency; this replaces it.
* Readiness is per shard (``ShardState``): a shard serves its guilds as soon as its READY and
  guilds are in, whether or not the others are up yet.
* Every REST call the client makes (posts, reactions, history, login) first takes a slot from
  a global pacer (``global_rate`` per second, default 48, under Discord's 50): discord.py
  reacts to a global 429 but does not avoid one, and the delivery engine's limiter cannot see
  reaction seeding or reads, nor the jitter between its slot and the wire. Interaction
  responses go through discord.py's webhook path, which Discord exempts, and are not paced.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import discord

from bot.core.errors import ConfigError, TransientError
from bot.delivery.ratelimit import RateLimiter
from bot.platforms.shared import network_problem

Shards = int | Literal["auto"] | None
OnReaction = Callable[[discord.RawReactionActionEvent, bool], Awaitable[None]]

IDENTIFY_SPACING = 5.0  # Discord: one IDENTIFY per 5 s per max_concurrency bucket
GATE_TRIES = 600  # a minute of polls at 5 s spacing; then Discord's refusal is the backstop
IDENTIFY_MARGIN = 1.05  # a little over the rule: Discord sees the frame, not our clock


class IdentifyPacer:
    """Holds each IDENTIFY until its bucket (``shard % max_concurrency``) may start a session:
    ``spacing`` seconds after that bucket's previous one. Shards in different buckets go at
    once; a re-identify after a lost session waits only as long as the rule requires. With a
    ``gate`` (replicas sharing the shards) each identify also waits until the gate, shared by
    every process of the bot, lets it go."""

    def __init__(
        self,
        spacing: float = IDENTIFY_SPACING,
        max_concurrency: int = 1,
        gate: Callable[[int, float], Awaitable[bool]] | None = None,
    ) -> None:
        self.spacing = spacing
        self.max_concurrency = max(1, max_concurrency)
        self.gate = gate  # shared across processes: True when this identify may go now
        self._last: dict[int, float] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def waves(self, shards: int) -> int:
        """How many spacing intervals ``shards`` identifies take at this concurrency."""
        return max(1, math.ceil(shards / self.max_concurrency))

    async def wait(self, shard_id: int | None) -> None:
        bucket = (shard_id or 0) % self.max_concurrency
        loop = asyncio.get_running_loop()
        async with self._locks[bucket]:
            last = self._last.get(bucket)
            if last is not None:
                delay = last + self.spacing * IDENTIFY_MARGIN - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if self.gate is not None:
                for _ in range(GATE_TRIES):  # polls the shared gate (no event crosses processes)
                    if await self._gate_open(bucket):
                        break
                    await asyncio.sleep(self.spacing / 10)
            self._last[bucket] = loop.time()

    async def _gate_open(self, bucket: int) -> bool:
        assert self.gate is not None
        try:
            return await self.gate(bucket, self.spacing * IDENTIFY_MARGIN)
        except Exception:
            return True  # the store is unreachable: Discord's own refusal is the backstop


@dataclass
class ShardState:
    """Which shards this client runs (``expected``; ``{None}`` for an unsharded client) and
    which of them are ready now: READY and its guilds received, not disconnected since."""

    expected: set[int | None] = field(default_factory=lambda: {None})
    ready: set[int | None] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def mark(self, shard: int | None, up: bool) -> None:
        if up:
            self.ready.add(shard)
        else:
            self.ready.discard(shard)
        self.changed.set()

    @property
    def connected(self) -> int:
        return len(self.ready & self.expected)

    @property
    def all_ready(self) -> bool:
        return self.expected <= self.ready


def set_shards(client: discord.Client, count: int, ids: Sequence[int]) -> None:
    """Run shards ``ids`` of ``count`` (before ``connect``): discord.py then neither asks
    ``/gateway/bot`` again nor starts shards this process was not given."""
    assert isinstance(client, discord.AutoShardedClient)
    client.shard_count = count
    client.shard_ids = list(ids)


def intents() -> discord.Intents:
    """Guilds (channels, permissions) and guild reactions (votes); nothing privileged."""
    flags = discord.Intents.none()
    flags.guilds = True
    flags.guild_reactions = True
    return flags


@dataclass(frozen=True)
class ClientOptions:
    application_id: int | None
    shards: Shards
    guild_ready_timeout: float
    max_ratelimit_timeout: float
    global_rate: int | None


def quiet_voice_warnings() -> None:
    """Paperboy never joins voice: discord.py's start-up warnings that the voice libraries
    (PyNaCl, davey) are missing say nothing to its users, so they are switched off."""
    discord.VoiceClient.warn_nacl = False
    if hasattr(discord.VoiceClient, "warn_dave"):
        discord.VoiceClient.warn_dave = False


def make_client(
    opts: ClientOptions,
    *,
    on_reaction: OnReaction,
    down: set[int | None],
    on_reconnect: Callable[[], None] | None = None,
    pacer: IdentifyPacer | None = None,
    state: ShardState | None = None,
) -> discord.Client:
    """A client (sharded when ``opts.shards`` is set) that hands raw reactions to
    ``on_reaction(payload, added)``, keeps ``down`` and ``state`` (see ``track_connection``)
    and identifies through ``pacer``."""
    quiet_voice_warnings()
    options: dict[str, Any] = {
        "intents": intents(),
        "allowed_mentions": discord.AllowedMentions.none(),
        "guild_ready_timeout": opts.guild_ready_timeout,
        "max_ratelimit_timeout": opts.max_ratelimit_timeout,
        "max_messages": None,
        "chunk_guilds_at_startup": False,
    }
    if opts.application_id is not None:
        options["application_id"] = opts.application_id
    client: discord.Client
    if opts.shards is not None:
        count = None if opts.shards == "auto" else opts.shards
        client = discord.AutoShardedClient(shard_count=count, **options)
    else:
        client = discord.Client(**options)

    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        await on_reaction(payload, True)

    async def on_raw_reaction_remove(payload: discord.RawReactionActionEvent) -> None:
        await on_reaction(payload, False)

    client.event(on_raw_reaction_add)
    client.event(on_raw_reaction_remove)
    track_connection(client, down, on_reconnect, state)
    if pacer is not None:
        pace_identifies(client, pacer)
    if opts.global_rate:
        pace(client, opts.global_rate)
    return client


def pace_identifies(client: discord.Client, pacer: IdentifyPacer) -> None:
    """Every IDENTIFY waits its turn with ``pacer``. A sharded client waits *before* it opens
    a shard's websocket (``launch_shard``), so a client closed meanwhile launches nothing more
    and leaves no half-open shard behind (its heartbeat thread would outlive the client); a
    re-identify (a session lost later) waits in the identify hook."""
    paced: set[int | None] = set()
    if isinstance(client, discord.AutoShardedClient):
        launch = client.launch_shard

        async def launch_shard(gateway: Any, shard_id: int, *, initial: bool = False) -> None:
            await pacer.wait(shard_id)
            if client.is_closed():
                return
            paced.add(shard_id)
            await launch(gateway, shard_id, initial=initial)

        client.launch_shard = launch_shard  # type: ignore[method-assign]

    async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
        if shard_id in paced:
            paced.discard(shard_id)  # launched just now, after its turn
            return
        await pacer.wait(shard_id)

    client.before_identify_hook = before_identify_hook  # type: ignore[method-assign]


async def login(client: discord.Client, token: str) -> None:
    """``client.login`` (REST only, no gateway), its failures as one clear error: a rejected
    token is a ConfigError, anything else a TransientError saying what failed."""
    try:
        await client.login(token)
    except discord.LoginFailure as exc:
        raise ConfigError("discord.token", "Discord rejected the bot token") from exc
    except discord.HTTPException as exc:
        detail = f"HTTP {exc.status} {exc.text or ''}".rstrip()
        raise TransientError(f"cannot log in to Discord: {detail}") from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise TransientError(f"cannot log in to Discord: {network_problem(exc)}") from exc


async def whoami(token: str) -> str:
    """Log in with ``token`` and return the bot user's name (``paperboy check --online``)."""
    quiet_voice_warnings()
    client = discord.Client(intents=discord.Intents.none())
    try:
        await login(client, token)
        return str(client.user)
    finally:
        await client.close()


def track_connection(
    client: discord.Client,
    down: set[int | None],
    on_reconnect: Callable[[], None] | None = None,
    state: ShardState | None = None,
) -> None:
    """Keep ``down``: the shards (None: the only connection) now disconnected. A connection
    that comes back as a new session (READY, not RESUMED: Discord replays nothing) calls
    ``on_reconnect``: reactions made meanwhile were never sent to us. ``state`` (if given)
    follows each shard's readiness: ready once its guilds are in, not while it is down."""
    down.clear()
    tracker = _Tracker(down, on_reconnect, state if state is not None else ShardState())
    if isinstance(client, discord.AutoShardedClient):
        _track_shards(client, tracker)
    else:
        _track_single(client, tracker)


class _Tracker:
    """What each gateway event of one shard (None: the only connection) changes."""

    def __init__(
        self,
        down: set[int | None],
        on_reconnect: Callable[[], None] | None,
        state: ShardState,
    ) -> None:
        self.down = down
        self.on_reconnect = on_reconnect
        self.state = state

    def connected(self, shard: int | None) -> None:
        was_down = shard in self.down
        self.down.discard(shard)
        if was_down and self.on_reconnect is not None:
            self.on_reconnect()

    def disconnected(self, shard: int | None) -> None:
        self.down.add(shard)
        self.state.mark(shard, False)

    def ready(self, shard: int | None) -> None:
        self.state.mark(shard, True)

    def resumed(self, shard: int | None) -> None:
        self.down.discard(shard)
        self.state.mark(shard, True)


def _track_shards(client: discord.AutoShardedClient, tracker: _Tracker) -> None:
    """A sharded client's per-shard events (discord.py names the handlers by event)."""

    async def on_shard_disconnect(shard_id: int) -> None:
        tracker.disconnected(shard_id)

    async def on_shard_connect(shard_id: int) -> None:
        tracker.connected(shard_id)

    async def on_shard_ready(shard_id: int) -> None:
        tracker.ready(shard_id)

    async def on_shard_resumed(shard_id: int) -> None:
        tracker.resumed(shard_id)

    for handler in (on_shard_disconnect, on_shard_connect, on_shard_ready, on_shard_resumed):
        client.event(handler)


def _track_single(client: discord.Client, tracker: _Tracker) -> None:
    """An unsharded client's connection events."""

    async def on_disconnect() -> None:
        tracker.disconnected(None)

    async def on_connect() -> None:
        tracker.connected(None)

    async def on_ready() -> None:
        tracker.ready(None)

    async def on_resumed() -> None:
        tracker.resumed(None)

    for handler in (on_disconnect, on_connect, on_ready, on_resumed):
        client.event(handler)


def pace(client: discord.Client, per_second: int) -> None:
    """Make every REST request of ``client`` wait for a global slot first."""
    limiter = RateLimiter(
        global_limit=per_second, global_period=1.0, channel_limit=None, margin=0.02
    )
    send = client.http.request

    async def request(route: discord.http.Route, **kwargs: Any) -> Any:
        await limiter.acquire("")
        return await send(route, **kwargs)

    client.http.request = request  # type: ignore[method-assign]
