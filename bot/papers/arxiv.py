"""arXiv metadata for the archive's papers: authors, abstract, categories, first and latest
version, from the arXiv API's Atom endpoint (``query?id_list=``).

Why aiohttp and feedparser rather than the ``arxiv`` package: the bot is one asyncio process
that already speaks aiohttp; the ``arxiv`` package is synchronous (requests) and would need a
thread, its own pacing and its own retry rules, none of which could run on the bot's clock.
Here the request, the pacing and the retries are a few lines on the bot's own clock and
session, and the Atom parsing (the part worth a library) is feedparser's.

- ``parse_feed`` turns one Atom answer into ``ArxivMeta`` records. Ids the answer does not
  describe come back as ``found=False`` records, so they are not asked about again at once.
  A malformed answer raises ``ArxivUnavailable`` and nothing of it is kept.
- ``ArxivClient`` asks for at most ``batch_size`` (100) ids a request and never starts two
  requests less than ``interval`` (3 s, as arXiv asks) apart, on the injected ``Clock``; it
  sends a descriptive User-Agent and waits out a 503's ``Retry-After``.
- ``ArxivIndex`` is what the rest of the bot reads: the metadata in memory, by arXiv id. It
  outlives catalog swaps. Commands and posting read it and never wait for arXiv.
- ``ArxivRefresher`` fills it: at start from the store (so it works offline), then from arXiv
  for the ids that are missing or older than ``stale_after``, saving each batch as it comes;
  again every ``every`` and when new weeks arrive (``wake``). arXiv being down only delays it.
  Only the leading process asks arXiv; the others read what it stored.
"""

from __future__ import annotations

import asyncio
import calendar
import email.utils
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
import feedparser

from bot import __version__
from bot.core.arxivmeta import ArxivMeta, arxiv_key
from bot.core.clock import Clock
from bot.papers.model import HasLinks

log = logging.getLogger("paperboy.arxiv")

DEFAULT_API_URL = "https://export.arxiv.org/api/query"
MIN_INTERVAL = 3.0  # seconds between two requests, as arXiv's terms of use ask
BATCH_SIZE = 100  # ids per request
MAX_RETRY_AFTER = 600.0  # a longer Retry-After ends the round instead
USER_AGENT = (
    f"paperboy-bot/{__version__} (curated paper digests for team chat; reads arXiv metadata "
    "of listed papers; +https://pypi.org/project/paperboy-bot/)"
)

_ENTRY_ID = re.compile(r"arxiv\.org/abs/(?P<id>[^\s?#]+?)(?:v(?P<v>\d+))?$", re.IGNORECASE)

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_API_URL",
    "MIN_INTERVAL",
    "USER_AGENT",
    "ArxivClient",
    "ArxivIndex",
    "ArxivRefresher",
    "ArxivUnavailable",
    "parse_feed",
]


class ArxivUnavailable(Exception):
    """arXiv could not be asked, or its answer could not be read (the reason is the message)."""


# --- parsing -------------------------------------------------------------------------------------


