"""The Discord adapter: one discord.py client, posting digests, answering ``/papers``, votes.

* The client (intents, options, pacing of REST calls) is built in ``client``; ``/papers`` and
  its buttons are in ``interactions``.
* ``post`` returns as soon as the message exists; the seeder (``bot.delivery.seeding``) adds
  1️⃣..🔟 later through ``add_reaction`` (paced per channel, every 429 honoured, however long:
  discord.py's own ``RateLimited`` included), and ``reactions_on`` reads reactions back for the
  backfill (``bot.chat.backfill``). ``on_reconnect`` (set by the app) is called when the
  gateway comes back as a new session.
* ``post`` sends one embed with ``nonce=<idempotency key>``; discord.py then sets
  ``enforce_nonce``, so a retried send within Discord's window returns the message already
  stored instead of posting twice. Discord does not return the nonce when reading history, so
  the key is also written at the end of the embed footer (``… · ref <key>``) and
  ``find_posted`` matches on that, among the bot's own messages, newest first, back to the
  message the ledger says was posted before the send (Discord's ids, never the local clock).
* Votes come from the raw reaction events, which fire for messages not in the cache (digests
  posted before a restart); one user's events on one message are applied in arrival order.
* Start-up scales with the shard count: a sharded client asks ``GET /gateway/bot`` for the
  recommended count (``shards: auto``) and the identify concurrency, identifies through the
  pacer (``client.IdentifyPacer``), and ``start`` returns once the first shard is ready
  (within ``ready_timeout``); every other shard serves its guilds as soon as it is ready. All of
  them are expected within ``ready_timeout + identify_spacing * (waves - 1)``, a wave being
  ``max_concurrency`` shards; past that the log says which are missing. ``shard_status`` (and
  ``/healthz``) tell how many are connected of how many expected; ``healthy`` means all.
* ``api_base_url`` / ``gateway_url`` other than Discord's own switch discord.py's process-wide
  endpoints (see ``endpoints``): for a REST proxy in production, or a local fake in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord
from discord.utils import MISSING

from bot.core.errors import ConfigError, PermanentError, TransientError
from bot.core.messages import ChannelRef, Message, ReactionEvent
from bot.delivery.follows import DirectMessagesClosed
from bot.delivery.ratelimit import RateLimiter
from bot.platforms import shared
from bot.platforms.base import CommandHandler, ReactionHandler
from bot.platforms.discord import command_tree, endpoints, interactions
from bot.platforms.discord import translate as tr
from bot.platforms.discord.client import (
    IDENTIFY_SPACING,
    ClientOptions,
    IdentifyPacer,
    Shards,
    ShardState,
    login,
    make_client,
    set_shards,
)
from bot.platforms.discord.errors import to_delivery_error
from bot.platforms.discord.render import KEYCAPS, ref_of, render_message
from bot.platforms.discord.shards import ShardLeaser

log = logging.getLogger("paperboy.discord")

NONCE_MAX = 25
HISTORY_PAGE = 100
HISTORY_PAGES_MAX = 10
REACTION_PAGE = 100
REACTION_SPACING = 0.25  # Discord: about one reaction added per 0.25 s per channel


CANNOT_DM = 50007  # Discord: "Cannot send messages to this user"


def nonce_for(key: str) -> str:
    """``key`` if it fits Discord's 25-character nonce, else a stable 25-character digest."""
    if 0 < len(key) <= NONCE_MAX:
        return key
    return "pb" + hashlib.sha1(key.encode("utf-8")).hexdigest()[: NONCE_MAX - 2]


