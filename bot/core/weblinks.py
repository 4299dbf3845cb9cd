"""The web archive's addresses, in one place for everyone who links to it: the digests' "Browse
the archive" button (``bot.delivery``), ``/papers feed`` (``bot.chat``) and the routes that
answer them (``bot.web``).

A channel's private pages hang under ``/c/<token>``: the token is 32 URL-safe characters from
``secrets`` (192 random bits), the only thing that names the channel on the web.
"""

from __future__ import annotations

import re
import secrets
from datetime import date

TOKEN_BYTES = 24  # 192 bits, 32 characters of URL-safe base64
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")

CHANNEL_PREFIX = "/c/"
PERIODS = ("week", "month", "year", "all")


def new_token() -> str:
    """A fresh unguessable token for a channel's private link."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(text: str) -> bool:
    """Whether ``text`` has the shape of a token (checked before any lookup)."""
    return _TOKEN_RE.fullmatch(text) is not None


def week_path(start: date) -> str:
    return f"/weeks/{start.isoformat()}"


def paper_path(paper_id: str) -> str:
    return f"/papers/{paper_id}"


def top_path(period: str = "all") -> str:
    return f"/top?period={period}" if period in PERIODS else "/top"


def channel_path(token: str) -> str:
    return f"{CHANNEL_PREFIX}{token}"


def absolute(base_url: str, path: str) -> str:
    """``path`` under ``base_url`` (a trailing slash on the base is ignored)."""
    return base_url.rstrip("/") + path


__all__ = [
    "CHANNEL_PREFIX",
    "PERIODS",
    "TOKEN_BYTES",
    "absolute",
    "channel_path",
    "is_token",
    "new_token",
    "paper_path",
    "top_path",
    "week_path",
]
