"""The SQLite Store: one file in WAL mode, via aiosqlite (the default backend).

The queries are ``SqlStore``'s (``bot.storage.queries``); this module is the dialect: the
connection, WAL, migrations, error translation, ``$n`` -> ``?n`` placeholders and the codecs.

One connection per store, in autocommit mode: every method is a single statement (using
``ON CONFLICT`` and ``RETURNING``), so calls from many tasks interleave safely and several store
instances (processes) can share the file, waiting on each other through ``busy_timeout``.
Datetimes are stored as fixed-width ISO-8601 UTC text and come back timezone-aware UTC; the
paper ids of a posted digest as a JSON array; booleans as 0/1.

One writer per file: leadership (``acquire_lease``) first takes an OS lock, ``fcntl.flock`` on
``<database>.<lease name>.lock`` beside the file, without waiting. Only the process holding it
may hold the lease row; a second process on the same file stays on standby until the lock is
free, which the OS guarantees once the holder has exited, however it died. So the new holder
takes the lease at once and frees every ledger row the old one held.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import aiosqlite

from bot.core.errors import StoreError
from bot.storage.migrations import pending_migrations
from bot.storage.queries import Row, SqlStore, as_utc

BUSY_TIMEOUT_MS = 10_000


async def _enable_wal(db: aiosqlite.Connection, within: float) -> None:
    """Switch the file to WAL. Two connections switching a new file at the same moment can get
    SQLITE_BUSY at once, without SQLite's busy handler waiting; so retry for up to ``within``
    seconds (the mode is stored in the file: once one connection has switched it, the other's
    switch is a no-op)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = 0.005
    while True:
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
)


# What ``to_db_time`` writes, as SQLite's ``strftime`` spells it (``%f`` is seconds with
# milliseconds): the database's own clock in the same fixed-width text.
_DB_TIME_FORMAT = "%Y-%m-%dT%H:%M:%f000+00:00"


def to_db_time(dt: datetime) -> str:
    """Fixed-width ISO text in UTC (a naive datetime is taken to be UTC already)."""
    return as_utc(dt).isoformat(timespec="microseconds")


def from_db_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


_PLACEHOLDER_RE = re.compile(r"\$(\d+)")


@lru_cache(maxsize=256)
def numbered_params(sql: str) -> str:
    """The shared SQL's ``$1..$n`` placeholders as SQLite's ``?1..?n`` (same numbers, so a
    repeated ``$n`` binds the same value)."""
    return _PLACEHOLDER_RE.sub(r"?\1", sql)


async def _join_worker(conn: aiosqlite.Connection) -> None:
    """After a failed connect, aiosqlite stops its worker thread without waiting for it; if the
    event loop closes first, the thread dies with 'Event loop is closed'. Wait for it here."""
    thread = getattr(conn, "_thread", None)
    if thread is not None and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)


