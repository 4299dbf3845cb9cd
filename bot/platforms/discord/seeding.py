"""1️⃣..🔟 under each digest, added in the background without slowing the posts down.

``post`` returns as soon as the message exists. Seeding yields to posting: it waits until no
post has been sent for ``idle`` seconds (at most ``SEED_MAX_WAIT``), so a fan-out is not slowed
by 10 extra requests per channel; then ``concurrency`` messages at a time, each paced by
discord.py's per-channel reaction bucket. Failures are only logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import aiohttp
import discord

from bot.platforms import shared
from bot.platforms.discord.render import KEYCAPS

log = logging.getLogger("paperboy.discord")

SEED_MAX_WAIT = 60.0  # seeding waits at most this long for posting to pause


class ReactionSeeder:
    """Seeds reactions once posting pauses; ``posting()`` marks a post in flight."""

    def __init__(self, *, concurrency: int, idle: float) -> None:
        self._concurrency = max(1, concurrency)
        self._idle = idle
        self._slots: asyncio.Semaphore | None = None
        self._posting = 0
        self._last_post = 0.0
        self._work = shared.Background()

    def open(self) -> None:
        """Ready to seed (on the running loop)."""
        self._slots = asyncio.Semaphore(self._concurrency)

    async def close(self) -> None:
        """Cancel seeding still under way."""
        await self._work.close()

    @contextlib.contextmanager
    def posting(self) -> Iterator[None]:
        """Around a send: seeding waits while posts are in flight and ``idle`` after."""
        self._posting += 1
        try:
            yield
        finally:
            self._posting -= 1
            self._last_post = asyncio.get_running_loop().time()

    def seed(self, target: discord.PartialMessageable, message_id: int) -> None:
        """Add 1️⃣..🔟 under ``message_id`` in the background."""
        self._work.spawn(self._seed(target, message_id))

    async def _seed(self, target: discord.PartialMessageable, message_id: int) -> None:
        slots = self._slots or asyncio.Semaphore(1)
        async with slots:
            msg = target.get_partial_message(message_id)
            for emoji in KEYCAPS:
                await self._quiet()
                try:
                    await msg.add_reaction(emoji)
                except discord.HTTPException as exc:
                    log.warning("could not seed %s on %s: %s", emoji, message_id, exc)
                    if exc.status in (403, 404, 429):
                        return
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("could not seed reactions on %s: %r", message_id, exc)
                    return

    async def _quiet(self) -> None:
        """Wait until no post is in flight and none was sent for ``idle`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SEED_MAX_WAIT
        while loop.time() < deadline:
            idle_for = loop.time() - self._last_post
            if self._posting == 0 and idle_for >= self._idle:
                return
            await asyncio.sleep(max(0.01, self._idle - idle_for))
