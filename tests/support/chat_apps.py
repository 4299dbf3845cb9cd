"""The whole ``App`` (config, store, archive, delivery engine, scheduler, commands) wired to the
real Slack or Discord adapter against the local fakes, one ``Side`` per platform, so a scenario
is written once and run on both: configure, start and stop the app, run admin commands in a
channel, and read back the digests the bot posted there.

Schedules run on a ``FakeClock``; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.app import App
from bot.config.load import parse_config
from bot.config.settings import Settings
from bot.core.messages import ChannelRef
from support.clock import FakeClock
from support.discord import (
    ADMIN_PERMISSIONS,
    APP_ID,
    BOT_ID,
    GUILD_ID,
    TOKEN,
    FakeDiscord,
)
from support.slack import APP_TOKEN, BOT_TOKEN, TEAM_ID, FakeSlack
from support.slack import BOT_ID as SLACK_BOT_ID

HANG = 30.0


@dataclass(frozen=True)
class Sub:
    """A subscription in the config file."""

    channel: str
    cron: str = "0 9 * * MON"
    timezone: str = "UTC"


class Side(Protocol):
    """One platform's fake and how the app talks to it."""

    platform: str
    channels: tuple[str, ...]  # channel ids usable in scenarios

    def ref(self, channel: str) -> ChannelRef: ...

    def config(self) -> str:
        """The platform's section of the config file."""

    def env(self) -> dict[str, str]: ...

    async def admin(self, text: str, channel: str) -> str:
        """``/papers <text>`` (Discord: ``/papers-admin``) by an admin in ``channel``; the
        answer's text as JSON."""

    def digests(self, channel: str) -> list[str]:
        """The titles of the digests the bot posted in ``channel``, oldest first."""

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message the bot posted in ``channel``, oldest first."""

    def revoke(self) -> None:
        """From now on the platform refuses the bot's token (until ``restore``)."""

    def slow_replies(self, seconds: float) -> None:
        """A stored post waits ``seconds`` for its reply (sends overlap)."""

    def restore(self) -> None: ...


class SlackSide:
    platform = "slack"
    channels = ("C0DIGEST", "C0NEWS", "C0ADMIN")

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        fake.add_user("U0ADMIN", name="boss", is_admin=True)
        for channel in self.channels:
            fake.add_channel(channel)  # public channels of the workspace; the bot joined none

    def ref(self, channel: str) -> ChannelRef:
        return ChannelRef("slack", TEAM_ID, channel)

    def config(self) -> str:
        return f"slack:\n  mode: socket\n  api_base_url: {self.fake.url}\n"

    def env(self) -> dict[str, str]:
        return {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}

    async def admin(self, text: str, channel: str) -> str:
        fake = self.fake
        payload = fake.slash_command(text, user_id="U0ADMIN", channel_id=channel)
        await fake.wait_ack(await fake.send_envelope("slash_commands", payload))
        url = payload["response_url"]
        await fake.wait_for(lambda: bool(fake.responses_to(url)))
        [answer] = fake.responses_to(url)
        return json.dumps(answer, ensure_ascii=False)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.fake.messages(channel) if m.get("bot_id") == SLACK_BOT_ID]

    def revoke(self) -> None:
        self.fake.bot_token = "xoxb-revoked"

    def slow_replies(self, seconds: float) -> None:
        self.fake.reply_delay = seconds

    def restore(self) -> None:
        self.fake.bot_token = BOT_TOKEN

    def digests(self, channel: str) -> list[str]:
        out = []
        for m in self.messages(channel):
            meta = m.get("metadata") or {}
            if meta.get("event_type") == "paperboy_digest" and m.get("blocks"):
                out.append(str(m["blocks"][0]["text"]["text"]))
        return out


class DiscordSide:
    platform = "discord"
    channels = ("20001", "20002", "20003")

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def ref(self, channel: str) -> ChannelRef:
        return ChannelRef("discord", str(GUILD_ID), channel)

    def config(self) -> str:
        return (
            f'discord:\n  application_id: "{APP_ID}"\n  test_guild: "{GUILD_ID}"\n'
            f"  api_base_url: {self.fake.api_url}\n  gateway_url: {self.fake.gateway_url}\n"
            "  seed_reactions: false\n"
        )

    def env(self) -> dict[str, str]:
        return {"DISCORD_TOKEN": TOKEN}

    async def admin(self, text: str, channel: str) -> str:
        sub, _, rest = text.partition(" ")
        options: dict[str, Any] = {}
        if sub == "subscribe" and rest:
            words = rest.split()
            kinds = [w for w in words if w in ("curated", "community")]
            zones = [w for w in words if "/" in w or w == "UTC"]
            cron = [w for w in words if w not in kinds and w not in zones]
            options = {"cron": " ".join(cron)} if cron else {}
            if zones:
                options["timezone"] = zones[0]
            if kinds:
                options["kind"] = kinds[0]
        it = await self.fake.slash(
            sub,
            options,
            command="papers-admin",
            channel=int(channel),
            permissions=ADMIN_PERMISSIONS,
        )

        def answered() -> bool:
            return it.answered_at is not None and (it.callbacks[0]["type"] == 4 or bool(it.edits))

        await self.fake.wait_for(answered)
        first = it.callbacks[0]
        answer = first["data"] if first["type"] == 4 else it.edits[-1]
        return json.dumps(answer, ensure_ascii=False)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        stored = self.fake.stored(int(channel))
        return [m for m in stored if m["author"]["id"] == str(BOT_ID)]

    def revoke(self) -> None:
        self.fake.fail_next("create_message", 401, times=1000)

    def slow_replies(self, seconds: float) -> None:
        self.fake.reply_delay = seconds

    def restore(self) -> None:
        self.fake._faults.pop("create_message", None)

    def digests(self, channel: str) -> list[str]:
        return [str(m["embeds"][0]["title"]) for m in self.messages(channel) if m.get("embeds")]


