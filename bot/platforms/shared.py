"""Rules every chat platform follows the same way, so each platform folder keeps only what is
its own (its link syntax, its limits, its API's errors).

* Buttons: the core (``bot.chat.commands``) puts the buttons on a reply, including "Share to
  channel" on private lookups; adapters show them as they are. ``SHARE_ACTION`` re-runs the
  command and posts the answer publicly (``public_version``); ``PAGE_ACTION`` re-runs it in
  place.
* Links: only plain http(s) URLs with a host become links (``safe_url``, the core's rule, which
  the web pages follow too); a paper's title links
  to its own URL, else to its primary link (``paper_url``); the links shown under a paper are
  the first one of each configured label (``chosen_links``).
* A paper's summary and bullets (``detail_lines``), escaped and cut by the platform's ``fit``.
* Failed calls: connection trouble, timeouts and the unexpected become delivery errors the same
  way everywhere (``call_error``); each platform classifies its own API's answers first.
* Render options an adapter accepts (``check_render_options``), and the background tasks it
  starts after answering (``Background``).

Imports ``bot.core`` and ``bot.papers`` only; every platform folder may import this module.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp

from bot.core.errors import ConfigError, DeliveryError, TransientError
from bot.core.messages import Link, Message, Section
from bot.core.text import safe_url as safe_url  # the one link rule, re-exported for platforms
from bot.papers.model import primary_link

SHARE_ACTION = "share"  # the core's "Share to channel" button: post this answer publicly
PAGE_ACTION = "page"  # paging buttons: run this command again, in place
RENDER_OPTIONS = frozenset({"summary_length", "show_links"})

_WS = re.compile(r"\s+")

T = TypeVar("T")


# --- buttons ----------------------------------------------------------------------------------


def public_version(msg: Message) -> Message:
    """What goes to the channel when a reply is shared: no share/paging buttons."""
    buttons = tuple(b for b in msg.buttons if b.url is not None)
    return dataclasses.replace(msg, buttons=buttons, ephemeral=False)


# --- links ------------------------------------------------------------------------------------


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
