"""The App with ``web.enabled``: the pages are served beside ``/healthz`` on the HTTP server,
``/papers feed`` hands out a working private link under ``web.base_url``, and digests carry
the "Browse the archive" link; with the web off, none of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from support.clock import FakeClock
from support.paths import REPO

from bot.app import App
from bot.config.load import parse_config
from bot.config.settings import Settings
from bot.core.messages import ChannelRef, Invocation

BASE = "https://papers.example.org"
CHANNEL = ChannelRef("slack", "T1", "C1")


def settings(tmp_path: Path, *, web: bool) -> Settings:
    text = f"""\
sources:
  paths: [{REPO / "digests"}]
  cache_dir: {tmp_path / "cache"}
store:
  url: sqlite:///{tmp_path / "paperboy.db"}
terminal:
  enabled: false
http:
  host: 127.0.0.1
  port: 0
web:
  enabled: {"true" if web else "false"}
  base_url: {BASE}
"""
    return parse_config(text, source="test.yaml", env={})


@asynccontextmanager
async def running(tmp_path: Path, *, web: bool) -> AsyncIterator[tuple[App, str]]:
    app = App(settings(tmp_path, web=web), clock=FakeClock(datetime(2025, 7, 9, tzinfo=UTC)))
    try:
        await app.start()
        yield app, f"http://127.0.0.1:{app.http_port}"
    finally:
        await app.stop()


async def status(client: aiohttp.ClientSession, url: str) -> int:
    async with client.get(url, allow_redirects=False) as resp:
        await resp.read()
        return resp.status


async def test_the_app_serves_the_web_archive_and_links_to_it(tmp_path: Path) -> None:
    async with running(tmp_path, web=True) as (app, base), aiohttp.ClientSession() as client:
        for path in ("/", "/weeks", "/weeks/2025-06-30", "/top", "/search?q=attention",
                     "/feeds/weeks.atom", "/feeds/top.rss", "/api/weeks", "/healthz"):  # fmt: skip
            assert await status(client, base + path) == 200, path
        assert app.commands is not None and app.digests is not None
        reply = await app.commands.handle(Invocation(CHANNEL, "U1", "feed", is_admin=True))
        page = {f.name: f.value for f in reply.message.fields}["Page"]
        assert page.startswith(BASE + "/c/")
        local = base + page.removeprefix(BASE)
        assert await status(client, local) == 200
        assert await status(client, local + "/feed.atom") == 200
        digest = app.digests.curated()
        assert digest is not None
        assert [b.url for b in digest.message.buttons] == [BASE + "/weeks/2025-06-30"]


async def test_with_the_web_off_there_are_no_pages_and_no_links(tmp_path: Path) -> None:
    async with running(tmp_path, web=False) as (app, base), aiohttp.ClientSession() as client:
        assert await status(client, base + "/healthz") == 200
        assert await status(client, base + "/") == 404
        assert await status(client, base + "/feeds/weeks.atom") == 404
        assert app.commands is not None and app.digests is not None
        reply = await app.commands.handle(Invocation(CHANNEL, "U1", "feed", is_admin=True))
        assert reply.message.header == "The web archive is off"
        digest = app.digests.curated()
        assert digest is not None and digest.message.buttons == ()
