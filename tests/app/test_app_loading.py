"""While the archive loads at start, ``/healthz`` already answers (``"status": "loading"``, 503),
the web archive answers 503 "still loading", and commands that need the papers get a friendly "still loading" reply; once it has loaded,
both answer normally."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.clock import FakeClock
from support.paths import REPO

from bot.app import App
from bot.config.load import parse_config
from bot.core.messages import ChannelRef, Invocation
from bot.papers.archive import Archive
from bot.papers.catalog import Catalog

CHANNEL = ChannelRef("slack", "T1", "C1")


def settings(tmp_path: Path) -> Any:
    return parse_config(
        f"sources:\n  paths: [{REPO / 'digests'}]\n  cache_dir: {tmp_path / 'cache'}\n"
        f"store:\n  url: sqlite:///{tmp_path / 'paperboy.db'}\n"
        "terminal:\n  enabled: false\nhttp:\n  host: 127.0.0.1\n  port: 0\n"
        "web:\n  enabled: true\n",
        source="test.yaml",
        env={},
    )


async def health(client: aiohttp.ClientSession, app: App) -> tuple[int, dict[str, Any]]:
    async with client.get(f"http://127.0.0.1:{app.http_port}/healthz") as resp:
        body: dict[str, Any] = await resp.json()
        return resp.status, body


async def test_healthz_and_commands_while_the_archive_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    loading = asyncio.Event()
    real_load = Archive.load

    async def held_load(self: Archive) -> Catalog:
        loading.set()
        await release.wait()  # the test decides when the load may go on
        return await real_load(self)

    monkeypatch.setattr(Archive, "load", held_load)
    app = App(settings(tmp_path), clock=FakeClock(datetime(2025, 7, 9, tzinfo=UTC)))
    starting = asyncio.create_task(app.start())
    try:
        await asyncio.wait_for(loading.wait(), timeout=30)
        assert app.commands is not None and app.archive is not None
        async with aiohttp.ClientSession() as client:
            status, body = await health(client, app)
            assert (status, body["status"]) == (503, "loading")
            # The web archive says it is loading instead of showing an empty archive.
            for path in ("/", "/api/weeks", "/feeds/weeks.atom"):
                async with client.get(f"http://127.0.0.1:{app.http_port}{path}") as resp:
                    assert resp.status == 503, path
                    assert "still loading" in (await resp.text()), path
            for text in ("search attention", "week latest", "random", "show attention"):
                reply = await app.commands.handle(Invocation(CHANNEL, "U1", text))
                assert reply.message.header == "Still loading the archive", text
                assert reply.message.ephemeral
            assert app.commands.suggest("atten") == []
            # help needs no papers
            helped = await app.commands.handle(Invocation(CHANNEL, "U1", "help"))
            assert helped.message.header != "Still loading the archive"

            release.set()
            await asyncio.wait_for(starting, timeout=60)
            status, body = await health(client, app)
            assert (status, body["status"]) == (200, "ok")
            assert body["papers"] > 0
            async with client.get(f"http://127.0.0.1:{app.http_port}/api/weeks") as resp:
                assert resp.status == 200 and (await resp.json())["weeks"]
            reply = await app.commands.handle(Invocation(CHANNEL, "U1", "search attention"))
            assert reply.message.header != "Still loading the archive"
            assert reply.paper_ids
    finally:
        release.set()
        if not starting.done():
            starting.cancel()
        await app.stop()
