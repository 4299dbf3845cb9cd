"""One small error hierarchy. Everything Paperboy raises on purpose is a PaperboyError.

User-facing text lives in the messages of these errors (and in ``bot.chat.commands``); the CLI turns
them into one clear line and an exit code, chat adapters into a friendly reply.
"""

from __future__ import annotations


class PaperboyError(Exception):
    """Base of every error Paperboy raises on purpose."""


class ConfigError(PaperboyError):
    """A configuration problem, located by key path (``subscriptions[2].timezone``) and line."""

    def __init__(self, key_path: str, message: str, line: int | None = None) -> None:
        self.key_path = key_path
        self.message = message
        self.line = line
        where = f" (line {line})" if line is not None else ""
        prefix = f"{key_path}: " if key_path else ""
        super().__init__(f"{prefix}{message}{where}")


class SourceError(PaperboyError):
    """A source could not be read or parsed at all (file and line when known)."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.message = message
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class StoreError(PaperboyError):
    """The store (SQLite or PostgreSQL) is unreachable or refused an operation."""


class CommandError(PaperboyError):
    """A chat command that cannot be answered; the message is shown to the user as is."""


# --- delivery: what a platform adapter raises from a send --------------------------------------


class DeliveryError(PaperboyError):
    """A send failed. Subclasses say whether to retry."""


class TransientError(DeliveryError):
    """Worth retrying with backoff: 5xx, timeouts, connection resets.

    ``outcome_unknown`` is True when the request may have reached the platform (a timeout or a
    lost reply): the engine must reconcile before sending again.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class RateLimited(TransientError):
    """HTTP 429: wait ``retry_after`` seconds (per channel, or for the whole platform if
    ``is_global``) and try again. The platform did not store the message."""

    def __init__(self, retry_after: float, *, is_global: bool = False) -> None:
        super().__init__(f"rate limited, retry after {retry_after:.3f}s")
        self.retry_after = retry_after
        self.is_global = is_global


class PermanentError(DeliveryError):
    """Retrying will not help (channel gone, bot not allowed): pause the subscription.

    ``reason`` is a short machine-ish token such as ``channel_not_found`` or ``missing_access``.
    ``whole_platform`` is True when the refusal is not about the channel but about the bot
    itself (a revoked or invalid token): every channel on that platform is refused alike until
    someone fixes the credentials, so what waits for it (an admin notice) waits, not drops.
    """

    def __init__(
        self, reason: str, message: str | None = None, *, whole_platform: bool = False
    ) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.whole_platform = whole_platform
