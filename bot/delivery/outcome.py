"""What one delivery comes to (``Outcome``), and the idempotency key that makes a post findable
on its platform later. Shared by the engine, start-up reconciliation and admin notices."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.messages import ChannelRef
from bot.storage.records import Delivery, Subscription

IDEMPOTENCY_KEY_LENGTH = 25

OutcomeStatus = Literal[
    "sent",  # posted now
    "already_sent",  # the ledger says it (or the same curated week, edited) was posted before
    "reconciled",  # an earlier attempt had reached the platform: found it, not posted again
    "nothing_new",  # the provider has nothing this channel has not had
    "paused",  # the subscription is (now) paused
    "failed",  # gave up for now; the ledger row stays pending and is retried at next start
    "in_progress",  # another process holds this very row right now; retried when it lets go
    "standby",  # this process does not lead (or just lost the lead): the leader delivers
    "queued",  # claimed on a standby: the leader posts it at its next poll
    "skipped",  # reconcile: a stale in-flight digest that never reached the platform
]

# The channel of an outcome (or notice) that has none: a ledger row without a subscription.
NOWHERE = ChannelRef("none", "", "")


@dataclass(frozen=True, slots=True)
class Outcome:
    channel: ChannelRef
    digest_key: str | None
    status: OutcomeStatus
    message_id: str | None = None
    attempts: int = 0
    error: str | None = None


def idempotency_key(digest_key: str, channel: ChannelRef) -> str:
    """25 characters derived from (digest key, channel): Discord's nonce, Slack's metadata."""
    raw = hashlib.sha1(f"{digest_key}\x1f{channel}".encode()).digest()
    return "pb" + base64.b32encode(raw).decode("ascii").lower()[: IDEMPOTENCY_KEY_LENGTH - 2]


def no_poster(sub: Subscription, key: str | None) -> Outcome:
    error = f"no poster for platform {sub.channel.platform!r}"
    return Outcome(sub.channel, key, "failed", error=error)


def already_sent(sub: Subscription, row: Delivery) -> Outcome:
    return Outcome(sub.channel, row.digest_key, "already_sent", row.message_id, row.attempts)


def error_text(exc: BaseException) -> str:
    """``Type: message`` (just ``Type`` when the message is empty), for outcomes and logs."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def log_fields(
    sub: Subscription, row: Delivery, message_id: str | None = None, **more: Any
) -> dict[str, Any]:
    """The ``extra`` of a log line about one ledger row."""
    fields: dict[str, Any] = {
        "channel": str(row.channel),
        "digest": row.digest_key,
        "delivery": row.id,
        "attempts": row.attempts,
    }
    if message_id is not None:
        fields["message_id"] = message_id
    return {**fields, **more}


__all__ = [
    "IDEMPOTENCY_KEY_LENGTH",
    "NOWHERE",
    "Outcome",
    "OutcomeStatus",
    "already_sent",
    "error_text",
    "idempotency_key",
    "log_fields",
    "no_poster",
]
