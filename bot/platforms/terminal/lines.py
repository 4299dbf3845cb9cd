"""Where the terminal's input lines come from.

* ``PromptLines``: a person at a terminal. prompt_toolkit's async prompt gives line editing and
  a history kept in a file (under ``.paperboy/``); output printed while the prompt waits appears
  above it (``patch_stdout``). Ctrl-D (and Ctrl-C) at the prompt end the input.
* ``StreamLines``: a pipe, a file or ``/dev/null``: plain line reading. A line longer than
  ``MAX_LINE`` bytes is skipped whole (``LineTooLong``) and reading goes on.

``read()`` returns the next line (without its newline), or None when the input has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import Any, Protocol, TextIO

MAX_LINE = 64 * 1024  # bytes
PROMPT = "papers> "


class LineTooLong(Exception):
    """The line was longer than ``MAX_LINE`` bytes; it was skipped."""


class LineSource(Protocol):
    interactive: bool  # a person typing: the end of input means "quit"

    async def read(self) -> str | None: ...


class StreamLines:
    """Lines from an ``asyncio.StreamReader`` (stdin as a pipe or a file)."""

    interactive = False

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def read(self) -> str | None:
        skipping = False
        while True:
            try:
                raw = await self._reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:  # the end, maybe after a last line
                if skipping:
                    raise LineTooLong from None
                return exc.partial.decode("utf-8", "replace") if exc.partial else None
            except asyncio.LimitOverrunError as exc:
                # Drop what is buffered of the long line and keep looking for its end.
                await self._reader.readexactly(exc.consumed)
                skipping = True
                continue
            if skipping:
                raise LineTooLong
            return raw.decode("utf-8", "replace").rstrip("\r\n")


class PromptLines:
    """Lines typed at a terminal, with editing and a history file (prompt_toolkit).

    ``input`` and ``output`` default to the real terminal; tests pass prompt_toolkit's pipe
    input and ``DummyOutput``."""

    interactive = True

    def __init__(
        self, history_file: str | Path | None = None, *, input: Any = None, output: Any = None
    ) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory

        history: History = InMemoryHistory()
        if history_file is not None:
            path = Path(history_file)
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                history = FileHistory(str(path))
        self._session: Any = PromptSession(history=history, input=input, output=output)

    async def read(self) -> str | None:
        from prompt_toolkit.patch_stdout import patch_stdout

        try:
            with patch_stdout(raw=True):
                text: str = await self._session.prompt_async(PROMPT)
        except (EOFError, KeyboardInterrupt):
            return None
        if len(text.encode("utf-8", "replace")) > MAX_LINE:
            raise LineTooLong
        return text


def _pollable(stream: TextIO) -> bool:
    """A pipe, socket or terminal: what the event loop can watch. A regular file or a device
    such as /dev/null (a worker's stdin under a process manager) cannot be; asyncio would only
    find out in a callback after ``connect_read_pipe`` returned, and log a traceback."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


async def stdin_reader(stream: TextIO | None = None) -> asyncio.StreamReader:
    """A StreamReader over stdin (or ``stream``), buffering at most ``MAX_LINE`` per line."""
    stdin = sys.stdin if stream is None else stream
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    if _pollable(stdin):
        with contextlib.suppress(ValueError, OSError):
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
            return reader

    # A regular file or /dev/null: read it in a thread instead.
    def pump() -> None:
        for chunk in iter(lambda: stdin.buffer.read(MAX_LINE), b""):
            loop.call_soon_threadsafe(reader.feed_data, chunk)
        loop.call_soon_threadsafe(reader.feed_eof)

    loop.run_in_executor(None, pump)
    return reader


def default_lines(history_file: str | Path | None) -> LineSource | None:
    """A prompt when both stdin and stdout are a terminal, else None (read stdin as a stream)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return PromptLines(history_file)
    return None


__all__ = [
    "MAX_LINE",
    "LineSource",
    "LineTooLong",
    "PromptLines",
    "StreamLines",
    "default_lines",
    "stdin_reader",
]
