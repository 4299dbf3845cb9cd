"""Persistence: ``open_store(url)`` returns a SQLite or PostgreSQL ``Store``."""

from __future__ import annotations

from bot.core.errors import StoreError
from bot.storage.base import Store

__all__ = ["Store", "open_store"]


def open_store(url: str, *, create_dir: bool = False) -> Store:
    """A Store for ``url``: ``postgresql://`` / ``postgres://`` -> PostgreSQL, ``sqlite:///path``
    or a bare file path -> SQLite. Call ``await store.open()`` before use.

    A SQLite file's directory must exist (a typo is an error, not a new directory) unless
    ``create_dir`` (the default location, ``.paperboy/``). An empty path is an error: SQLite
    would silently use a temporary database."""
    if url.startswith(("postgresql://", "postgres://")):
        from bot.storage.postgres import PostgresStore

        return PostgresStore(url)
    from bot.storage.sqlite import SqliteStore

    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    if not path:
        raise StoreError(f"{url!r} names no SQLite file; e.g. sqlite:///.paperboy/paperboy.db")
    return SqliteStore(path, create_dir=create_dir)
