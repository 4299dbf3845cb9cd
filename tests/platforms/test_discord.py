"""The Discord adapter with the real discord.py client against a local fake Discord.

Nothing leaves 127.0.0.1 (conftest's offline guard): the fake serves REST and the gateway; the
client logs in, connects, syncs its commands, posts, answers interactions and receives
reactions as it would on Discord.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.discord import (
    ADMIN_PERMISSIONS,
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    EPHEMERAL,
    GUILD_ID,
    READER_ID,
    TOKEN,
    FakeDiscord,
    Interaction,
    embed_problems,
)

from bot.core.errors import ConfigError, PermanentError, RateLimited, TransientError
from bot.core.messages import (
    Button,
    ChannelRef,
    Invocation,
    Link,
    Message,
    ReactionEvent,
    Reply,
    Section,
)
from bot.platforms.discord import DiscordAdapter, discord_invite_url, endpoints
from bot.platforms.discord.render import KEYCAPS, ZWSP

CHANNEL = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
OTHER_CHANNEL_ID = 1300000000000000201
KEY = "pbk2y4b6d8f0h2j4l6n8p0r2t"  # 25 chars, like delivery.idempotency_key
SINCE = datetime.now(UTC) - timedelta(minutes=5)


# --- small fakes of the core ------------------------------------------------------------------


def paper(rank: int, title: str | None = None) -> Section:
    url = f"https://arxiv.org/abs/2506.{rank:05d}"
    return Section(
        title=title or f"Sparse Routing Study {rank}",
        url=url,
        body="A summary written for the tests, long enough to be cut somewhere sensible.",
        rank=rank,
        links=(Link("Paper", url), Link("Code", f"https://github.com/example/r{rank}")),
        paper_id=f"p{rank}",
    )


def digest(title: str | None = None) -> Message:
    return Message(
        header="Top ML Papers of the Week",
        url="https://github.com/example/ml-papers",
        sections=tuple(paper(i + 1, title if i == 0 else None) for i in range(10)),
        kind="digest",
        ephemeral=False,
    )


class FakeCommands:
    """Canned replies by subcommand; ``gate`` holds answers; ``fail`` raises.

    A lookup is answered as the real ``Commands`` answers one: privately (unless ``public``),
    with its paging buttons and, when private, then the core's "Share to channel" button
    carrying the id the answer is kept under; ``share`` gives that answer back, public."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self.shared_calls: list[tuple[ChannelRef, str, Reply]] = []
        self.kept: dict[str, Reply] = {}
        self.gate: asyncio.Event | None = None
        self.fail: BaseException | None = None
        self.public = False
        self.suggestions: list[tuple[str, str]] = []

    async def handle(self, inv: Invocation) -> Reply:
        self.invocations.append(inv)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        word = inv.text.split(" ", 1)[0] if inv.text else "help"
        if word in ("subscribe", "unsubscribe", "schedule", "preview", "post", "help"):
            return Reply(Message(header=f"{word} done", text=inv.text, kind="notice"))
        text = " ".join(inv.text.split())
        buttons: tuple[Button, ...] = (Button("Next ▶", action="page", value=f"{text} page:2"),)
        share_id = f"kept{len(self.kept) + 1}"
        if not self.public:
            buttons += (Button("Share to channel", action="share", value=share_id),)
        msg = Message(
            header=f"{word}: {inv.text}",
            sections=tuple(paper(i + 1) for i in range(3)),
            buttons=buttons,
            ephemeral=not self.public,
        )
        reply = Reply(msg, paper_ids=("p1", "p2", "p3"), digest_key=f"reply:{word}")
        self.kept[share_id] = reply
        return reply

    async def share(self, channel: ChannelRef, share_id: str) -> Reply:
        kept = self.kept.get(share_id)
        if kept is None:
            return Reply(Message(header="That answer can no longer be shared", kind="notice"))
        return Reply(kept.message.public(), kept.paper_ids, kept.digest_key)

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return self.suggestions[:limit]

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        self.shared_calls.append((channel, message_id, reply))


class FakeVotes:
    def __init__(self) -> None:
        self.events: list[ReactionEvent] = []

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        self.events.append(ev)
        return not ev.user_is_bot


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    f = FakeDiscord(guilds={GUILD_ID: [CHANNEL_ID, OTHER_CHANNEL_ID]})
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
def commands() -> FakeCommands:
    return FakeCommands()


@pytest.fixture
def votes() -> FakeVotes:
    return FakeVotes()


