"""The Slack adapter with the real slack-bolt ``AsyncApp`` against a local fake Slack.

Nothing here leaves 127.0.0.1: the fake serves the Web API, Socket Mode and response_urls,
and the bot's HTTP mode runs on a local aiohttp server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from aiohttp import web
from support.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    validate_blocks,
)

from bot.core.errors import CommandError, ConfigError, PermanentError, RateLimited, TransientError
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
from bot.platforms.slack import SlackAdapter, slack_manifest

CHANNEL = ChannelRef("slack", TEAM_ID, "C0DIGEST")
SINCE = datetime(2020, 1, 1, tzinfo=UTC)


# --- small fakes of the core ------------------------------------------------------------------


def paper(rank: int, title: str | None = None) -> Section:
    return Section(
        title=title or f"Paper {rank}",
        url=f"https://arxiv.org/abs/2301.{rank:05d}",
        body="Summary written for the test.",
        rank=rank,
        links=(Link("Paper", f"https://arxiv.org/abs/2301.{rank:05d}"),),
        paper_id=f"p{rank}",
    )


def digest(title: str | None = None) -> Message:
    return Message(
        header="Top ML Papers of the Week",
        sections=tuple(paper(i + 1, title if i == 0 else None) for i in range(10)),
        kind="digest",
        ephemeral=False,
    )


class FakeCommands:
    """Canned replies by subcommand; ``gate`` (when set) holds every answer until released.

    A lookup is answered as the real ``Commands`` answers one: privately, with its paging
    buttons and then the core's "Share to channel" button carrying the id the answer is kept
    under; ``share`` gives that very answer back, public (or a note for an unknown id)."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self.shared_calls: list[tuple[ChannelRef, str, Reply]] = []
        self.kept: dict[str, Reply] = {}
        self.gate: asyncio.Event | None = None
        self.fail: BaseException | None = None
        self.done = 0

    async def handle(self, inv: Invocation) -> Reply:
        self.invocations.append(inv)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.done += 1
        word = inv.text.split(" ", 1)[0] if inv.text else "help"
        if word == "help":
            return Reply(Message(header="Paperboy help", text="Try /papers search <words>"))
        text = " ".join(inv.text.split())
        sections = tuple(paper(i + 1) for i in range(3))
        share_id = f"kept-{len(self.kept) + 1}"
        buttons = (
            Button("Next", action="page", value=f"{text} --page 2"),
            Button("Share to channel", action="share", value=share_id),
        )
        msg = Message(header=f"{word}: {inv.text}", sections=sections, buttons=buttons)
        reply = Reply(msg, paper_ids=("p1", "p2", "p3"), digest_key=f"reply:{word}")
        self.kept[share_id] = reply
        return reply

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return []

    async def share(self, channel: ChannelRef, share_id: str) -> Reply:
        kept = self.kept.get(share_id)
        if kept is None:
            return Reply(Message(header="That answer can no longer be shared", kind="notice"))
        return Reply(kept.message.public(), kept.paper_ids, kept.digest_key)

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        self.shared_calls.append((channel, message_id, reply))


class FakeVotes:
    def __init__(self) -> None:
        self.events: list[ReactionEvent] = []
        self.seen: set[str] = set()

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        self.events.append(ev)
        if ev.event_id in self.seen:
            return False
        self.seen.add(ev.event_id or "")
        return True


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    """Wait for background work the adapter does after acking (a loop tick at a time)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def commands() -> FakeCommands:
    return FakeCommands()


@pytest.fixture
def votes() -> FakeVotes:
    return FakeVotes()


def make_adapter(
    fake: FakeSlack, commands: Any, votes: Any, mode: str = "socket", **kw: Any
) -> SlackAdapter:
    return SlackAdapter(
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        signing_secret=SIGNING_SECRET,
        mode=mode,  # type: ignore[arg-type]
        api_base_url=fake.url,
        commands=commands,
        reactions=votes,
        **kw,
    )


@pytest.fixture
async def bot(
    fake: FakeSlack, commands: FakeCommands, votes: FakeVotes
) -> AsyncIterator[SlackAdapter]:
    """Socket Mode: the ws URL comes from the fake's apps.connections.open."""
    adapter = make_adapter(fake, commands, votes, admin_user_group="S0ADMINS")
    await adapter.start()
    yield adapter
    await adapter.stop()


