"""What the delivery engine needs from a platform adapter.

An adapter translates a neutral ``Message`` into its platform's format and posts it. It raises
only ``bot.errors`` delivery errors: ``RateLimited`` (429, with retry_after), ``TransientError``
(5xx, timeouts; ``outcome_unknown=True`` when the request may have been stored, e.g. the reply
was lost), ``PermanentError`` (channel gone, not allowed: the subscription is paused).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.model import ChannelRef, Invocation, Message, ReactionEvent, Reply


class Poster(Protocol):
    platform: str

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        """Post ``message`` to ``channel`` and return the platform's message id.

        ``idempotency_key`` (at most 25 chars) is carried with the message (Discord: nonce with
        enforce_nonce; Slack: message metadata) so ``find_posted`` can find it later."""

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, since: datetime
    ) -> str | None:
        """The id of a message already posted with this key since ``since``, or None.
        Used to reconcile a send whose outcome is unknown before sending again."""


class CommandHandler(Protocol):
    """The core's side of ``/papers``: implemented by ``bot.commands.Commands``."""

    async def handle(self, inv: Invocation) -> Reply:
        """Answer a command. Never raises for bad input: unknown subcommands, empty or huge
        queries, hostile text all get a helpful Reply."""

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """Autocomplete for ``show``: (label, value) pairs, at most ``limit``; fast (<10 ms)."""

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        """A reply was shared to the channel as ``message_id``: record it so reactions on it
        (keycaps by rank, 👍 on a single paper) count as votes."""


class ReactionHandler(Protocol):
    """Implemented by ``bot.votes.VoteService``."""

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        """Apply a reaction add/remove as a vote; True if the vote set changed."""


class Adapter(Poster, Protocol):
    """A running platform connection (Slack, Discord, terminal)."""

    async def start(self) -> None:
        """Connect and begin receiving commands and reactions; returns once ready."""

    async def stop(self) -> None:
        """Disconnect cleanly (idempotent)."""

    def healthy(self) -> bool: ...
