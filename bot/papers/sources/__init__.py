"""Sources: curated weekly tables and link collections, from files or over http(s).

``parse_text`` / ``load_paths`` are the entry points for local text and files; ``RemoteSource``
fetches a URL and keeps its last good copy. ``parse_weekly`` and the fetch API are imported on
first use (the weekly parser lives in ``bot.papers.sources.weekly``; fetching needs aiohttp).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bot.papers.sources.collections import parse_collection
from bot.papers.sources.loader import load_paths, parse_text

if TYPE_CHECKING:
    from bot.papers.sources.fetch import FetchResult, RemoteSource, load_remote_cached
    from bot.papers.sources.weekly import looks_like_weekly, parse_weekly

__all__ = [
    "FetchResult",
    "RemoteSource",
    "load_paths",
    "load_remote_cached",
    "looks_like_weekly",
    "parse_collection",
    "parse_text",
    "parse_weekly",
]

_LAZY = {
    "FetchResult": "bot.papers.sources.fetch",
    "RemoteSource": "bot.papers.sources.fetch",
    "load_remote_cached": "bot.papers.sources.fetch",
    "looks_like_weekly": "bot.papers.sources.weekly",
    "parse_weekly": "bot.papers.sources.weekly",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
