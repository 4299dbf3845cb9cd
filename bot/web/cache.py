"""Rendered responses, cached, and answered conditionally.

A page or feed is rendered once into a ``Rendered`` (body, type, last-modified) and kept in a
small LRU ``ResponseCache``, keyed by the request's route and parameters. An entry is good while
the catalog it was rendered from is still the current one (a source refresh swaps the catalog)
and, if it shows votes, for ``ttl`` more (votes arrive at any time; the store is not asked on
every request). ``ETag`` is a hash of the body, so an unchanged page keeps its tag across
re-renders and restarts; ``conditional`` turns a matching ``If-None-Match`` (or, without one, a
not-older ``If-Modified-Since``) into ``304 Not Modified``.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

MAX_ENTRIES = 2048


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    content_type: str  # with charset
    status: int = 200
    last_modified: datetime | None = None  # aware UTC
    votes: bool = False  # shows votes: cached for the TTL only
    location: str | None = None  # where a 301 points
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.blake2b(self.body, digest_size=12).hexdigest()
        object.__setattr__(self, "etag", f'"{digest}"')


@dataclass(slots=True)
class _Entry:
    catalog: weakref.ref[object]  # the catalog it was rendered from (not kept alive by this)
    expires: datetime | None
    rendered: Rendered


class ResponseCache:
    """An LRU of ``Rendered`` responses (at most ``max_entries``)."""

    def __init__(self, ttl: timedelta, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def get(self, key: Hashable, catalog: object, now: datetime) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stale = entry.catalog() is not catalog
        if stale or (entry.expires is not None and now >= entry.expires):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.rendered

    def put(self, key: Hashable, catalog: object, now: datetime, rendered: Rendered) -> None:
        if rendered.status >= 500 or (rendered.votes and self.ttl <= timedelta(0)):
            return
        expires = now + self.ttl if rendered.votes else None
        self._entries[key] = _Entry(weakref.ref(catalog), expires, rendered)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _etags(header: str) -> list[str]:
    """The entity tags in an ``If-None-Match`` header, weak ones compared as strong."""
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def not_modified(
    rendered: Rendered, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether a conditional GET may be answered 304 (RFC 9110: ``If-None-Match`` wins)."""
    if rendered.status != 200:
        return False
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or rendered.etag in tags
    if if_modified_since is None or rendered.last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return rendered.last_modified.replace(microsecond=0) <= since


__all__ = ["MAX_ENTRIES", "Rendered", "ResponseCache", "http_date", "not_modified"]