def make_adapter(fake: FakeDiscord, commands: Any, votes: Any, **kw: Any) -> DiscordAdapter:
    options: dict[str, Any] = {
        "token": TOKEN,
        "commands": commands,
        "reactions": votes,
        "api_base_url": fake.api_url,
        "gateway_url": fake.gateway_url,
        "test_guild": GUILD_ID,
        "guild_ready_timeout": 0.05,
        "ready_timeout": 10.0,
    }
    options.update(kw)
    return DiscordAdapter(**options)


@pytest.fixture
async def adapter(
    fake: FakeDiscord, commands: FakeCommands, votes: FakeVotes
) -> AsyncIterator[DiscordAdapter]:
    a = make_adapter(fake, commands, votes)
    await a.start()
    yield a
    await a.stop()


def callback(it: Any, n: int = 0) -> dict[str, Any]:
    return dict(it.callbacks[n])


async def answered(fake: FakeDiscord, it: Interaction) -> dict[str, Any]:
    """What replaced the deferred placeholder: the first edit (or follow-up) once it is in."""
    await fake.wait_for(lambda: it.answered_at is not None)
    assert callback(it)["type"] in (5, 6), "acknowledged first, answered after"
    return dict(it.edits[0] if it.edits else it.followups[0])


# --- connection and command sync --------------------------------------------------------------


