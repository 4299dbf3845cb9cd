"""The Discord gateway: the discord.py client's life, from login to stop, and its shards.

* ``start`` logs in, connects the gateway in the background, waits until ready and syncs the
  commands; ``stop`` closes everything and restores the global endpoints (idempotent).
* Start-up scales with the shard count: a sharded client asks ``GET /gateway/bot`` for the
  recommended count (``shards: auto``) and the identify concurrency, identifies through the
  pacer (``client.IdentifyPacer``), and ``start`` returns once the first shard is ready
  (within ``ready_timeout``); every other shard serves its guilds as soon as it is ready. All of
  them are expected within ``ready_timeout + identify_spacing * (waves - 1)``, a wave being
  ``max_concurrency`` shards; past that the log says which are missing. ``shard_status`` (and
  ``/healthz``) tell how many are connected of how many expected; ``healthy`` means all.
* With a ``leaser`` (replicas sharing the shards), the leases are renewed every interval and
  the client reconnects with exactly the shards now held (see ``bot.platforms.discord.shards``).
* ``on_reconnect`` is called when the gateway comes back as a new session, and once shards
  taken over from another replica are ready.
* ``api_base_url`` / ``gateway_url`` other than Discord's own switch discord.py's process-wide
  endpoints (see ``endpoints``): for a REST proxy in production, or a local fake in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord

from bot.core.errors import ConfigError, TransientError
from bot.platforms import shared
from bot.platforms.discord import command_tree, endpoints, interactions
from bot.platforms.discord.client import (
    ClientOptions,
    IdentifyPacer,
    OnReaction,
    ShardState,
    login,
    make_client,
    set_shards,
)
from bot.platforms.discord.shards import ShardLeaser

log = logging.getLogger("paperboy.discord")

CLOSE_WAIT = 5.0  # seconds a closed client's gateway task gets to end


class DiscordGateway:
    """One discord.py client at a time: logged in, connected with the shards this process
    runs, watched until ready, reconnected when the shard leases change."""

    def __init__(
        self,
        token: str,
        options: ClientOptions,
        *,
        runner: interactions.Runner,
        on_reaction: OnReaction,
        work: shared.Background,
        api_base_url: str | None = None,
        gateway_url: str | None = None,
        test_guild: int | None = None,
        ready_timeout: float = 30.0,
        identify_spacing: float,
        shard_ids: Sequence[int] | None = None,
        leaser: ShardLeaser | None = None,
    ) -> None:
        self._token = token
        self._client_options = options
        self._runner = runner
        self._on_reaction = on_reaction
        self._work = work
        self._api_base_url = api_base_url
        self._gateway_url = gateway_url
        self._test_guild = test_guild
        self._ready_timeout = ready_timeout
        self.identify_spacing = identify_spacing  # read at each ``start``
        self._shard_ids = list(shard_ids) if shard_ids is not None else None
        self.shards = ShardState()
        self._pacer = IdentifyPacer(identify_spacing)
        self.leaser = leaser  # None: this process runs every shard it planned
        self._shard_count = 0
        self._gate = leaser.may_identify if leaser is not None else None
        self.on_reconnect: Callable[[], None] | None = None
        self._client: discord.Client | None = None
        self._tree: discord.app_commands.CommandTree[Any] | None = None
        self._gateway_task: asyncio.Task[None] | None = None
        self._release: Callable[[], None] | None = None
        self._down: set[int | None] = set()

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

    def require(self) -> discord.Client:
        """The client, for a REST call; ``TransientError`` while there is none."""
        client = self._client
        if client is None or client.is_closed():
            raise TransientError("the Discord adapter is not started")
        return client

    def _make_client(self) -> discord.Client:
        client = make_client(
            self._client_options,
            on_reaction=self._on_reaction,
            down=self._down,
            on_reconnect=self._reconnected,
            pacer=self._pacer,
            state=self.shards,
        )
        self._tree = command_tree.install(client, self._runner)
        return client

    async def start(self) -> None:
        """Log in, connect the gateway in the background, wait until ready, sync commands."""
        if self._client is not None:
            return
        self._release = endpoints.acquire(self._api_base_url, self._gateway_url)
        self.shards = ShardState()
        self._pacer = IdentifyPacer(self.identify_spacing, gate=self._gate)
        client = self._make_client()
        self._client = client
        try:
            await self._login(client)
            await self._plan_shards(client)
            if self.leaser is not None:
                self._use_shards(client, await self.leaser.round(self._shard_count))
            if self.shards.expected:  # a replica that leases no shard yet only posts
                self._gateway_task = asyncio.create_task(self._run_gateway(client), name="discord")
                await self._wait_ready(client)
        except BaseException:
            await self.stop()
            raise
        await self._sync_commands()
        if self.leaser is not None:
            self._work.spawn(self._lease_loop(self.leaser))
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
        self.shards.expected = set(ids)

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
            if set(ids) != self.shards.expected:
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
                await asyncio.wait_for(old_gateway, CLOSE_WAIT)
        self.shards = ShardState(expected=set())
        self._down = set()
        client = self._make_client()
        await self._login(client)
        self._use_shards(client, ids)
        self._client = client
        if ids:
            self._gateway_task = asyncio.create_task(self._run_gateway(client), name="discord")
            self._work.spawn(self._caught_up(self.shards, len(ids)))

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
        state = self.shards
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
        state = self.shards
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
        return self.shards.connected, len(self.shards.expected)

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
                await asyncio.wait_for(gateway, CLOSE_WAIT)
        if self.leaser is not None:  # disconnected first: a taker never overlaps with us
            try:
                await self.leaser.release()
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
            and self.shards.all_ready
            and not client.is_closed()
            and not self._down
        )

    def _reconnected(self) -> None:
        if self.on_reconnect is not None:
            self.on_reconnect()
