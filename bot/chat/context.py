"""What every ``/papers`` answer shares: the ``CommandContext`` the app wires, the handler
signature, and the small reply helpers used by ``commands``, ``lookups``, ``admin`` and ``top``."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from bot.chat.votes import VoteService
from bot.core.messages import Invocation, Message, Reply
from bot.delivery.digest import DigestBuilder
from bot.papers.arxiv import ArxivIndex

if TYPE_CHECKING:
    from bot.core.clock import Clock
    from bot.delivery.engine import DeliveryEngine
    from bot.ops.metrics import Metrics
    from bot.papers.catalog import Catalog
    from bot.storage.base import Store


@dataclass
class CommandContext:
    """Everything commands need, wired by the app. ``catalog`` is a getter: refresh swaps it.
    ``votes`` is the app's ``VoteService``; without one, leaderboards are read through a
    ``VoteService`` over ``store`` and ``clock`` (see ``vote_service``). ``share_ttl``: how long
    a private answer's "Share to channel" button works (the answer is kept that long)."""

    catalog: Callable[[], Catalog]
    store: Store
    clock: Clock
    digests: DigestBuilder
    engine: DeliveryEngine | None = None
    default_timezone: str = "UTC"
    on_subscriptions_changed: Callable[[], None] = lambda: None
    metrics: Metrics | None = None
    rng: random.Random = field(default_factory=random.Random)
    votes: VoteService | None = None
    share_ttl: timedelta = timedelta(hours=24)
    # The web archive's public address (``web.base_url`` while the pages are served), for
    # ``/papers feed``; None when there is no web archive to link to.
    web_base_url: str | None = None
    # arXiv metadata (authors, categories), filled in the background; may be empty.
    arxiv: ArxivIndex = field(default_factory=ArxivIndex)
    # False while the archive is still loading at start: lookups say so instead of answering.
    ready: Callable[[], bool] = lambda: True

    @cached_property
    def vote_service(self) -> VoteService:
        """Where ``/papers top`` gets its entries: ``votes`` if given, else one built from
        ``store`` and ``clock`` (a leaderboard needs nothing else)."""
        if self.votes is not None:
            return self.votes
        return VoteService(self.store, clock=self.clock)


# A subcommand's answer: (context, the text after the subcommand, the invocation) -> Reply.
Handler = Callable[[CommandContext, str, Invocation], Awaitable[Reply]]


def admin_command(platform: str) -> str:
    """How admins type admin subcommands: Discord hides them in their own ``/papers-admin``
    command (Discord applies default permissions per top-level command only)."""
    return "/papers-admin" if platform == "discord" else "/papers"


def notice(header: str, text: str = "", *, context: tuple[str, ...] = ()) -> Reply:
    """A short private answer that shows no papers (never gets a Share button)."""
    return Reply(Message(header=header, text=text, context=context, kind="notice"))
