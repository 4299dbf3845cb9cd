"""Shared fixtures: a ``store`` on each backend, and ``store_factory`` for more instances of the
same database (replica tests).

PostgreSQL tests use ``DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/test`` and are
skipped when it cannot be reached. Each test gets its own fresh schema, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.core.text import mask_url
from bot.storage import Store, open_store

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOOPBACK = ("127.0.0.1", "localhost", "::1", None)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test is offline: looking up any host but the loopback fails the test, and proxy
    settings are ignored (fakes of Slack, Discord and sources listen on 127.0.0.1)."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK:
            raise OSError(f"test tried to reach the network: {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield


StoreFactory = Callable[[], Awaitable[Store]]

_pg_unreachable: dict[str, str] = {}  # url -> reason, so a dead server costs one timeout


def postgres_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_PG_URL


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``schema=...`` added to its query (understood by ``PostgresStore``)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}schema={schema}"


async def _pg_connect_or_skip(url: str) -> asyncpg.Connection:
    if url in _pg_unreachable:
        pytest.skip(f"PostgreSQL not reachable at {mask_url(url)}: {_pg_unreachable[url]}")
    try:
        return await asyncpg.connect(url, timeout=5)
    except Exception as exc:
        _pg_unreachable[url] = str(exc) or type(exc).__name__
        pytest.skip(f"PostgreSQL not reachable at {mask_url(url)}: {_pg_unreachable[url]}")


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL for an empty database on the parametrized backend (not yet opened)."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()  # a SQLite file's directory must exist
        yield str(tmp_path / "db" / "paperboy.sqlite3")
        return
    base = postgres_url()
    conn = await _pg_connect_or_skip(base)
    schema = f"pb_test_{secrets.token_hex(6)}"
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield with_schema(base, schema)
    finally:
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def store_factory(store_url: str) -> AsyncIterator[StoreFactory]:
    """An async callable opening another ``Store`` on the same database; all are closed at
    teardown."""
    opened: list[Store] = []

    async def factory() -> Store:
        s = open_store(store_url)
        await s.open()
        opened.append(s)
        return s

    yield factory
    for s in reversed(opened):
        await s.close()


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    """An open, migrated, empty ``Store``: SQLite (a file under tmp_path) and PostgreSQL."""
    return await store_factory()