def discord_guilds() -> dict[int, list[int]]:
    return {GUILD_ID: [int(c) for c in DiscordSide.channels]}


def settings_for(
    side: Side,
    tmp_path: Path,
    store_url: str,
    subs: Sequence[Sub],
    *,
    sources: Sequence[Path] = (),
    admin_channel: str | None = None,
    extra: str = "",
) -> Settings:
    """Settings as ``paperboy run`` reads them: YAML, the secrets from the environment."""
    paths = ", ".join(str(p) for p in sources) or str(tmp_path / "none")
    lines = [
        f"sources:\n  paths: [{paths}]\n  cache_dir: {tmp_path / 'cache'}",
        f"store:\n  url: {_store(store_url)}",
        "timezone: UTC",
        side.config().rstrip(),
        "terminal:\n  enabled: false",
        "arxiv:\n  enabled: false",
        "http:\n  enabled: false",
    ]
    if admin_channel is not None:
        ref = side.ref(admin_channel)
        lines.append(
            f'admin_channel:\n  platform: {ref.platform}\n  workspace: "{ref.workspace}"\n'
            f'  channel: "{ref.channel}"'
        )
    if subs:
        entries = [
            f'  - platform: {side.platform}\n    workspace: "{side.ref(s.channel).workspace}"\n'
            f'    channel: "{s.channel}"\n    cron: "{s.cron}"\n    timezone: {s.timezone}'
            for s in subs
        ]
        lines.append("subscriptions:\n" + "\n".join(entries))
    if extra:
        lines.append(extra.rstrip())
    text = "\n".join(lines) + "\n"
    return parse_config(text, source="test.yaml", env=side.env())


def _store(url: str) -> str:
    return url if url.startswith("postgres") else f"sqlite:///{url}"


@asynccontextmanager
async def running(settings: Settings, clock: FakeClock, *, sleepers: int = 1) -> AsyncIterator[App]:
    """The app, started; the scheduler has planned its subscriptions and sleeps."""
    app = App(settings, clock=clock)
    try:
        await app.start()
        await clock.wait_for_sleepers(sleepers)
        yield app
    finally:
        await app.stop()


async def fire_at(app: App, clock: FakeClock, when: datetime, *, sleepers: int = 1) -> None:
    """Move the clock to ``when`` and wait until the fires it causes have finished."""
    await clock.set(when)
    await settle(app, clock, sleepers=sleepers)


async def fire_through(app: App, clock: FakeClock, when: datetime, step: timedelta) -> None:
    """Move the clock to ``when``, then on by ``step`` while the fires it causes are still
    running (backing off after failures, on the same clock)."""
    assert app.scheduler is not None
    await clock.set(when)
    async with asyncio.timeout(HANG):
        while True:
            await clock.wait_for_sleepers(1)
            if not app.scheduler.busy:
                return
            await clock.advance(step)


async def settle(app: App, clock: FakeClock, *, sleepers: int = 1) -> None:
    """Let the scheduler react (to the clock, or a wake) and finish the fires it started.
    ``HANG`` (real seconds) only bounds a hang: a fire waiting on the fake clock never ends."""
    assert app.scheduler is not None
    async with asyncio.timeout(HANG):
        for _ in range(2):
            await clock.wait_for_sleepers(sleepers)
            await app.scheduler.drain()


def weekly_table(heading: str, rows: Sequence[tuple[str, str]], year: int = 2025) -> str:
    """A curated week as the sources write it: (title, link) rows, ranked in order."""
    lines = [
        f"## Top ML Papers of the Week ({heading}) - {year}",
        "| **Paper**  | **Links** |",
        "| ------------- | ------------- |",
    ]
    for rank, (title, link) in enumerate(rows, start=1):
        links = f"[Paper]({link})" if link else ""
        lines.append(f"| {rank}) **{title}** - A summary written for the tests. | {links} |")
    return "\n".join(lines) + "\n"
