"""Small text helpers shared by commands and renderers."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

ELLIPSIS = "…"


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