class SqliteStore(SqlStore):
    """``Store`` on a SQLite file (``:memory:`` works too, for one store instance)."""

    HAS_PAPERS: ClassVar[str] = "paper_ids != '[]'"
    NEWEST_TIEBREAK: ClassVar[str] = "rowid DESC"  # the row inserted last
    NOW: ClassVar[str] = f"strftime('{_DB_TIME_FORMAT}', 'now')"
    NOW_PLUS: ClassVar[str] = f"strftime('{_DB_TIME_FORMAT}', julianday('now') + {{}} / 86400.0)"

    def __init__(self, path: str, *, create_dir: bool = False) -> None:
        super().__init__()
        self.path = path
        self.create_dir = create_dir  # make the file's directory if missing (else an error)
        self.url = f"sqlite:///{path}"
        self._db: aiosqlite.Connection | None = None
        self._in_memory = path == ":memory:" or path.startswith("file:")
        self._locks: dict[str, int] = {}  # lease name -> fd of its flock'ed lock file
        self._lease_mutex = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._db is not None:
            return
        try:
            folder = Path(self.path).parent
            if not self._in_memory and self.create_dir:
                folder.mkdir(parents=True, exist_ok=True)
            elif not self._in_memory and not folder.is_dir():
                raise StoreError(
                    f"cannot open SQLite database {self.path}: the directory {folder} does not "
                    "exist (create it, or correct store.url)"
                )
            pending = aiosqlite.connect(self.path, isolation_level=None)
        except OSError as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            db = await pending
        except sqlite3.Error as exc:
            await _join_worker(pending)
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            db.row_factory = aiosqlite.Row
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await _enable_wal(db, BUSY_TIMEOUT_MS / 1000)
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            before, after = await self._migrate(db)
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        except BaseException:
            await db.close()
            raise
        self._db = db
        self._log_opened(before, after)

    async def _migrate(self, db: aiosqlite.Connection) -> tuple[int, int]:
        """Apply pending migrations; (version before, version after)."""
        await db.execute(_SCHEMA_MIGRATIONS)
        # BEGIN IMMEDIATE takes the write lock, so two processes starting at once migrate in turn.
        await db.execute("BEGIN IMMEDIATE")
        try:
            rows = await db.execute_fetchall(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
            )
            before = after = int(next(iter(rows))[0])
            for migration in pending_migrations("sqlite", before):
                for statement in migration.statements():
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (migration.version, to_db_time(datetime.now(UTC))),
                )
                after = migration.version
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
        return before, after

    async def close(self) -> None:
        for name in list(self._locks):
            self._unlock(name)
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    # --- the dialect: primitives and codecs -----------------------------------------------------
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"store {self.url} is not open")
        return self._db

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        try:
            async with self._conn().execute(numbered_params(sql), params) as cur:
                return int(cur.rowcount)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite error: {exc}") from exc

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            rows: Iterable[sqlite3.Row] = await self._conn().execute_fetchall(
                numbered_params(sql), params
            )
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite error: {exc}") from exc
        return list(rows)

    def _time(self, dt: datetime) -> str:
        return to_db_time(dt)

    def _from_time(self, value: Any) -> datetime:
        return from_db_time(value)

    def _ids(self, ids: tuple[str, ...]) -> str:
        return json.dumps(list(ids))

    def _from_ids(self, value: Any) -> tuple[str, ...]:
        return tuple(str(p) for p in json.loads(value))

    def _flag(self, value: bool) -> int:
        return int(value)

    # --- leadership: an OS lock beside the file, then the lease row -----------------------------
    def lock_path(self, name: str) -> str:
        return f"{self.path}.{name}.lock"

    def _try_lock(self, name: str) -> int | None:
        """Take the OS lock for lease ``name`` without waiting: the locked file's descriptor, or
        None if another process holds it."""
        try:
            fd = os.open(self.lock_path(name), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {self.lock_path(name)}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    def _unlock(self, name: str) -> None:
        fd = self._locks.pop(name, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def acquire_lease(
        self, name: str, owner: str, ttl: float, *, steal: bool = False
    ) -> int | None:
        async with self._lease_mutex:  # one first acquisition at a time in this process
            if self._in_memory or name in self._locks:
                return await super().acquire_lease(name, owner, ttl, steal=steal)
            fd = self._try_lock(name)
            if fd is None:
                return None
            self._locks[name] = fd
            try:
                # Whoever held the lock has exited: its lease and its ledger rows are free.
                await self.release_deliveries(owner, others=True)
                return await super().acquire_lease(name, owner, ttl, steal=True)
            except BaseException:
                self._unlock(name)
                raise

    async def release_lease(self, name: str, owner: str) -> None:
        async with self._lease_mutex:
            try:
                await super().release_lease(name, owner)
            finally:
                self._unlock(name)


if TYPE_CHECKING:  # mypy checks that the class satisfies the protocol
    from bot.storage.base import Store

    _protocol_check: type[Store] = SqliteStore

__all__ = ["SqliteStore", "from_db_time", "numbered_params", "to_db_time"]
