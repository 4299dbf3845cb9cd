"""The terminal adapter and renderer, driven line by line in process."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

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
from bot.platforms.terminal.adapter import TerminalAdapter
from bot.platforms.terminal.lines import stdin_reader
from bot.platforms.terminal.render import clean, render_message
from bot.storage import Store, open_store
from bot.storage.records import PostedDigest

CHANNEL = ChannelRef("terminal", "local", "terminal")


class FakeCommands:
    """Answers like the real core: privately, with a Share button carrying the id the answer
    is kept under; ``share`` gives it back public, or a note once it is gone."""

    def __init__(self) -> None:
        self.seen: list[Invocation] = []
        self.shared_ids: list[str] = []
        self.kept: dict[str, Reply] = {}

    async def handle(self, inv: Invocation) -> Reply:
        self.seen.append(inv)
        share_id = f"kept{len(self.kept) + 1}"
        msg = Message(
            header=f"Answer {len(self.kept) + 1}",
            sections=(Section(title="One Paper", url="https://example.org/p", rank=None),),
            buttons=(Button("Share to channel", action="share", value=share_id),),
        )
        self.kept[share_id] = Reply(msg, paper_ids=("p1",), digest_key="paper:p1")
        return self.kept[share_id]

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return []

    async def share(self, channel: ChannelRef, share_id: str) -> Reply:
        kept = self.kept.pop(share_id, None)  # once only, so a second share finds it gone
        if kept is None:
            return Reply(Message(header="That answer can no longer be shared", kind="notice"))
        return Reply(kept.message.public(), kept.paper_ids, kept.digest_key)

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        self.shared_ids.append(message_id)


class FakeReactions:
    def __init__(self) -> None:
        self.events: list[ReactionEvent] = []

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        self.events.append(ev)
        return True


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/t.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def adapter(store: Store, out: io.StringIO) -> TerminalAdapter:
    return TerminalAdapter(
        commands=FakeCommands(), reactions=FakeReactions(), store=store, stdout=out, color=False
    )


def test_control_characters_are_stripped() -> None:
    hostile = "Title\x1b]0;pwned\x07\x1b[2J\u202eevil\tend"
    assert clean(hostile) == "Title]0;pwned[2Jevil end"
    text = render_message(Message(header=hostile, sections=(Section(title=hostile),)))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


def test_render_digest_layout_and_colour() -> None:
    msg = Message(
        header="Top papers",
        sections=(
            Section(
                title="A Paper",
                url="https://arxiv.org/abs/1706.03762",
                body="word " * 200,
                rank=1,
                links=(Link("Paper", "https://arxiv.org/abs/1706.03762"),),
            ),
        ),
        kind="digest",
        ephemeral=False,
    )
    plain = render_message(msg, message_id="abc", summary_length=100, width=80)
    assert "[message abc]" in plain
    assert " 1. A Paper" in plain
    assert "Paper: https://arxiv.org/abs/1706.03762" in plain
    assert "react <rank>" in plain
    assert all(len(line) <= 80 for line in plain.splitlines() if "http" not in line)
    assert "…" in plain
    assert "\x1b[" in render_message(msg, color=True)


async def test_post_is_idempotent_within_a_run(adapter: TerminalAdapter, out: io.StringIO) -> None:
    msg = Message(header="Digest", kind="digest", ephemeral=False)
    first = await adapter.post(CHANNEL, msg, "key-1")
    again = await adapter.post(CHANNEL, msg, "key-1")
    assert first == again
    assert out.getvalue().count("[message ") == 1
    assert await adapter.find_posted(CHANNEL, "key-1", None) == first
    assert await adapter.find_posted(CHANNEL, "other", None) is None


async def test_commands_votes_share_and_errors(
    adapter: TerminalAdapter, out: io.StringIO, store: Store
) -> None:
    await adapter.handle_line("/papers show 1706.03762")
    commands = adapter.commands
    assert isinstance(commands, FakeCommands)
    assert commands.seen[-1].text == "show 1706.03762"
    assert commands.seen[-1].is_admin
    await adapter.handle_line("react 1")
    assert "No digest has been posted here yet" in out.getvalue()
    await store.record_posted(
        PostedDigest(CHANNEL, "m1", "week:2025-06-23", ("a", "b"), datetime.now(UTC))
    )
    await adapter.handle_line("react 2")
    await adapter.handle_line("user carol")
    await adapter.handle_line("unreact 2 m1")
    await adapter.handle_line("react 11")
    await adapter.handle_line("react 1 nosuchmessage")
    reactions = adapter.reactions
    assert isinstance(reactions, FakeReactions)
    assert [(e.emoji, e.user_id, e.added, e.message_id) for e in reactions.events] == [
        ("2️⃣", "you", True, "m1"),
        ("2️⃣", "carol", False, "m1"),
    ]
    text = out.getvalue()
    assert "“11” is not a vote: use a rank 1-10, or 👍 for a single shared paper." in text
    assert "No digest with message id nosuchmessage" in text
    await adapter.handle_line("share")
    assert len(commands.shared_ids) == 1
    assert f"react 👍 {commands.shared_ids[0]}" in out.getvalue()
    assert "shared by carol" in out.getvalue() and "Answer 1" in out.getvalue()
    await adapter.handle_line("share")  # the core no longer has it: its note is shown
    assert len(commands.shared_ids) == 1
    assert "That answer can no longer be shared" in out.getvalue()
    await adapter.handle_line("/paperssearch x")
    assert "a space after /papers" in out.getvalue()
    await adapter.handle_line("dance")
    assert "Unknown input" in out.getvalue()


async def read_all(reader: asyncio.StreamReader) -> list[bytes]:
    lines = []
    while line := await asyncio.wait_for(reader.readline(), 5):
        lines.append(line)
    return lines


async def test_stdin_that_cannot_be_polled_is_read_quietly(tmp_path: Path) -> None:
    """/dev/null (a worker's stdin under a process manager) or a file: read in a thread, no
    traceback from the event loop, end of input seen."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    try:
        with open(os.devnull) as null:
            assert await read_all(await stdin_reader(null)) == []
        script = tmp_path / "commands.txt"
        script.write_text("help\nsearch attention\n", encoding="utf-8")
        with script.open() as f:
            assert await read_all(await stdin_reader(f)) == [b"help\n", b"search attention\n"]
        await asyncio.sleep(0)  # a failed watch would be reported from a callback
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_stdin_pipe_is_watched_by_the_loop() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as r:
        reader = await stdin_reader(r)
        os.write(write_fd, b"week latest\n")
        os.close(write_fd)
        assert await read_all(reader) == [b"week latest\n"]


class SetVotes:
    """A vote set like the real one: adding twice changes nothing the second time."""

    allow_thumbs_up = True

    def __init__(self) -> None:
        self.votes: set[tuple[str, str, str]] = set()

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        key = (ev.message_id, ev.user_id, ev.emoji)
        if ev.added:
            if key in self.votes:
                return False
            self.votes.add(key)
            return True
        if key not in self.votes:
            return False
        self.votes.discard(key)
        return True


async def test_votes_that_cannot_be_cast_say_so_with_one_wording(store: Store) -> None:
    """👍 on a digest, or a rank past its last paper, is "not a vote" (like `react 11`), not
    "Already voted"; "Already voted" is for a vote that was cast before."""
    out = io.StringIO()
    votes = SetVotes()
    adapter = TerminalAdapter(
        commands=FakeCommands(), reactions=votes, store=store, stdout=out, color=False
    )
    await store.record_posted(
        PostedDigest(CHANNEL, "m1", "week:2025-06-23", ("a", "b", "c"), datetime.now(UTC))
    )
    await store.record_posted(PostedDigest(CHANNEL, "s1", "paper:x", ("x",), datetime.now(UTC)))
    for line in ("react 👍 m1", "react 5 m1", "react 11 m1", "unreact 👍 m1"):
        await adapter.handle_line(line)
    lines = out.getvalue().splitlines()
    assert lines == [
        "“👍” is not a vote on message m1: use 1-3.",
        "“5” is not a vote on message m1: use 1-3.",
        "“11” is not a vote: use a rank 1-10, or 👍 for a single shared paper.",
        "“👍” is not a vote on message m1: use 1-3.",
    ]
    assert votes.votes == set()
    out.truncate(0), out.seek(0)
    for line in ("react 2 m1", "react 2 m1", "react 👍 s1", "react 2 s1"):
        await adapter.handle_line(line)
    assert out.getvalue().splitlines() == [
        "Vote counted (2️⃣ on message m1).",
        "Already voted (2️⃣ on message m1).",
        "Vote counted (👍 on message s1).",
        "“2” is not a vote on message s1: use 1 or 👍.",
    ]


async def test_a_later_search_page_is_voted_with_the_numbers_shown(store: Store) -> None:
    out = io.StringIO()
    adapter = TerminalAdapter(
        commands=FakeCommands(), reactions=SetVotes(), store=store, stdout=out, color=False
    )
    page2 = ("", "", "", "", "", "p6", "p7")
    await store.record_posted(PostedDigest(CHANNEL, "p2", "search:x", page2, datetime.now(UTC)))
    await adapter.handle_line("react 1 p2")
    await adapter.handle_line("react 6 p2")
    assert out.getvalue().splitlines() == [
        "“1” is not a vote on message p2: use 6-7.",
        "Vote counted (6️⃣ on message p2).",
    ]


async def test_4_share_posts_the_answer_the_user_saw_through_the_real_core(
    store: Store, out: io.StringIO
) -> None:
    """The terminal shares the answer on screen, as Slack and Discord do: a shared ``random``
    is the paper that was picked, ``top`` the board as it was, even after it moved on."""
    import random

    from support.clock import FakeClock

    from bot.chat.commands import CommandContext, Commands
    from bot.chat.votes import VoteService
    from bot.delivery.digest import DigestBuilder
    from bot.papers.catalog import Catalog
    from bot.papers.model import Paper, Week
    from bot.storage.records import Vote

    week = Week(
        datetime(2025, 6, 23).date(),
        datetime(2025, 6, 29).date(),
        "Top ML Papers of the Week",
        "fixture.md",
        tuple(
            Paper(i, f"Terminal Study {i}", f"What study {i} found, in our words.")
            for i in range(1, 11)
        ),
    )
    catalog = Catalog.build([week])
    clock = FakeClock(datetime(2025, 7, 1, 12, tzinfo=UTC))
    core = Commands(
        CommandContext(
            catalog=lambda: catalog,
            store=store,
            clock=clock,
            digests=DigestBuilder(lambda: catalog, store),
            rng=random.Random(7),
        )
    )
    votes = VoteService(store, clock=clock)
    adapter = TerminalAdapter(commands=core, reactions=votes, store=store, stdout=out, color=False)
    await adapter.handle_line("/papers random")
    picked = out.getvalue().splitlines()
    title = next(line for line in picked if "Terminal Study" in line)
    for _ in range(5):
        await core.handle(Invocation(CHANNEL, "you", "random"))  # the dice roll on
    await adapter.handle_line("share")
    shared = out.getvalue()[len("\n".join(picked)) :]
    assert title.strip() in shared and "shared by you" in shared

    paper = week.papers
    await store.add_vote(Vote(CHANNEL, "m0", "u1", "1️⃣", paper[1].paper_id, clock.now()))
    await adapter.handle_line("/papers top")
    before = len(out.getvalue())
    for user in ("u2", "u3"):
        await store.add_vote(Vote(CHANNEL, "m0", user, "2️⃣", paper[2].paper_id, clock.now()))
    await adapter.handle_line("share")
    shared = out.getvalue()[before:]
    assert "Terminal Study 2" in shared and "Terminal Study 3" not in shared
