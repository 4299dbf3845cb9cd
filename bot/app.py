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
from pathlib import Path
from typing import Any

from bot.chat.backfill import Backfill, ReactionReader
from bot.chat.commands import CommandContext, Commands
from bot.chat.votes import VoteService
from bot.config.settings import DEFAULT_DATABASE_URL, Settings
from bot.core.clock import Clock, OffsetClock, SystemClock
from bot.core.errors import PaperboyError
from bot.core.messages import ChannelRef
from bot.delivery.digest import DigestBuilder, DigestOptions
from bot.delivery.engine import DeliveryEngine
from bot.delivery.follows import DirectMessenger, FollowAlerts
from bot.delivery.leadership import Leadership
from bot.delivery.scheduler import Scheduler
from bot.delivery.seeding import Seeder, SeedTarget, SendActivity
from bot.ops.http import HttpServer
from bot.ops.metrics import Metrics
from bot.papers.archive import Archive
from bot.papers.arxiv import ArxivClient, ArxivIndex, ArxivRefresher
from bot.papers.model import Week
from bot.platforms.base import Adapter
from bot.storage import Store, open_store
from bot.storage.records import Subscription

log = logging.getLogger("paperboy")

STOP_TIMEOUT = 8.0
FOLLOW_METADATA_WAIT = 120.0  # seconds a new week's alerts wait for its arXiv metadata
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
                history_file=Path(s.sources.cache_dir).parent / "history",
                exit_on_eof=self.exit_on_eof,
            )
        if s.slack is not None:
            from bot.platforms.slack import SlackAdapter
            from bot.platforms.slack.manifest import BOT_SCOPES
            from bot.platforms.slack.oauth import OAuthOptions

            o = s.slack.oauth
            oauth = None
            if o is not None:
                oauth = OAuthOptions(
                    client_id=o.client_id,
                    client_secret=o.client_secret,
                    scopes=o.scopes or BOT_SCOPES,
                    redirect_uri=o.redirect_uri,
                    authorization_url=o.authorization_url,
                )

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
                reaction_calls=s.slack.reaction_calls,
                reaction_period=s.slack.reaction_period.total_seconds(),
                http_app=self.http.app if self.http is not None else None,
                oauth=oauth,
                store=self.store,
                render_options={
                    "summary_length": s.digest.summary_length,
                    "show_links": s.digest.links,
                },
            )
        if s.discord is not None:
            from bot.platforms.discord import DiscordAdapter
            from bot.platforms.discord.shards import ShardLeaser

            leaser = None
            if s.discord.lease_shards and self.leadership is not None:
                ttl = s.scheduler.lease_ttl.total_seconds()
                leaser = ShardLeaser(self.store, self.leadership.owner, ttl=ttl)
            self.adapters["discord"] = DiscordAdapter(
                token=s.discord.token,
                commands=self.commands,
                reactions=self.votes,
                application_id=s.discord.application_id,
                api_base_url=s.discord.api_base_url,
                gateway_url=s.discord.gateway_url,
                test_guild=s.discord.test_guild,
                shards=s.discord.shards,
                ready_timeout=s.discord.ready_timeout.total_seconds(),
                leaser=leaser,
                seed_reactions=s.discord.seed_reactions and s.digest.seed_reactions,
                render_options={
                    "summary_length": min(s.digest.summary_length, 200),
                    "show_links": s.digest.links,
                },
            )

    async def start(self) -> None:
        await self.open()
        assert self.store is not None and self.archive is not None and self.digests is not None
        archive = self.archive
        s = self.settings
        h = s.http
        self.http = HttpServer(h.host, h.port, health=self._health, metrics=self._metrics_text)
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
        assert self.votes is not None
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
                share_ttl=s.votes.share_ttl,
                web_base_url=s.web_base_url,
                arxiv=self.arxiv,
                ready=lambda: archive.ready,
            )
        )
        self._install_web()
        self._build_adapters()
        self._preset_metrics()
        self.engine.posters.update(self.adapters)
        # /healthz answers (``loading``) and commands get a "still loading" reply while the
        # archive loads, off the event loop; digests and the scheduler wait for it.
        await self._start_http()
        for name, adapter in self.adapters.items():
            await adapter.start()
            log.info("adapter started", extra={"platform": name})
        await self.archive.load()
        await self._check_workspaces()
        leading = await self.leadership.acquire()  # before seeding: only the leader seeds
        self._start_reactions()
        self._start_follow_alerts(resume=leading)
        if leading:  # a standby leaves this to the leader
            await self.engine.reconcile_pending()
        self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        self._tasks.append(asyncio.create_task(self.archive.run(), name="sources"))
        self._start_arxiv()

    def _start_follow_alerts(self, *, resume: bool) -> None:
        """Follow alerts go out from the leader when a new week arrives; at start the leader
        sends what an earlier run claimed and did not get to."""
        assert self.store is not None and self.archive is not None
        assert self.leadership is not None
        leadership = self.leadership
        messengers = {
            name: a for name, a in self.adapters.items() if isinstance(a, DirectMessenger)
        }
        self.follow_alerts = FollowAlerts(
            self.store,
            self.archive.current,
            messengers,
            clock=self.clock,
            owner=leadership.owner,
            meta=self.arxiv.for_paper,
            leading=lambda: leadership.held,
            metrics=self.metrics,
        )
        if resume:
            self._spawn(self.follow_alerts.resume(), "follow-alerts")

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.append(task)

    async def _alert_follows(self, week: Week) -> None:
        """A new week's follow alerts, once its papers' arXiv metadata had a chance to come
        in (``author:`` and ``cat:`` follows need it; waiting is bounded)."""
        assert self.follow_alerts is not None
        if self.arxiv_refresher is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOW_METADATA_WAIT):
                    await self.arxiv_refresher.refresh()
        try:
            await self.follow_alerts.on_new_week(week)
        except Exception:
            log.exception("follow alerts failed", extra={"week": week.key})

    def _start_arxiv(self) -> None:
        """arXiv metadata in the background: first what the store kept, then what is missing or
        stale from arXiv. Nothing waits for it; without it papers simply show no authors."""
        s = self.settings.arxiv
        if not s.enabled or self.store is None or self.archive is None:
            return
        archive = self.archive
        leadership = self.leadership

        def arxiv_ids() -> list[str]:
            return [aid for p in archive.catalog.papers if (aid := p.arxiv_id)]

        self.arxiv_refresher = ArxivRefresher(
            ArxivClient(s.api_base_url, clock=self.clock),
            self.store,
            self.arxiv,
            arxiv_ids,
            clock=self.clock,
            stale_after=s.refresh_after,
            leading=lambda: leadership is None or leadership.held,
        )
        self._tasks.append(asyncio.create_task(self.arxiv_refresher.run(), name="arxiv"))

    def _start_reactions(self) -> None:
        """Seeding resumes the reactions an earlier run left to add; each platform's votes are
        read back now, and again whenever its connection comes back."""
        assert self.seeder is not None and self.backfill is not None
        backfill = self.backfill
        for name, adapter in self.adapters.items():
            if isinstance(adapter, SeedTarget):
                self.seeder.targets[name] = adapter
            if isinstance(adapter, ReactionReader):
                backfill.readers[name] = adapter
                if hasattr(adapter, "on_reconnect"):
                    adapter.on_reconnect = lambda name=name: backfill.request(name)
                backfill.request(name)
        self.seeder.start()

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
            self._spawn(self._alert_follows(newest), "follow-alerts")
        elif self.arxiv_refresher is not None:
            self.arxiv_refresher.wake()

    # -- http --------------------------------------------------------------------------------------

    def _install_web(self) -> None:
        """The web archive's routes on the HTTP server, when ``web.enabled``."""
        s = self.settings
        if not (s.web.enabled and s.http.enabled) or self.http is None:
            return
        assert self.archive is not None and self.store is not None and self.votes is not None
        from bot.web import WebContext, WebOptions, WebSite

        options = WebOptions(base_url=s.web.base_url, cache_seconds=s.web.cache_seconds)
        archive = self.archive
        ctx = WebContext(
            self.archive.current,
            self.store,
            self.votes,
            clock=self.clock,
            options=options,
            arxiv=self.arxiv,
            ready=lambda: archive.ready,
        )
        WebSite(ctx).install(self.http.app)

    def _health(self) -> tuple[dict[str, Any], bool]:
        adapters = {name: a.healthy() for name, a in self.adapters.items()}
        loading = self.archive is None or not self.archive.ready
        ok = all(adapters.values()) and not self._stopping.is_set() and not loading
        body: dict[str, Any] = {
            "status": "loading" if loading else "ok" if ok else "degraded",
            "adapters": adapters,
            "papers": len(self.archive.catalog) if self.archive else 0,
        }
        shards = self._shard_status()
        if shards:
            body["shards"] = shards
        return body, ok

    def _shard_status(self) -> dict[str, dict[str, int]]:
        """Per platform with gateway shards: how many are connected of how many expected."""
        out: dict[str, dict[str, int]] = {}
        for name, adapter in self.adapters.items():
            status = getattr(adapter, "shard_status", None)
            if callable(status):
                connected, expected = status()
                out[name] = {"connected": connected, "expected": expected}
        return out

    def _preset_metrics(self) -> None:
        """Votes and commands series from the start, at zero, for every configured platform."""
        from bot.chat.commands import KNOWN_SUBCOMMANDS

        platforms = [p for p in ("terminal", "slack", "discord") if p in self.adapters]
        self.metrics.preset("votes", platform=platforms, action=("add", "remove"))
        self.metrics.preset("votes_reconciled", platform=platforms, action=("add", "remove"))
        self.metrics.preset("command_seconds", command=(*sorted(KNOWN_SUBCOMMANDS), "unknown"))
        self.metrics.preset("adapter_connected", platform=platforms)

    def _metrics_text(self) -> str:
        if self.archive is not None:
            self.metrics.set("catalog_papers", len(self.archive.catalog))
            self.metrics.set("arxiv_papers", len(self.arxiv))
            self.metrics.set("archive_ready", int(self.archive.ready))
            self.metrics.set("sources_parsed", self.archive.parse_cache.parsed)
            self.metrics.set("sources_parse_reused", self.archive.parse_cache.reused)
            self.metrics.set("catalog_indexed_papers", self.archive.indexed)
            refreshed = self.archive.refreshed_at
            if refreshed is not None:
                self.metrics.set("sources_last_refresh_timestamp_seconds", refreshed)
        for name, adapter in self.adapters.items():
            self.metrics.set("adapter_connected", int(adapter.healthy()), platform=name)
        for name, shards in self._shard_status().items():
            self.metrics.set("shards_connected", shards["connected"], platform=name)
            self.metrics.set("shards_expected", shards["expected"], platform=name)
        return self.metrics.render_prometheus()

    async def _start_http(self) -> None:
        h = self.settings.http
        if not h.enabled or self.http is None:
            return
        try:
            await self.http.start()
        except OSError as exc:
            # Fatal: running on without /healthz makes a deployment's health check fail in a
            # confusing way (and Slack's http mode gets no events at all).
            from bot.platforms.shared import network_problem

            slack_http = self.settings.slack is not None and self.settings.slack.mode == "http"
            what = "Slack events and /healthz" if slack_http else "/healthz and /metrics"
            raise PaperboyError(
                f"cannot listen on {h.host}:{h.port} for {what}: {network_problem(exc)}; set "
                "http.port (0: any free port) or PORT, http.host, or http.enabled: false"
            ) from exc
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
