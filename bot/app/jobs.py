"""The background work ``paperboy run`` starts once adapters are connected: reaction seeding and
backfill, follow alerts, the arXiv metadata refresher, and the workspace check at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from bot.chat.backfill import Backfill, ReactionReader
from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.delivery.follows import DirectMessenger, FollowAlerts
from bot.delivery.leadership import Leadership
from bot.delivery.seeding import Seeder, SeedTarget
from bot.ops.metrics import Metrics
from bot.papers.archive import Archive
from bot.papers.arxiv import ArxivClient, ArxivIndex, ArxivRefresher
from bot.papers.model import Week
from bot.platforms.base import Adapter
from bot.storage import Store

log = logging.getLogger("paperboy")

FOLLOW_METADATA_WAIT = 120.0  # seconds a new week's alerts wait for its arXiv metadata


@dataclass
class Jobs:
    """Starts the background work; its tasks go on ``tasks`` (the app's, cancelled at stop)."""

    settings: Settings
    clock: Clock
    store: Store
    archive: Archive
    metrics: Metrics
    arxiv: ArxivIndex
    adapters: Mapping[str, Adapter]
    leadership: Leadership
    tasks: list[asyncio.Task[Any]]

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        self.tasks.append(asyncio.create_task(work, name=name))

    def start_reactions(self, seeder: Seeder, backfill: Backfill) -> None:
        """Seeding resumes the reactions an earlier run left to add; each platform's votes are
        read back now, and again whenever its connection comes back."""
        for name, adapter in self.adapters.items():
            if isinstance(adapter, SeedTarget):
                seeder.targets[name] = adapter
            if isinstance(adapter, ReactionReader):
                backfill.readers[name] = adapter
                if hasattr(adapter, "on_reconnect"):
                    adapter.on_reconnect = lambda name=name: backfill.request(name)
                backfill.request(name)
        seeder.start()

    def start_follow_alerts(self, *, resume: bool) -> FollowAlerts:
        """Follow alerts go out from the leader when a new week arrives; at start the leader
        sends what an earlier run claimed and did not get to."""
        leadership = self.leadership
        messengers = {
            name: a for name, a in self.adapters.items() if isinstance(a, DirectMessenger)
        }
        alerts = FollowAlerts(
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
            self.spawn(alerts.resume(), "follow-alerts")
        return alerts

    def start_arxiv(self) -> ArxivRefresher | None:
        """arXiv metadata in the background: first what the store kept, then what is missing or
        stale from arXiv. Nothing waits for it; without it papers simply show no authors."""
        s = self.settings.arxiv
        if not s.enabled:
            return None
        archive = self.archive
        leadership = self.leadership

        def arxiv_ids() -> list[str]:
            return [aid for p in archive.catalog.papers if (aid := p.arxiv_id)]

        refresher = ArxivRefresher(
            ArxivClient(s.api_base_url, clock=self.clock),
            self.store,
            self.arxiv,
            arxiv_ids,
            clock=self.clock,
            stale_after=s.refresh_after,
            leading=lambda: leadership.held,
        )
        self.spawn(refresher.run(), "arxiv")
        return refresher

    async def check_workspaces(self) -> None:
        """Warn about Slack subscriptions naming another workspace than the one connected:
        commands in that channel would not find them, and a second one could be created."""
        slack = self.adapters.get("slack")
        team = getattr(slack, "team_id", "")
        if not team:
            return
        for sub in await self.store.list_subscriptions():
            if sub.channel.platform == "slack" and sub.channel.workspace != team:
                log.warning(
                    "slack subscription names another workspace than the connected one",
                    extra={"channel": str(sub.channel), "connected_team": team},
                )


async def alert_follows(week: Week, alerts: FollowAlerts, refresher: ArxivRefresher | None) -> None:
    """A new week's follow alerts, once its papers' arXiv metadata had a chance to come in
    (``author:`` and ``cat:`` follows need it; waiting is bounded)."""
    if refresher is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FOLLOW_METADATA_WAIT):
                await refresher.refresh()
    try:
        await alerts.on_new_week(week)
    except Exception:
        log.exception("follow alerts failed", extra={"week": week.key})
