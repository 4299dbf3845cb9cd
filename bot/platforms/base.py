"""What the delivery engine needs from a platform adapter.

An adapter translates a neutral ``Message`` into its platform's format and posts it. It raises
only ``bot.errors`` delivery errors: ``RateLimited`` (429, with retry_after), ``TransientError``
(5xx, timeouts; ``outcome_unknown=True`` when the request may have been stored, e.g. the reply
was lost), ``PermanentError`` (channel gone, not allowed: the subscription is paused).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.model import ChannelRef, Message


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
