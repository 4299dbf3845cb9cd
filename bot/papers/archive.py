"""Keeps the catalog in sync with the configured sources: local paths and remote URLs.

``Archive.load()`` reads local files and the last good copies of remote sources (so the bot
starts offline); ``refresh()`` fetches the URLs and swaps in a new catalog when anything changed;
``run()`` refreshes every ``refresh_interval``. The current catalog is ``archive.catalog``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import aiohttp

from bot.papers.catalog import Catalog
from bot.papers.model import Diagnostic, ParseResult, Week
from bot.papers.sources import RemoteSource, load_paths

log = logging.getLogger("paperboy.sources")


class Archive:
    def __init__(
        self,
        paths: Sequence[str],
        urls: Sequence[str] = (),
        *,
        cache_dir: str = ".paperboy/cache",
        refresh_interval: timedelta = timedelta(hours=6),
        default_date: date | None = None,
        on_new_weeks: Callable[[list[Week]], None] | None = None,
    ) -> None:
        self.paths = tuple(paths)
        self.remotes = [RemoteSource(u, cache_dir, default_date=default_date) for u in urls]
        self.refresh_interval = refresh_interval
        self.default_date = default_date
        self.on_new_weeks = on_new_weeks
        self.catalog = Catalog.build([])
        self.diagnostics: list[Diagnostic] = []
        self._local = ParseResult()
        self._remote: dict[str, ParseResult] = {}
        self._stop = asyncio.Event()
        self.refreshed_at: float | None = None  # Unix time the sources were last read in full

    def current(self) -> Catalog:
        return self.catalog

    def _rebuild(self) -> None:
        weeks = list(self._local.weeks)
        diags = list(self._local.diagnostics)
        for result in self._remote.values():
            weeks.extend(result.weeks)
            diags.extend(result.diagnostics)
        old = self.catalog
        catalog = Catalog.build(weeks)
        catalog.warm()  # typo index now, in this thread, not on the first autocomplete
        self.catalog = catalog
        # The catalog is hundreds of thousands of long-lived objects: keep them out of the
        # cyclic collector's full passes, which otherwise stall the event loop under load.
        gc.collect()
        gc.freeze()
        self.diagnostics = diags
        old.close()

    async def load(self) -> Catalog:
        """Local files plus cached remote copies; no network."""
        self._local = await asyncio.to_thread(
            load_paths, self.paths, default_date=self.default_date
        )
        for remote in self.remotes:
            res = await remote.load_cached()
            self._remote[remote.url] = res.result
        await asyncio.to_thread(self._rebuild)
        self.refreshed_at = time.time()
        for d in self.diagnostics:
            (log.error if d.severity == "error" else log.warning)(
                d.message, extra={"source": d.source, "line": d.line, "severity": d.severity}
            )
        log.info(
            "archive loaded",
            extra={
                "papers": len(self.catalog),
                "weeks": len(self.catalog.weeks()),
                "problems": len(self.diagnostics),
            },
        )
        return self.catalog

    async def refresh(self, session: aiohttp.ClientSession) -> list[Week]:
        """Fetch every URL once; returns the weeks that are new since the last good copies."""
        new: list[Week] = []
        changed = False
        failed = False
        for remote in self.remotes:
            res = await remote.fetch(session)
            if res.status == "failed":
                failed = True
                log.warning(
                    "source fetch failed; keeping the last good copy",
                    extra={"url": remote.url, "error": res.error},
                )
                continue
            if res.status == "new":
                changed = True
                self._remote[remote.url] = res.result
                new.extend(res.new_weeks)
        if changed:
            await asyncio.to_thread(self._rebuild)
            log.info(
                "archive refreshed", extra={"papers": len(self.catalog), "new_weeks": len(new)}
            )
        if not failed:
            self.refreshed_at = time.time()
        if new and self.on_new_weeks is not None:
            self.on_new_weeks(new)
        return new

    async def run(self) -> None:
        """Refresh now and then every ``refresh_interval`` until ``stop()``."""
        if not self.remotes:
            return
        async with aiohttp.ClientSession() as session:
            while not self._stop.is_set():
                try:
                    await self.refresh(session)
                except Exception:
                    log.exception("source refresh failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stop.wait(), timeout=self.refresh_interval.total_seconds()
                    )

    def stop(self) -> None:
        self._stop.set()
