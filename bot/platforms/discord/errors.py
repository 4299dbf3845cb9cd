"""discord.py failures -> ``bot.core.errors`` delivery errors (what the delivery engine acts on)."""

from __future__ import annotations

import discord

from bot.core.errors import DeliveryError, PermanentError, RateLimited, TransientError
from bot.platforms import shared

# JSON error codes Discord puts in 403/404 bodies.
PERMANENT_CODES = {
    50001: "missing_access",
    50013: "missing_permissions",
    10003: "unknown_channel",
    10004: "unknown_guild",
    10008: "unknown_message",
    50007: "cannot_message_user",
    20001: "bots_cannot_use_endpoint",
    50008: "cannot_send_in_non_text_channel",
    160002: "thread_locked",
}


def _retry_after(exc: discord.HTTPException, default: float = 1.0) -> tuple[float, bool]:
    headers = getattr(exc.response, "headers", None) or {}
    is_global = (
        str(headers.get("X-RateLimit-Global", "")).lower() == "true"
        or str(headers.get("X-RateLimit-Scope", "")).lower() == "global"
    )
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw)), is_global
        except (TypeError, ValueError):
            continue
    return default, is_global


def to_delivery_error(exc: BaseException, *, may_have_sent: bool) -> DeliveryError:
    """Classify a failed call. ``may_have_sent``: the call changes state on Discord (a post),
    so a lost reply, a timeout or a 5xx leaves the outcome unknown. What Discord did not answer
    (connection trouble, a delivery error already) is classified by ``shared.call_error``."""
    if isinstance(exc, discord.RateLimited):  # longer than max_ratelimit_timeout: not waited
        return RateLimited(float(exc.retry_after))
    if isinstance(exc, discord.HTTPException):
        status, code = exc.status, exc.code
        if status == 429:  # discord.py's own retries ran out
            retry_after, is_global = _retry_after(exc)
            return RateLimited(retry_after, is_global=is_global)
        if status >= 500:
            return TransientError(
                f"discord HTTP {status} (code {code})", outcome_unknown=may_have_sent
            )
        if code in PERMANENT_CODES:
            return PermanentError(PERMANENT_CODES[code], f"discord refused: {exc.text or code}")
        if status == 401:
            return PermanentError(
                "unauthorized", "discord rejected the bot token", whole_platform=True
            )
        if status == 403:
            return PermanentError("forbidden", f"discord refused: {exc.text or code}")
        if status == 404:
            return PermanentError("not_found", f"discord: not found ({exc.text or code})")
        if status == 400:
            return PermanentError(f"bad_request_{code}", f"discord refused: {exc.text or code}")
        return TransientError(f"discord HTTP {status} (code {code})", outcome_unknown=may_have_sent)
    return shared.call_error("discord", exc, may_have_sent=may_have_sent)
