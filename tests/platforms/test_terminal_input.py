"""Terminal input: a prompt with editing and history when a person types (prompt_toolkit, driven
here through its own pipe input and DummyOutput), plain line reading for pipes; Ctrl-D quits
like ``quit``; piped input ends the bot only with ``exit_on_eof``; an over-long piped line
gets the "too long" reply and reading goes on."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from bot.core.messages import ChannelRef, Invocation, Message, ReactionEvent, Reply
from bot.platforms.terminal.adapter import TOO_LONG, TerminalAdapter
from bot.platforms.terminal.lines import MAX_LINE, PromptLines, StreamLines
from bot.storage import Store, open_store


class Commands:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, inv: Invocation) -> Reply:
        self.seen.append(inv.text)
        return Reply(Message(header=f"answer to {inv.text}"))

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return []

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        return None


class Reactions:
    async def on_reaction(self, ev: ReactionEvent) -> bool:
        return True


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/t.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def pipe() -> Iterator[PipeInput]:
    with create_pipe_input() as inp:
        yield inp


class Quit:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def adapter_for(store: Store, out: io.StringIO, quit: Quit, **kw: object) -> TerminalAdapter:
    return TerminalAdapter(
        commands=Commands(),
        reactions=Reactions(),
        store=store,
        stdout=out,
        color=False,
        on_quit=quit,
        **kw,  # type: ignore[arg-type]
    )


async def run_until_input_ends(adapter: TerminalAdapter) -> None:
    """Start, read every line, and wait for the read loop to finish (bounded)."""
    await adapter.start()
    adapter.start_reading()
    assert adapter._task is not None
    await asyncio.wait_for(asyncio.shield(adapter._task), 10)


def piped(data: bytes) -> StreamLines:
    reader = asyncio.StreamReader(limit=MAX_LINE)
    reader.feed_data(data)
    reader.feed_eof()
    return StreamLines(reader)


# --- a person at a terminal (prompt_toolkit) ----------------------------------------------------


async def test_prompt_reads_lines_keeps_history_and_ctrl_d_quits(
    store: Store, tmp_path: Path, pipe: PipeInput
) -> None:
    history = tmp_path / ".paperboy" / "history"
    out, quit = io.StringIO(), Quit()
    lines = PromptLines(history, input=pipe, output=DummyOutput())
    adapter = adapter_for(store, out, quit, lines=lines)
    pipe.send_text("/papers search attention\r")
    pipe.send_text("help\r")
    pipe.send_text("\x04")  # Ctrl-D on an empty line
    await run_until_input_ends(adapter)
    commands = adapter.commands
    assert isinstance(commands, Commands)
    assert commands.seen == ["search attention"]
    text = out.getvalue()
    assert "answer to search attention" in text
    assert "quit                         stop Paperboy (Ctrl-D too)" in text
    assert text.rstrip().endswith("Stopping Paperboy…")
    assert quit.calls == 1
    saved = history.read_text(encoding="utf-8")
    assert "+/papers search attention" in saved and "+help" in saved

    # The next session finds the history (up arrow recalls the last line).
    with create_pipe_input() as again:
        lines2 = PromptLines(history, input=again, output=DummyOutput())
        again.send_text("\x1b[A\r")  # Up, Enter
        assert await asyncio.wait_for(lines2.read(), 10) == "help"
    await adapter.stop()


async def test_prompt_ctrl_c_quits_too(store: Store, pipe: PipeInput) -> None:
    out, quit = io.StringIO(), Quit()
    adapter = adapter_for(
        store, out, quit, lines=PromptLines(None, input=pipe, output=DummyOutput())
    )
    pipe.send_text("\x03")
    await run_until_input_ends(adapter)
    assert quit.calls == 1
    await adapter.stop()


# --- pipes ----------------------------------------------------------------------------------------


async def test_long_piped_line_gets_too_long_and_reading_goes_on(store: Store) -> None:
    out, quit = io.StringIO(), Quit()
    data = b"/papers search " + b"x" * (MAX_LINE + 10_000) + b"\n/papers top\n"
    adapter = adapter_for(store, out, quit, lines=piped(data), exit_on_eof=True)
    await run_until_input_ends(adapter)
    commands = adapter.commands
    assert isinstance(commands, Commands)
    assert commands.seen == ["top"]
    assert TOO_LONG in out.getvalue()
    assert out.getvalue().index(TOO_LONG) < out.getvalue().index("answer to top")
    await adapter.stop()


async def test_long_last_line_without_newline(store: Store) -> None:
    out, quit = io.StringIO(), Quit()
    adapter = adapter_for(
        store, out, quit, lines=piped(b"/papers top\n" + b"y" * (3 * MAX_LINE)), exit_on_eof=True
    )
    await run_until_input_ends(adapter)
    assert TOO_LONG in out.getvalue() and quit.calls == 1
    await adapter.stop()


async def test_end_of_piped_input_stops_only_with_exit_on_eof(store: Store) -> None:
    out, quit = io.StringIO(), Quit()
    keeps = adapter_for(store, out, quit, lines=piped(b"/papers top\n"))
    await run_until_input_ends(keeps)
    assert quit.calls == 0 and keeps.healthy()  # a worker with no stdin keeps running
    assert "Stopping" not in out.getvalue()
    await keeps.stop()

    stops = adapter_for(store, out, quit, lines=piped(b"/papers top\n"), exit_on_eof=True)
    await run_until_input_ends(stops)
    assert quit.calls == 1
    await stops.stop()


async def test_quit_word_and_a_last_line_without_newline(store: Store) -> None:
    out, quit = io.StringIO(), Quit()
    adapter = adapter_for(store, out, quit, lines=piped(b"/papers top\nquit"))
    await run_until_input_ends(adapter)
    assert quit.calls == 1 and "Stopping Paperboy…" in out.getvalue()
    await adapter.stop()