def _when(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


def _clean(text: Any) -> str:
    return " ".join(str(text or "").split())


def parse_feed(body: bytes, asked: Sequence[str], now: datetime) -> list[ArxivMeta]:
    """One record per id in ``asked`` (``arxiv_key`` form): the entry arXiv gave for it, or a
    ``found=False`` record when the answer does not describe it. Raises ``ArxivUnavailable``
    for an answer that is not a well-formed Atom feed."""
    feed = feedparser.parse(body)
    if feed.get("bozo") and not isinstance(
        feed.get("bozo_exception"), feedparser.CharacterEncodingOverride
    ):
        raise ArxivUnavailable(f"malformed answer: {feed.get('bozo_exception')}")
    if not str(feed.get("version", "")).startswith("atom"):
        raise ArxivUnavailable("the answer is not an Atom feed")
    wanted = set(asked)
    found: dict[str, ArxivMeta] = {}
    for entry in feed.entries:
        m = _ENTRY_ID.search(str(entry.get("id", "")))
        title = _clean(entry.get("title"))
        if m is None or not title:
            continue  # arXiv's error entries, or an empty one for an unknown id
        key = arxiv_key(m.group("id"))
        if key not in wanted:
            continue
        primary = entry.get("arxiv_primary_category") or {}
        tags = [str(t.get("term", "")).strip() for t in entry.get("tags", [])]
        authors = [_clean(a.get("name")) for a in entry.get("authors", [])]
        found[key] = ArxivMeta(
            arxiv_id=key,
            fetched_at=now,
            title=title,
            authors=tuple(a for a in authors if a),
            abstract=_clean(entry.get("summary")),
            primary_category=(str(primary.get("term", "")).strip() or None),
            categories=tuple(dict.fromkeys(t for t in tags if t)),
            published=_when(entry.get("published_parsed")),
            updated=_when(entry.get("updated_parsed")),
            version=int(m.group("v")) if m.group("v") else None,
        )
    return [found.get(k) or ArxivMeta(k, now, found=False) for k in dict.fromkeys(asked)]


# --- the client ----------------------------------------------------------------------------------


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class ArxivClient:
    """Asks the arXiv API about ids, ``batch_size`` at a time, one request per ``interval``
    seconds at most (measured on ``clock`` from the start of one request to the next)."""

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        clock: Clock,
        interval: float = MIN_INTERVAL,
        batch_size: int = BATCH_SIZE,
        timeout: float = 30.0,
        retries: int = 3,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.base_url = base_url
        self.clock = clock
        self.interval = interval
        self.batch_size = max(1, min(batch_size, BATCH_SIZE))
        self.timeout = timeout
        self.retries = retries
        self.user_agent = user_agent
        self._last: datetime | None = None  # when the previous request started
        self._lock = asyncio.Lock()

    async def _pace(self) -> None:
        if self._last is not None:
            await self.clock.sleep_until(self._last + timedelta(seconds=self.interval))
        self._last = self.clock.now()

    async def fetch(
        self,
        ids: Sequence[str],
        on_batch: Callable[[list[ArxivMeta]], Awaitable[None]],
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """Ask about ``ids`` batch by batch, handing each batch's records to ``on_batch``.
        Raises ``ArxivUnavailable`` when a batch cannot be had (earlier batches are kept)."""
        keys = list(dict.fromkeys(arxiv_key(i) for i in ids))
        if not keys:
            return
        own = session is None
        session = session or aiohttp.ClientSession()
        try:
            for at in range(0, len(keys), self.batch_size):
                batch = keys[at : at + self.batch_size]
                await on_batch(await self._batch(session, batch))
        finally:
            if own:
                await session.close()

    async def _batch(self, session: aiohttp.ClientSession, batch: list[str]) -> list[ArxivMeta]:
        params = {"id_list": ",".join(batch), "max_results": str(len(batch))}
        headers = {"User-Agent": self.user_agent, "Accept": "application/atom+xml"}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        attempt = 0
        while True:
            async with self._lock:
                await self._pace()
                try:
                    async with session.get(
                        self.base_url, params=params, headers=headers, timeout=timeout
                    ) as resp:
                        body = await resp.read()
                        status, retry = resp.status, resp.headers.get("Retry-After")
                except TimeoutError:
                    raise ArxivUnavailable(f"no answer within {self.timeout:g} s") from None
                except aiohttp.ClientError as exc:
                    raise ArxivUnavailable(f"{type(exc).__name__}: {exc}") from exc
                if status == 200:
                    return parse_feed(body, batch, self.clock.now())
                if status not in (429, 503) or attempt == self.retries:
                    raise ArxivUnavailable(f"HTTP {status}")
                wait = _retry_after(retry, self.clock.now())
                if wait is not None and wait > MAX_RETRY_AFTER:
                    raise ArxivUnavailable(f"HTTP {status}, retry after {wait:g} s")
                wait = max(wait or 0.0, self.interval * (attempt + 1))
                log.info("arxiv asks to wait", extra={"status": status, "seconds": wait})
                await self.clock.sleep_until(self.clock.now() + timedelta(seconds=wait))
                attempt += 1


# --- what the bot reads ------------------------------------------------------------------------


class ArxivIndex:
    """The metadata in memory, by ``arxiv_key``. Reads never wait for arXiv or the store."""

    def __init__(self, metas: Iterable[ArxivMeta] = ()) -> None:
        self._by_id: dict[str, ArxivMeta] = {}
        self.update(metas)

    def update(self, metas: Iterable[ArxivMeta]) -> None:
        for m in metas:
            self._by_id[m.arxiv_id] = m

    def record(self, arxiv_id: str) -> ArxivMeta | None:
        """What is known about the id, a ``found=False`` record included."""
        return self._by_id.get(arxiv_key(arxiv_id))

    def get(self, arxiv_id: str | None) -> ArxivMeta | None:
        """The metadata of an id arXiv knows; None when absent or unknown to arXiv."""
        if not arxiv_id:
            return None
        m = self._by_id.get(arxiv_key(arxiv_id))
        return m if m is not None and m.found else None

    def for_paper(self, paper: HasLinks) -> ArxivMeta | None:
        return self.get(paper.arxiv_id)

    def __len__(self) -> int:
        return sum(1 for m in self._by_id.values() if m.found)


class MetaStore(Protocol):
    """The part of ``bot.storage.Store`` the refresher uses."""

    async def arxiv_meta(self, arxiv_ids: Sequence[str] | None = None) -> list[ArxivMeta]: ...

    async def save_arxiv_meta(self, metas: Sequence[ArxivMeta]) -> None: ...


class ArxivRefresher:
    """Keeps ``index`` filled for the ids ``ids()`` names (newest papers first)."""

    def __init__(
        self,
        client: ArxivClient,
        store: MetaStore,
        index: ArxivIndex,
        ids: Callable[[], Iterable[str]],
        *,
        clock: Clock,
        stale_after: timedelta = timedelta(days=30),
        every: timedelta = timedelta(hours=6),
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.leading = leading
        self.client = client
        self.store = store
        self.index = index
        self.ids = ids
        self.clock = clock
        self.stale_after = stale_after
        self.every = every
        self._wake = asyncio.Event()
        self._stopped = False
        self.rounds = 0

    async def load(self) -> None:
        """What the store kept (a store that cannot be read leaves the index as it is)."""
        try:
            self.index.update(await self.store.arxiv_meta())
        except Exception:
            log.warning("could not read stored arxiv metadata", exc_info=True)

    def due(self) -> list[str]:
        """Ids with no record, or one fetched ``stale_after`` ago or more, in ``ids()`` order."""
        cutoff = self.clock.now() - self.stale_after
        out: list[str] = []
        for aid in dict.fromkeys(arxiv_key(i) for i in self.ids()):
            m = self.index.record(aid)
            if m is None or m.fetched_at <= cutoff:
                out.append(aid)
        return out

    async def refresh(self) -> int:
        """Fetch what is due; the number of ids fetched. Never raises: arXiv or the store
        failing ends the round early, what was saved stays."""
        due = self.due()
        done = 0
        if due and not self.leading():
            # Another process asks arXiv (one client per database, as arXiv asks): take what
            # it has stored.
            try:
                found = await self.store.arxiv_meta(due)
            except Exception:
                log.warning("could not read stored arxiv metadata", exc_info=True)
                return 0
            self.index.update(found)
            self.rounds += 1
            return len(found)

        async def keep(metas: list[ArxivMeta]) -> None:
            nonlocal done
            await self.store.save_arxiv_meta(metas)
            self.index.update(metas)
            done += len(metas)

        started = time.monotonic()
        try:
            await self.client.fetch(due, keep)
        except ArxivUnavailable as exc:
            log.warning(
                "arxiv metadata refresh stopped early",
                extra={"reason": str(exc), "fetched": done, "due": len(due)},
            )
        except Exception:
            log.exception("arxiv metadata refresh failed", extra={"fetched": done})
        if due:
            log.info(
                "arxiv metadata refreshed",
                extra={"fetched": done, "due": len(due), "seconds": time.monotonic() - started},
            )
        self.rounds += 1
        return done

    def wake(self) -> None:
        """Refresh soon (new weeks arrived)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        """Load, then refresh now and every ``every`` (or when woken) until stopped."""
        await self.load()
        while not self._stopped:
            self._wake.clear()
            await self.refresh()
            await self.clock.sleep_until(self.clock.now() + self.every, self._wake)
