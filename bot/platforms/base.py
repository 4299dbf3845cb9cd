"""What a platform adapter is: a ``Poster`` (what the delivery engine needs, see
``bot.delivery.engine``) that also starts, stops and reports its health, and what it calls in
the core (``CommandHandler``, ``ReactionHandler``)."""

from __future__ import annotations

from typing import Protocol

from bot.core.messages import ChannelRef, Invocation, ReactionEvent, Reply
from bot.delivery.engine import Poster


class CommandHandler(Protocol):
    """The core's side of ``/papers``: implemented by ``bot.chat.commands.Commands``."""

    async def handle(self, inv: Invocation) -> Reply:
        """Answer a command. Never raises for bad input: unknown subcommands, empty or huge
        queries, hostile text all get a helpful Reply."""

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """Autocomplete for ``show``: (label, value) pairs, at most ``limit``; fast (<10 ms)."""

    async def share(self, channel: ChannelRef, share_id: str) -> Reply:
        """A "Share to channel" button was pressed (its value is ``share_id``): the answer the
        user saw, public, to post to ``channel`` as it is (then call ``shared``); or, when
        it can no longer be shared, a private note (``message.ephemeral``) to show the user
        instead. Never raises."""

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        """A reply was shared to the channel as ``message_id``: record it so reactions on it
        (keycaps by rank, 👍 on a single paper) count as votes."""


class ReactionHandler(Protocol):
    """Implemented by ``bot.chat.votes.VoteService``."""

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        """Apply a reaction add/remove as a vote; True if the vote set changed."""


class Adapter(Poster, Protocol):
    """A running platform connection (Slack, Discord, terminal)."""

    async def start(self) -> None:
        """Connect and begin receiving commands and reactions; returns once ready."""

    async def stop(self) -> None:
        """Disconnect cleanly (idempotent)."""

    def healthy(self) -> bool: ...
