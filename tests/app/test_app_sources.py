"""The app wires the archive's notices to the delivery engine: a held-back source reaches the
admin channel once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
from support.clock import FakeClock
from support.curated import history, weekly_file
from support.fakeplatform import FakePoster
from support.listserver import list_server

from bot.app import App
from bot.config.load import parse_config
from bot.core.messages import ChannelRef
from bot.delivery.engine import DeliveryEngine

WEEKS = history(8, first=date(2026, 1, 5))
ADMIN = ChannelRef("fake", "W1", "C-admin")


async def test_a_held_back_source_is_told_to_the_admin_channel_once(tmp_path: Path) -> None:
    async with list_server() as st, aiohttp.ClientSession() as session:
        st.put("/a.md", weekly_file(WEEKS))
        url = st.url("/a.md")
        settings = parse_config(
            f"sources:\n  paths: []\n  urls: [{url}]\n  cache_dir: {tmp_path / 'cache'}\n"
            f"store:\n  url: sqlite:///{tmp_path / 'paperboy.db'}\n"
            "terminal:\n  enabled: false\nhttp:\n  enabled: false\n",
            source="test.yaml",
            env={},
        )
        clock = FakeClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
        app = App(settings, clock=clock)
        await app.open()
        try:
            assert app.store is not None and app.archive is not None and app.digests
            poster = FakePoster()
            # as App.start() makes it, with a fake platform for the admin channel
            app.engine = DeliveryEngine(
                app.store, {"fake": poster}, app.digests, clock=clock, admin_channel=ADMIN
            )
            assert await app.engine.leadership.acquire()  # the leader posts the notice outbox
            await app.archive.refresh(session)
            st.put("/a.md", weekly_file(WEEKS[6:]))
            await app.archive.refresh(session)
            await app.archive.refresh(session)
        finally:
            await app.stop()
    [post] = poster.posts
    assert post.channel == ADMIN
    assert post.text.startswith(f"held back a suspicious copy of {url}: it has 2 weeks")
