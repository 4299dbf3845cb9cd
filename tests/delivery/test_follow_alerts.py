"""Follow alerts end to end: people follow through ``/papers follow`` (the real ``Commands``),
a new week arrives, and each person with matches gets one direct message with exactly their
matches, through the real slack-sdk and discord.py against the local fakes, exactly once per
(person, week) through the alert ledger: across a second pass, a restart mid-way and a second
process. Exclusions hold; a person whose direct messages are closed is told once, privately,
and their follows pause."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from support.clock import FakeClock
from support.discord import GUILD_ID, FakeDiscord
from support.discord_payloads import TOKEN
from support.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, TEAM_ID, FakeSlack
from support.watch import NoCommands

from bot.chat.commands import CommandContext, Commands
from bot.core.arxivmeta import ArxivMeta
from bot.core.messages import ChannelRef, Invocation, Link, Message
from bot.delivery.digest import DigestBuilder
from bot.delivery.follows import PAUSED_NOTE, DirectMessenger, FollowAlerts
from bot.ops.metrics import Metrics
from bot.papers.arxiv import ArxivIndex
from bot.papers.catalog import Catalog
from bot.papers.model import Paper, Week
from bot.platforms.discord import DiscordAdapter
from bot.platforms.slack import SlackAdapter
from bot.platforms.terminal import TerminalAdapter
from bot.storage import Store
from bot.storage.records import Person

NOW = datetime(2025, 7, 1, 9, tzinfo=UTC)
SLACK_CHANNEL = "C0FOLLOW"


def paper(rank: int, title: str, summary: str, aid: str) -> Paper:
    return Paper(rank, title, summary, links=(Link("Paper", f"https://arxiv.org/abs/{aid}"),))


DIFFUSION = paper(1, "Diffusion Language Models", "Text by denoising.", "2501.00001")
VIDEO = paper(2, "Video Diffusion at Scale", "Diffusion for video.", "2501.00002")
ATTENTION = paper(3, "Attention Revisited", "Machine translation again.", "2501.00003")
AGENTS = paper(4, "Agents That Plan", "Planning agents for tools.", "2501.00004")
PARSING = paper(5, "Parsing With Transformers", "Syntax trees.", "2501.00005")
WEEK = Week(
    date(2025, 6, 23),
    date(2025, 6, 29),
    "Top",
    "w.md",
    (DIFFUSION, VIDEO, ATTENTION, AGENTS, PARSING),
)
META = ArxivIndex(
    [
        ArxivMeta("2501.00003", NOW, authors=("Ashish Vaswani",), categories=("cs.CL",)),
        ArxivMeta("2501.00005", NOW, authors=("Jane Doe",), categories=("cs.CL", "cs.LG")),
        ArxivMeta("2501.00002", NOW, authors=("Ann Ho",), categories=("cs.CV",)),
    ]
)

# Five people with overlapping follows, and what each must get.
FOLLOWS = {
    "U1": ["diffusion"],
    "U2": ["author:Vaswani"],
    "U3": ["cat:cs.CL -translation"],
    "U4": ["diffusion -video", "agents"],
    "U5": ["quantum"],
}
EXPECTED = {
    "U1": [DIFFUSION.title, VIDEO.title],
    "U2": [ATTENTION.title],
    "U3": [PARSING.title],
    "U4": [DIFFUSION.title, AGENTS.title],
}


@pytest.fixture
async def slack() -> AsyncIterator[tuple[FakeSlack, SlackAdapter]]:
    fake = FakeSlack()
    await fake.start()
    adapter = SlackAdapter(
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        signing_secret=SIGNING_SECRET,
        mode="socket",
        api_base_url=fake.url,
        commands=NoCommands(),
        reactions=NoCommands(),  # type: ignore[arg-type]
    )
    await adapter.start()
    yield fake, adapter
    await adapter.stop()
    await fake.stop()


def catalog() -> Catalog:
    return Catalog.build([WEEK])


def commands(store: Store, cat: Catalog) -> Commands:
    return Commands(
        CommandContext(
            catalog=lambda: cat,
            store=store,
            clock=FakeClock(NOW),
            digests=DigestBuilder(lambda: cat, store),
        )
    )


async def follow_all(
    store: Store, cat: Catalog, channel: ChannelRef, follows: dict[str, list[str]]
) -> None:
    c = commands(store, cat)
    for user, specs in follows.items():
        for spec in specs:
            reply = await c.handle(Invocation(channel, user, f"follow {spec}"))
            assert reply.message.header == "Following", reply.message.text


def alerts(
    store: Store, cat: Catalog, messenger: Any, owner: str = "p1", metrics: Metrics | None = None
) -> FollowAlerts:
    assert isinstance(messenger, DirectMessenger)
    return FollowAlerts(
        store,
        lambda: cat,
        {messenger.platform: messenger},
        clock=FakeClock(NOW),
        owner=owner,
        meta=META.for_paper,
        metrics=metrics,
    )


def slack_titles(fake: FakeSlack, user: str) -> list[list[str]]:
    """Per DM to ``user``: the paper titles in it (section blocks with a bold title link)."""
    out = []
    for msg in fake.dms(user):
        text = " ".join(
            b["text"]["text"] for b in msg["blocks"] if b["type"] == "section" and "text" in b
        )
        out.append([t for t in (p.title for p in WEEK.papers) if t in text])
    return out


async def test_five_people_get_one_dm_each_with_exactly_their_matches(
    store: Store, slack: tuple[FakeSlack, SlackAdapter]
) -> None:
    fake, adapter = slack
    cat = catalog()
    await follow_all(store, cat, ChannelRef("slack", TEAM_ID, SLACK_CHANNEL), FOLLOWS)
    report = await alerts(store, cat, adapter).on_new_week(WEEK)
    assert report is not None and (report.claimed, report.sent) == (4, 4)
    for user, titles in EXPECTED.items():
        assert slack_titles(fake, user) == [titles], user
    assert fake.dms("U5") == []  # nothing matched: no message at all
    opened = [c.args["users"] for c in fake.calls("conversations.open")]
    assert sorted(opened) == ["U1", "U2", "U3", "U4"]
    # Why each paper is there: the follow it matched, as the person typed it.
    u4 = " ".join(str(b) for b in fake.dms("U4")[0]["blocks"])
    assert "diffusion -video" in u4 and "agents" in u4
    # A second pass for the same week (another replica, a repeated event) sends nothing.
    again = await alerts(store, cat, adapter, owner="p2").on_new_week(WEEK)
    assert again is not None and (again.claimed, again.sent) == (0, 0)
    assert all(len(fake.dms(u)) == 1 for u in EXPECTED)


class DiesOnThirdSend:
    """A messenger whose process dies while its third message is on the wire: the request
    still reaches Slack, the pass never learns the outcome."""

    def __init__(self, real: SlackAdapter) -> None:
        self.real = real
        self.platform = real.platform
        self.calls = 0
        self.in_flight: asyncio.Task[str] | None = None

    async def send_direct(self, workspace: str, user_id: str, message: Message) -> str:
        self.calls += 1
        if self.calls == 3:
            self.in_flight = asyncio.create_task(self.real.send_direct(workspace, user_id, message))
            raise asyncio.CancelledError  # the process is gone
        return await self.real.send_direct(workspace, user_id, message)

    async def tell_privately(self, channel: ChannelRef, user_id: str, message: Message) -> bool:
        return await self.real.tell_privately(channel, user_id, message)


async def test_a_restart_mid_way_sends_nothing_twice(
    store: Store, slack: tuple[FakeSlack, SlackAdapter]
) -> None:
    fake, adapter = slack
    cat = catalog()
    await follow_all(store, cat, ChannelRef("slack", TEAM_ID, SLACK_CHANNEL), FOLLOWS)
    dying = DiesOnThirdSend(adapter)
    with pytest.raises(asyncio.CancelledError):
        await alerts(store, cat, dying).on_new_week(WEEK)
    assert dying.in_flight is not None
    await dying.in_flight  # the third message landed; the dead process never recorded it
    assert sum(len(fake.dms(u)) for u in EXPECTED) == 3
    # The restarted process (a new owner) finishes what was claimed, then the week's event
    # comes again: the fourth person gets theirs, nobody gets a second.
    restarted = alerts(store, cat, adapter, owner="p2")
    (resumed,) = await restarted.resume()
    assert (resumed.sent, resumed.skipped) == (1, 0)
    again = await restarted.on_new_week(WEEK)
    assert again is not None and (again.claimed, again.sent) == (0, 0)
    for user, titles in EXPECTED.items():
        assert slack_titles(fake, user) == [titles], user
    rows = {a.person.user_id: a for a in await store.follow_alerts(WEEK.key)}
    assert {u: r.status for u, r in rows.items()} == {
        "U1": "sent",
        "U2": "sent",
        "U3": "pending",  # attempted, outcome unknown: never tried again
        "U4": "sent",
    }
    assert rows["U3"].attempts == 1


async def test_blocked_dms_are_told_once_privately_and_pause_the_follows(
    store: Store, slack: tuple[FakeSlack, SlackAdapter]
) -> None:
    fake, adapter = slack
    cat = catalog()
    channel = ChannelRef("slack", TEAM_ID, SLACK_CHANNEL)
    await follow_all(store, cat, channel, {"U1": ["diffusion"], "U6": ["diffusion"]})
    fake.closed_dms.add("U6")
    metrics = Metrics()
    report = await alerts(store, cat, adapter, metrics=metrics).on_new_week(WEEK)
    assert metrics.get("follow_alerts", platform="slack", status="sent") == 1
    assert metrics.get("follow_alerts", platform="slack", status="blocked") == 1
    assert report is not None and (report.sent, report.blocked) == (1, 1)
    assert fake.dms("U6") == [] and len(fake.dms("U1")) == 1
    (told,) = fake.ephemerals
    assert (told["channel"], told["user"]) == (SLACK_CHANNEL, "U6")
    assert "paused" in told["text"].lower()
    six = Person("slack", TEAM_ID, "U6")
    assert await store.follower(six) == (SLACK_CHANNEL, "direct messages are closed")
    # Told already (on Slack, at once): their next command does not repeat it.
    told = await commands(store, cat).handle(Invocation(channel, "U6", "help"))
    assert PAUSED_NOTE not in told.message.context
    # The next week: U6 is paused, so not even tried, and not told again.
    later = Week(date(2025, 6, 30), date(2025, 7, 6), "Top", "w.md", WEEK.papers)
    cat2 = Catalog.build([later, WEEK])
    await alerts(store, cat2, adapter).on_new_week(later)
    assert [c.args["users"] for c in fake.calls("conversations.open")].count("U6") == 1
    assert len(fake.ephemerals) == 1 and len(fake.dms("U1")) == 2
    # Following again resumes them.
    await follow_all(store, cat, channel, {"U6": ["agents"]})
    assert await store.follower(six) == (SLACK_CHANNEL, None)


async def test_discord_people_get_a_dm_channel_message_and_50007_pauses(store: Store) -> None:
    async with FakeDiscord() as fake:
        adapter = DiscordAdapter(
            token=TOKEN,
            commands=NoCommands(),
            reactions=NoCommands(),  # type: ignore[arg-type]
            api_base_url=fake.api_url,
            gateway_url=fake.gateway_url,
            test_guild=GUILD_ID,
            guild_ready_timeout=0.05,
            ready_timeout=10.0,
        )
        await adapter.start()
        try:
            cat = catalog()
            people = {"101": ["diffusion -video"], "102": ["cat:cs"], "103": ["agents"]}
            await follow_all(store, cat, ChannelRef("discord", str(GUILD_ID), "55"), people)
            fake.closed_dms.add(103)
            report = await alerts(store, cat, adapter).on_new_week(WEEK)
        finally:
            await adapter.stop()
    assert report is not None and (report.sent, report.blocked) == (2, 1)

    def titles(user: int) -> list[list[str]]:
        return [
            [t for t in (p.title for p in WEEK.papers) if t in str(m["embeds"])]
            for m in fake.dms(user)
        ]

    assert titles(101) == [[DIFFUSION.title]]
    assert titles(102) == [[VIDEO.title, ATTENTION.title, PARSING.title]]
    assert fake.dms(103) == []
    posted = [m for m in fake.dms(101) + fake.dms(102)]
    assert all("@everyone" not in str(m) for m in posted)
    paused = await store.follower(Person("discord", str(GUILD_ID), "103"))
    assert paused is not None and paused[1] is not None
    # Discord cannot show them a private note unasked: their next command's answer does, once.
    c = commands(store, cat)
    where = ChannelRef("discord", str(GUILD_ID), "55")
    first = await c.handle(Invocation(where, "103", "help"))
    assert first.message.context[-1] == PAUSED_NOTE
    again = await c.handle(Invocation(where, "103", "help"))
    assert PAUSED_NOTE not in again.message.context
    other = await c.handle(Invocation(where, "101", "help"))
    assert PAUSED_NOTE not in other.message.context


async def test_the_terminal_prints_the_alert(store: Store, tmp_path: Any) -> None:
    import io

    out = io.StringIO()
    terminal = TerminalAdapter(
        commands=NoCommands(),
        reactions=NoCommands(),  # type: ignore[arg-type]
        store=store,
        workspace="local",
        channel="terminal",
        color=False,
        stdout=out,
        history_file=tmp_path / "history",
    )
    cat = catalog()
    await follow_all(store, cat, ChannelRef("terminal", "local", "terminal"), {"me": ["agents"]})
    report = await alerts(store, cat, terminal).on_new_week(WEEK)
    assert report is not None and report.sent == 1
    text = out.getvalue()
    assert "(direct message to me)" in text and AGENTS.title in text
    assert DIFFUSION.title not in text


async def test_two_processes_passing_over_the_same_week_send_each_alert_once(
    store: Store, slack: tuple[FakeSlack, SlackAdapter]
) -> None:
    """Two leaders overlapping (a paused one that came back), both handling the week at once:
    the ledger lets one of them send each alert."""
    fake, adapter = slack
    cat = catalog()
    await follow_all(store, cat, ChannelRef("slack", TEAM_ID, SLACK_CHANNEL), FOLLOWS)
    one, two = alerts(store, cat, adapter, owner="p1"), alerts(store, cat, adapter, owner="p2")
    a, b = await asyncio.gather(one.on_new_week(WEEK), two.on_new_week(WEEK))
    assert a is not None and b is not None
    assert a.sent + b.sent == 4 and a.claimed + b.claimed == 4
    for user, titles in EXPECTED.items():
        assert slack_titles(fake, user) == [titles], user


async def test_someone_who_unfollowed_after_the_claim_gets_nothing(
    store: Store, slack: tuple[FakeSlack, SlackAdapter]
) -> None:
    fake, adapter = slack
    cat = catalog()
    channel = ChannelRef("slack", TEAM_ID, SLACK_CHANNEL)
    await follow_all(store, cat, channel, {"U1": ["diffusion"], "U2": ["agents"]})
    dying = DiesOnThirdSend(adapter)
    dying.calls = 2  # the very first send dies: both alerts are claimed, one attempted
    with pytest.raises(asyncio.CancelledError):
        await alerts(store, cat, dying).on_new_week(WEEK)
    assert dying.in_flight is not None
    await dying.in_flight
    await commands(store, cat).handle(Invocation(channel, "U2", "unfollow all"))
    (resumed,) = await alerts(store, cat, adapter, owner="p2").resume()
    assert resumed.sent == 0
    assert len(fake.dms("U1")) == 1 and fake.dms("U2") == []