class HttpBot:
    def __init__(self, adapter: SlackAdapter, url: str) -> None:
        self.adapter = adapter
        self.url = url


@pytest.fixture
async def http_bot(
    fake: FakeSlack, commands: FakeCommands, votes: FakeVotes
) -> AsyncIterator[HttpBot]:
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"slack": adapter.healthy()})

    app.router.add_get("/healthz", healthz)
    adapter = make_adapter(fake, commands, votes, mode="http", http_app=app)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await adapter.start()
    yield HttpBot(adapter, f"http://127.0.0.1:{port}/slack/events")
    await adapter.stop()
    await runner.cleanup()


# --- posting ----------------------------------------------------------------------------------


async def test_digest_post_is_valid_block_kit_with_metadata(
    fake: FakeSlack, bot: SlackAdapter
) -> None:
    ts = await bot.post(CHANNEL, digest(), "week:2023-01-02")
    [call] = fake.calls("chat.postMessage")
    args = call.args
    assert args["channel"] == "C0DIGEST"
    assert args["metadata"] == {
        "event_type": "paperboy_digest",
        "event_payload": {"key": "week:2023-01-02"},
    }
    assert args["unfurl_links"] is False
    assert args["text"].startswith("Top ML Papers of the Week\n1. Paper 1")
    assert validate_blocks(args["blocks"]) is None
    assert args["blocks"][0]["type"] == "header"
    assert ":keycap_ten:" in json.dumps(args["blocks"])
    [stored] = fake.messages("C0DIGEST")
    assert stored["ts"] == ts
    # Posting returns as soon as the message exists: the keycaps come later, from the seeder.
    assert fake.calls("reactions.add") == []


async def test_the_seeder_s_side_keycaps_one_workspace_limit(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands, votes: FakeVotes
) -> None:
    assert bot.seed_emoji == (
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "keycap_ten",
    )  # fmt: skip
    assert bot.seed_bucket(CHANNEL) == TEAM_ID == bot.seed_bucket(replace(CHANNEL, channel="C2"))
    ts = await bot.post(CHANNEL, digest(), "k")
    await bot.add_reaction(CHANNEL, ts, "one")
    await bot.add_reaction(CHANNEL, ts, "one")  # already there: done, not an error
    assert fake.bot_reactions("C0DIGEST", ts) == ["one"]
    [first, again] = fake.calls("reactions.add")
    assert first.args == again.args == {"channel": "C0DIGEST", "timestamp": ts, "name": "one"}
    unseeded = make_adapter(fake, commands, votes, seed_reactions=False)
    assert unseeded.seed_emoji == ()
    await unseeded.stop()


async def test_adding_a_reaction_maps_slack_errors(fake: FakeSlack, bot: SlackAdapter) -> None:
    ts = await bot.post(CHANNEL, digest(), "k")
    fake.rate_limit_next("reactions.add", 30)
    with pytest.raises(RateLimited) as limited:
        await bot.add_reaction(CHANNEL, ts, "two")
    assert limited.value.retry_after == 30
    fake.server_error_next("reactions.add")
    with pytest.raises(TransientError):
        await bot.add_reaction(CHANNEL, ts, "two")
    for code in ("message_not_found", "missing_scope"):
        fake.error_next("reactions.add", code)
        with pytest.raises(PermanentError):
            await bot.add_reaction(CHANNEL, ts, "two")
    with pytest.raises(PermanentError):
        await bot.add_reaction(CHANNEL, "1.000001", "two")  # no such message


async def test_hostile_title_renders_inert(fake: FakeSlack, bot: SlackAdapter) -> None:
    hostile = "<!channel> <!here> <!everyone> <https://evil.example|click> " + "x" * 5000
    await bot.post(CHANNEL, digest(title=hostile), "k")
    [call] = fake.calls("chat.postMessage")
    blocks = json.dumps(call.args["blocks"])
    assert "&lt;!channel&gt;" in blocks and "&lt;!here&gt;" in blocks
    assert "<!" not in blocks and "<!" not in call.args["text"]
    assert "<https://evil" not in blocks
    assert validate_blocks(call.args["blocks"]) is None


async def test_rate_limited_then_success_posts_once(fake: FakeSlack, bot: SlackAdapter) -> None:
    fake.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(RateLimited) as info:
        await bot.post(CHANNEL, digest(), "k")
    assert info.value.retry_after == 7.0
    assert fake.messages("C0DIGEST") == []
    assert len(fake.calls("chat.postMessage")) == 1  # slack_sdk did not retry by itself
    ts = await bot.post(CHANNEL, digest(), "k")
    assert [m["ts"] for m in fake.messages("C0DIGEST")] == [ts]
    assert len(fake.calls("chat.postMessage")) == 2