async def test_login_identify_and_command_sync(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    assert adapter.healthy()
    assert fake.calls("get_me") and fake.calls("get_application")
    assert fake.calls("get_me")[0].headers["Authorization"] == f"Bot {TOKEN}"
    # Intents: guilds (1) and guild reactions (1 << 10); nothing privileged.
    assert fake.identifies[-1]["intents"] == 1 | 1 << 10
    synced = {c["name"]: c for c in fake.synced[GUILD_ID]}
    assert set(synced) == {"papers", "papers-admin"}
    assert None not in fake.synced  # a test guild gets the commands, not the global list
    papers = synced["papers"]
    assert [o["name"] for o in papers["options"]] == [
        "search", "week", "show", "cite", "top", "follow", "unfollow", "random",
        "following", "help",
    ]  # fmt: skip
    assert all(o["type"] == 1 for o in papers["options"])
    assert papers["default_member_permissions"] is None
    show = next(o for o in papers["options"] if o["name"] == "show")
    assert show["options"][0]["autocomplete"] is True
    top = next(o for o in papers["options"] if o["name"] == "top")
    window = next(o for o in top["options"] if o["name"] == "window")
    assert [c["value"] for c in window["choices"]] == ["week", "month", "year", "all"]
    admin = synced["papers-admin"]
    assert [o["name"] for o in admin["options"]] == [
        "subscribe", "unsubscribe", "schedule", "preview", "post", "feed",
    ]  # fmt: skip
    feed = next(o for o in admin["options"] if o["name"] == "feed")
    assert [c["value"] for c in feed["options"][0]["choices"]] == ["show", "rotate"]
    assert int(admin["default_member_permissions"]) == 1 << 5  # Manage Server
    assert admin["dm_permission"] is False


async def test_stop_is_idempotent_and_restores_endpoints(
    fake: FakeDiscord, commands: FakeCommands, votes: FakeVotes
) -> None:
    import discord

    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    a = make_adapter(fake, commands, votes)
    await a.start()
    assert fake.api_url == discord.http.Route.BASE
    with pytest.raises(ConfigError):  # a second adapter pointing elsewhere is refused
        endpoints.acquire("http://127.0.0.1:1/api/v10", None)
    await a.stop()
    await a.stop()
    assert not a.healthy()
    assert base == discord.http.Route.BASE
    assert gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with pytest.raises(TransientError):
        await a.post(CHANNEL, digest(), KEY)


async def test_rejected_token_is_a_config_error(
    fake: FakeDiscord, commands: FakeCommands, votes: FakeVotes
) -> None:
    import discord

    base = discord.http.Route.BASE
    fake.fail_next("get_me", 401)
    a = make_adapter(fake, commands, votes)
    with pytest.raises(ConfigError, match="rejected the bot token"):
        await a.start()
    assert base == discord.http.Route.BASE and not a.healthy()


async def test_unreachable_discord_is_one_human_line(
    commands: FakeCommands,
    votes: FakeVotes,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No network: one readable reason (host, port, what failed), no repr of library objects,
    and none of discord.py's voice-library warnings first."""
    import socket

    import discord

    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)  # as in a fresh process
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = DiscordAdapter(
        token=TOKEN,
        commands=commands,
        reactions=votes,
        api_base_url=f"http://127.0.0.1:{port}/api/v10",
        gateway_url=f"ws://127.0.0.1:{port}/",
    )
    with caplog.at_level("WARNING"), pytest.raises(TransientError) as info:
        await a.start()
    message = str(info.value)
    assert message.startswith(f"cannot log in to Discord: cannot connect to 127.0.0.1:{port}: ")
    assert "(" not in message and "ConnectionKey" not in message
    assert "\n" not in message and len(message.splitlines()) == 1
    assert not [r for r in caplog.records if "voice will NOT be supported" in r.getMessage()]


@pytest.mark.parametrize("shards", ["auto", 1])
async def test_sharded_client_and_global_sync(
    fake: FakeDiscord, commands: FakeCommands, votes: FakeVotes, shards: Any
) -> None:
    a = make_adapter(fake, commands, votes, shards=shards, test_guild=None)
    await a.start()
    try:
        assert a.healthy()
        # Sharded, the client asks Discord for the shard count and the identify concurrency.
        assert len(fake.calls("get_gateway_bot")) == 1
        assert fake.identifies[-1]["shard"] == [0, 1]
        assert {c["name"] for c in fake.synced[None]} == {"papers", "papers-admin"}
        mid = await a.post(CHANNEL, digest(), KEY)
        await fake.react(mid, "3️⃣")
        await fake.wait_for(lambda: len(votes.events) == 1)
    finally:
        await a.stop()


# --- posting ----------------------------------------------------------------------------------


async def test_digest_posted_with_nonce_valid_embeds_and_seeded_votes(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    mid = await adapter.post(CHANNEL, digest(), KEY)
    [stored] = fake.stored()
    assert stored["id"] == mid
    [req] = fake.calls("create_message")
    body = req.json
    assert body["nonce"] == KEY and body["enforce_nonce"] is True
    assert body["allowed_mentions"] == {"parse": []}
    assert embed_problems(body["embeds"]) == [] and len(body["embeds"]) == 1
    embed = body["embeds"][0]
    assert embed["title"] == "Top ML Papers of the Week"
    assert embed["url"] == "https://github.com/example/ml-papers"
    assert all(k in embed["description"] for k in KEYCAPS)
    assert embed["footer"]["text"].endswith(f"ref {KEY}")
    # Posting returns as soon as the message exists: 1️⃣..🔟 come later, from the seeder.
    assert fake.calls("add_reaction") == []
    assert adapter.seed_emoji == KEYCAPS and adapter.seed_bucket(CHANNEL) == str(CHANNEL_ID)
    await adapter.add_reaction(CHANNEL, mid, "1️⃣")
    await adapter.add_reaction(CHANNEL, mid, "1️⃣")  # Discord's PUT: already there is fine
    assert fake.reactions[int(mid)] == [("1️⃣", BOT_ID)]


async def test_same_nonce_twice_is_one_message(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    first = await adapter.post(CHANNEL, digest(), KEY)
    second = await adapter.post(CHANNEL, digest(), KEY)
    assert first == second
    assert len(fake.stored()) == 1 and len(fake.calls("create_message")) == 2
    other = await adapter.post(CHANNEL, digest(), "pb" + "z" * 23)
    assert other != first and len(fake.stored()) == 2


async def test_find_posted_matches_the_key_in_the_footer(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    assert await adapter.find_posted(CHANNEL, KEY, None) is None
    # Someone else's message quoting the same footer is not ours.
    fake.add_message(CHANNEL_ID, embeds=[{"title": "x", "footer": {"text": f"ref {KEY}"}}])
    assert await adapter.find_posted(CHANNEL, KEY, None) is None
    before = await adapter.post(CHANNEL, digest(), "pb" + "b" * 23)  # an earlier digest
    mid = await adapter.post(CHANNEL, digest(), KEY)
    for i in range(3):
        fake.add_message(CHANNEL_ID, content=f"chatter {i}")
    assert await adapter.find_posted(CHANNEL, KEY, None) == mid
    assert await adapter.find_posted(CHANNEL, KEY, before) == mid
    assert await adapter.find_posted(CHANNEL, "pb" + "q" * 23, before) is None
    assert await adapter.find_posted(CHANNEL, KEY, mid) is None  # nothing after it is ours
    assert "after" not in fake.calls("get_messages")[-1].query  # newest first, by ids


async def test_find_posted_reads_newest_first_and_stops_at_the_bound(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    """The search never depends on the bot's clock: it pages back from the newest message
    until the message the ledger recorded before the send."""
    bound = await adapter.post(CHANNEL, digest(), "pb" + "b" * 23)
    mid = await adapter.post(CHANNEL, digest(), KEY)
    for i in range(250):
        fake.add_message(CHANNEL_ID, content=f"chatter {i}")
    calls = len(fake.calls("get_messages"))
    assert await adapter.find_posted(CHANNEL, KEY, bound) == mid
    assert len(fake.calls("get_messages")) - calls == 3  # 100 + 100 + the page with it
    calls = len(fake.calls("get_messages"))
    assert await adapter.find_posted(CHANNEL, "pb" + "q" * 23, bound) is None
    assert len(fake.calls("get_messages")) - calls == 3  # stopped at the bound


async def test_a_429_is_waited_out_and_posts_once(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    fake.fail_next("create_message", 429, retry_after=0.05)
    mid = await adapter.post(CHANNEL, digest(), KEY)
    assert len(fake.calls("create_message")) == 2
    assert [m["id"] for m in fake.stored()] == [mid]


async def test_a_long_429_surfaces_as_rate_limited(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    fake.fail_next("create_message", 429, retry_after=120)
    with pytest.raises(RateLimited) as info:
        await adapter.post(CHANNEL, digest(), KEY)
    assert info.value.retry_after == pytest.approx(120)
    assert fake.stored() == []


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("deny:50001", "missing_access"),
        ("deny:50013", "missing_permissions"),
        ("unknown", "unknown_channel"),
        ("not-a-number", "unknown_channel"),
    ],
)
async def test_permanent_errors_map(
    fake: FakeDiscord, adapter: DiscordAdapter, setup: str, reason: str
) -> None:
    channel = CHANNEL
    if setup.startswith("deny:"):
        fake.deny(CHANNEL_ID, int(setup.split(":")[1]))
    elif setup == "unknown":
        channel = ChannelRef("discord", str(GUILD_ID), "1300000000000000299")
    else:
        channel = ChannelRef("discord", str(GUILD_ID), "general")
    with pytest.raises(PermanentError) as info:
        await adapter.post(channel, digest(), KEY)
    assert info.value.reason == reason


async def test_server_error_is_transient_with_unknown_outcome(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    fake.fail_next("create_message", 503)  # discord.py retries 500/502/504 itself, not 503
    with pytest.raises(TransientError) as info:
        await adapter.post(CHANNEL, digest(), KEY)
    assert info.value.outcome_unknown and not isinstance(info.value, RateLimited)


async def test_global_pacing_holds_requests_back_to_the_rate(
    commands: FakeCommands, votes: FakeVotes
) -> None:
    """Ten posts at 8 per second: the pacer makes the last ones wait for the window to move
    (a lower bound, so load on the machine cannot break it), and each post lands once. Whether
    the fake still sees a 429 depends on event-loop jitter, so it is not asserted here (the
    fan-out benchmark counts them)."""
    channels = [CHANNEL_ID + i for i in range(10)]
    async with FakeDiscord(guilds={GUILD_ID: channels}, global_limit=8) as f:
        a = make_adapter(f, commands, votes, global_rate=8, seed_reactions=False)
        await a.start()
        try:
            posts = [
                a.post(ChannelRef("discord", str(GUILD_ID), str(c)), digest(), KEY)
                for c in channels
            ]
            ids = await asyncio.gather(*posts)
        finally:
            await a.stop()
    assert len(set(ids)) == 10
    assert all(len(f.stored(c)) == 1 for c in channels)
    times = sorted(r.at for r in f.calls("create_message"))
    assert times[-1] - times[0] >= 0.5  # some waited for the one-second window to move


async def test_hostile_title_renders_inert_without_mentions(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    hostile = "@everyone [click](https://evil.example) <@123456789012345678> " + "A" * 5000
    await adapter.post(CHANNEL, digest(title=hostile), KEY)
    [req] = fake.calls("create_message")
    assert req.json["allowed_mentions"] == {"parse": []}
    assert embed_problems(req.json["embeds"]) == []
    desc = req.json["embeds"][0]["description"]
    assert "@everyone" not in desc and f"@{ZWSP}everyone" in desc
    assert "[click](https://evil" not in desc and "\\[click\\](https://evil" in desc
    assert "<@123456789012345678>" not in desc


# --- slash commands ---------------------------------------------------------------------------


async def test_search_is_acknowledged_then_answered_privately_with_a_share_button(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    it = await fake.slash("search", {"query": "attention"})
    data = await answered(fake, it)
    # The initial response is a private "thinking" defer, sent before the core is asked.
    cb = callback(it)
    assert cb["type"] == 5 and cb["data"]["flags"] & EPHEMERAL
    [inv] = commands.invocations
    assert inv == Invocation(CHANNEL, str(READER_ID), "search attention", False, inv.user_name)
    assert inv.user_name
    # The answer replaces the placeholder.
    assert data["allowed_mentions"] == {"parse": []}
    assert embed_problems(data["embeds"]) == []
    assert data["embeds"][0]["title"] == "search: search attention"
    buttons = [c for row in data["components"] for c in row["components"]]
    assert [b.get("custom_id") for b in buttons] == [
        "pb:page:search attention page:2",
        "pb:share:kept1",
    ]
    assert it.original is not None and it.original["flags"] == EPHEMERAL  # no longer loading
    assert it.followups == []
    assert commands.shared_calls == []  # private: nothing to vote on yet


@pytest.mark.parametrize(
    ("sub", "options", "text"),
    [
        ("search", {"query": "diffusion", "page": 2}, "search diffusion page:2"),
        ("week", {"date": "2025-06-23"}, "week 2025-06-23"),
        ("week", {}, "week"),
        ("top", {"window": "month", "scope": "here"}, "top month here"),
        ("top", {}, "top"),
        ("show", {"ref": "2506.00001"}, "show 2506.00001"),
        ("random", {}, "random"),
        ("help", {}, "help"),
    ],
)
async def test_subcommands_build_the_text_form(
    fake: FakeDiscord,
    adapter: DiscordAdapter,
    commands: FakeCommands,
    sub: str,
    options: dict[str, Any],
    text: str,
) -> None:
    it = await fake.slash(sub, options)
    await answered(fake, it)
    assert [i.text for i in commands.invocations] == [text]
    assert callback(it)["type"] == 5


async def test_show_autocomplete_is_fast_and_bounded(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    commands.suggestions = [("x" * 300, "too-long-" + "v" * 100)] + [
        (f"Attention Variant {i} " + "word " * 40, f"{i:010x}") for i in range(40)
    ]
    it = await fake.wait_response(await fake.slash("show", {"ref": "atten"}, focused="ref"))
    cb = callback(it)
    assert cb["type"] == 8 and len(it.callbacks) == 1  # answered directly, never deferred
    choices = it.choices
    # 25 asked for; the one whose value Discord would refuse (> 100 chars) is left out.
    assert choices is not None and len(choices) == 24
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
    assert choices[0]["value"] == "0000000000"
    assert commands.invocations == []  # autocomplete never runs the command


async def test_timezone_autocomplete_on_subscribe(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    it = await fake.slash(
        "subscribe", {"timezone": "Europe/Lon"}, command="papers-admin",
        permissions=ADMIN_PERMISSIONS, focused="timezone",
    )  # fmt: skip
    await fake.wait_response(it)
    assert it.choices is not None and it.choices[0]["value"] == "Europe/London"


async def test_admin_command_refused_without_manage_server(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    it = await fake.wait_response(await fake.slash("subscribe", {}, command="papers-admin"))
    assert commands.invocations == []  # nothing happened
    cb = callback(it)
    assert cb["type"] == 4  # a refusal needs no work: answered directly
    data = cb["data"]
    assert data["flags"] & EPHEMERAL
    assert "Manage Server" in data["embeds"][0]["description"]


async def test_admin_command_with_manage_server(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    it = await fake.slash(
        "subscribe",
        {"cron": "0 9 * * MON", "timezone": "Europe/London", "kind": "community"},
        command="papers-admin",
        permissions=ADMIN_PERMISSIONS,
    )
    data = await answered(fake, it)
    [inv] = commands.invocations
    assert inv.is_admin and inv.text == "subscribe 0 9 * * MON Europe/London community"
    assert callback(it)["type"] == 5 and data["embeds"][0]["title"] == "subscribe done"


async def test_every_command_is_acknowledged_before_the_core_answers(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    commands.gate = asyncio.Event()  # the core holds every answer
    first = await fake.slash("search", {"query": "slow"})
    second = await fake.slash("week", {})
    post = await fake.slash("post", {}, command="papers-admin", permissions=ADMIN_PERMISSIONS)
    for it in (first, second, post):
        await fake.wait_response(it)
        cb = callback(it)
        assert cb["type"] == 5 and cb["data"]["flags"] & EPHEMERAL  # "thinking", privately
    await fake.wait_for(lambda: len(commands.invocations) == 3)
    assert sorted(i.text for i in commands.invocations) == ["post", "search slow", "week"]
    assert not (first.edits or second.edits or post.edits)
    commands.gate.set()
    for it in (first, second, post):
        await answered(fake, it)
    assert first.edits[0]["embeds"][0]["title"] == "search: search slow"
    assert second.edits[0]["embeds"][0]["title"] == "week: week"
    assert post.edits[0]["embeds"][0]["title"] == "post done"


async def test_command_work_waits_for_acknowledgements_in_flight() -> None:
    from bot.platforms.discord.interactions import AckFirst

    turns = AckFirst(max_wait=30)
    release = asyncio.Event()
    order: list[str] = []

    async def respond() -> None:
        await release.wait()
        order.append("ack")

    async def work() -> None:
        await turns.turn()
        order.append("work")

    acking = asyncio.create_task(turns.ack(respond()))
    await asyncio.sleep(0)
    worker = asyncio.create_task(work())
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == []  # the work waits while an acknowledgement is in flight
    release.set()
    await asyncio.gather(acking, worker)
    assert order == ["ack", "work"]
    await asyncio.wait_for(turns.turn(), 1)  # nothing in flight: no wait at all
    # A stuck acknowledgement holds work back for max_wait at most.
    short = AckFirst(max_wait=0.01)
    stuck = asyncio.create_task(short.ack(asyncio.Event().wait()))
    await asyncio.sleep(0)
    await asyncio.wait_for(short.turn(), 1)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck


async def test_public_reply_after_a_private_defer_is_a_follow_up_recorded_for_votes(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    commands.public = True
    it = await fake.slash("week", {})
    note = await answered(fake, it)
    assert callback(it)["data"]["flags"] & EPHEMERAL
    assert note["content"] == "Posted to the channel."
    await fake.wait_for(lambda: bool(commands.shared_calls))
    [public] = it.followups
    assert not public["flags"] & EPHEMERAL and public in fake.stored()
    assert embed_problems(public["embeds"]) == []
    [(channel, mid, reply)] = commands.shared_calls
    assert channel == CHANNEL and mid == public["id"] and reply.paper_ids == ("p1", "p2", "p3")


async def test_share_button_posts_publicly_and_votes_count(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands, votes: FakeVotes
) -> None:
    it = await fake.slash("search", {"query": "attention"})
    await answered(fake, it)
    private = it.original
    assert private is not None and private["flags"] & EPHEMERAL
    click = await fake.click(private, "pb:share:kept1")
    await fake.wait_for(lambda: bool(click.followups))
    cb = callback(click)  # a private "thinking" placeholder, then the public follow-up
    assert cb["type"] == 5 and cb["data"]["flags"] & EPHEMERAL
    [public] = click.followups
    assert public["content"] == f"Shared by <@{READER_ID}> with /papers"
    assert not public["flags"] & EPHEMERAL and public.get("components") in (None, [])
    assert click.edits[0]["content"] == "Posted to the channel."
    await fake.wait_for(lambda: bool(commands.shared_calls))
    [(channel, mid, reply)] = commands.shared_calls
    assert mid == public["id"] and channel == CHANNEL
    assert public in fake.stored() and public["embeds"][0]["title"] == "search: search attention"
    # The answer the user saw, not a new one: the command ran once.
    assert [inv.text for inv in commands.invocations] == ["search attention"]
    assert reply.message == commands.kept["kept1"].message.public()
    assert private["embeds"][0]["title"] == "search: search attention"  # left as it was
    await fake.react(mid, "2️⃣")
    await fake.wait_for(lambda: bool(votes.events))
    assert votes.events[0].message_id == mid and votes.events[0].emoji == "2️⃣"


async def test_share_of_an_answer_no_longer_kept_says_so_privately(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    it = await fake.slash("search", {"query": "attention"})
    await answered(fake, it)
    assert it.original is not None
    # A button from before this version carried the command text; or the answer expired.
    old = copy.deepcopy(it.original)
    old["components"][0]["components"][1]["custom_id"] = "pb:share:search attention"
    click = await fake.click(old, "pb:share:search attention")
    data = await answered(fake, click)
    assert callback(click)["data"]["flags"] & EPHEMERAL
    assert data["embeds"][0]["title"] == "That answer can no longer be shared"
    assert click.followups == [] and commands.shared_calls == []
    assert len(commands.invocations) == 1


async def test_page_button_replaces_the_private_answer(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    it = await fake.slash("search", {"query": "attention"})
    await answered(fake, it)
    private = it.original
    assert private is not None
    click = await fake.click(private, "pb:page:search attention page:2")
    data = await answered(fake, click)
    assert commands.invocations[-1].text == "search attention page:2"
    assert callback(click)["type"] == 6  # a silent deferred update, then the edit
    assert data["embeds"][0]["title"] == "search: search attention page:2"
    assert click.original is private and private["embeds"][0]["title"].endswith("page:2")
    assert click.followups == [] and private["flags"] == EPHEMERAL


async def test_long_command_text_and_expired_buttons(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    query = "sparse mixture of experts routing " * 4
    it = await fake.slash("search", {"query": query.strip()})
    data = await answered(fake, it)
    buttons = [c for row in data["components"] for c in row["components"]]
    page = buttons[0]["custom_id"]  # the paging button carries its (long) command text
    assert re.fullmatch(r"pb:page#[0-9a-f]{16}", page) and len(page) <= 100
    assert buttons[1]["custom_id"] == "pb:share:kept1"  # last, where the core puts it
    assert it.original is not None
    click = await fake.click(it.original, page)
    await answered(fake, click)
    assert callback(click)["type"] == 6
    assert commands.invocations[-1].text == f"search {query.strip()} page:2"
    # A long-text button from before a restart: its text is gone, the user is told so.
    old = copy.deepcopy(it.original)
    stale_id = "pb:page#0123456789abcdef"
    old["components"][0]["components"][0]["custom_id"] = stale_id
    stale = await fake.wait_response(await fake.click(old, stale_id))
    assert "expired" in callback(stale)["data"]["embeds"][0]["description"]


async def test_handler_errors_replace_the_thinking_message_with_an_apology(
    fake: FakeDiscord, adapter: DiscordAdapter, commands: FakeCommands
) -> None:
    fine = await fake.slash("search", {"query": "x"})
    await answered(fake, fine)
    commands.fail = RuntimeError("database exploded at /srv/secret/path")
    it = await fake.slash("search", {"query": "y"})
    data = await answered(fake, it)
    assert callback(it)["type"] == 5 and callback(it)["data"]["flags"] & EPHEMERAL
    text = data["embeds"][0]["description"]
    assert "Sorry" in text and "exploded" not in text and "Traceback" not in text
    assert it.original is not None and it.original["flags"] == EPHEMERAL  # not loading
    # A failing page button (a deferred update) apologises in a private follow-up.
    page = await fake.click(fine.original or {}, "pb:page:search x page:2")
    await answered(fake, page)
    [note] = page.followups
    assert note["flags"] & EPHEMERAL and "Sorry" in note["embeds"][0]["description"]
    assert fine.original is not None and fine.original["embeds"][0]["title"] == "search: search x"


# --- votes ------------------------------------------------------------------------------------


async def test_reactions_become_vote_events(
    fake: FakeDiscord, adapter: DiscordAdapter, votes: FakeVotes
) -> None:
    mid = await adapter.post(CHANNEL, digest(), KEY)
    await fake.react(mid, "1️⃣")
    await fake.react(mid, "1️⃣", added=False)
    await fake.react(mid, "🔟", user=BOT_ID)  # the bot's own seeding
    await fake.react(mid, "4️⃣", user=READER_ID + 7, bot=True)  # another bot
    await fake.react(mid, "4️⃣", user=BOT_ID, added=False)
    await fake.wait_for(lambda: len(votes.events) == 5)
    by = sorted(votes.events, key=lambda e: (e.emoji, e.added, e.user_id))
    seen = {(e.emoji, e.added, e.user_id, e.user_is_bot) for e in by}
    assert seen == {
        ("1️⃣", True, str(READER_ID), False),
        ("1️⃣", False, str(READER_ID), False),
        ("🔟", True, str(BOT_ID), True),
        ("4️⃣", True, str(READER_ID + 7), True),
        ("4️⃣", False, str(BOT_ID), True),
    }
    assert all(e.channel == CHANNEL and e.message_id == mid for e in votes.events)


async def test_votes_on_a_digest_posted_before_a_restart(
    fake: FakeDiscord, commands: FakeCommands, votes: FakeVotes
) -> None:
    first = make_adapter(fake, commands, votes, seed_reactions=False)
    await first.start()
    mid = await first.post(CHANNEL, digest(), KEY)
    await first.stop()
    second = make_adapter(fake, commands, votes)
    await second.start()
    try:
        assert len(fake.identifies) == 2
        await fake.react(mid, "7️⃣")  # not in this client's cache: the raw event still fires
        await fake.react("1300000000000000777", "2️⃣")  # an id this process never saw
        await fake.wait_for(lambda: len(votes.events) == 2)
        assert [(e.message_id, e.emoji) for e in votes.events] == [
            (mid, "7️⃣"),
            ("1300000000000000777", "2️⃣"),
        ]
        assert await second.find_posted(CHANNEL, KEY, None) == mid
    finally:
        await second.stop()


async def test_a_dropped_gateway_resumes_and_votes_still_arrive(
    fake: FakeDiscord, adapter: DiscordAdapter, votes: FakeVotes
) -> None:
    mid = await adapter.post(CHANNEL, digest(), KEY)
    await fake.drop()
    await fake.wait_for(lambda: bool(fake.resumes) and fake.connected == 1, timeout=10)
    assert fake.resumes[0]["token"] == TOKEN and len(fake.identifies) == 1
    await fake.react(mid, "5️⃣")
    await fake.wait_for(lambda: bool(votes.events))
    assert votes.events[0].emoji == "5️⃣"
    assert adapter.healthy()


# --- the real core ----------------------------------------------------------------------------


async def test_through_the_real_commands_and_votes(fake: FakeDiscord, tmp_path: Path) -> None:
    from support.clock import FakeClock

    from bot.chat.commands import CommandContext, Commands
    from bot.chat.votes import VoteService
    from bot.delivery.digest import DigestBuilder
    from bot.papers.catalog import Catalog
    from bot.papers.model import Paper, Week
    from bot.storage import open_store

    now = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    week = Week(
        datetime(2025, 6, 23).date(),
        datetime(2025, 6, 29).date(),
        "Top ML Papers of the Week",
        "fixture.md",
        tuple(
            Paper(
                i,
                f"Sparse Attention Study {i}",
                f"What study {i} found, in our words.",
                links=(Link("Paper", f"https://arxiv.org/abs/2506.{i:05d}"),),
            )
            for i in range(1, 11)
        ),
    )
    catalog = Catalog.build([week])
    store = open_store(f"sqlite:///{tmp_path}/d.db")
    await store.open()
    try:
        clock = FakeClock(now)
        core = Commands(
            CommandContext(
                catalog=lambda: catalog,
                store=store,
                clock=clock,
                digests=DigestBuilder(lambda: catalog, store),
            )
        )
        adapter = make_adapter(
            fake, core, VoteService(store, clock=clock, bot_user_ids={str(BOT_ID)})
        )
        await adapter.start()
        try:
            it = await fake.slash("week", {"date": "2025-06-25"})
            data = await answered(fake, it)
            assert callback(it)["data"]["flags"] & EPHEMERAL
            assert embed_problems(data["embeds"]) == []
            assert "🔟 **[Sparse Attention Study 10]" in data["embeds"][0]["description"]
            ac = await fake.wait_response(
                await fake.slash("show", {"ref": "sparse att"}, focused="ref")
            )
            assert ac.choices and ac.choices[0]["name"].startswith("Sparse Attention Study")
            share = next(
                c["custom_id"]
                for row in data["components"]
                for c in row["components"]
                if c.get("custom_id", "").startswith("pb:share")
            )
            assert it.original is not None
            click = await fake.click(it.original, share)
            await fake.wait_for(lambda: bool(click.followups))
            [public] = click.followups
            assert public["embeds"] == data["embeds"]  # exactly the answer that was shown
            mid = public["id"]
            await fake.react(mid, "3️⃣", user=BOT_ID)  # ignored: the bot itself
            await fake.react(mid, "3️⃣")
            board: list[Any] = []
            for _ in range(250):  # the vote lands in a task of its own: poll the store briefly
                board = await store.leaderboard(limit=10)
                if board:
                    break
                await asyncio.sleep(0.02)
            assert [(e.paper_id, e.votes) for e in board] == [(week.papers[2].paper_id, 1)]
        finally:
            await adapter.stop()
    finally:
        await store.close()


def test_invite_url_has_exactly_the_needed_permissions() -> None:
    import discord

    url = discord_invite_url(str(APP_ID))
    perms = discord.Permissions(int(url.rsplit("=", 1)[1]))
    assert url == (
        f"https://discord.com/oauth2/authorize?client_id={APP_ID}"
        f"&scope=bot+applications.commands&permissions={perms.value}"
    )
    assert perms == discord.Permissions(
        view_channel=True,
        send_messages=True,
        embed_links=True,
        add_reactions=True,
        read_message_history=True,
    )
    assert not perms.mention_everyone and not perms.administrator
    with pytest.raises(ConfigError):
        discord_invite_url("not-an-id")


def test_constructor_validates_options() -> None:
    c, v = FakeCommands(), FakeVotes()
    with pytest.raises(ConfigError):
        DiscordAdapter(token="", commands=c, reactions=v)
    with pytest.raises(ConfigError):
        DiscordAdapter(token="Bot abc", commands=c, reactions=v)
    with pytest.raises(ConfigError):
        DiscordAdapter(token="t", commands=c, reactions=v, render_options={"colour": 1})
    with pytest.raises(ConfigError):
        DiscordAdapter(token="t", commands=c, reactions=v, shards=0)
