"""Persistence: ``open_store(url)`` returns a SQLite or PostgreSQL ``Store``."""

from __future__ import annotations

from bot.storage.base import Store

__all__ = ["Store", "open_store"]


def open_store(url: str) -> Store:
    """A Store for ``url``: ``postgresql://`` / ``postgres://`` -> PostgreSQL, ``sqlite:///path``
    or a bare file path -> SQLite. Call ``await store.open()`` before use."""
    if url.startswith(("postgresql://", "postgres://")):
        from bot.storage.postgres import PostgresStore

        return PostgresStore(url)
    from bot.storage.sqlite import SqliteStore

    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    return SqliteStore(path)
