"""The terminal as a chat platform: digests print to stdout, lines typed (or piped) on stdin are
commands. One channel (``terminal:<workspace>:<channel>``) and one user, who is an admin.

Input lines:
    /papers <subcommand> ...     any /papers command (``papers ...`` works too)
    react <rank|👍> [message]    vote on a digest (default: the newest one here)
    unreact <rank|👍> [message]  take a vote back
    share                        post the last private answer to the channel (votable)
    user <name>                  act as another user (to try votes from several people)
    help | quit
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from bot.core.messages import ChannelRef, Invocation, Message, ReactionEvent, Reply
from bot.platforms.base import CommandHandler, ReactionHandler
from bot.platforms.terminal.render import KEYCAPS, clean, render_message
from bot.storage.base import Store

log = logging.getLogger("paperboy.terminal")

TERMINAL_HELP = """\
Type a command and press Enter:
  /papers help                 all lookup and admin commands (search, week, show, top, ...)
  react <rank> [message]       vote for the paper at that rank of a digest (👍 for one paper)
  unreact <rank> [message]     take that vote back
  share                        post your last answer to the channel, so others can vote on it
  user <name>                  act as another user
  quit                         stop Paperboy"""


def supports_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM", "") != "dumb"


class TerminalAdapter:
    platform = "terminal"

    def __init__(
        self,
        *,
        commands: CommandHandler,
        reactions: ReactionHandler,
        store: Store,
        workspace: str = "local",
        channel: str = "terminal",
        color: bool | None = None,
        stdin: asyncio.StreamReader | None = None,
        stdout: TextIO | None = None,
        on_quit: Callable[[], None] | None = None,
        summary_length: int = 400,
    ) -> None:
        self.commands = commands
        self.reactions = reactions
        self.store = store
        self.channel = ChannelRef("terminal", workspace, channel)
        self.out = stdout or sys.stdout
        self.color = supports_color(self.out) if color is None else color
        self._stdin = stdin
        self._on_quit = on_quit
        self.summary_length = summary_length
        self.user = "you"
        self._task: asyncio.Task[None] | None = None
        self._sent: dict[str, str] = {}  # idempotency key -> message id, this process
        self._last_reply: Reply | None = None
        self._seq = 0
        self._running = False

    # -- output ------------------------------------------------------------------------------------

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _new_id(self) -> str:
        self._seq += 1
        stamp = int(datetime.now(UTC).timestamp() * 1000)
        return f"{stamp:x}{self._seq:02x}"[-10:]

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        if idempotency_key in self._sent:
            return self._sent[idempotency_key]
        message_id = self._new_id()
        self.write("")
        self.write(self.render(message, message_id))
        self._sent[idempotency_key] = message_id
        return message_id

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        # Printed text cannot be looked up after a restart; within a run we remember it.
        return self._sent.get(idempotency_key)

    async def prepare(self, channel: ChannelRef) -> None:
        return None

    def render(self, message: Message, message_id: str | None = None) -> str:
        return render_message(
            message, color=self.color, message_id=message_id, summary_length=self.summary_length
        )

    def show(self, reply: Reply) -> None:
        self.write(self.render(reply.message))

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._stdin is None:
            self._stdin = await _stdin_reader()
        self._running = True
        self.write(
            f"Paperboy is running in the terminal (channel #{self.channel.channel}). "
            "Type `help` for commands."
        )

    def start_reading(self) -> None:
        """Start taking input lines (separate from ``start`` so a digest posted at start-up is
        printed before the first piped command is answered)."""
        if self._task is None and self._running:
            self._task = asyncio.create_task(self._read_loop(), name="terminal-input")

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def healthy(self) -> bool:
        return self._running

    # -- input -------------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._stdin is not None
        while self._running:
            raw = await self._stdin.readline()
            if not raw:
                log.info("terminal input closed; the bot keeps running (stop it with Ctrl-C)")
                return
            line = clean(raw.decode("utf-8", "replace")).strip()
            if not line:
                continue
            try:
                await self.handle_line(line)
            except Exception:
                log.exception("terminal command failed")
                self.write("Sorry, something went wrong with that command; it has been logged.")

    async def handle_line(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        word = word.lower()
        if word in ("/papers", "papers", "/paper"):
            await self._command(rest)
        elif word.startswith("/papers") and len(word) > 7:
            self.write(
                "Did you mean `/papers " + clean(line[7:]).strip() + "`? (a space after /papers)"
            )
        elif word in ("react", "vote", "unreact", "unvote"):
            await self._react(rest, added=word in ("react", "vote"))
        elif word == "share":
            await self._share()
        elif word == "user":
            name = rest.strip()[:40]
            if name:
                self.user = name
            self.write(f"You are now “{self.user}”.")
        elif word in ("help", "?", "/help"):
            self.write(TERMINAL_HELP)
        elif word in ("quit", "exit", "/quit"):
            self.write("Stopping Paperboy…")
            if self._on_quit is not None:
                self._on_quit()
        else:
            self.write(f"Unknown input “{line[:40]}”. Type `help` for what you can do.")

    async def _command(self, text: str) -> None:
        reply = await self.commands.handle(
            Invocation(self.channel, self.user, text, is_admin=True, user_name=self.user)
        )
        self._last_reply = reply
        self.show(reply)

    async def _share(self) -> None:
        reply = self._last_reply
        if reply is None or not reply.message.sections:
            self.write("Nothing to share yet: run a /papers lookup first.")
            return
        msg = reply.message
        public = Message(
            header=msg.header,
            url=msg.url,
            text=msg.text,
            sections=msg.sections,
            fields=msg.fields,
            context=(f"shared by {self.user}",),
            kind="reply",
            ephemeral=False,
        )
        message_id = self._new_id()
        self.write(self.render(public, message_id))
        await self.commands.shared(self.channel, message_id, reply)
        hint = "react 👍" if len(reply.paper_ids) == 1 else "react <rank>"
        self.write(f"Shared as message {message_id}; vote with `{hint} {message_id}`.")

    async def _react(self, rest: str, *, added: bool) -> None:
        parts = rest.split()
        if not parts:
            self.write("Usage: react <rank 1-10 | 👍> [message]")
            return
        what = parts[0]
        if what.isdigit() and 1 <= int(what) <= 10:
            emoji = KEYCAPS[int(what) - 1]
        elif what in ("👍", "+1", "up", "thumbsup"):
            emoji = "👍"
        else:
            self.write(f"“{what[:20]}” is not a rank: use 1-10, or 👍 for a single shared paper.")
            return
        if len(parts) > 1:
            message_id = parts[1]
            posted = await self.store.get_posted("terminal", message_id)
            if posted is None or posted.channel != self.channel:
                self.write(f"No digest with message id {message_id[:20]} here.")
                return
        else:
            posted = await self.store.latest_posted(self.channel)
            if posted is None:
                self.write("No digest has been posted here yet; try `/papers post`.")
                return
            message_id = posted.message_id
        changed = await self.reactions.on_reaction(
            ReactionEvent(self.channel, message_id, self.user, emoji, added)
        )
        verb = "Vote counted" if added else "Vote removed"
        if not changed:
            verb = "Already voted" if added else "There was no such vote"
        self.write(f"{verb} ({emoji} on message {message_id}).")


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


async def _stdin_reader(stream: TextIO | None = None) -> asyncio.StreamReader:
    stdin = sys.stdin if stream is None else stream
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    if _pollable(stdin):
        with contextlib.suppress(ValueError, OSError):
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
            return reader

    # A regular file or /dev/null: read it in a thread instead.
    def pump() -> None:
        for line in stdin.buffer:
            loop.call_soon_threadsafe(reader.feed_data, line)
        loop.call_soon_threadsafe(reader.feed_eof)

    loop.run_in_executor(None, pump)
    return reader