async def test_lost_reply_is_outcome_unknown_and_found_by_metadata(
    fake: FakeSlack, bot: SlackAdapter
) -> None:
    fake.add_message("C0DIGEST", text="someone else", user="U0MEMBER")
    fake.drop_next("chat.postMessage")
    with pytest.raises(TransientError) as info:
        await bot.post(CHANNEL, digest(), "week:2023-01-02")
    assert info.value.outcome_unknown is True
    assert len(fake.calls("chat.postMessage")) == 1  # no automatic retry
    stored = fake.messages("C0DIGEST")[-1]
    earlier = fake.messages("C0DIGEST")[0]["ts"]
    found = await bot.find_posted(CHANNEL, "week:2023-01-02", earlier)
    assert found == stored["ts"]
    history = fake.calls("conversations.history")[-1].args
    assert history["include_all_metadata"] in ("1", "true", True)
    assert history["oldest"] == earlier  # bounded by a message, not by the bot's clock
    assert len(fake.calls("chat.postMessage")) == 1
    assert await bot.find_posted(CHANNEL, "week:2023-01-09", earlier) is None
    assert await bot.find_posted(CHANNEL, "week:2023-01-02", stored["ts"]) is None


async def test_find_posted_paginates_and_ignores_foreign_messages(
    fake: FakeSlack, bot: SlackAdapter
) -> None:
    fake.add_channel("C0DIGEST", member=True)
    ts = await bot.post(CHANNEL, Message(header="old digest"), "key-1")
    meta = {"event_type": "paperboy_digest", "event_payload": {"key": "key-2"}}
    fake.add_message("C0DIGEST", text="impostor", bot_id="B0OTHER", user="U0OTHER", metadata=meta)
    for i in range(450):
        fake.add_message("C0DIGEST", text=f"chatter {i}", user="U0MEMBER")
    assert await bot.find_posted(CHANNEL, "key-1", None) == ts
    assert len(fake.calls("conversations.history")) == 3  # 200 + 200 + 51
    assert "oldest" not in fake.calls("conversations.history")[-1].args
    assert await bot.find_posted(CHANNEL, "key-2", None) is None
    assert await bot.find_posted(CHANNEL, "key-1", ts) is None
    assert fake.calls("conversations.join") == []  # a member already


async def test_find_posted_joins_a_public_channel_it_never_joined(
    fake: FakeSlack, bot: SlackAdapter
) -> None:
    """chat:write.public posts without membership; reading history needs it: the adapter joins
    (channels:join) and reads again, instead of taking not_in_channel as permanent."""
    fake.add_channel("C0DIGEST")
    ts = await bot.post(CHANNEL, digest(), "key-1")
    assert not fake.is_member("C0DIGEST")
    assert await bot.find_posted(CHANNEL, "key-1", None) == ts
    assert fake.is_member("C0DIGEST") and len(fake.calls("conversations.join")) == 1
    assert [c.args["channel"] for c in fake.calls("conversations.history")] == ["C0DIGEST"] * 2


@pytest.mark.parametrize(
    ("private", "archived", "code"),
    [(True, False, "channel_not_found"), (False, True, "is_archived")],
)
async def test_find_posted_in_a_channel_it_cannot_join_is_permanent(
    fake: FakeSlack, bot: SlackAdapter, private: bool, archived: bool, code: str
) -> None:
    fake.add_channel("C0SECRET", private=private, archived=archived)
    if archived:
        fake.add_message("C0SECRET", text="before it was archived")
    with pytest.raises(PermanentError) as info:
        await bot.find_posted(ChannelRef("slack", TEAM_ID, "C0SECRET"), "key-1", None)
    assert info.value.reason == code and not info.value.whole_platform


async def test_prepare_joins_public_channels_and_lets_private_ones_be(
    fake: FakeSlack, bot: SlackAdapter
) -> None:
    fake.add_channel("C0PUBLIC")
    fake.add_channel("C0INVITED", private=True, member=True)
    await bot.prepare(ChannelRef("slack", TEAM_ID, "C0PUBLIC"))
    await bot.prepare(ChannelRef("slack", TEAM_ID, "C0INVITED"))  # cannot join: no error
    assert fake.is_member("C0PUBLIC") and fake.is_member("C0INVITED")


