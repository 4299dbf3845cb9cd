"""``paperboy run``: one asyncio process wiring config, store, archive, engine, scheduler, the
configured adapters (terminal, Slack, Discord, several at once) and the HTTP server for
``/healthz`` and ``/metrics``. Stops cleanly on SIGTERM / SIGINT.

The platform adapters are built in ``adapters.py``, the HTTP side in ``http.py`` and the
background jobs in ``jobs.py``; ``App`` holds the pieces and starts and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from bot.app.adapters import discord_adapter, slack_adapter, terminal_adapter
from bot.app.http import HttpSide
from bot.app.jobs import Jobs, alert_follows
from bot.chat.backfill import Backfill
from bot.chat.commands import CommandContext, Commands
from bot.chat.votes import VoteService
from bot.config.settings import DEFAULT_DATABASE_URL, Settings
from bot.core.clock import Clock, OffsetClock, SystemClock
from bot.core.messages import ChannelRef
from bot.delivery.digest import DigestBuilder, DigestOptions
from bot.delivery.engine import DeliveryEngine
from bot.delivery.follows import FollowAlerts
from bot.delivery.leadership import Leadership
from bot.delivery.scheduler import Scheduler
from bot.delivery.seeding import Seeder, SendActivity
from bot.ops.http import HttpServer
from bot.ops.metrics import Metrics
from bot.papers.archive import Archive
from bot.papers.arxiv import ArxivIndex, ArxivRefresher
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
    seeder: Seeder | None = None
    backfill: Backfill | None = None
    commands: Commands | None = None
    digests: DigestBuilder | None = None
    http: HttpServer | None = None
    # arXiv metadata: read by commands, the web and search; filled in the background.
    arxiv: ArxivIndex = field(default_factory=ArxivIndex)
    arxiv_refresher: ArxivRefresher | None = None
    follow_alerts: FollowAlerts | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _http_side: HttpSide | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    http_port: int | None = None
    bot_user_ids: set[str] = field(default_factory=set)
    exit_on_eof: bool = False  # the terminal stops the bot when piped input ends

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
        self.store = open_store(s.store.url, create_dir=s.store.url == DEFAULT_DATABASE_URL)
        await self.store.open()
        self.archive = Archive(
            s.sources.paths,
            s.sources.urls,
            cache_dir=s.sources.cache_dir,
            refresh_interval=s.sources.refresh_interval,
            default_date=s.sources.default_date,
            on_new_weeks=self._on_new_weeks,
            limits=s.sources.limits,
            hold_back=s.sources.hold_back,
            on_notice=self._notify_admin,
            # Parsed sources and the search index, next to the cached copies: derived data.
            index_dir=s.sources.index_dir,
        )
        archive = self.archive
        self.digests = DigestBuilder(
            archive.current,
            self.store,
            DigestOptions(
                summary_length=s.digest.summary_length,
                bullets=s.digest.bullets,
                links=s.digest.links,
                max_papers=s.digest.max_papers,
                archive_url=s.web_base_url,
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
        """One adapter per configured platform (tests wrap this to tune an adapter)."""
        assert self.commands is not None and self.votes is not None and self.store is not None
        s, commands, votes, store = self.settings, self.commands, self.votes, self.store
        if self.terminal_enabled:
            self.adapters["terminal"] = terminal_adapter(
                s, commands, votes, store, on_quit=self.request_stop, exit_on_eof=self.exit_on_eof
            )
        if s.slack is not None:
            http_app = self.http.app if self.http is not None else None
            self.adapters["slack"] = slack_adapter(s, commands, votes, store, http_app=http_app)
        if s.discord is not None:
            self.adapters["discord"] = discord_adapter(
                s, commands, votes, store, leadership=self.leadership
            )

    async def start(self) -> None:
        await self.open()
        self._build_delivery()
        self._build_commands()
        assert self._http_side is not None and self.engine is not None
        assert self.store is not None and self.votes is not None
        self._http_side.install_web(self.store, self.votes, self.clock)
        self._build_adapters()
        self._http_side.preset_metrics()
        self.engine.posters.update(self.adapters)
        await self._connect()
        await self._start_background()

    def _build_delivery(self) -> None:
        """The HTTP server, leadership, seeding, the delivery engine, backfill, the scheduler."""
        assert self.store is not None and self.archive is not None and self.digests is not None
        assert self.votes is not None
        s = self.settings
        self._http_side = HttpSide(
            s, self.archive, self.metrics, self.arxiv, self.adapters, self._stopping
        )
        self.http = self._http_side.server
        self.leadership = Leadership(self.store, ttl=s.scheduler.lease_ttl.total_seconds())
        activity = SendActivity()  # seeding and backfill hold back while digests go out
        leadership = self.leadership
        self.seeder = Seeder(
            self.store,
            clock=self.clock,
            activity=activity,
            metrics=self.metrics,
            leading=lambda: leadership.held,
        )
        self.engine = DeliveryEngine(
            self.store,
            {},
            self.digests,
            clock=self.clock,
            admin_channel=s.admin_channel,
            stalled_after_weeks=s.scheduler.stalled_after_weeks,
            metrics=self.metrics,
            activity=activity,
            on_posted=self.seeder.enqueue,
            leadership=self.leadership,
        )
        self.backfill = Backfill(
            self.store, self.votes, clock=self.clock, window=s.votes.window, activity=activity
        )
        self.scheduler = Scheduler(
            self.store,
            self.engine,
            self.clock,
            grace=s.scheduler.grace,
            leadership=self.leadership,
            leader_poll=s.scheduler.leader_poll,
        )

    def _build_commands(self) -> None:
        assert self.store is not None and self.archive is not None and self.digests is not None
        assert self.engine is not None and self.scheduler is not None
        s = self.settings
        archive = self.archive
        self.commands = Commands(
            CommandContext(
                catalog=archive.current,
                store=self.store,
                clock=self.clock,
                digests=self.digests,
                engine=self.engine,
                default_timezone=s.timezone,
                on_subscriptions_changed=self.scheduler.wake,
                metrics=self.metrics,
                votes=self.votes,
                share_ttl=s.votes.share_ttl,
                web_base_url=s.web_base_url,
                arxiv=self.arxiv,
                ready=lambda: archive.ready,
            )
        )

    async def _connect(self) -> None:
        """/healthz answers (``loading``) and commands get a "still loading" reply while the
        archive loads, off the event loop; digests and the scheduler wait for it."""
        assert self._http_side is not None and self.archive is not None
        self.http_port = await self._http_side.start()
        for name, adapter in self.adapters.items():
            await adapter.start()
            log.info("adapter started", extra={"platform": name})
        await self.archive.load()

    async def _start_background(self) -> None:
        assert self.store is not None and self.archive is not None and self.engine is not None
        assert self.leadership is not None and self.scheduler is not None
        assert self.seeder is not None and self.backfill is not None
        jobs = Jobs(
            self.settings,
            self.clock,
            self.store,
            self.archive,
            self.metrics,
            self.arxiv,
            self.adapters,
            self.leadership,
            self._tasks,
        )
        await jobs.check_workspaces()
        leading = await self.leadership.acquire()  # before seeding: only the leader seeds
        jobs.start_reactions(self.seeder, self.backfill)
        self.follow_alerts = jobs.start_follow_alerts(resume=leading)
        if leading:  # a standby leaves this to the leader
            await self.engine.reconcile_pending()
        self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        self._tasks.append(asyncio.create_task(self.archive.run(), name="sources"))
        self.arxiv_refresher = jobs.start_arxiv()

    async def _notify_admin(self, key: str, text: str) -> None:
        """The archive's notices (a source held back) for the admin channel, once per key."""
        if self.engine is not None:
            await self.engine.notify_admin(key, text)
        else:
            log.warning(text, extra={"key": key})

    def _on_new_weeks(self, weeks: list[Week]) -> None:
        log.info("new curated weeks", extra={"weeks": ",".join(w.start.isoformat() for w in weeks)})
        if self.scheduler is not None:
            self.scheduler.wake()
        curated = [w for w in weeks if w.kind == "weekly"]
        if self.follow_alerts is not None and curated:
            newest = max(curated, key=lambda w: w.start)
            work = alert_follows(newest, self.follow_alerts, self.arxiv_refresher)
            self._tasks.append(asyncio.create_task(work, name="follow-alerts"))
        elif self.arxiv_refresher is not None:
            self.arxiv_refresher.wake()

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
        if self.arxiv_refresher is not None:
            self.arxiv_refresher.stop()
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
        # What is left to seed stays stored for the next start.
        if self.seeder is not None:
            await self.seeder.stop()
        if self.backfill is not None:
            await self.backfill.stop()
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


async def run_app(settings: Settings, *, now: bool = False, exit_on_eof: bool = False) -> int:
    """Run until SIGTERM / SIGINT (or ``quit`` in the terminal, or the end of piped input with
    ``exit_on_eof``). Returns the exit code."""
    offset = settings.clock_offset
    clock = OffsetClock(offset) if offset else SystemClock()
    app = App(settings, clock=clock, exit_on_eof=exit_on_eof)
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
