"""The HTTP side of ``paperboy run``: ``/healthz``, ``/metrics`` and the web archive's routes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.chat.votes import VoteService
from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.errors import PaperboyError
from bot.ops.http import HttpServer
from bot.ops.metrics import Metrics
from bot.papers.archive import Archive
from bot.papers.arxiv import ArxivIndex
from bot.platforms.base import Adapter
from bot.storage import Store


@dataclass
class HttpSide:
    """The HTTP server and what it reports; ``adapters`` is the app's live mapping."""

    settings: Settings
    archive: Archive
    metrics: Metrics
    arxiv: ArxivIndex
    adapters: Mapping[str, Adapter]
    stopping: asyncio.Event
    server: HttpServer = field(init=False)

    def __post_init__(self) -> None:
        h = self.settings.http
        self.server = HttpServer(h.host, h.port, health=self.health, metrics=self.metrics_text)

    def install_web(self, store: Store, votes: VoteService, clock: Clock) -> None:
        """The web archive's routes on the HTTP server, when ``web.enabled``."""
        s = self.settings
        if not (s.web.enabled and s.http.enabled):
            return
        from bot.web import WebContext, WebOptions, WebSite

        options = WebOptions(base_url=s.web.base_url, cache_seconds=s.web.cache_seconds)
        archive = self.archive
        ctx = WebContext(
            archive.current,
            store,
            votes,
            clock=clock,
            options=options,
            arxiv=self.arxiv,
            ready=lambda: archive.ready,
        )
        WebSite(ctx).install(self.server.app)

    def health(self) -> tuple[dict[str, Any], bool]:
        adapters = {name: a.healthy() for name, a in self.adapters.items()}
        loading = not self.archive.ready
        ok = all(adapters.values()) and not self.stopping.is_set() and not loading
        body: dict[str, Any] = {
            "status": "loading" if loading else "ok" if ok else "degraded",
            "adapters": adapters,
            "papers": len(self.archive.catalog),
        }
        shards = self.shard_status()
        if shards:
            body["shards"] = shards
        return body, ok

    def shard_status(self) -> dict[str, dict[str, int]]:
        """Per platform with gateway shards: how many are connected of how many expected."""
        out: dict[str, dict[str, int]] = {}
        for name, adapter in self.adapters.items():
            status = getattr(adapter, "shard_status", None)
            if callable(status):
                connected, expected = status()
                out[name] = {"connected": connected, "expected": expected}
        return out

    def preset_metrics(self) -> None:
        """Votes and commands series from the start, at zero, for every configured platform."""
        from bot.chat.commands import KNOWN_SUBCOMMANDS

        platforms = [p for p in ("terminal", "slack", "discord") if p in self.adapters]
        self.metrics.preset("votes", platform=platforms, action=("add", "remove"))
        self.metrics.preset("votes_reconciled", platform=platforms, action=("add", "remove"))
        self.metrics.preset("command_seconds", command=(*sorted(KNOWN_SUBCOMMANDS), "unknown"))
        self.metrics.preset("adapter_connected", platform=platforms)

    def metrics_text(self) -> str:
        archive = self.archive
        self.metrics.set("catalog_papers", len(archive.catalog))
        self.metrics.set("arxiv_papers", len(self.arxiv))
        self.metrics.set("archive_ready", int(archive.ready))
        self.metrics.set("sources_parsed", archive.parse_cache.parsed)
        self.metrics.set("sources_parse_reused", archive.parse_cache.reused)
        self.metrics.set("catalog_indexed_papers", archive.indexed)
        refreshed = archive.refreshed_at
        if refreshed is not None:
            self.metrics.set("sources_last_refresh_timestamp_seconds", refreshed)
        for name, adapter in self.adapters.items():
            self.metrics.set("adapter_connected", int(adapter.healthy()), platform=name)
        for name, shards in self.shard_status().items():
            self.metrics.set("shards_connected", shards["connected"], platform=name)
            self.metrics.set("shards_expected", shards["expected"], platform=name)
        return self.metrics.render_prometheus()

    async def start(self) -> int | None:
        """Listen when ``http.enabled``; the bound port, or None. A port in use is fatal."""
        h = self.settings.http
        if not h.enabled:
            return None
        try:
            await self.server.start()
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
        return self.server.port
