"""The bot's HTTP server (aiohttp): ``/healthz`` and ``/metrics``; other parts add their own
routes to ``server.app`` before it starts (Slack's ``/slack/events`` in HTTP mode, the web
archive's pages, feeds and API from ``bot.web``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.ops.metrics import CONTENT_TYPE

log = logging.getLogger("paperboy.http")

Health = Callable[[], tuple[dict[str, Any], bool]]


class HttpServer:
    """Serves ``health()`` (a JSON body and whether all is well: 200 or 503) at ``/healthz`` and
    ``metrics()`` (Prometheus text) at ``/metrics``."""

    def __init__(self, host: str, port: int, *, health: Health, metrics: Callable[[], str]) -> None:
        self.host = host
        self.port = port  # 0: any free port; the bound one is here after start()
        self._health = health
        self._metrics = metrics
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._serve_metrics)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; raises ``OSError`` when the address cannot be bound."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("http server listening", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        body, ok = self._health()
        return web.json_response(body, status=200 if ok else 503)

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics().encode("utf-8"), headers={"Content-Type": CONTENT_TYPE}
        )


__all__ = ["HttpServer"]
