"""The discord.py client the adapter runs: intents, options, connection tracking, pacing.

* Intents: ``guilds`` and ``guild_reactions`` only (no privileged intents; message content is
  never read). ``AllowedMentions.none()`` is set client-wide: nothing Paperboy sends can ping.
* Every REST call the client makes (posts, reactions, history, login) first takes a slot from
  a global pacer (``global_rate`` per second, default 48, under Discord's 50): discord.py
  reacts to a global 429 but does not avoid one, and the delivery engine's limiter cannot see
  reaction seeding or reads, nor the jitter between its slot and the wire. Interaction
  responses go through discord.py's webhook path, which Discord exempts, and are not paced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import discord

from bot.core.errors import ConfigError, TransientError
from bot.delivery.ratelimit import RateLimiter
from bot.platforms.shared import network_problem

Shards = int | Literal["auto"] | None
OnReaction = Callable[[discord.RawReactionActionEvent, bool], Awaitable[None]]


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
) -> discord.Client:
    """A client (sharded when ``opts.shards`` is set) that hands raw reactions to
    ``on_reaction(payload, added)`` and keeps ``down`` (see ``track_connection``)."""
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
    track_connection(client, down, on_reconnect)
    if opts.global_rate:
        pace(client, opts.global_rate)
    return client


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
) -> None:
    """Keep ``down``: the shards (None: the only connection) now disconnected. A connection
    that comes back as a new session (READY, not RESUMED: Discord replays nothing) calls
    ``on_reconnect``: reactions made meanwhile were never sent to us."""
    down.clear()

    def connected(shard: int | None) -> None:
        was_down = shard in down
        down.discard(shard)
        if was_down and on_reconnect is not None:
            on_reconnect()

    if isinstance(client, discord.AutoShardedClient):

        async def on_shard_disconnect(shard_id: int) -> None:
            down.add(shard_id)

        async def on_shard_connect(shard_id: int) -> None:
            connected(shard_id)

        async def on_shard_resumed(shard_id: int) -> None:
            down.discard(shard_id)

        client.event(on_shard_disconnect)
        client.event(on_shard_connect)
        client.event(on_shard_resumed)
        return

    async def on_disconnect() -> None:
        down.add(None)

    async def on_connect() -> None:
        connected(None)

    async def on_resumed() -> None:
        down.discard(None)

    client.event(on_disconnect)
    client.event(on_connect)
    client.event(on_resumed)


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
