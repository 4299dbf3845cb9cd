"""The terminal adapter and renderer, driven line by line in process."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.messages import ChannelRef, Invocation, Link, Message, ReactionEvent, Reply, Section
from bot.platforms.terminal.adapter import TerminalAdapter, _stdin_reader
from bot.platforms.terminal.render import clean, render_message
from bot.storage import Store, open_store
from bot.storage.records import PostedDigest

CHANNEL = ChannelRef("terminal", "local", "terminal")


class FakeCommands:
    def __init__(self) -> None:
        self.seen: list[Invocation] = []
        self.shared_ids: list[str] = []

    async def handle(self, inv: Invocation) -> Reply:
        self.seen.append(inv)
        msg = Message(
            header="Answer",
            sections=(Section(title="One Paper", url="https://example.org/p", rank=None),),
        )
        return Reply(msg, paper_ids=("p1",), digest_key="paper:p1")

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return []

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
    await adapter.handle_line("unreact 10 m1")
    await adapter.handle_line("react 11")
    await adapter.handle_line("react 1 nosuchmessage")
    reactions = adapter.reactions
    assert isinstance(reactions, FakeReactions)
    assert [(e.emoji, e.user_id, e.added, e.message_id) for e in reactions.events] == [
        ("2️⃣", "you", True, "m1"),
        ("🔟", "carol", False, "m1"),
    ]
    text = out.getvalue()
    assert "is not a rank" in text
    assert "No digest with message id nosuchmessage" in text
    await adapter.handle_line("share")
    assert len(commands.shared_ids) == 1
    assert f"react 👍 {commands.shared_ids[0]}" in out.getvalue()
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
            assert await read_all(await _stdin_reader(null)) == []
        script = tmp_path / "commands.txt"
        script.write_text("help\nsearch attention\n", encoding="utf-8")
        with script.open() as f:
            assert await read_all(await _stdin_reader(f)) == [b"help\n", b"search attention\n"]
        await asyncio.sleep(0)  # a failed watch would be reported from a callback
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_stdin_pipe_is_watched_by_the_loop() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as r:
        reader = await _stdin_reader(r)
        os.write(write_fd, b"week latest\n")
        os.close(write_fd)
        assert await read_all(reader) == [b"week latest\n"]