def _snowflake(value: str, what: str) -> int:
    if not value.isdigit():
        raise PermanentError(f"unknown_{what}", f"not a Discord {what} id: {value!r}")
    return int(value)


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
        self._token = token
        self._reactions = reactions
        self._api_base_url = api_base_url
        self._gateway_url = gateway_url
        self._test_guild = test_guild
        self._render_options = options
        self._ready_timeout = ready_timeout
        self._identify_spacing = identify_spacing
        self._shard_ids = list(shard_ids) if shard_ids is not None else None
        self._shards = ShardState()
        self._pacer = IdentifyPacer(identify_spacing)
        self._leaser = leaser
        self._shard_count = 0
        self._gate = leaser.may_identify if leaser is not None else None
        if leaser is not None and shards is None:
            raise ConfigError("discord.lease_shards", "needs discord.shards (a count or 'auto')")
        self._client_options = ClientOptions(
            application_id=int(application_id) if application_id else None,
            shards=shards,
            guild_ready_timeout=guild_ready_timeout,
            # discord.py refuses values under 30 s; longer waits surface as RateLimited.
            max_ratelimit_timeout=max(30.0, max_ratelimit_timeout),
            global_rate=global_rate,
        )
        self._runner = interactions.Runner(commands, render_options=options)
        self.seed_emoji: tuple[str, ...] = KEYCAPS if seed_reactions else ()
        self.seed_limiter = RateLimiter(
            global_limit=None, channel_limit=1, channel_period=REACTION_SPACING, margin=0.02
        )
        self.on_reconnect: Callable[[], None] | None = None
        self._work = shared.Background()
        self._ordered = shared.KeyedSerial(self._work)
        self._client: discord.Client | None = None
        self._tree: discord.app_commands.CommandTree[Any] | None = None
        self._gateway_task: asyncio.Task[None] | None = None
        self._release: Callable[[], None] | None = None
        self._down: set[int | None] = set()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def client(self) -> discord.Client | None:
        return self._client

    @property
    def bot_user_id(self) -> int | None:
        client = self._client
        return client.user.id if client is not None and client.user is not None else None

    @property
    def latency(self) -> float:
        """Gateway heartbeat round trip in seconds (inf before the first heartbeat)."""
        return self._client.latency if self._client is not None else float("inf")

    def _make_client(self) -> discord.Client:
        client = make_client(
            self._client_options,
            on_reaction=self._on_reaction,
            down=self._down,
            on_reconnect=self._reconnected,
            pacer=self._pacer,
            state=self._shards,
        )
        self._tree = command_tree.install(client, self._runner)
        return client

    async def start(self) -> None:
        """Log in, connect the gateway in the background, wait until ready, sync commands."""
        if self._client is not None:
            return
        self._release = endpoints.acquire(self._api_base_url, self._gateway_url)
        self._shards = ShardState()
        self._pacer = IdentifyPacer(self._identify_spacing, gate=self._gate)
        client = self._make_client()
        self._client = client
        try:
            await self._login(client)
            await self._plan_shards(client)
            if self._leaser is not None:
                self._use_shards(client, await self._leaser.round(self._shard_count))
            if self._shards.expected:  # a replica that leases no shard yet only posts
                self._gateway_task = asyncio.create_task(self._run_gateway(client), name="discord")
                await self._wait_ready(client)
        except BaseException:
            await self.stop()
            raise
        await self._sync_commands()
        if self._leaser is not None:
            self._work.spawn(self._lease_loop(self._leaser))
        connected, expected = self.shard_status()
        log.info(
            "discord adapter ready as %s in %d guild(s), %d of %d shard(s) ready",
            client.user,
            len(client.guilds),
            connected,
            expected,
        )
        if connected < expected:
            self._work.spawn(self._watch_shards(expected))

    async def _login(self, client: discord.Client) -> None:
        await login(client, self._token)

    async def _run_gateway(self, client: discord.Client) -> None:
        try:
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("discord gateway stopped")

    async def _plan_shards(self, client: discord.Client) -> None:
        """Sharded: the shard count (Discord's recommendation for ``auto``), the identify
        concurrency, and the shards this process runs (all, unless ``shard_ids`` says)."""
        shards = self._client_options.shards
        if shards is None:
            return
        try:
            recommended, _url, limits = await client.http.get_bot_gateway()
        except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
            raise TransientError(f"cannot ask Discord for the shard count: {exc!r}") from exc
        count = int(recommended) if shards == "auto" else shards
        self._pacer.max_concurrency = max(1, int(limits.get("max_concurrency") or 1))
        ids = [i for i in self._shard_ids if i < count] if self._shard_ids is not None else None
        ids = ids if ids is not None else list(range(count))
        if not ids:
            raise ConfigError("discord.shards", f"none of the given shards is below {count}")
        self._shard_count = count
        self._use_shards(client, ids)

    def _use_shards(self, client: discord.Client, ids: Sequence[int]) -> None:
        if ids:
            set_shards(client, self._shard_count, ids)
        self._shards.expected = set(ids)

    async def _lease_loop(self, leaser: ShardLeaser) -> None:
        """Every ``leaser.interval``: renew and rebalance the shard leases, and reconnect with
        the shards now held when they changed. Leases that could not be renewed for a whole
        ttl are presumed lost: every shard is disconnected until a round succeeds."""
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while True:
            await asyncio.sleep(leaser.interval)
            try:
                ids = await leaser.round(self._shard_count)
                last_ok = loop.time()
            except Exception as exc:
                log.warning("could not renew the discord shard leases: %r", exc)
                if loop.time() - last_ok < leaser.ttl:
                    continue
                leaser.held.clear()
                ids = []
            if set(ids) != self._shards.expected:
                try:
                    await self._reconnect(ids)
                except Exception:
                    log.exception("discord reconnect with shards %s failed", ids)
            try:
                await leaser.settle()
            except Exception as exc:
                log.warning("could not release discord shards: %r", exc)

    async def _reconnect(self, ids: list[int]) -> None:
        """Run exactly shards ``ids``: close the gateway of the shards held so far, then log a
        new client in and connect those (none: REST only, for posting)."""
        log.info("discord shards now %s of %d", ids, self._shard_count)
        old, old_gateway = self._client, self._gateway_task
        self._gateway_task = None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        if old_gateway is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(old_gateway, 5.0)
        self._shards = ShardState(expected=set())
        self._down = set()
        client = self._make_client()
        await self._login(client)
        self._use_shards(client, ids)
        self._client = client
        if ids:
            self._gateway_task = asyncio.create_task(self._run_gateway(client), name="discord")
            self._work.spawn(self._caught_up(self._shards, len(ids)))

    async def _caught_up(self, state: ShardState, count: int) -> None:
        """Once the shards just connected are ready, have reactions read back: the ones made
        while nobody held a shard (its old holder died) were never sent to anyone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_budget(count)
        while not state.all_ready and loop.time() < deadline:
            state.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), deadline - loop.time())
        self._reconnected()

    async def _wait_ready(self, client: discord.Client) -> None:
        """Until the first shard is ready (its READY and guilds in), for ``ready_timeout``."""
        gateway = self._gateway_task
        assert gateway is not None
        state = self._shards
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout
        while not state.connected and not gateway.done():
            left = deadline - loop.time()
            if left <= 0:
                break
            state.changed.clear()
            changed = asyncio.ensure_future(state.changed.wait())
            try:
                await asyncio.wait({changed, gateway}, timeout=left, return_when="FIRST_COMPLETED")
            finally:
                changed.cancel()
        if not state.connected:
            raise TransientError("the Discord gateway did not become ready")

    def ready_budget(self, shards: int) -> float:
        """Seconds within which ``shards`` shards are all expected ready: one ready timeout
        after the last identify wave (``max_concurrency`` shards per ``identify_spacing``)."""
        pacer = self._pacer
        return self._ready_timeout + pacer.spacing * (pacer.waves(shards) - 1)

    async def _watch_shards(self, expected: int) -> None:
        """Log once when every shard is ready, or which are still missing past the budget."""
        state = self._shards
        loop = asyncio.get_running_loop()
        budget = self.ready_budget(expected)
        deadline = loop.time() + budget
        while not state.all_ready:
            left = deadline - loop.time()
            if left <= 0:
                missing = sorted(s for s in state.expected - state.ready if s is not None)
                log.error(
                    "discord shards %s not ready %.0f s after start-up (of %d expected)",
                    missing,
                    budget,
                    expected,
                )
                return
            state.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), left)
        log.info("all %d discord shard(s) ready", expected)

    def shard_status(self) -> tuple[int, int]:
        """(shards ready now, shards this process runs)."""
        return self._shards.connected, len(self._shards.expected)

    async def _sync_commands(self) -> None:
        """Register the commands: to the test guild (instant) if set, else globally."""
        tree = self._tree
        if tree is None:
            return
        try:
            if self._test_guild is not None:
                guild = discord.Object(id=self._test_guild)
                tree.copy_global_to(guild=guild)
                synced = await tree.sync(guild=guild)
            else:
                synced = await tree.sync()
            log.info("synced %d discord command(s)", len(synced))
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            # Commands from an earlier sync keep working; posting does not depend on them.
            log.error("could not sync discord commands: %r", exc)

    async def stop(self) -> None:
        """Close the connection and every resource; restore global endpoints (idempotent)."""
        client, self._client = self._client, None
        await self._work.close()
        if client is not None:
            try:
                await client.close()
            except Exception as exc:
                log.warning("discord client did not close cleanly: %r", exc)
        gateway, self._gateway_task = self._gateway_task, None
        if gateway is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(gateway, 5.0)
        if self._leaser is not None:  # disconnected first: a taker never overlaps with us
            try:
                await self._leaser.release()
            except Exception as exc:
                log.warning("could not release the discord shard leases: %r", exc)
        release, self._release = self._release, None
        if release is not None:
            release()

    def healthy(self) -> bool:
        """Every shard ready, not closed, and no gateway connection down (reconnecting)."""
        client = self._client
        return (
            client is not None
            and self._shards.all_ready
            and not client.is_closed()
            and not self._down
        )

    # --- Poster -------------------------------------------------------------------------------

    def _require(self) -> discord.Client:
        client = self._client
        if client is None or client.is_closed():
            raise TransientError("the Discord adapter is not started")
        return client

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        """Send ``message`` as an embed with ``nonce=idempotency_key``; returns the message id."""
        client = self._require()
        channel_id = _snowflake(channel.channel, "channel")
        guild_id = int(channel.workspace) if channel.workspace.isdigit() else None
        nonce = nonce_for(idempotency_key)
        rendered = render_message(message, **self._render_options, ref=nonce)
        target = client.get_partial_messageable(channel_id, guild_id=guild_id)
        view = self._runner.view(shared.public_version(message))
        try:
            sent = await target.send(
                embeds=rendered.embeds,
                nonce=nonce,
                allowed_mentions=discord.AllowedMentions.none(),
                view=view if view is not None else MISSING,
            )
        except Exception as exc:
            raise to_delivery_error(exc, may_have_sent=True) from exc
        return str(sent.id)

    async def send_direct(self, workspace: str, user_id: str, message: Message) -> str:
        """A direct message (follow alerts): the DM channel (``POST /users/@me/channels``),
        then the embed there. ``DirectMessagesClosed`` for Discord's 50007 (the user does not
        accept direct messages from the bot, or shares no server with it)."""
        client = self._require()
        rendered = render_message(message, **self._render_options)
        try:
            dm = await client.http.start_private_message(_snowflake(user_id, "user"))
            target = client.get_partial_messageable(int(dm["id"]))
            sent = await target.send(
                embeds=rendered.embeds, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.Forbidden as exc:
            if exc.code == CANNOT_DM:
                raise DirectMessagesClosed(f"discord {exc.code}") from exc
            raise to_delivery_error(exc, may_have_sent=False) from exc
        except Exception as exc:
            raise to_delivery_error(exc, may_have_sent=True) from exc
        return str(sent.id)

    async def tell_privately(self, channel: ChannelRef, user_id: str, message: Message) -> bool:
        """Discord shows a message to one person only in reply to their own command: not
        possible here (``/papers following`` says their follows are paused)."""
        return False

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        """The id of the bot's message whose footer carries the key, among the messages newer
        than the message ``after`` (newest first; ``HISTORY_PAGES_MAX`` pages when None)."""
        client = self._require()
        channel_id = _snowflake(channel.channel, "channel")
        bound = int(after) if after and after.isdigit() else 0
        key = nonce_for(idempotency_key)
        me = self.bot_user_id
        before: int | None = None
        for _ in range(HISTORY_PAGES_MAX):
            try:
                page = await client.http.logs_from(channel_id, HISTORY_PAGE, before=before)
            except Exception as exc:
                raise to_delivery_error(exc, may_have_sent=False) from exc
            for msg in page:
                if int(msg["id"]) <= bound:
                    return None  # back at what was posted before the send
                if _is_ours(msg, key, me):
                    return str(msg["id"])
            if len(page) < HISTORY_PAGE:
                return None
            before = min(int(m["id"]) for m in page)
        log.warning("find_posted gave up after %d pages of %s", HISTORY_PAGES_MAX, channel)
        return None

    async def prepare(self, channel: ChannelRef) -> None:
        """Nothing to do: the invite's permissions cover posting and reading history."""

    # --- reactions: the seeder's and the backfill's side ----------------------------------------

    def seed_bucket(self, channel: ChannelRef) -> str:
        """Discord limits adding reactions per channel."""
        return channel.channel

    async def add_reaction(self, channel: ChannelRef, message_id: str, emoji: str) -> None:
        """The bot's ``emoji`` under the message (PUT is idempotent: already there is done)."""
        client = self._require()
        channel_id = _snowflake(channel.channel, "channel")
        try:
            await client.http.add_reaction(channel_id, _snowflake(message_id, "message"), emoji)
        except Exception as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc

    async def reactions_on(self, channel: ChannelRef, message_id: str) -> list[ReactionEvent]:
        """Every reaction on the message now, one per (user, emoji): the message's reaction
        counts first, then the users of each emoji someone besides the bot chose."""
        client = self._require()
        channel_id = _snowflake(channel.channel, "channel")
        mid = _snowflake(message_id, "message")
        me = self.bot_user_id
        out: list[ReactionEvent] = []
        try:
            msg: dict[str, Any] = dict(await client.http.get_message(channel_id, mid))
            for r in msg.get("reactions") or []:
                emoji = r.get("emoji") or {}
                others = int(r.get("count") or 0) - (1 if r.get("me") else 0)
                if emoji.get("id") is not None or not emoji.get("name") or others <= 0:
                    continue  # custom emoji are never votes; nobody but the bot chose it
                name = str(emoji["name"])
                after: int | None = None
                while True:
                    users = await client.http.get_reaction_users(
                        channel_id, mid, name, REACTION_PAGE, after=after
                    )
                    page: list[dict[str, Any]] = [dict(u) for u in users]
                    for u in page:
                        bot = bool(u.get("bot")) or (me is not None and int(u["id"]) == me)
                        out.append(
                            ReactionEvent(
                                channel, message_id, str(u["id"]), name, True, user_is_bot=bot
                            )
                        )
                    if len(page) < REACTION_PAGE:
                        break
                    after = max(int(u["id"]) for u in page)
        except Exception as exc:
            raise to_delivery_error(exc, may_have_sent=False) from exc
        return out

    def _reconnected(self) -> None:
        if self.on_reconnect is not None:
            self.on_reconnect()

    # --- votes --------------------------------------------------------------------------------

    async def _on_reaction(self, payload: discord.RawReactionActionEvent, added: bool) -> None:
        """Queued at once, per (channel, message, user): applied in arrival order."""
        key = (payload.channel_id, payload.message_id, payload.user_id)
        self._ordered.submit(key, self._vote(payload, added))

    async def _vote(self, payload: discord.RawReactionActionEvent, added: bool) -> None:
        try:
            ev = tr.reaction_event(payload, added=added, bot_user_id=self.bot_user_id)
            await self._reactions.on_reaction(ev)
        except Exception:
            log.exception("discord reaction on %s failed", payload.message_id)


def _is_ours(msg: Any, key: str, me: int | None) -> bool:
    author = msg.get("author") or {}
    if me is not None and str(author.get("id")) != str(me):
        return False
    return any(ref_of((e.get("footer") or {}).get("text")) == key for e in msg.get("embeds") or [])
