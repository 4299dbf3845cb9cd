"""Remote sources: a markdown file served over http(s), fetched politely and kept on disk.

``RemoteSource.fetch`` sends ``If-None-Match`` / ``If-Modified-Since`` from the last good copy,
and keeps that copy (in memory and in ``<cache_dir>/<sha1 of url>.md`` with a ``.json`` of
validators beside it, both written atomically) whenever the new answer is not trustworthy: a
non-2xx status, a timeout, a connection error, a truncated body, a body that cannot be parsed, or
a body that parses to no weeks while the last good copy had some. The bot can therefore start
offline from the cache (``RemoteSource.load_cached`` / ``load_remote_cached``).

``FetchResult.status`` is ``new`` (a changed body was parsed and stored), ``not_modified`` (304,
or the same body again), ``failed`` (``error`` says why; ``text`` and ``result`` are the last good
copy, if any) or ``offline_cache`` (read from the cache without network).
``new_weeks`` are the weeks whose start date was not in the previous good copy (all weeks on
the first successful fetch, when there is no previous copy).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp

from bot.core.errors import PaperboyError, SourceError
from bot.papers.model import Diagnostic, ParseResult, Week
from bot.papers.sources.loader import decode_text, parse_text

__all__ = [
    "DEFAULT_TIMEOUT",
    "FetchResult",
    "FetchStatus",
    "RemoteSource",
    "cache_paths",
    "load_remote_cached",
]

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "paperboy-bot (+https://pypi.org/project/paperboy-bot/)"

FetchStatus = Literal["new", "not_modified", "failed", "offline_cache"]
TextParser = Callable[[str, str], ParseResult]


@dataclass(slots=True)
class FetchResult:
    url: str
    status: FetchStatus
    text: str | None  # the text that ``result`` was parsed from: new body or last good copy
    result: ParseResult
    new_weeks: list[Week] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True, slots=True)
class _Cached:
    text: str
    etag: str | None
    last_modified: str | None
    fetched_at: str | None


def cache_paths(cache_dir: str | Path, url: str) -> tuple[Path, Path]:
    """The cached body and its metadata file for ``url``."""
    stem = hashlib.sha1(url.encode("utf-8")).hexdigest()
    base = Path(cache_dir)
    return base / f"{stem}.md", base / f"{stem}.json"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(cache_dir: Path, url: str) -> _Cached | None:
    body_path, meta_path = cache_paths(cache_dir, url)
    try:
        text = body_path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("sha256") != _sha256(text):
        # No or stale metadata: use the text, but never claim a validator we cannot vouch for.
        return _Cached(text, None, None, None)

    def opt(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) and value else None

    return _Cached(text, opt("etag"), opt("last_modified"), opt("fetched_at"))


def _write_cache(cache_dir: Path, url: str, cached: _Cached) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    body_path, meta_path = cache_paths(cache_dir, url)
    meta = {
        "url": url,
        "etag": cached.etag,
        "last_modified": cached.last_modified,
        "fetched_at": cached.fetched_at,
        "sha256": _sha256(cached.text),
    }
    # Body first: metadata naming a body that is not on disk would be worse than the reverse,
    # and the sha256 in the metadata catches the reverse.
    _write_atomic(body_path, cached.text.encode("utf-8"))
    _write_atomic(meta_path, json.dumps(meta, indent=2).encode("utf-8"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RemoteSource:
    """One remote markdown source, with its last good copy in memory and (optionally) on disk."""

    def __init__(
        self,
        url: str,
        cache_dir: str | Path | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        default_date: date | None = None,
        default_year: int | None = None,
        parser: TextParser | None = None,
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
        self._parser = parser
        self._cached: _Cached | None = None
        self._result = ParseResult()
        self._cache_read = False
        self._lock = asyncio.Lock()

    # --- parsing and cache ---------------------------------------------------------------------

    def _parse(self, text: str) -> ParseResult:
        if self._parser is not None:
            return self._parser(text, self.url)
        return parse_text(
            text, self.url, default_date=self.default_date, default_year=self.default_year
        )

    def _parse_safely(self, text: str) -> ParseResult:
        try:
            return self._parse(text)
        except SourceError as exc:
            return ParseResult([], [Diagnostic("error", self.url, exc.line, exc.message)])
        except PaperboyError as exc:
            return ParseResult([], [Diagnostic("error", self.url, None, str(exc))])

    async def _ensure_cache_read(self) -> list[Diagnostic]:
        if self._cache_read or self.cache_dir is None:
            self._cache_read = True
            return []
        self._cache_read = True
        try:
            cached = await asyncio.to_thread(_read_cache, self.cache_dir, self.url)
        except OSError as exc:
            return [self._diag("warning", f"cannot read the cached copy: {exc}")]
        if cached is not None and self._cached is None:
            self._cached = cached
            self._result = self._parse_safely(cached.text)
        return []

    async def _store(self, cached: _Cached) -> list[Diagnostic]:
        self._cached = cached
        if self.cache_dir is None:
            return []
        try:
            await asyncio.to_thread(_write_cache, self.cache_dir, self.url, cached)
        except OSError as exc:
            return [self._diag("warning", f"cannot write the cache in {self.cache_dir}: {exc}")]
        return []

    def _diag(self, severity: Literal["error", "warning"], message: str) -> Diagnostic:
        return Diagnostic(severity, self.url, None, message)

    def _current(self, extra: list[Diagnostic]) -> ParseResult:
        return ParseResult(list(self._result.weeks), [*self._result.diagnostics, *extra])

    def _failed(self, message: str, extra: list[Diagnostic] | None = None) -> FetchResult:
        notes = list(extra or [])
        if self._cached is not None:
            when = f" from {self._cached.fetched_at}" if self._cached.fetched_at else ""
            notes.append(self._diag("warning", f"{message}; using the last good copy{when}"))
        else:
            notes.append(self._diag("error", f"{message}; no cached copy to fall back on"))
        text = self._cached.text if self._cached is not None else None
        return FetchResult(self.url, "failed", text, self._current(notes), [], message)

    # --- public API ----------------------------------------------------------------------------

    async def load_cached(self) -> FetchResult:
        """The last good copy from the cache directory, without touching the network."""
        async with self._lock:
            notes = await self._ensure_cache_read()
            if self._cached is None:
                notes.append(self._diag("warning", "no cached copy yet; fetch it once online"))
            text = self._cached.text if self._cached is not None else None
            return FetchResult(self.url, "offline_cache", text, self._current(notes))

    async def fetch(self, session: aiohttp.ClientSession) -> FetchResult:
        """Fetch the source once; never raises for network or server trouble."""
        async with self._lock:
            notes = await self._ensure_cache_read()
            return await self._fetch(session, notes)

    async def _fetch(self, session: aiohttp.ClientSession, notes: list[Diagnostic]) -> FetchResult:
        headers = {"User-Agent": USER_AGENT, "Accept": "text/markdown, text/plain;q=0.9, */*;q=0.1"}
        previous = self._cached
        if previous is not None:
            if previous.etag:
                headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                headers["If-Modified-Since"] = previous.last_modified
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with session.get(self.url, headers=headers, timeout=timeout) as resp:
                etag = resp.headers.get("ETag")
                last_modified = resp.headers.get("Last-Modified")
                if resp.status == 304:
                    if previous is None:
                        return self._failed(
                            "server answered 304 but there is no cached copy", notes
                        )
                    return await self._not_modified(previous, etag, last_modified, notes)
                if not 200 <= resp.status < 300:
                    return self._failed(f"HTTP {resp.status} {resp.reason or ''}".strip(), notes)
                body = await resp.read()
                expected = resp.content_length
                plain = "Content-Encoding" not in resp.headers
                if plain and expected is not None and len(body) != expected:
                    return self._failed(f"truncated body: {len(body)} of {expected} bytes", notes)
        except TimeoutError:
            return self._failed(f"timed out after {self.timeout:g} s", notes)
        except aiohttp.ClientPayloadError as exc:
            return self._failed(f"incomplete body: {exc}", notes)
        except aiohttp.ClientError as exc:
            return self._failed(f"{type(exc).__name__}: {exc}".rstrip(": "), notes)
        except OSError as exc:  # pragma: no cover - aiohttp wraps these, but be safe
            return self._failed(f"connection error: {exc}", notes)

        text, problems = decode_text(body, self.url)
        if previous is not None and text == previous.text:
            return await self._not_modified(previous, etag, last_modified, notes)
        parsed = self._parse_safely(text)
        if not parsed.weeks and self._result.weeks:
            return self._failed(
                f"the new copy has no weeks (the last good copy had {len(self._result.weeks)});"
                " suspicious, not replacing it",
                notes,
            )
        known = {week.start for week in self._result.weeks}
        new_weeks = [week for week in parsed.weeks if week.start not in known]
        notes.extend(await self._store(_Cached(text, etag, last_modified, _now())))
        self._result = parsed
        result = ParseResult(list(parsed.weeks), [*parsed.diagnostics, *problems, *notes])
        return FetchResult(self.url, "new", text, result, new_weeks)

    async def _not_modified(
        self,
        previous: _Cached,
        etag: str | None,
        last_modified: str | None,
        notes: list[Diagnostic],
    ) -> FetchResult:
        refreshed = _Cached(
            previous.text,
            etag or previous.etag,
            last_modified or previous.last_modified,
            _now(),
        )
        notes.extend(await self._store(refreshed))
        return FetchResult(self.url, "not_modified", previous.text, self._current(notes))


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
