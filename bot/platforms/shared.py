"""Rules every chat platform follows the same way, so each platform folder keeps only what is
its own (its link syntax, its limits, its API's errors).

* Buttons: the core (``bot.chat.commands``) puts the buttons on a reply, including "Share to
  channel" on private lookups; adapters show them as they are. ``SHARE_ACTION`` carries the id
  the answer is kept under: the adapter asks ``CommandHandler.share`` for it and posts exactly
  that answer publicly (or shows the private note it gets instead); ``PAGE_ACTION`` re-runs its
  command in place.
* Links: only plain http(s) URLs with a host become links (``safe_url``, the core's rule, which
  the web pages follow too); a paper's title links
  to its own URL, else to its primary link (``paper_url``); the links shown under a paper are
  the first one of each configured label (``chosen_links``).
* A paper's summary and bullets (``detail_lines``), escaped and cut by the platform's ``fit``.
* Failed calls: connection trouble, timeouts and the unexpected become delivery errors the same
  way everywhere (``call_error``); each platform classifies its own API's answers first.
* Render options an adapter accepts (``check_render_options``), the background tasks it
  starts after answering (``Background``), and work that must run in arrival order per key
  (``KeyedSerial``: the reaction events of one user on one message).

Imports ``bot.core`` and ``bot.papers`` only; every platform folder may import this module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from collections import deque
from collections.abc import Callable, Coroutine, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp

from bot.core.errors import ConfigError, DeliveryError, TransientError
from bot.core.messages import Link, Message, Section
from bot.core.text import safe_url as safe_url  # the one link rule, re-exported for platforms
from bot.papers.model import primary_link

log = logging.getLogger("paperboy.platforms")

SHARE_ACTION = "share"  # the core's "Share to channel" button: post the kept answer publicly
PAGE_ACTION = "page"  # paging buttons: run this command again, in place
RENDER_OPTIONS = frozenset({"summary_length", "show_links"})
# A reply's paper sections were cut by the core to what that answer means to show (a paper's
# whole summary for `show`); only the platform's own limits shorten them further.
REPLY_SUMMARY_MAX = 1000

_WS = re.compile(r"\s+")

T = TypeVar("T")


# --- buttons ----------------------------------------------------------------------------------


def public_version(msg: Message) -> Message:
    """What goes to the channel for a message: no share/paging buttons (``Message.public``)."""
    return msg.public()


# --- links ------------------------------------------------------------------------------------


def summary_limit(msg: Message, summary_length: int) -> int:
    """The summary length to render ``msg`` with: the configured ``summary_length`` is for
    digests (ten papers in one post); any other message gets ``REPLY_SUMMARY_MAX``."""
    return summary_length if msg.kind == "digest" else max(summary_length, REPLY_SUMMARY_MAX)


def paper_url(sec: Section) -> str | None:
    """Where a paper's title links: its own URL, or when it has none its primary link's."""
    if sec.url:
        return sec.url
    primary = primary_link(sec.links)
    return primary.url if primary else None


def chosen_links(
    links: Sequence[Link], show: Sequence[str], shown: Callable[[Link], T | None]
) -> list[T]:
    """The first link of each label in ``show`` (case and outer spaces ignored), in the paper's
    order, as ``shown`` renders it; a link ``shown`` turns down (None) leaves its label free."""
    wanted = {label.strip().casefold() for label in show}
    seen: set[str] = set()
    out: list[T] = []
    for link in links:
        key = link.label.strip().casefold()
        if key not in wanted or key in seen:
            continue
        item = shown(link)
        if item is None:
            continue
        seen.add(key)
        out.append(item)
    return out


# --- text -------------------------------------------------------------------------------------


def detail_lines(
    body: str,
    bullets: Sequence[str],
    *,
    summary: int,
    max_bullets: int,
    bullet_len: int,
    fit: Callable[[str, int], str],
) -> list[str]:
    """What a paper shows under its title: the summary (whitespace collapsed, fitted to
    ``summary``; none at 0), then up to ``max_bullets`` bullets as ``• text``, each fitted to
    ``bullet_len``. ``fit(text, limit)`` escapes and cuts text for the platform."""
    lines: list[str] = []
    text = _WS.sub(" ", body).strip()
    if text and summary > 0:
        lines.append(fit(text, summary))
    for bullet in bullets[:max_bullets]:
        line = fit(_WS.sub(" ", bullet).strip(), bullet_len)
        if line:
            lines.append(f"• {line}")
    return lines


# --- errors and options -----------------------------------------------------------------------


def network_problem(exc: BaseException) -> str:
    """A failed connection in words (``cannot connect to discord.com:443: Name or service not
    known``), never a repr of nested library objects."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {network_problem(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}".strip()
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)  # asyncio's own strerror repeats the address as a tuple
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def call_error(platform: str, exc: BaseException, *, may_have_sent: bool) -> DeliveryError:
    """A failed call that the platform's API did not answer, as a delivery error.

    ``may_have_sent`` says whether the call changes state on the platform (a post): then a lost
    reply or a timeout leaves the outcome unknown and the engine must reconcile. A connection
    that was never made cannot have sent anything."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransientError(f"cannot reach {platform}: {exc}", outcome_unknown=False)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError | OSError):
        return TransientError(
            f"{platform} connection failed: {type(exc).__name__}: {exc}",
            outcome_unknown=may_have_sent,
        )
    return TransientError(
        f"{platform} call failed: {type(exc).__name__}: {exc}", outcome_unknown=may_have_sent
    )


def check_render_options(platform: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``options`` for ``render_message``; a ConfigError names any unknown one."""
    out = dict(options or {})
    unknown = set(out) - RENDER_OPTIONS
    if unknown:
        raise ConfigError(f"{platform}.render", f"unknown option(s): {', '.join(sorted(unknown))}")
    return out


