"""Keeps the catalog in sync with the configured sources: local paths and remote URLs.

``Archive.load()`` reads local files and the last good copies of remote sources (so the bot
starts offline); ``refresh()`` fetches the URLs and swaps in a new catalog when anything changed;
``run()`` refreshes every ``refresh_interval``. The current catalog is ``archive.catalog``; a
new one is built in a worker thread and swapped in, so searches keep using the old one
meanwhile (and one still running on it when it is replaced finishes normally). ``ready`` says
the first load is done. A refresh builds in a thread of lower CPU priority (``REBUILD_NICE``),
so the searches it competes with keep the cores.

With ``index_dir``, parsed sources (``sources.parsecache``) and the search index are kept
there by content hash: a start on unchanged sources parses and indexes nothing, a refresh
parses only what changed. ``parse_cache.parsed`` / ``reused`` and ``indexed`` count the work.

New weeks (``on_new_weeks``) are those matching no week known before from any source
(:mod:`bot.papers.known`). A source whose new copy is held back as suspicious
(:mod:`bot.papers.sources.guard`) is reported once per loss through ``on_notice(key, text)``
(the app tells the admin channel); ``accept(url)`` takes the copy anyway. How the weeks of
several sources combine is :mod:`bot.papers.merge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import hashlib
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import aiohttp

from bot.core.errors import SourceError
from bot.papers.catalog import Catalog
from bot.papers.known import KnownWeeks
from bot.papers.merge import combine_weeks
from bot.papers.model import Diagnostic, ParseResult, Week
from bot.papers.sources import FetchResult, RemoteSource, load_paths
from bot.papers.sources.guard import DEFAULT_HOLD_BACK, Held, HoldBack
from bot.papers.sources.limits import DEFAULT_LIMITS, SourceLimits
from bot.papers.sources.parsecache import ParseCache

log = logging.getLogger("paperboy.sources")


# A refresh's rebuild runs in one thread at a lower CPU priority than the event loop (on Linux
# the priority is per thread, and the index writer's threads, started from it, inherit it): the
# old catalog answers meanwhile, so the build may take longer while searches keep the cores
# (``bench/archive.py``: search p99 during a refresh). The first load keeps the normal priority.
REBUILD_NICE = 10
_builder: ThreadPoolExecutor | None = None
_builder_lock = threading.Lock()


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority by ``REBUILD_NICE`` (Linux only; elsewhere the
    call would name a process, not the thread)."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + REBUILD_NICE)
    except OSError as exc:
        log.warning("cannot lower the rebuild thread's priority", extra={"error": str(exc)})


def _rebuild_thread() -> ThreadPoolExecutor:
    """The thread refreshes build catalogs in (one per process, started on first use)."""
    global _builder
    with _builder_lock:
        if _builder is None:
            _builder = ThreadPoolExecutor(
                1, thread_name_prefix="paperboy-rebuild", initializer=_lower_priority
            )
        return _builder


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
        limits: SourceLimits = DEFAULT_LIMITS,
        hold_back: HoldBack = DEFAULT_HOLD_BACK,
        on_notice: Callable[[str, str], Awaitable[None]] | None = None,
        log_diagnostics: bool = True,
        index_dir: str | None = None,
        warm: bool = True,
        prune: bool = True,
    ) -> None:
        self.paths = tuple(paths)
        self.limits = limits
        # Parsed sources and the search index, kept by content hash (``index_dir``: on disk,
        # so a start on unchanged sources neither parses nor indexes; else in memory, so a
        # refresh parses only the sources that changed).
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.parse_cache = ParseCache(self.index_dir / "parsed" if self.index_dir else None)
        # The bot builds the search and typo indexes with each catalog, off the event loop
        # (``warm``) and drops kept data it no longer uses (``prune``); a CLI command builds
        # only what it uses, on first use, and leaves the bot's kept data alone.
        self.warm = warm
        self.prune = prune
        self.remotes = [
            RemoteSource(
                u,
                cache_dir,
                default_date=default_date,
                limits=limits,
                hold_back=hold_back,
                parse_cache=self.parse_cache,
            )
            for u in urls
        ]
        self.refresh_interval = refresh_interval
        self.default_date = default_date
        self.on_new_weeks = on_new_weeks
        self.on_notice = on_notice
        # False when the caller prints the diagnostics itself (the CLI): each is shown once.
        self.log_diagnostics = log_diagnostics
        self.catalog = Catalog.build([])
        self.diagnostics: list[Diagnostic] = []
        self.last_fetch: dict[str, FetchResult] = {}
        self._local = ParseResult()
        self._remote: dict[str, ParseResult] = {}
        self._merge_notes: list[Diagnostic] = []
        self._known: KnownWeeks | None = None
        self._told: set[str] = set()
        self._stop = asyncio.Event()
        self.refreshed_at: float | None = None  # Unix time the sources were last read in full
        self.ready = False  # the first load is done (until then the catalog is empty)
        self.indexed = 0  # papers indexed (not opened from a kept index), since start
        self._build_lock = threading.Lock()  # one catalog built at a time

    def current(self) -> Catalog:
        return self.catalog

    def _rebuild(self) -> None:
        """Build a new catalog from the current results (in a worker thread: searches keep
        using the old one meanwhile), then swap the reference."""
        with self._build_lock:
            weeks = list(self._local.weeks)
            for result in self._remote.values():
                weeks.extend(result.weeks)
            fingerprint = self.parse_cache.fingerprint(weeks)
            weeks, self._merge_notes = combine_weeks(weeks)
            path = None
            if self.index_dir is not None and fingerprint is not None:
                path = str(self.index_dir / "search" / fingerprint)
            catalog = Catalog.build(weeks, index_path=path)
            if self.warm:
                # the search and typo indexes now, in this thread, not on the first search
                catalog.warm()
                if not catalog.index_reused:
                    self.indexed += len(catalog)
            self.catalog = catalog
            # The catalog is hundreds of thousands of long-lived objects: keep them out of the
            # cyclic collector's full passes, which otherwise stall the event loop under load.
            # No collection first: a pass over them here would hold the GIL (and so stall the
            # loop's searches) for as long; they are acyclic and freed by reference counting.
            gc.freeze()
            self._collect_diagnostics()
            if self.prune:
                self._prune(path)
        # The old catalog is not closed: a search still running on it finishes normally, and
        # it goes when the last reference does.

    async def _rebuild_aside(self) -> None:
        """``_rebuild`` in the low-priority rebuild thread (a refresh: the old catalog answers
        meanwhile)."""
        ctx = contextvars.copy_context()  # as asyncio.to_thread does
        await asyncio.get_running_loop().run_in_executor(
            _rebuild_thread(), functools.partial(ctx.run, self._rebuild)
        )

    def _prune(self, keep: str | None) -> None:
        """Drop kept indexes and parsed sources the current catalog does not use."""
        if self.index_dir is None:
            return
        try:
            self.parse_cache.prune(self.parse_cache.live_keys())
            search = self.index_dir / "search"
            if keep is not None and search.is_dir():
                for entry in search.iterdir():
                    if str(entry) != keep:
                        shutil.rmtree(entry, ignore_errors=True)
        except OSError as exc:
            log.warning("cannot prune the index directory", extra={"error": str(exc)})

    def _collect_diagnostics(self) -> None:
        diags = list(self._local.diagnostics)
        for result in self._remote.values():
            diags.extend(result.diagnostics)
        self.diagnostics = diags + self._merge_notes

    def _log(self, diagnostics: Sequence[Diagnostic]) -> None:
        if self.log_diagnostics:
            for d in diagnostics:
                (log.error if d.severity == "error" else log.warning)(
                    d.message, extra={"source": d.source, "line": d.line, "severity": d.severity}
                )

    async def load(self) -> Catalog:
        """Local files plus cached remote copies; no network."""
        self._local = await asyncio.to_thread(
            load_paths,
            self.paths,
            default_date=self.default_date,
            limits=self.limits,
            cache=self.parse_cache,
        )
        for remote in self.remotes:
            res = await remote.load_cached()
            self._remote[remote.url] = res.result
        await asyncio.to_thread(self._rebuild)
        self._log(self.diagnostics)
        self.refreshed_at = time.time()
        self.ready = True
        log.info(
            "archive loaded",
            extra={
                "papers": len(self.catalog),
                "weeks": len(self.catalog.weeks()),
                "problems": len(self.diagnostics),
                "parsed": self.parse_cache.parsed,
                "reused": self.parse_cache.reused,
                "indexed": self.indexed,
            },
        )
        return self.catalog

    async def refresh(self, session: aiohttp.ClientSession) -> list[Week]:
        """Fetch every URL once; returns the weeks that match no week known before."""
        if self._known is None:
            self._known = await asyncio.to_thread(self._known_now)
        fresh: list[Week] = []
        changed = False
        failed = False
        for remote in self.remotes:
            res = await remote.fetch(session)
            await self._take(res)
            if res.status == "failed":
                failed = True
            if res.status == "new":
                changed = True
                fresh.extend(res.result.weeks)
        if changed:
            await self._rebuild_aside()
        else:
            self._collect_diagnostics()
        new = self._novel(fresh)
        if changed:
            log.info(
                "archive refreshed", extra={"papers": len(self.catalog), "new_weeks": len(new)}
            )
        if not failed:
            self.refreshed_at = time.time()
        return new

    def _novel(self, fresh: list[Week]) -> list[Week]:
        """The weeks of new copies that match no week known before; ``on_new_weeks`` hears."""
        assert self._known is not None
        new = self._known.novel(fresh)
        if new and self.on_new_weeks is not None:
            self.on_new_weeks(new)
        return new

    def _known_now(self) -> KnownWeeks:
        return KnownWeeks([*self.catalog.weeks(), *self.catalog.collections()])

    async def _take(self, res: FetchResult) -> None:
        """Keep a fetch's result (a failed or held fetch: the last good weeks and the notes
        saying why), log what it newly says, and tell the admin about a held-back copy."""
        before = set(self._remote.get(res.url, ParseResult()).diagnostics)
        self._log([d for d in res.result.diagnostics if d not in before])
        self._remote[res.url] = res.result
        self.last_fetch[res.url] = res
        if res.held is not None:
            await self._tell_held(res.url, res.held)

    async def _tell_held(self, url: str, held: Held) -> None:
        """Tell the admin about a held-back copy, once per source and loss."""
        key = f"source-held:{hashlib.sha1(url.encode()).hexdigest()[:10]}:{held.shape}"
        if key in self._told or self.on_notice is None:
            return
        self._told.add(key)
        try:
            await self.on_notice(key, held.describe(url))
        except Exception:
            log.exception("could not tell the admin about a held-back source", extra={"url": url})

    async def accept(self, url: str, session: aiohttp.ClientSession) -> FetchResult:
        """Fetch ``url`` (a configured source) and take its copy even if it would be held
        back (``paperboy sources accept``)."""
        remote = next((r for r in self.remotes if r.url == url), None)
        if remote is None:
            raise SourceError(url, "not one of the configured sources.urls")
        if self._known is None:
            self._known = await asyncio.to_thread(self._known_now)
        res = await remote.accept(session)
        await self._take(res)
        if res.status == "new":
            await self._rebuild_aside()
            self._novel(res.result.weeks)
        else:
            self._collect_diagnostics()
        return res

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
