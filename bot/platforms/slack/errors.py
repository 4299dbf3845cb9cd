"""Slack Web API failures -> delivery errors (``bot.core.errors``) the delivery engine acts on."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError

from bot.core.errors import DeliveryError, PermanentError, RateLimited, TransientError
from bot.platforms import shared

# Retrying will not help: the subscription should be paused and an admin told.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "method_not_supported_for_channel_type",
        "missing_scope",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
        "ekm_access_denied",
        "not_allowed_token_type",
        "access_denied",
        "org_login_required",
    }
)
# Refusals of the bot itself, whatever the channel: its token or its installation.
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "team_access_not_granted",
        "org_login_required",
        "not_allowed_token_type",
        "ekm_access_denied",
    }
)
# Slack-side trouble: worth retrying; the message may have been stored.
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "timeout"}
)
# The blocks were refused: nothing was stored; a text-only post can still go out.
BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})


def error_code(exc: SlackApiError) -> str:
    """The ``error`` field of a failed call ('' when the body was not Slack JSON)."""
    data: Any = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "")
    return ""


def retry_after(exc: SlackApiError, default: float = 1.0) -> float:
    headers: Any = getattr(exc.response, "headers", None) or {}
    raw = None
    for key in ("Retry-After", "retry-after"):
        if key in headers:
            raw = headers[key]
            break
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return max(0.0, float(raw)) if raw is not None else default
    except (TypeError, ValueError):
        return default


def to_delivery_error(exc: BaseException, *, may_have_sent: bool) -> DeliveryError:
    """Classify a failed Web API call.

    ``may_have_sent`` says whether the call changes state on Slack (a post): then a lost reply,
    a timeout or a 5xx leaves the outcome unknown and the engine must reconcile. What Slack did
    not answer (connection trouble) is classified by ``shared.call_error``."""
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        code = error_code(exc)
        if status == 429 or code == "ratelimited":
            return RateLimited(retry_after(exc))
        if status >= 500 or code in TRANSIENT_ERRORS:
            return TransientError(
                f"slack {code or f'HTTP {status}'}", outcome_unknown=may_have_sent
            )
        return PermanentError(
            code or f"http_{status}",
            f"slack refused the call: {code or status}",
            whole_platform=code in AUTH_ERRORS,
        )
    return shared.call_error("slack", exc, may_have_sent=may_have_sent)
