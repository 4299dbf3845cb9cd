"""Discord through discord.py: posts digests, answers ``/papers``, turns reactions into votes.

``DiscordAdapter`` checks its configuration and puts the parts together:

* ``gateway``: the client's life (login, connect, readiness, stop) and its shards (planned from
  ``GET /gateway/bot``, identified through the pacer, leased across replicas);
* ``posting``: ``post``, ``send_direct`` and ``find_posted`` (the delivery engine's side);
* ``reactions``: the vote keycaps under digests (``add_reaction``, for the seeder in
  ``bot.delivery.seeding``, paced per channel by ``seed_limiter``), reading reactions back
  (``reactions_on``, for the backfill in ``bot.chat.backfill``) and the votes from raw
  reaction events;
* ``client``: the discord.py client itself (intents, pacing of REST calls); ``command_tree``
  and ``interactions``: ``/papers`` and its buttons.

``on_reconnect`` (set by the app) is called when the gateway comes back as a new session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import discord

from bot.core.errors import ConfigError
from bot.core.messages import ChannelRef, Message, ReactionEvent
from bot.delivery.ratelimit import RateLimiter
from bot.platforms import shared
from bot.platforms.base import CommandHandler, ReactionHandler
from bot.platforms.discord import interactions
from bot.platforms.discord.client import IDENTIFY_SPACING, ClientOptions, Shards
from bot.platforms.discord.gateway import DiscordGateway
from bot.platforms.discord.posting import DiscordPosting
from bot.platforms.discord.reactions import REACTION_SPACING, DiscordReactions, Votes
from bot.platforms.discord.render import KEYCAPS
from bot.platforms.discord.shards import ShardLeaser


def _check(token: str, application_id: str | None, shards: Shards) -> None:
    if not token:
        raise ConfigError("discord.token", "a bot token is required")
    if token.lower().startswith("bot "):
        raise ConfigError("discord.token", "write the token without the 'Bot ' prefix")
    if application_id is not None and not str(application_id).isdigit():
        raise ConfigError("discord.application_id", "expected a numeric Discord id")
    if shards is not None and shards != "auto" and (not isinstance(shards, int) or shards < 1):
        raise ConfigError("discord.shards", "expected a positive number of shards or 'auto'")


class DiscordAdapter:
    """A Discord bot connection implementing ``bot.platforms.base.Adapter``."""

    platform = "discord"

    def __init__(
        self,
        *,
        token: str,
        commands: CommandHandler,
        reactions: ReactionHandler,
        application_id: str | None = None,
        api_base_url: str | None = None,
        gateway_url: str | None = None,
        test_guild: int | None = None,
        shards: Shards = None,
        seed_reactions: bool = True,
        render_options: dict[str, Any] | None = None,
        ready_timeout: float = 30.0,
        identify_spacing: float = IDENTIFY_SPACING,
        shard_ids: Sequence[int] | None = None,
        leaser: ShardLeaser | None = None,
        guild_ready_timeout: float = 0.5,
        max_ratelimit_timeout: float = 30.0,
        global_rate: int | None = 48,
    ) -> None:
        _check(token, application_id, shards)
        options = shared.check_render_options("discord", render_options)
        if leaser is not None and shards is None:
            raise ConfigError("discord.lease_shards", "needs discord.shards (a count or 'auto')")
        client_options = ClientOptions(
            application_id=int(application_id) if application_id else None,
            shards=shards,
            guild_ready_timeout=guild_ready_timeout,
            # discord.py refuses values under 30 s; longer waits surface as RateLimited.
            max_ratelimit_timeout=max(30.0, max_ratelimit_timeout),
            global_rate=global_rate,
        )
        runner = interactions.Runner(commands, render_options=options)
        work = shared.Background()  # votes, the lease loop, shard watching: closed on stop
        self._votes = Votes(reactions, work, lambda: self.bot_user_id)
        self._gateway = DiscordGateway(
            token,
            client_options,
            runner=runner,
            on_reaction=self._votes.on_raw,
            work=work,
            api_base_url=api_base_url,
            gateway_url=gateway_url,
            test_guild=test_guild,
            ready_timeout=ready_timeout,
            identify_spacing=identify_spacing,
            shard_ids=shard_ids,
            leaser=leaser,
        )
        self._posting = DiscordPosting(self._gateway, runner, render_options=options)
        self._reactions = DiscordReactions(self._gateway)
        self.seed_emoji: tuple[str, ...] = KEYCAPS if seed_reactions else ()
        self.seed_limiter = RateLimiter(
            global_limit=None, channel_limit=1, channel_period=REACTION_SPACING, margin=0.02
        )

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def client(self) -> discord.Client | None:
        return self._gateway.client

    @property
    def bot_user_id(self) -> int | None:
        return self._gateway.bot_user_id

    @property
    def latency(self) -> float:
        """Gateway heartbeat round trip in seconds (inf before the first heartbeat)."""
        return self._gateway.latency

    @property
    def on_reconnect(self) -> Callable[[], None] | None:
        return self._gateway.on_reconnect

    @on_reconnect.setter
    def on_reconnect(self, callback: Callable[[], None] | None) -> None:
        self._gateway.on_reconnect = callback

    async def start(self) -> None:
        """Log in, connect the gateway in the background, wait until ready, sync commands."""
        await self._gateway.start()

    async def stop(self) -> None:
        """Close the connection and every resource; restore global endpoints (idempotent)."""
        await self._gateway.stop()

    def healthy(self) -> bool:
        """Every shard ready, not closed, and no gateway connection down (reconnecting)."""
        return self._gateway.healthy()

    def shard_status(self) -> tuple[int, int]:
        """(shards ready now, shards this process runs)."""
        return self._gateway.shard_status()

    def ready_budget(self, shards: int) -> float:
        """Seconds within which ``shards`` shards are all expected ready."""
        return self._gateway.ready_budget(shards)

    # --- Poster -------------------------------------------------------------------------------

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        """Send ``message`` as an embed with ``nonce=idempotency_key``; returns the message id."""
        return await self._posting.post(channel, message, idempotency_key)

    async def send_direct(self, workspace: str, user_id: str, message: Message) -> str:
        """A direct message (follow alerts); ``DirectMessagesClosed`` when the user does not
        accept direct messages from the bot."""
        return await self._posting.send_direct(user_id, message)

    async def tell_privately(self, channel: ChannelRef, user_id: str, message: Message) -> bool:
        """Discord shows a message to one person only in reply to their own command: not
        possible here (``/papers following`` says their follows are paused)."""
        return False

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        """The id of the bot's message whose footer carries the key, newer than ``after``."""
        return await self._posting.find_posted(channel, idempotency_key, after)

    async def prepare(self, channel: ChannelRef) -> None:
        """Nothing to do: the invite's permissions cover posting and reading history."""

    # --- reactions: the seeder's and the backfill's side ----------------------------------------

    def seed_bucket(self, channel: ChannelRef) -> str:
        """Discord limits adding reactions per channel."""
        return channel.channel

    async def add_reaction(self, channel: ChannelRef, message_id: str, emoji: str) -> None:
        """The bot's ``emoji`` under the message (PUT is idempotent: already there is done)."""
        await self._reactions.add(channel, message_id, emoji)

    async def reactions_on(self, channel: ChannelRef, message_id: str) -> list[ReactionEvent]:
        """Every reaction on the message now, one per (user, emoji)."""
        return await self._reactions.read(channel, message_id)
