"""The dialect half of the shared SQL: what ``SqliteStore`` and ``PostgresStore`` each provide,
declared once for the queries in ``bot.storage.queries`` and ``bot.storage.chat_queries`` (whose
docstrings say how to write a query)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

PRUNE_EVERY = timedelta(minutes=10)  # how often expired rows (events, shares) are deleted


class Row(Protocol):
    """A result row, read by column name (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: str, /) -> Any: ...


def as_utc(dt: datetime) -> datetime:
    """Aware UTC (a naive datetime is taken to be UTC already)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class SqlDialect(ABC):
    """The primitives and codecs a store provides, and the SQL fragments where dialects differ:
    ``HAS_PAPERS`` (a ``posted`` row has paper ids) and ``NEWEST_TIEBREAK`` (orders ``posted``
    rows with the same ``posted_at``)."""

    url: str
    HAS_PAPERS: ClassVar[str]
    NEWEST_TIEBREAK: ClassVar[str]

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


__all__ = ["PRUNE_EVERY", "Row", "SqlDialect", "as_utc"]
