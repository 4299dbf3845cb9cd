"""What a SQL store provides to the queries written once (``bot.storage.queries``,
``bot.storage.ledger``, ``bot.storage.chat_queries``, ``bot.storage.webqueries``): the statement
primitives, the value codecs and the SQL fragments where
the dialects differ. ``SqliteStore`` and ``PostgresStore`` implement it; the module docstring of
``bot.storage.queries`` says how."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

log = logging.getLogger("paperboy.store")

PRUNE_EVERY = timedelta(minutes=10)  # how often expired rows (events, shares) are deleted


class Row(Protocol):
    """A result row, read by column name (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: str, /) -> Any: ...


def as_utc(dt: datetime) -> datetime:
    """Aware UTC (a naive datetime is taken to be UTC already)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class SqlDialect(ABC):
    """The primitives and codecs a store provides, and the SQL fragments where dialects differ:
    ``HAS_PAPERS`` (a ``posted`` row has paper ids), ``NEWEST_TIEBREAK`` (orders ``posted`` rows
    with the same ``posted_at``), ``NOW`` / ``NOW_PLUS`` (the database's clock)."""

    url: str
    HAS_PAPERS: ClassVar[str]
    NEWEST_TIEBREAK: ClassVar[str]
    NOW: ClassVar[str]
    NOW_PLUS: ClassVar[str]

    # --- the dialect -----------------------------------------------------------------------------
    @abstractmethod
    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abstractmethod
    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def _time(self, dt: datetime) -> Any: ...

    @abstractmethod
    def _from_time(self, value: Any) -> datetime: ...

    @abstractmethod
    def _ids(self, ids: tuple[str, ...]) -> Any: ...

    @abstractmethod
    def _from_ids(self, value: Any) -> tuple[str, ...]: ...

    @abstractmethod
    def _flag(self, value: bool) -> Any: ...

    def _opt_time(self, dt: datetime | None) -> Any:
        return None if dt is None else self._time(dt)

    def _log_opened(self, before: int, after: int) -> None:
        """One line when the store opens: its schema version, and what migrating changed."""
        log.info(
            "store opened",
            extra={"store": self.url, "schema_version": after, "migrated_from": before},
        )


__all__ = ["PRUNE_EVERY", "Row", "SqlDialect", "as_utc"]