@pytest.mark.parametrize(
    "code",
    [
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "missing_scope",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
    ],
)
async def test_permanent_errors(fake: FakeSlack, bot: SlackAdapter, code: str) -> None:
    fake.error_next("chat.postMessage", code)
    with pytest.raises(PermanentError) as info:
        await bot.post(CHANNEL, digest(), "k")
    assert info.value.reason == code
    # A refused token refuses every channel alike: what waits for it waits, not drops.
    auth = code in ("missing_scope", "invalid_auth", "account_inactive", "token_revoked")
    assert info.value.whole_platform is auth
    assert fake.messages("C0DIGEST") == []


async def test_server_error_and_unreachable_slack(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands, votes: FakeVotes
) -> None:
    fake.server_error_next("chat.postMessage", 503)
    with pytest.raises(TransientError) as info:
        await bot.post(CHANNEL, digest(), "k")
    assert info.value.outcome_unknown is True
    assert not isinstance(info.value, RateLimited)
    fake.error_next("conversations.history", "channel_not_found")
    with pytest.raises(PermanentError):
        await bot.find_posted(CHANNEL, "k", None)
    # Nothing listening: the request never left, so the outcome is known.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/api/"
    adapter = SlackAdapter(
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        signing_secret=None,
        mode="socket",
        api_base_url=dead,
        commands=commands,
        reactions=votes,
    )
    with pytest.raises(TransientError) as info:
        await adapter.post(CHANNEL, digest(), "k")
    assert info.value.outcome_unknown is False
    with pytest.raises(TransientError):
        await adapter.start()
    assert not adapter.healthy()
    await adapter.stop()


async def test_refused_blocks_fall_back_to_text(fake: FakeSlack, bot: SlackAdapter) -> None:
    fake.error_next("chat.postMessage", "invalid_blocks")
    ts = await bot.post(CHANNEL, Message(header="h", sections=(paper(1),)), "k")
    first, second = fake.calls("chat.postMessage")
    assert "blocks" in first.args and "blocks" not in second.args
    assert second.args["metadata"]["event_payload"] == {"key": "k"}
    assert fake.messages("C0DIGEST")[0]["ts"] == ts


