"""Remote sources: a markdown file (or an index of markdown files) served over http(s), fetched
politely and kept on disk so the bot can start offline.

``RemoteSource.fetch`` downloads the configured URL (:class:`~bot.papers.sources.document.
Document`: conditional requests, size limit, redirects, HTML pages refused). When the document
is an index (:mod:`bot.papers.sources.index`), the files it links to are downloaded as well and
together they are the source. The new copy replaces the last good one only when it is
trustworthy: not a failure (the last good copy stays, with a warning saying why), and not a copy
that would drop a large share of the known weeks (:mod:`bot.papers.sources.guard`: held back).

``FetchResult.status`` is ``new`` (a changed copy was parsed and stored), ``not_modified`` (304,
or the same bodies again), ``failed`` (``error`` says why; ``result`` is the last good copy, if
any), ``held`` (a suspicious copy was held back; ``held`` says what it would lose) or
``offline_cache`` (read from the cache without network). ``new_weeks`` are the weeks of a new
copy that the previous good copy did not have (``same_week``; every week on the first fetch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp

from bot.core.errors import PaperboyError, SourceError
from bot.papers.model import Diagnostic, ParseResult, Week
from bot.papers.sources.cache import cache_paths
from bot.papers.sources.document import DEFAULT_TIMEOUT, Document, Download
from bot.papers.sources.guard import DEFAULT_HOLD_BACK, Guard, Held, HoldBack, lost_weeks
from bot.papers.sources.index import index_links, raw_url
from bot.papers.sources.limits import DEFAULT_LIMITS, SourceLimits
from bot.papers.sources.loader import parse_text
from bot.papers.sources.parsecache import ParseCache
from bot.papers.sources.weekly import looks_like_weekly

__all__ = [
    "DEFAULT_TIMEOUT",
    "FetchResult",
    "FetchStatus",
    "RemoteSource",
    "cache_paths",
    "load_remote_cached",
]

FetchStatus = Literal["new", "not_modified", "failed", "offline_cache", "held"]
TextParser = Callable[[str, str], ParseResult]


@dataclass(slots=True)
class FetchResult:
    url: str
    status: FetchStatus
    text: str | None  # the configured document's text: new body or last good copy
    result: ParseResult
    new_weeks: list[Week] = field(default_factory=list)
    error: str | None = None
    files: tuple[str, ...] = ()  # an index source: the files it followed
    held: Held | None = None

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "held")


@dataclass(slots=True)
class _Plan:
    """A candidate copy of the source: its weeks, the files it was read from, the downloads
    to commit if it is accepted, and whether anything differs from the last good copy."""

    result: ParseResult
    files: tuple[str, ...] = ()
    downloads: dict[str, Download] = field(default_factory=dict)
    changed: bool = False
    notes: list[Diagnostic] = field(default_factory=list)  # about this fetch only


class RemoteSource:
    """One configured URL with its last good copy, in memory and (optionally) on disk."""

    def __init__(
        self,
        url: str,
        cache_dir: str | Path | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        default_date: date | None = None,
        default_year: int | None = None,
        parser: TextParser | None = None,
        limits: SourceLimits = DEFAULT_LIMITS,
        hold_back: HoldBack = DEFAULT_HOLD_BACK,
        parse_cache: ParseCache | None = None,
    ) -> None:
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise SourceError(url, f"not a valid URL: {exc}") from exc
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise SourceError(url, "a remote source must be an http:// or https:// URL")
        if timeout <= 0:
            raise SourceError(url, "timeout must be positive")
        self.url = url
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.timeout = timeout
        self.default_date = default_date
        self.default_year = default_year
        self.limits = limits
        self._parser = parser
        self._parse_cache = parse_cache
        # The cache keeps the configured URL's name; a GitHub page URL is fetched raw.
        self._root = self._document(raw_url(url), cache_key=url)
        self._children: dict[str, Document] = {}
        self._parsed: dict[str, tuple[str, ParseResult]] = {}
        self._files: tuple[str, ...] = ()
        self._result = ParseResult()
        self._guard = Guard(hold_back)
        self._lock = asyncio.Lock()

    @property
    def files(self) -> tuple[str, ...]:
        """For an index source, the files its last good copy was read from."""
        return self._files

    def _document(self, url: str, cache_key: str | None = None) -> Document:
        return Document(url, self.cache_dir, self.limits, timeout=self.timeout, cache_key=cache_key)

    def _child(self, url: str) -> Document:
        if url not in self._children:
            self._children[url] = self._document(url)
        return self._children[url]

    # --- parsing -------------------------------------------------------------------------------

    def _parse_safely(self, text: str, source: str) -> ParseResult:
        if self._parse_cache is None or self._parser is not None:
            return self._parse_text(text, source)
        settings = f"{self.default_date}|{self.default_year}|{self.limits!r}"
        return self._parse_cache.parse(
            text, source, settings, lambda: self._parse_text(text, source)
        )

    def _parse_text(self, text: str, source: str) -> ParseResult:
        try:
            if self._parser is not None:
                return self._parser(text, source)
            return parse_text(
                text,
                source,
                default_date=self.default_date,
                default_year=self.default_year,
                limits=self.limits,
            )
        except SourceError as exc:
            return ParseResult([], [Diagnostic("error", source, exc.line, exc.message)])
        except PaperboyError as exc:
            return ParseResult([], [Diagnostic("error", source, None, str(exc))])

    async def _parse(self, text: str, source: str) -> ParseResult:
        """Parse (off the event loop), remembering the last result per document."""
        known = self._parsed.get(source)
        if known is not None and known[0] == text:
            return known[1]
        result = await asyncio.to_thread(self._parse_safely, text, source)
        self._parsed[source] = (text, result)
        return result

    def _diag(self, severity: Literal["error", "warning"], message: str) -> Diagnostic:
        return Diagnostic(severity, self.url, None, message)

    # --- what a copy is made of ----------------------------------------------------------------

    async def _plan(self, text: str, base_url: str, session: aiohttp.ClientSession | None) -> _Plan:
        """The source as ``text`` (the configured document) makes it: its own weeks, or, for
        an index, the weeks of the files it links to (downloaded unless offline)."""
        links = (
            None
            if looks_like_weekly(text)
            else index_links(text, base_url, self.limits.max_index_files)
        )
        if links is None:
            return _Plan(await self._parse(text, self.url))
        plan = _Plan(ParseResult(), tuple(links.files))
        plan.changed = plan.files != self._files
        if links.beyond_limit:
            plan.result.diagnostics.append(self._beyond_limit(links.beyond_limit))
        for url in links.files:
            await self._plan_file(plan, url, session)
        return plan

    async def _plan_file(
        self, plan: _Plan, url: str, session: aiohttp.ClientSession | None
    ) -> None:
        doc = self._child(url)
        _, problems = await doc.sync()
        plan.notes.extend(problems)
        download = await doc.download(session) if session is not None else None
        if download is not None and download.status == "new":
            text: str | None = download.text
            plan.notes.extend(download.notes)
            plan.changed = True
        else:
            text = doc.copy.text if doc.copy is not None else None
        if download is not None and download.status == "failed":
            plan.notes.append(_file_failed(url, download.error or "", text))
        elif download is None and text is None:
            plan.notes.append(
                Diagnostic("warning", url, None, "no cached copy yet; fetch it once online")
            )
        if download is not None:
            plan.downloads[url] = download
        if text is not None:
            plan.result.extend(await self._parse(text, url))

    def _beyond_limit(self, urls: list[str]) -> Diagnostic:
        shown = ", ".join(urls[:3]) + (f" and {len(urls) - 3} more" if len(urls) > 3 else "")
        return self._diag(
            "warning",
            f"the index links to {len(urls)} more markdown file(s) than "
            f"sources.limits.max_index_files ({self.limits.max_index_files}); not followed: "
            f"{shown}",
        )

    # --- the last good copy --------------------------------------------------------------------

    async def _sync(self) -> list[Diagnostic]:
        """Bring the last good copy up to date with the disk: read at first use, and read again
        when another process (``paperboy sources accept``) replaced any of its files."""
        changed, notes = await self._root.sync()
        for url in self._files:
            moved, problems = await self._child(url).sync()
            changed = changed or moved
            notes.extend(problems)
        if changed and self._root.copy is not None:
            base = self._root.copy.final_url or self._root.url
            plan = await self._plan(self._root.copy.text, base, None)
            self._result, self._files = plan.result, plan.files
            notes.extend(plan.notes)
            self._guard.reset()
        return notes

    def _current(self, extra: list[Diagnostic]) -> ParseResult:
        return ParseResult(list(self._result.weeks), [*self._result.diagnostics, *extra])

    def _text(self) -> str | None:
        return self._root.copy.text if self._root.copy is not None else None

    def _failed(self, message: str, extra: list[Diagnostic]) -> FetchResult:
        notes = list(extra)
        copy = self._root.copy
        if copy is not None:
            when = f" from {copy.fetched_at}" if copy.fetched_at else ""
            notes.append(self._diag("warning", f"{message}; using the last good copy{when}"))
        else:
            notes.append(self._diag("error", f"{message}; no cached copy to fall back on"))
        result = self._current(notes)
        return FetchResult(self.url, "failed", self._text(), result, [], message, self._files)

    # --- public API ----------------------------------------------------------------------------

    async def load_cached(self) -> FetchResult:
        """The last good copy from the cache directory, without touching the network."""
        async with self._lock:
            notes = await self._sync()
            if self._root.copy is None:
                notes.append(self._diag("warning", "no cached copy yet; fetch it once online"))
            return FetchResult(
                self.url, "offline_cache", self._text(), self._current(notes), files=self._files
            )

    async def fetch(self, session: aiohttp.ClientSession) -> FetchResult:
        """Fetch the source once; never raises for network or server trouble."""
        async with self._lock:
            notes = await self._sync()
            return await self._fetch(session, notes, accept=False)

    async def accept(self, session: aiohttp.ClientSession) -> FetchResult:
        """Fetch the source and take whatever it serves now, however many weeks that drops
        (an admin's decision); failures still keep the last good copy."""
        async with self._lock:
            notes = await self._sync()
            return await self._fetch(session, notes, accept=True)

    async def _fetch(
        self, session: aiohttp.ClientSession, notes: list[Diagnostic], *, accept: bool
    ) -> FetchResult:
        root = await self._root.download(session)
        if root.status == "failed":
            return self._failed(root.error or "failed", notes)
        if root.moved:
            notes.append(
                self._diag(
                    "warning",
                    f"moved permanently to {root.final_url}: put that URL in sources.urls "
                    "instead of this one",
                )
            )
        # a new body, or (304, or the same body again) the last good copy it confirms
        text = root.text if root.text is not None else self._text() or ""
        plan = await self._plan(text, root.final_url, session)
        notes.extend(plan.notes)
        if root.status == "not_modified" and not plan.changed:
            self._guard.reset()  # the last good copy is served again: nothing held any more
            await self._commit(root, plan, notes)
            return FetchResult(
                self.url, "not_modified", text, self._current(notes), files=self._files
            )
        held, seen = (
            (None, 0) if accept else self._guard.judge(self._result.weeks, plan.result.weeks)
        )
        if held is not None:
            notes.append(self._diag("warning", held.describe(self.url)))
            return FetchResult(
                self.url,
                "held",
                self._text(),
                self._current(notes),
                error=held.describe(self.url),
                files=self._files,
                held=held,
            )
        if seen:
            notes.append(self._diag("warning", _accepted_after(seen)))
        new_weeks = lost_weeks(plan.result.weeks, self._result.weeks)
        await self._commit(root, plan, notes)
        self._result, self._files = plan.result, plan.files
        result = ParseResult(
            list(plan.result.weeks), [*plan.result.diagnostics, *root.notes, *notes]
        )
        return FetchResult(self.url, "new", text, result, new_weeks, files=self._files)

    async def _commit(self, root: Download, plan: _Plan, notes: list[Diagnostic]) -> None:
        notes.extend(await self._root.commit(root))
        for url, download in plan.downloads.items():
            notes.extend(await self._child(url).commit(download))


def _file_failed(url: str, error: str, text: str | None) -> Diagnostic:
    if text is not None:
        return Diagnostic("warning", url, None, f"{error}; using its last good copy")
    return Diagnostic("error", url, None, f"{error}; no cached copy to fall back on")


def _accepted_after(seen: int) -> str:
    return (
        f"accepted a copy that drops some of the known weeks: it was served on {seen} "
        "refreshes in a row"
    )


async def load_remote_cached(
    url: str,
    cache_dir: str | Path,
    *,
    default_date: date | None = None,
    default_year: int | None = None,
) -> ParseResult:
    """The weeks of ``url``'s cached copy, without network (a warning if there is none yet)."""
    source = RemoteSource(url, cache_dir, default_date=default_date, default_year=default_year)
    return (await source.load_cached()).result
