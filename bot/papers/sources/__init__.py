"""Sources: curated weekly tables and link collections, from files or over http(s).

``parse_text`` / ``load_paths`` are the entry points for local text and files; ``RemoteSource``
fetches a URL and keeps its last good copy. One parser per input shape: ``weekly`` (the curated
tables, with ``headings`` for their week headings) and ``collections`` (dated link lists).
"""

from __future__ import annotations

from bot.papers.sources.collections import parse_collection
from bot.papers.sources.fetch import FetchResult, RemoteSource, load_remote_cached
from bot.papers.sources.loader import load_paths, parse_text
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
