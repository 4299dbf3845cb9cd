"""One remote markdown document over http(s): a polite conditional GET, and its last good copy
in memory and on disk (:mod:`bot.papers.sources.cache`).

``Document.download`` sends ``If-None-Match`` / ``If-Modified-Since`` from the last good copy and
never raises for network or server trouble: a non-2xx status, a timeout, a connection error, a
truncated body, a body over the size limit and an HTML page (an error page served with 200, or
a GitHub page instead of the raw file) all come back as ``failed`` with the reason. Redirects are
followed and reported. What it downloads only becomes the last good copy on ``commit``: the
caller decides (see :mod:`bot.papers.sources.guard`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import aiohttp

from bot.papers.model import Diagnostic
from bot.papers.sources.cache import CachedCopy, cached_sha256, read_cache, sha256, write_cache
from bot.papers.sources.limits import SourceLimits
from bot.papers.sources.loader import decode_text

__all__ = ["DEFAULT_TIMEOUT", "USER_AGENT", "Document", "Download"]

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "paperboy-bot (+https://pypi.org/project/paperboy-bot/)"
_PERMANENT = (301, 308)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _looks_like_html(text: str, content_type: str) -> bool:
    if content_type.lower().startswith("text/html"):
        return True
    head = text.lstrip()[:100].lower()
    return head.startswith(("<!doctype html", "<html"))


@dataclass(slots=True)
class Download:
    status: Literal["new", "not_modified", "failed"]
    text: str | None = None  # the body, when ``new``
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    final_url: str = ""  # where the body came from, after redirects
    moved: bool = False  # a permanent redirect (301, 308) on the way
    notes: list[Diagnostic] = field(default_factory=list)  # e.g. bytes that were not UTF-8


class Document:
    """One URL and its last good copy (``copy``), with the cache entry under ``cache_key``."""

    def __init__(
        self,
        url: str,
        cache_dir: Path | None,
        limits: SourceLimits,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cache_key: str | None = None,
    ) -> None:
        self.url = url
        self.cache_dir = cache_dir
        self.cache_key = cache_key or url
        self.limits = limits
        self.timeout = timeout
        self.copy: CachedCopy | None = None
        self._read = False

    # --- the last good copy --------------------------------------------------------------------

    async def sync(self) -> tuple[bool, list[Diagnostic]]:
        """Read the cached copy on first use, and again whenever another process replaced it
        (``paperboy sources accept``). Returns (whether the copy changed, problems)."""
        if self.cache_dir is None:
            return False, []
        if self._read:
            on_disk = await asyncio.to_thread(cached_sha256, self.cache_dir, self.cache_key)
            mine = sha256(self.copy.text) if self.copy is not None else None
            if on_disk is None or on_disk == mine:
                return False, []
        self._read = True
        try:
            cached = await asyncio.to_thread(read_cache, self.cache_dir, self.cache_key)
        except OSError as exc:
            return False, [self._diag("warning", f"cannot read the cached copy: {exc}")]
        if cached is None or (self.copy is not None and cached.text == self.copy.text):
            return False, []
        self.copy = cached
        return True, []

    async def commit(self, download: Download) -> list[Diagnostic]:
        """Make a download the last good copy (a ``new`` body) or refresh the validators of
        the copy it confirmed (``not_modified``)."""
        if download.status == "new" and download.text is not None:
            text = download.text
        elif download.status == "not_modified" and self.copy is not None:
            text = self.copy.text
        else:
            return []
        etag, last_modified = download.etag, download.last_modified
        if download.status == "not_modified" and self.copy is not None:
            etag = etag or self.copy.etag
            last_modified = last_modified or self.copy.last_modified
        final = download.final_url if download.final_url != self.url else None
        self.copy = CachedCopy(text, etag, last_modified, _now(), final)
        if self.cache_dir is None:
            return []
        try:
            await asyncio.to_thread(write_cache, self.cache_dir, self.cache_key, self.copy)
        except OSError as exc:
            return [self._diag("warning", f"cannot write the cache in {self.cache_dir}: {exc}")]
        return []

    def _diag(self, severity: Literal["error", "warning"], message: str) -> Diagnostic:
        return Diagnostic(severity, self.url, None, message)

    # --- the network -------------------------------------------------------------------------

    async def download(self, session: aiohttp.ClientSession) -> Download:
        """GET the URL once, conditional on the last good copy; never raises."""
        headers = {"User-Agent": USER_AGENT, "Accept": "text/markdown, text/plain;q=0.9, */*;q=0.1"}
        previous = self.copy
        if previous is not None:
            if previous.etag:
                headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                headers["If-Modified-Since"] = previous.last_modified
        try:
            return await self._get(session, headers)
        except TimeoutError:
            return self._failed(f"timed out after {self.timeout:g} s")
        except aiohttp.ClientPayloadError as exc:
            return self._failed(f"incomplete body: {exc}")
        except aiohttp.ClientError as exc:
            return self._failed(f"{type(exc).__name__}: {exc}".rstrip(": "))
        except OSError as exc:  # pragma: no cover - aiohttp wraps these, but be safe
            return self._failed(f"connection error: {exc}")

    def _failed(self, error: str) -> Download:
        return Download("failed", error=error, final_url=self.url)

    async def _get(self, session: aiohttp.ClientSession, headers: dict[str, str]) -> Download:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with session.get(self.url, headers=headers, timeout=timeout) as resp:
            final = str(resp.url)
            moved = any(r.status in _PERMANENT for r in resp.history)
            etag = resp.headers.get("ETag")
            last_modified = resp.headers.get("Last-Modified")
            if resp.status == 304:
                if self.copy is None:
                    return self._failed("server answered 304 but there is no cached copy")
                return Download("not_modified", None, etag, last_modified, None, final, moved)
            if not 200 <= resp.status < 300:
                return self._failed(f"HTTP {resp.status} {resp.reason or ''}".strip())
            limit = self.limits.max_document_bytes
            expected = resp.content_length
            if expected is not None and expected > limit:
                return self._failed(self._too_large(f"{expected} bytes"))
            body = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > limit:
                    return self._failed(self._too_large(f"more than {limit} bytes"))
            plain = "Content-Encoding" not in resp.headers
            if plain and expected is not None and len(body) != expected:
                return self._failed(f"truncated body: {len(body)} of {expected} bytes")
            content_type = resp.headers.get("Content-Type", "")
        text, problems = decode_text(bytes(body), self.url)
        if _looks_like_html(text, content_type):
            return self._failed("the server sent an HTML page, not a markdown file")
        if self.copy is not None and text == self.copy.text:
            return Download("not_modified", None, etag, last_modified, None, final, moved)
        return Download("new", text, etag, last_modified, None, final, moved, problems)

    def _too_large(self, size: str) -> str:
        return (
            f"the document is {size}, over the limit of {self.limits.max_document_text} "
            "(sources.limits.max_document_mb); not read"
        )
