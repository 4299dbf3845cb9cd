"""Fixtures for the web archive: ``web_site`` serves a ``WebSite`` over the ``store`` fixture
(SQLite and PostgreSQL) with the shipped weeks plus a hostile one, seeded votes and posts, on a
fake clock, with a 10-second cache for pages that show votes (``support.web.serve``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support.web import Web, serve

from bot.storage import Store


@pytest.fixture
async def web_site(store: Store) -> AsyncIterator[Web]:
    async with serve(store, cache_seconds=10) as web:
        yield web
