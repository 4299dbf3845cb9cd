"""Reads of a store's tables that only tests (and benches) need, run through the store's own SQL
primitives (``SqlStore._one``), so they work on SQLite and PostgreSQL alike and are not part of
the ``Store`` protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.messages import ChannelRef
from bot.storage import Store
from bot.storage.queries import SqlStore


async def _count(store: Store, sql: str, params: Sequence[Any] = ()) -> int:
    """The ``n`` column of the one row ``sql`` returns."""
    assert isinstance(store, SqlStore), f"{type(store).__name__} does not run shared SQL"
    row = await store._one(sql, params)
    assert row is not None
    return int(row["n"])


async def schema_version(store: Store) -> int:
    """The highest migration applied to the store's database (0 for none)."""
    return await _count(store, "SELECT COALESCE(MAX(version), 0) AS n FROM schema_migrations")


async def count_sent(store: Store, channel: ChannelRef | None = None) -> int:
    """Ledger rows marked ``sent`` (skipped ones are not), for one channel or all."""
    if channel is None:
        return await _count(store, "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'sent'")
    return await _count(
        store,
        "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'sent'"
        " AND platform = $1 AND workspace = $2 AND channel = $3",
        (channel.platform, channel.workspace, channel.channel),
    )


async def vote_count(store: Store) -> int:
    """Votes stored, over all messages."""
    return await _count(store, "SELECT COUNT(*) AS n FROM votes")
