"""The whole bot wired: arXiv metadata fetched in the background from the fake arXiv API and
shown by commands; a new week fetched from a live list reaches the people who follow its
authors by direct message on the fake Slack, after its metadata came in; a restart sends none
of it again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from support.arxiv import FakePaper, fake_arxiv
from support.clock import FakeClock
from support.listserver import list_server
from support.slack import APP_TOKEN, BOT_TOKEN, TEAM_ID, FakeSlack
from support.slack_app import WEEKLY

from bot.app import App
from bot.config.load import parse_config
from bot.core.messages import ChannelRef, Invocation

CHANNEL = ChannelRef("slack", TEAM_ID, "C0FOLLOW")
NEW_WEEK = """\
## Top ML Papers of the Week (June 30 - July 6) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Sequence to Sequence Learning with Neural Networks** - Two LSTMs map one sequence to another. | [Paper](https://arxiv.org/abs/1409.3215) |
| 2) **Generative Adversarial Networks** - A generator and a discriminator play a game. | [Paper](https://arxiv.org/abs/1406.2661) |

"""


def settings(tmp_path: Path, list_url: str, arxiv_url: str, slack_url: str) -> object:
    text = f"""\
sources:
  paths: []
  urls: [{list_url}]
  cache_dir: {tmp_path / "cache"}
store:
  url: sqlite:///{tmp_path / "paperboy.db"}
slack:
  mode: socket
  api_base_url: {slack_url}
terminal:
  enabled: false
http:
  enabled: false
arxiv:
  api_base_url: {arxiv_url}
"""
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    return parse_config(text, source="test.yaml", env=env)


async def until(check: object, within: float = 10.0, clock: FakeClock | None = None) -> None:
    """Poll ``check``; with ``clock``, moving it on a second at a time meanwhile."""
    async with asyncio.timeout(within):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)
            if clock is not None:
                await clock.advance(1)


async def test_metadata_and_follow_alerts_through_the_running_bot(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 7, 1, 9, tzinfo=UTC))
    fake = FakeSlack()
    await fake.start()
    try:
        async with list_server() as lists, fake_arxiv(clock) as arxiv:
            lists.put("/list.md", WEEKLY)
            arxiv.add(FakePaper("1706.03762", "Attention Is All You Need", ("Ashish Vaswani",)))
            arxiv.add(
                FakePaper("1409.3215", "Sequence to Sequence", ("Ilya Sutskever", "Oriol Vinyals"))
            )
            arxiv.add(FakePaper("1406.2661", "GANs", ("Ian Goodfellow",), primary="stat.ML"))
            config = settings(tmp_path, lists.url("/list.md"), arxiv.url, fake.url)
            app = App(config, clock=clock)  # type: ignore[arg-type]
            await app.start()
            try:
                assert app.commands is not None and app.archive is not None
                # At start, the archive's arXiv ids are asked about in the background.
                await until(lambda: app.arxiv.get("1706.03762") is not None)
                shown = await app.commands.handle(Invocation(CHANNEL, "U1", "show 1706.03762"))
                assert ("Authors", "Ashish Vaswani") in [
                    (f.name, f.value) for f in shown.message.fields
                ]
                for user, spec in (("U1", "author:Sutskever"), ("U2", "cat:stat"), ("U3", "x")):
                    reply = await app.commands.handle(Invocation(CHANNEL, user, f"follow {spec}"))
                    assert reply.message.header == "Following"
                asked = len(arxiv.asked)
                # A new week appears on the live list: its metadata first, then the alerts.
                lists.put("/list.md", NEW_WEEK + WEEKLY)
                async with aiohttp.ClientSession() as session:
                    await app.archive.refresh(session)
                # (the client waits 3 s of the clock between two requests to arXiv)
                await until(
                    lambda: len(fake.dms("U1")) == 1 and len(fake.dms("U2")) == 1, clock=clock
                )
                assert sorted(arxiv.asked[asked]) == ["1406.2661", "1409.3215"]
                assert "Sequence to Sequence" in str(fake.dms("U1")[0]["blocks"])
                assert "Generative Adversarial" not in str(fake.dms("U1")[0]["blocks"])
                assert "Generative Adversarial" in str(fake.dms("U2")[0]["blocks"])
            finally:
                await app.stop()
            # A restart (same database): the week is known, nothing is sent again.
            again = App(config, clock=clock)  # type: ignore[arg-type]
            await again.start()
            try:
                assert again.follow_alerts is not None
                await asyncio.sleep(0.1)
            finally:
                await again.stop()
    finally:
        await fake.stop()
    assert len(fake.dms("U1")) == 1 and len(fake.dms("U2")) == 1 and fake.dms("U3") == []