# --- /papers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["search attention", "week 2023-01-02", "top"])
async def test_slash_command_over_socket_mode(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands, text: str
) -> None:
    payload = fake.slash_command(text)
    await fake.wait_ack(await fake.send_envelope("slash_commands", payload))
    await fake.wait_for(lambda: len(fake.responses) == 1)
    [inv] = commands.invocations
    assert inv == Invocation(
        channel=ChannelRef("slack", TEAM_ID, "C0GENERAL"),
        user_id="U0MEMBER",
        text=text,
        is_admin=False,
        user_name="ada",
    )
    [resp] = fake.responses_to(payload["response_url"])
    assert resp["response_type"] == "ephemeral"
    assert validate_blocks(resp["blocks"]) is None
    actions = [b for b in resp["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [(a["action_id"], a["value"]) for a in actions] == [
        ("papers_page", f"{text} --page 2"),
        ("papers_share", "kept-1"),
    ]


@pytest.mark.parametrize("text", ["search attention", "week", "top"])
async def test_slash_command_over_signed_http(
    fake: FakeSlack, http_bot: HttpBot, commands: FakeCommands, text: str
) -> None:
    payload = fake.slash_command(text, user_id="U0OTHER", user_name="grace")
    status, body = await fake.post_signed(http_bot.url, fake.form_body(payload))
    assert (status, body) == (200, "")
    await fake.wait_for(lambda: len(fake.responses) == 1)
    assert commands.invocations[0].text == text
    assert commands.invocations[0].user_name == "grace"
    [resp] = fake.responses_to(payload["response_url"])
    assert resp["response_type"] == "ephemeral"
    assert resp["blocks"][0]["text"]["text"].startswith(text.split()[0])


async def test_in_channel_reply_and_no_share_button_without_papers(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands
) -> None:
    async def public(inv: Invocation) -> Reply:
        return Reply(Message(header="Posted for everyone", sections=(paper(1),), ephemeral=False))

    commands.handle = public  # type: ignore[method-assign]
    await fake.send_envelope("slash_commands", fake.slash_command("week"))
    await fake.send_envelope("slash_commands", fake.slash_command("help"))
    await fake.wait_for(lambda: len(fake.responses) == 2)
    assert {r["response_type"] for r in fake.responses} == {"in_channel"}
    assert "papers_share" not in json.dumps(fake.responses)


async def test_ack_arrives_before_slow_work_finishes(
    fake: FakeSlack, bot: SlackAdapter, http_bot: HttpBot, commands: FakeCommands
) -> None:
    """Both acks (Socket Mode envelope, HTTP 200) come back while the handlers are still held
    at the gate: acknowledging never waits for the work (timings: bench/slack_ack.py)."""
    commands.gate = asyncio.Event()  # the handler "takes 4 s": it waits until we release it
    env = await fake.send_envelope("slash_commands", fake.slash_command("search slow"))
    await fake.wait_ack(env)
    assert commands.done == 0
    status, _ = await fake.post_signed(http_bot.url, fake.form_body(fake.slash_command("top")))
    assert status == 200 and commands.done == 0
    await eventually(lambda: len(commands.invocations) == 2)
    assert commands.done == 0 and fake.responses == []  # work still in progress after both acks
    commands.gate.set()
    await fake.wait_for(lambda: len(fake.responses) == 2)
    assert commands.done == 2


async def test_forged_or_stale_requests_are_rejected(
    fake: FakeSlack, http_bot: HttpBot, commands: FakeCommands, votes: FakeVotes
) -> None:
    before = len(fake.requests)
    cmd = fake.form_body(fake.slash_command("search x"))
    status, _ = await fake.post_signed(http_bot.url, cmd, secret="not-the-secret")
    assert status == 401
    stale = int(time.time()) - 301
    status, _ = await fake.post_signed(http_bot.url, cmd, timestamp=stale)
    assert status == 401
    event = json.dumps(fake.reaction_event("one", ts="1.0"))
    status, _ = await fake.post_signed(
        http_bot.url, event, content_type="application/json", secret="forged"
    )
    assert status == 401
    # A signature for a different body does not carry over.
    hdrs = fake.sign("other body")
    status, _ = await fake.post_signed(http_bot.url, cmd, headers=hdrs)
    assert status == 401
    await asyncio.sleep(0)
    assert commands.invocations == [] and votes.events == []
    assert fake.requests[before:] == [] and fake.responses == []


async def test_command_failure_gets_a_friendly_reply(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands
) -> None:
    commands.fail = RuntimeError("database exploded at /srv/secret/path")
    await fake.send_envelope("slash_commands", fake.slash_command("search boom"))
    await fake.wait_for(lambda: len(fake.responses) == 1)
    reply = fake.responses[0]
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Sorry, something went wrong")
    assert "exploded" not in json.dumps(reply) and "Traceback" not in json.dumps(reply)
    commands.fail = CommandError("Unknown subcommand <!channel>")
    await fake.send_envelope("slash_commands", fake.slash_command("frobnicate"))
    await fake.wait_for(lambda: len(fake.responses) == 2)
    assert fake.responses[1]["text"] == "Unknown subcommand &lt;!channel&gt;"


async def test_share_posts_publicly_and_records_it(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands
) -> None:
    # The Share button on a private answer, clicked.
    command = fake.slash_command("search attention")
    await fake.send_envelope("slash_commands", command)
    await fake.wait_for(lambda: len(fake.responses) == 1)
    [answer] = fake.responses_to(command["response_url"])
    share = next(
        e
        for b in answer["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "papers_share"
    )
    payload = fake.block_action(share["action_id"], share["value"])
    await fake.wait_ack(await fake.send_envelope("interactive", payload))
    await fake.wait_for(lambda: len(fake.responses) == 2)
    [posted] = fake.messages("C0GENERAL")
    assert posted["metadata"]["event_type"] == "paperboy_share"
    blocks = json.dumps(posted["blocks"])
    assert "Shared by <@U0MEMBER>" in blocks
    assert "papers_share" not in blocks and "papers_page" not in blocks
    assert validate_blocks(posted["blocks"]) is None
    [(channel, ts, reply)] = commands.shared_calls
    assert channel == ChannelRef("slack", TEAM_ID, "C0GENERAL") and ts == posted["ts"]
    assert reply.paper_ids == ("p1", "p2", "p3")
    # What was shared is the answer the user saw: the command was not run again.
    assert [inv.text for inv in commands.invocations] == ["search attention"]
    assert reply.message == commands.kept[share["value"]].message.public()
    assert fake.responses_to(payload["response_url"]) == [
        {"key": payload["response_url"].rsplit("/", 1)[1], "delete_original": True}
    ]


async def test_share_where_the_bot_cannot_post(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands
) -> None:
    await commands.handle(Invocation(ChannelRef("slack", TEAM_ID, "C0GENERAL"), "U0MEMBER", "top"))
    fake.error_next("chat.postMessage", "not_in_channel")
    await fake.send_envelope("interactive", fake.block_action("papers_share", "kept-1"))
    await fake.wait_for(lambda: len(fake.responses) == 1)
    assert "/invite" in fake.responses[0]["text"]
    assert commands.shared_calls == [] and fake.messages("C0GENERAL") == []


async def test_share_of_an_answer_no_longer_kept_says_so_privately(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands
) -> None:
    # A button from before this version carried the command text; or the answer expired.
    payload = fake.block_action("papers_share", "search attention")
    await fake.send_envelope("interactive", payload)
    await fake.wait_for(lambda: len(fake.responses) == 1)
    [note] = fake.responses_to(payload["response_url"])
    assert note["response_type"] == "ephemeral" and note["replace_original"] is False
    assert "can no longer be shared" in json.dumps(note)
    assert commands.invocations == [] and commands.shared_calls == []
    assert fake.calls("chat.postMessage") == []


async def test_paging_replaces_the_ephemeral(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands
) -> None:
    payload = fake.block_action("papers_page__2", "search attention --page 2")
    await fake.send_envelope("interactive", payload)
    await fake.wait_for(lambda: len(fake.responses) == 1)
    assert commands.invocations[0].text == "search attention --page 2"
    [resp] = fake.responses
    assert resp["replace_original"] is True and resp["response_type"] == "ephemeral"
    # Link buttons are acked and otherwise ignored.
    ack = await fake.wait_ack(
        await fake.send_envelope("interactive", fake.block_action("papers_link", ""))
    )
    assert ack.envelope_id
    assert len(commands.invocations) == 1


async def test_admin_from_workspace_role_or_user_group(
    fake: FakeSlack, bot: SlackAdapter, commands: FakeCommands
) -> None:
    fake.add_user("U0ADMIN", is_admin=True)
    fake.add_user("U0OWNER", is_primary_owner=True)
    fake.add_user("U0GROUP")
    fake.add_user("U0MEMBER")
    fake.usergroups["S0ADMINS"] = ["U0GROUP"]
    for user in ("U0ADMIN", "U0OWNER", "U0GROUP", "U0MEMBER", "U0ADMIN"):
        await fake.send_envelope("slash_commands", fake.slash_command("top", user_id=user))
        count = len(commands.invocations)
        await eventually(lambda: len(commands.invocations) == count + 1)  # noqa: B023
    assert [(i.user_id, i.is_admin) for i in commands.invocations] == [
        ("U0ADMIN", True),
        ("U0OWNER", True),
        ("U0GROUP", True),
        ("U0MEMBER", False),
        ("U0ADMIN", True),
    ]
    # Cached: one users.info per user, one group lookup.
    assert sorted(r.args["user"] for r in fake.calls("users.info")) == [
        "U0ADMIN",
        "U0GROUP",
        "U0MEMBER",
        "U0OWNER",
    ]
    assert len(fake.calls("usergroups.users.list")) == 1


async def test_admin_without_group_and_failed_lookup(
    fake: FakeSlack, commands: FakeCommands, votes: FakeVotes
) -> None:
    adapter = make_adapter(fake, commands, votes)  # no admin group configured
    await adapter.start()
    fake.add_user("U0GROUP")
    fake.usergroups["S0ADMINS"] = ["U0GROUP"]
    fake.server_error_next("users.info")
    for user in ("U0GROUP", "U0GHOST"):
        await fake.send_envelope("slash_commands", fake.slash_command("top", user_id=user))
    await eventually(lambda: len(commands.invocations) == 2)
    assert [i.is_admin for i in commands.invocations] == [False, False]
    assert fake.calls("usergroups.users.list") == []
    await adapter.stop()


# --- votes ------------------------------------------------------------------------------------


async def test_reaction_votes_over_socket_mode(
    fake: FakeSlack, bot: SlackAdapter, votes: FakeVotes
) -> None:
    fake.add_user("U0MEMBER")
    fake.add_user("U0OTHERBOT", is_bot=True)
    added = fake.reaction_event("three", ts="1700000000.000100", event_id="Ev1")
    await fake.wait_ack(await fake.send_envelope("events_api", added))
    # Slack retries the same event (same event_id): acked again, handler sees the id.
    retry = await fake.send_envelope("events_api", added, retry_attempt=1, retry_reason="timeout")
    await fake.wait_ack(retry)
    removed = fake.reaction_event("three", ts="1700000000.000100", added=False, event_id="Ev2")
    await fake.send_envelope("events_api", removed)
    own = fake.reaction_event(
        "keycap_ten", ts="1700000000.000100", user_id=BOT_USER_ID, event_id="Ev3"
    )
    await fake.send_envelope("events_api", own)
    other_bot = fake.reaction_event(
        "one", ts="1700000000.000100", user_id="U0OTHERBOT", event_id="Ev4"
    )
    await fake.send_envelope("events_api", other_bot)
    toned = fake.reaction_event("+1::skin-tone-3", ts="1700000000.000100", event_id="Ev5")
    await fake.send_envelope("events_api", toned)
    await eventually(lambda: len(votes.events) == 6)
    by_id = sorted(votes.events, key=lambda e: (e.event_id or "", e.user_id))
    first = ReactionEvent(
        channel=ChannelRef("slack", TEAM_ID, "C0GENERAL"),
        message_id="1700000000.000100",
        user_id="U0MEMBER",
        emoji="three",
        added=True,
        user_is_bot=False,
        event_id="Ev1",
    )
    assert by_id[0] == first and by_id[1] == first  # delivered twice, same event_id
    assert by_id[2].added is False and by_id[2].emoji == "three"
    bots = {e.user_id: e.user_is_bot for e in votes.events}
    assert bots == {"U0MEMBER": False, BOT_USER_ID: True, "U0OTHERBOT": True}
    assert {e.emoji for e in votes.events if e.event_id == "Ev5"} == {"+1"}
    assert len(votes.seen) == 5  # the handler could dedupe the retry


async def test_reaction_retry_over_http(
    fake: FakeSlack, http_bot: HttpBot, votes: FakeVotes
) -> None:
    fake.add_user("U0MEMBER")
    body = json.dumps(fake.reaction_event("two", ts="1700000000.000200", event_id="EvH"))
    for retry in (None, "1"):
        headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        status, _ = await fake.post_signed(
            http_bot.url,
            body,
            content_type="application/json",
            headers=headers if retry else None,
        )
        assert status == 200
    await eventually(lambda: len(votes.events) == 2)
    assert {e.event_id for e in votes.events} == {"EvH"}
    # Reactions on files or other items are not votes.
    file_event = fake.reaction_event("one", ts="1.0")
    file_event["event"]["item"] = {"type": "file", "file": "F0FILE"}
    status, _ = await fake.post_signed(
        http_bot.url, json.dumps(file_event), content_type="application/json"
    )
    assert status == 200
    last = json.dumps(fake.reaction_event("two", ts="1700000000.000200", event_id="EvLast"))
    status, _ = await fake.post_signed(http_bot.url, last, content_type="application/json")
    await eventually(lambda: len(votes.events) == 3)
    assert [e.event_id for e in votes.events] == ["EvH", "EvH", "EvLast"]


async def test_http_mode_url_verification_and_health(fake: FakeSlack, http_bot: HttpBot) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
    status, text = await fake.post_signed(http_bot.url, body, content_type="application/json")
    assert status == 200 and json.loads(text) == {"challenge": "abc123"}
    assert http_bot.adapter.healthy()


# --- lifecycle --------------------------------------------------------------------------------


async def test_socket_lifecycle_and_reconnect(
    fake: FakeSlack, commands: FakeCommands, votes: FakeVotes
) -> None:
    adapter = make_adapter(fake, commands, votes, socket_mode_url=fake.ws_url)
    assert not adapter.healthy()
    await adapter.start()
    assert adapter.healthy() and adapter.bot_user_id == BOT_USER_ID
    assert fake.calls("apps.connections.open") == []  # the override URL was used
    await adapter.start()  # idempotent
    await fake.request_disconnect()  # Slack rotates the socket: the client reconnects
    await fake.wait_for(lambda: fake.socket_connections == 2)
    await eventually(lambda: fake.connected and adapter.healthy())
    assert fake.calls("apps.connections.open")[0].headers["Authorization"] == f"Bearer {APP_TOKEN}"
    env = await fake.send_envelope("slash_commands", fake.slash_command("top"))
    await fake.wait_ack(env)
    await adapter.stop()
    await adapter.stop()
    assert not adapter.healthy()


def test_bad_configuration_is_refused(
    fake: FakeSlack, commands: FakeCommands, votes: FakeVotes
) -> None:
    common: dict[str, Any] = {"api_base_url": fake.url, "commands": commands, "reactions": votes}
    with pytest.raises(ConfigError, match="app token"):
        SlackAdapter(
            bot_token=BOT_TOKEN, app_token=None, signing_secret="s", mode="socket", **common
        )
    with pytest.raises(ConfigError, match="signing secret"):
        SlackAdapter(
            bot_token=BOT_TOKEN, app_token=APP_TOKEN, signing_secret=None, mode="http", **common
        )
    with pytest.raises(ConfigError, match="bot token"):
        SlackAdapter(bot_token="", app_token=APP_TOKEN, signing_secret="s", mode="socket", **common)
    with pytest.raises(ConfigError, match="colour"):
        make_adapter(fake, commands, votes, render_options={"colour": "red"})


async def test_render_options_reach_the_post(
    fake: FakeSlack, commands: FakeCommands, votes: FakeVotes
) -> None:
    adapter = make_adapter(fake, commands, votes, render_options={"summary_length": 12})
    long = Section(title="t", url="https://a.org", body="word " * 50, rank=1)
    await adapter.post(CHANNEL, Message(header="h", sections=(long,), kind="digest"), "k")
    text = fake.calls("chat.postMessage")[0].args["blocks"][1]["text"]["text"]
    assert text.split("\n")[1] == "word word…"
    await adapter.stop()


async def test_revoked_token_fails_start(
    fake: FakeSlack, commands: FakeCommands, votes: FakeVotes
) -> None:
    adapter = SlackAdapter(
        bot_token="xoxb-revoked",
        app_token=APP_TOKEN,
        signing_secret=None,
        mode="socket",
        api_base_url=fake.url,
        commands=commands,
        reactions=votes,
    )
    with pytest.raises(PermanentError) as info:
        await adapter.start()
    assert info.value.reason == "invalid_auth"
    assert not adapter.healthy()
    await adapter.stop()


def test_manifest() -> None:
    socket_manifest = slack_manifest(socket_mode=True)
    assert socket_manifest["settings"]["socket_mode_enabled"] is True
    scopes = set(socket_manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "reactions:read", "reactions:write", "users:read"} <= scopes
    assert {"chat:write.public", "channels:history", "groups:history", "usergroups:read"} <= scopes
    assert "channels:join" in scopes  # to verify posts in public channels it never joined
    assert "im:write" in scopes  # follow alerts: conversations.open with one person
    [command] = socket_manifest["features"]["slash_commands"]
    assert command["command"] == "/papers" and command["usage_hint"]
    assert socket_manifest["settings"]["event_subscriptions"]["bot_events"] == [
        "reaction_added",
        "reaction_removed",
    ]
    assert socket_manifest["settings"]["interactivity"] == {"is_enabled": True}
    assert len(socket_manifest["display_information"]["long_description"]) >= 175
    http = slack_manifest(
        socket_mode=False, request_url="https://bot.example/slack/events", name="Papers"
    )
    assert http["settings"]["socket_mode_enabled"] is False
    assert http["features"]["slash_commands"][0]["url"] == "https://bot.example/slack/events"
    assert http["settings"]["interactivity"]["request_url"] == "https://bot.example/slack/events"
    assert http["features"]["bot_user"]["display_name"] == "Papers"
    assert yaml.safe_load(yaml.safe_dump(http)) == http
    with pytest.raises(ValueError):
        slack_manifest(socket_mode=False)


def test_no_unused_token_warning_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """bolt reads SLACK_BOT_TOKEN itself and warns that it goes unused next to our client;
    it carries the same token, so that warning is not shown (other bolt warnings are)."""
    import logging

    from bot.platforms.slack.connection import bolt_app

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    with caplog.at_level(logging.WARNING):
        app = bolt_app(
            bot_token=BOT_TOKEN, signing_secret="s", api_base_url="http://127.0.0.1:9/api/"
        )
        app.logger.warning("another warning")
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "will be unused" in m]
    assert "another warning" in messages