# --- background work --------------------------------------------------------------------------


class Background:
    """Tasks an adapter starts and does not wait for (work after an ack, reaction seeding,
    votes), kept so ``close`` can end them. With ``limit``, at most that many run at once."""

    def __init__(self, limit: int | None = None) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max(1, limit)) if limit is not None else None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        work = coro if self._slots is None else self._limited(self._slots, coro)
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # A task cancelled before its turn never starts ``coro``: close it, so it is not
        # reported as never awaited (a no-op once it ran).
        task.add_done_callback(lambda _: coro.close())

    @staticmethod
    async def _limited(slots: asyncio.Semaphore, coro: Coroutine[Any, Any, None]) -> None:
        async with slots:
            await coro

    async def close(self, grace: float = 0.0) -> None:
        """Let running tasks finish for up to ``grace`` seconds, then cancel the rest."""
        pending = set(self._tasks)
        if pending and grace > 0:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


class KeyedSerial:
    """Work for one key runs one item at a time, in the order it was submitted; different keys
    run side by side (as tasks of ``work``). Submit at once when something arrives, before
    anything is awaited, and arrival order is kept even when one item is slow (a lookup)."""

    def __init__(self, work: Background) -> None:
        self._work = work
        self._queues: dict[Hashable, deque[Coroutine[Any, Any, None]]] = {}

    def submit(self, key: Hashable, coro: Coroutine[Any, Any, None]) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(coro)
            return
        self._queues[key] = deque([coro])
        self._work.spawn(self._drain(key))

    def pending(self, key: Hashable) -> int:
        """Items for ``key`` not finished yet (the running one included)."""
        return len(self._queues.get(key) or ())

    async def _drain(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                try:
                    await queue[0]
                except Exception:  # items handle their own errors; this is a bug's last stop
                    log.exception("background work failed")
                queue.popleft().close()  # done: closing it is a no-op
        finally:
            for coro in queue:
                coro.close()  # cancelled: the rest never runs (and is not "never awaited")
            del self._queues[key]
