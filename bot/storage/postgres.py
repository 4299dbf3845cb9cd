"""The PostgreSQL Store, via an asyncpg pool; for several replicas sharing one database.

The queries are ``SqlStore``'s (``bot.storage.queries``); this module is the dialect: the pool,
migrations, error translation and the codecs (asyncpg speaks ``TIMESTAMPTZ``, ``TEXT[]`` and
``BOOLEAN`` natively, so they are close to the identity).

``open()`` migrates under ``pg_advisory_xact_lock`` so replicas starting together take turns.
Scheduler leadership is a lease row timed by the server's clock (``bot.storage.ledger``): it
does not depend on any one connection staying up, and it expires when its holder stops
renewing it, hung or dead.

The URL may carry ``?schema=NAME`` (letters, digits, ``_``): the store then works in that schema
(created if missing) by setting ``search_path``; tests use it for isolation. Other query
parameters go to asyncpg unchanged.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from bot.core.errors import StoreError
from bot.core.text import mask_url
from bot.storage.migrations import pending_migrations
from bot.storage.queries import Row, SqlStore, as_utc

POOL_MIN = 1
POOL_MAX = 5
CONNECT_TIMEOUT = 10.0

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


def _split_schema(url: str) -> tuple[str, str | None]:
    """(url without ``schema=``, schema or None)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), (schemas[-1] if schemas else None)


class PostgresStore(SqlStore):
    """``Store`` on PostgreSQL (``postgresql://user:pass@host:5432/db[?schema=name]``)."""

    HAS_PAPERS: ClassVar[str] = "cardinality(paper_ids) > 0"
    NEWEST_TIEBREAK: ClassVar[str] = "message_id DESC"
    NOW: ClassVar[str] = "now()"
    NOW_PLUS: ClassVar[str] = "(now() + make_interval(secs => {}))"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = mask_url(url)
        self._dsn, self._schema = _split_schema(url)
        self._password = urlsplit(url).password
        self._settings: dict[str, str] = {"application_name": "paperboy"}
        if self._schema is not None:
            self._settings["search_path"] = self._schema
        self._pool: Any = None

    # --- lifecycle -------------------------------------------------------------------------------
    def _fail(self, what: str, exc: BaseException) -> StoreError:
        reason = str(exc).strip() or type(exc).__name__
        if self._password:
            reason = reason.replace(self._password, "***")
        return StoreError(f"{what} PostgreSQL at {self.url}: {reason.splitlines()[0]}")

    def _lock_key(self, name: str) -> str:
        return f"paperboy:{self._schema or ''}:{name}"

    async def open(self) -> None:
        if self._pool is not None:
            return
        if self._schema is not None and not _SCHEMA_RE.match(self._schema):
            raise StoreError(f"invalid schema name {self._schema!r} in {self.url}")
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                timeout=CONNECT_TIMEOUT,
                server_settings=self._settings,
            )
        except Exception as exc:  # bad URL, refused, unknown database, auth: all one clear line
            raise self._fail("cannot connect to", exc) from exc
        try:
            before, after = await self._migrate(pool)
        except Exception as exc:
            await pool.close()
            raise self._fail("cannot migrate", exc) from exc
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool
        self._log_opened(before, after)

    async def _migrate(self, pool: Any) -> tuple[int, int]:
        """Apply pending migrations; (version before, version after)."""
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key("migrate")
            )
            if self._schema is not None:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            before = after = int(current)
            for migration in pending_migrations("postgres", before):
                if migration.statements():  # a file of comments only is a version with no SQL
                    await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                    migration.version,
                )
                after = migration.version
        return before, after

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # --- the dialect: primitives and codecs -----------------------------------------------------
    def _get_pool(self) -> Any:
        if self._pool is None:
            raise StoreError(f"store {self.url} is not open")
        return self._pool

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed (from the command tag)."""
        try:
            tag: str = await self._get_pool().execute(sql, *params)
        except _DRIVER_ERRORS as exc:
            raise self._fail("error from", exc) from exc
        last = tag.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return list(await self._get_pool().fetch(sql, *params))
        except _DRIVER_ERRORS as exc:
            raise self._fail("error from", exc) from exc

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            row: Row | None = await self._get_pool().fetchrow(sql, *params)
        except _DRIVER_ERRORS as exc:
            raise self._fail("error from", exc) from exc
        return row

    def _time(self, dt: datetime) -> datetime:
        return as_utc(dt)

    def _from_time(self, value: Any) -> datetime:
        return as_utc(value)

    def _ids(self, ids: tuple[str, ...]) -> list[str]:
        return list(ids)

    def _from_ids(self, value: Any) -> tuple[str, ...]:
        return tuple(str(p) for p in value)

    def _flag(self, value: bool) -> bool:
        return value


if TYPE_CHECKING:  # mypy checks that the class satisfies the protocol
    from bot.storage.base import Store

    _protocol_check: type[Store] = PostgresStore

__all__ = ["PostgresStore"]
