"""Small text helpers shared by commands and renderers, and the one rule for which URLs may
become links (``safe_url``: chat platforms and the web pages alike)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

ELLIPSIS = "…"
# Never inside a URL we link: they end or break a link in some markup, or hide what it is.
_URL_UNSAFE = re.compile(r'[\s\x00-\x1f\x7f<>"`]')


def safe_url(url: str | None, *, limit: int, forbidden: str = "") -> str | None:
    """``url`` (stripped) if it is a plain http(s) URL with a host, at most ``limit`` characters,
    without whitespace, control characters, ``<>"`` or a backtick, nor any character of
    ``forbidden`` (what the platform's link markup adds); else None."""
    if not url:
        return None
    url = url.strip()
    if not url or len(url) > limit or _URL_UNSAFE.search(url):
        return None
    if forbidden and any(c in forbidden for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending with an ellipsis
    when anything was cut (line breaks kept)."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= max(1, (limit - 1) // 2):
        cut = cut[:space]
    return cut.rstrip(" \t\n,;:.-–—") + ELLIPSIS


def truncate_words(text: str, limit: int) -> str:
    """Like ``truncate``, after collapsing every whitespace run to one space."""
    return truncate(" ".join(text.split()), limit)


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def mask_url(url: str, mask: str = "***") -> str:
    """``url`` with any password replaced by ``mask`` (for logs, errors and ``paperboy check``)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", f":{mask}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
