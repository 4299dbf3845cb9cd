"""``paperboy run``: one asyncio process wiring config, store, archive, engine, scheduler, the
configured adapters (terminal, Slack, Discord, several at once) and the HTTP server for
``/healthz`` and ``/metrics``. Stops cleanly on SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from bot.chat.commands import CommandContext, Commands
from bot.chat.votes import VoteService
from bot.config.settings import Settings
from bot.core.clock import Clock, OffsetClock, SystemClock
from bot.core.errors import PaperboyError
from bot.core.messages import ChannelRef
from bot.delivery.digest import DigestBuilder, DigestOptions
from bot.delivery.engine import DeliveryEngine
from bot.delivery.leadership import Leadership
from bot.delivery.scheduler import Scheduler
from bot.ops.http import HttpServer
from bot.ops.metrics import Metrics
from bot.papers.archive import Archive
from bot.papers.model import Week
from bot.platforms.base import Adapter
from bot.storage import Store, open_store
from bot.storage.records import Subscription

log = logging.getLogger("paperboy")

STOP_TIMEOUT = 8.0
DEFAULT_TERMINAL_CRON = "0 9 * * MON"


@dataclass
class App:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    store: Store | None = None
    archive: Archive | None = None
    metrics: Metrics = field(default_factory=Metrics)
    adapters: dict[str, Adapter] = field(default_factory=dict)
    engine: DeliveryEngine | None = None
    scheduler: Scheduler | None = None
    leadership: Leadership | None = None
    votes: VoteService | None = None
    commands: Commands | None = None
    digests: DigestBuilder | None = None
    http: HttpServer | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    http_port: int | None = None
    bot_user_ids: set[str] = field(default_factory=set)

    # -- wiring ------------------------------------------------------------------------------------

    @property
    def terminal_enabled(self) -> bool:
        return self.settings.terminal_enabled

    def terminal_channel(self) -> ChannelRef:
        t = self.settings.terminal
        return ChannelRef("terminal", t.workspace, t.channel)

    async def open(self) -> None:
        """Everything up to (not including) connecting adapters. Raises PaperboyError."""
        s = self.settings
        self.store = open_store(s.store.url)
        await self.store.open()
        self.archive = Archive(
            s.sources.paths,
            s.sources.urls,
            cache_dir=s.sources.cache_dir,
            refresh_interval=s.sources.refresh_interval,
            default_date=s.sources.default_date,
            on_new_weeks=self._on_new_weeks,
        )
        await self.archive.load()
        archive = self.archive
        self.digests = DigestBuilder(
            archive.current,
            self.store,
            DigestOptions(
                summary_length=s.digest.summary_length,
                bullets=s.digest.bullets,
                links=s.digest.links,
                max_papers=s.digest.max_papers,
            ),
            community_window_days=s.scheduler.community_window_days,
        )
        self.votes = VoteService(
            self.store,
            clock=self.clock,
            bot_user_ids=self.bot_user_ids,
            metrics=self.metrics,
            allow_thumbs_up=s.votes.allow_thumbs_up,
            rank_emoji=s.votes.emoji,
        )
        await self._seed_subscriptions()

    async def _seed_subscriptions(self) -> None:
        """Apply the config file's subscriptions. Whichever changed last wins: an entry is
        applied when it is new or was edited since it was last applied (its hash is stored per
        channel), so a schedule set in chat stays until the file's entry for that channel
        changes. A changed schedule counts from now, like one changed in chat."""
        assert self.store is not None
        s = self.settings
        seeds = [x.to_subscription() for x in s.subscriptions]
        if self.terminal_enabled and not any(x.channel.platform == "terminal" for x in seeds):
            seeds.append(
                Subscription(self.terminal_channel(), DEFAULT_TERMINAL_CRON, s.timezone, "curated")
            )
        for seed in seeds:
            entry = _entry_hash(seed)
            if await self.store.config_applied(seed.channel) == entry:
                continue
            existing = await self.store.get_subscription(seed.channel)
            await self.store.upsert_subscription(
                Subscription(
                    seed.channel,
                    seed.cron,
                    seed.timezone,
                    seed.kind,
                    existing.enabled if existing else True,
                    existing.paused_reason if existing else None,
                    self.clock.now(),  # kept if the schedule is unchanged
                    origin="config",
                )
            )
            await self.store.set_config_applied(seed.channel, entry, self.clock.now())
            log.info(
                "subscription from the config file applied", extra={"channel": str(seed.channel)}
            )

    def _build_adapters(self) -> None:
        assert self.commands is not None and self.votes is not None and self.store is not None
        s = self.settings
        if self.terminal_enabled:
            from bot.platforms.terminal import TerminalAdapter

            self.adapters["terminal"] = TerminalAdapter(
                commands=self.commands,
                reactions=self.votes,
                store=self.store,
                workspace=s.terminal.workspace,
                channel=s.terminal.channel,
                color=s.terminal.color,
                on_quit=self.request_stop,
                summary_length=s.digest.summary_length,
            )
        if s.slack is not None:
            from bot.platforms.slack import SlackAdapter

            self.adapters["slack"] = SlackAdapter(
                bot_token=s.slack.bot_token,
                app_token=s.slack.app_token,
                signing_secret=s.slack.signing_secret,
                mode=s.slack.mode,
                api_base_url=s.slack.api_base_url,
                commands=self.commands,
                reactions=self.votes,
                admin_user_group=s.slack.admin_user_group,
                seed_reactions=s.slack.seed_reactions and s.digest.seed_reactions,
                http_app=self.http.app if self.http is not None else None,
                render_options={
                    "summary_length": s.digest.summary_length,
                    "show_links": s.digest.links,
                },
            )
        if s.discord is not None:
            from bot.platforms.discord import DiscordAdapter

            self.adapters["discord"] = DiscordAdapter(
                token=s.discord.token,
                commands=self.commands,
                reactions=self.votes,
                application_id=s.discord.application_id,
                api_base_url=s.discord.api_base_url,
                gateway_url=s.discord.gateway_url,
                test_guild=s.discord.test_guild,
                shards=s.discord.shards,
                seed_reactions=s.discord.seed_reactions and s.digest.seed_reactions,
                render_options={
                    "summary_length": min(s.digest.summary_length, 200),
                    "show_links": s.digest.links,
                },
            )

    async def start(self) -> None:
        await self.open()
        assert self.store is not None and self.archive is not None and self.digests is not None
        s = self.settings
        h = s.http
        self.http = HttpServer(h.host, h.port, health=self._health, metrics=self._metrics_text)
        self.leadership = Leadership(self.store, ttl=s.scheduler.lease_ttl.total_seconds())
        self.engine = DeliveryEngine(
            self.store,
            {},
            self.digests,
            clock=self.clock,
            admin_channel=s.admin_channel,
            stalled_after_weeks=s.scheduler.stalled_after_weeks,
            metrics=self.metrics,
            leadership=self.leadership,
        )
        self.scheduler = Scheduler(
            self.store,
            self.engine,
            self.clock,
            grace=s.scheduler.grace,
            leadership=self.leadership,
            leader_poll=s.scheduler.leader_poll,
        )
        self.commands = Commands(
            CommandContext(
                catalog=self.archive.current,
                store=self.store,
                clock=self.clock,
                digests=self.digests,
                engine=self.engine,
                default_timezone=s.timezone,
                on_subscriptions_changed=self.scheduler.wake,
                metrics=self.metrics,
                votes=self.votes,
            )
        )
        self._build_adapters()
        self.engine.posters.update(self.adapters)
        await self._start_http()
        for name, adapter in self.adapters.items():
            await adapter.start()
            log.info("adapter started", extra={"platform": name})
        await self._check_workspaces()
        if await self.leadership.acquire():  # a standby leaves this to the leader
            await self.engine.reconcile_pending()
        self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        self._tasks.append(asyncio.create_task(self.archive.run(), name="sources"))

    async def _check_workspaces(self) -> None:
        """Warn about Slack subscriptions naming another workspace than the one connected:
        commands in that channel would not find them, and a second one could be created."""
        slack = self.adapters.get("slack")
        team = getattr(slack, "team_id", "")
        if not team or self.store is None:
            return
        for sub in await self.store.list_subscriptions():
            if sub.channel.platform == "slack" and sub.channel.workspace != team:
                log.warning(
                    "slack subscription names another workspace than the connected one",
                    extra={"channel": str(sub.channel), "connected_team": team},
                )

    def _on_new_weeks(self, weeks: list[Week]) -> None:
        log.info("new curated weeks", extra={"weeks": ",".join(w.start.isoformat() for w in weeks)})
        if self.scheduler is not None:
            self.scheduler.wake()

    # -- http --------------------------------------------------------------------------------------

    def _health(self) -> tuple[dict[str, Any], bool]:
        adapters = {name: a.healthy() for name, a in self.adapters.items()}
        ok = all(adapters.values()) and not self._stopping.is_set()
        body = {
            "status": "ok" if ok else "degraded",
            "adapters": adapters,
            "papers": len(self.archive.catalog) if self.archive else 0,
        }
        return body, ok

    def _metrics_text(self) -> str:
        if self.archive is not None:
            self.metrics.set("catalog_papers", len(self.archive.catalog))
        return self.metrics.render_prometheus()

    async def _start_http(self) -> None:
        h = self.settings.http
        if not h.enabled or self.http is None:
            return
        try:
            await self.http.start()
        except OSError as exc:
            slack_http = self.settings.slack is not None and self.settings.slack.mode == "http"
            if slack_http:
                raise PaperboyError(
                    f"cannot listen on {h.host}:{h.port} for Slack events: {exc.strerror}"
                ) from exc
            log.warning("health server not started", extra={"port": h.port, "error": exc.strerror})
            return
        self.http_port = self.http.port

    # -- running and stopping ---------------------------------------------------------------------

    async def post_now(self) -> None:
        """``--now``: post the current digest to the terminal channel through the ledger; if it
        was posted before, show it again without posting (the ledger never double-posts)."""
        assert self.store is not None and self.engine is not None and self.digests is not None
        sub = await self.store.get_subscription(self.terminal_channel())
        terminal = self.adapters.get("terminal")
        if sub is None or terminal is None:
            return
        outcome = await self.engine.deliver(sub)
        if outcome.status in ("already_sent", "nothing_new", "standby"):
            digest = self.digests.curated()
            if digest is not None:
                from bot.platforms.terminal import TerminalAdapter

                assert isinstance(terminal, TerminalAdapter)
                if outcome.status == "standby":
                    terminal.write("(Another Paperboy process sends digests from this database.)")
                else:
                    terminal.write(
                        "(This week's digest was already posted here; showing it again.)"
                    )
                terminal.write(terminal.render(digest.message))

    def start_input(self) -> None:
        """Begin reading terminal input (after any ``--now`` digest is on screen)."""
        from bot.platforms.terminal import TerminalAdapter

        terminal = self.adapters.get("terminal")
        if isinstance(terminal, TerminalAdapter):
            terminal.start_reading()

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait(self) -> None:
        await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self.archive is not None:
            self.archive.stop()
        if self.scheduler is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.scheduler.stop(), timeout=STOP_TIMEOUT)
        if self.leadership is not None:
            await self.leadership.release()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for name, adapter in self.adapters.items():
            try:
                await asyncio.wait_for(adapter.stop(), timeout=3)
            except Exception:
                log.warning("adapter did not stop cleanly", extra={"platform": name})
        if self.http is not None:
            await self.http.stop()
        if self.store is not None:
            await self.store.close()
        if self.archive is not None:
            self.archive.catalog.close()


def _entry_hash(sub: Subscription) -> str:
    """What identifies a config file entry's settings for a channel (its schedule and kind)."""
    text = f"{sub.cron}\x1f{sub.timezone}\x1f{sub.kind}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


async def run_app(settings: Settings, *, now: bool = False) -> int:
    """Run until SIGTERM / SIGINT (or ``quit`` in the terminal). Returns the exit code."""
    offset = settings.clock_offset
    app = App(settings, clock=OffsetClock(offset) if offset else SystemClock())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, app.request_stop)
    try:
        await app.start()
        if now:
            await app.post_now()
        app.start_input()
        log.info("paperboy running", extra={"adapters": ",".join(app.adapters) or "none"})
        await app.wait()
        log.info("stopping")
    finally:
        await app.stop()
    log.info("stopped")
    return 0
