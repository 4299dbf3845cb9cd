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
import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.core.messages import Button, ChannelRef, Invocation, Message, ReactionEvent, Reply
from bot.platforms.base import CommandHandler, ReactionHandler
from bot.platforms.shared import SHARE_ACTION
from bot.platforms.terminal.lines import (
    MAX_LINE,
    LineSource,
    LineTooLong,
    StreamLines,
    default_lines,
    stdin_reader,
)
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
  quit                         stop Paperboy (Ctrl-D too)"""
TOO_LONG = (
    f"That line is over {MAX_LINE // 1024} KiB and was skipped; commands are a few words, "
    "e.g. `/papers search sparse attention`."
)


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
        lines: LineSource | None = None,
        history_file: str | Path | None = None,
        exit_on_eof: bool = False,
    ) -> None:
        """Input: ``lines`` if given, else ``stdin`` read line by line, else (at ``start``) a
        prompt with ``history_file`` when stdin and stdout are a terminal, or stdin as a
        stream. The end of typed input (Ctrl-D) stops the bot like ``quit``; the end of piped
        input does so only with ``exit_on_eof``."""
        self.commands = commands
        self.reactions = reactions
        self.store = store
        self.channel = ChannelRef("terminal", workspace, channel)
        self._out = stdout
        self.color = supports_color(self.out) if color is None else color
        self._lines = lines if lines is not None else (StreamLines(stdin) if stdin else None)
        self._history_file = history_file
        self.exit_on_eof = exit_on_eof
        self._on_quit = on_quit
        self.summary_length = summary_length
        self.user = "you"
        self._task: asyncio.Task[None] | None = None
        self._sent: dict[str, str] = {}  # idempotency key -> message id, this process
        self._last_reply: Reply | None = None
        self._seq = 0
        self._running = False

    # -- output ------------------------------------------------------------------------------------

    @property
    def out(self) -> TextIO:
        """Where output goes: the given stream, else stdout as it is now (the prompt swaps in
        a proxy that prints above the input line while it waits)."""
        return self._out if self._out is not None else sys.stdout

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

    async def send_direct(self, workspace: str, user_id: str, message: Message) -> str:
        """A direct message (follow alerts) is printed, addressed to the user."""
        message_id = self._new_id()
        self.write("")
        self.write(f"(direct message to {clean(user_id)})")
        self.write(self.render(message, message_id))
        return message_id

    async def tell_privately(self, channel: ChannelRef, user_id: str, message: Message) -> bool:
        self.write(f"(only {clean(user_id)} sees this)")
        self.write(self.render(message))
        return True

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
        if self._lines is None:
            self._lines = default_lines(self._history_file) or StreamLines(await stdin_reader())
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
        assert self._lines is not None
        while self._running:
            try:
                raw = await self._lines.read()
            except LineTooLong:
                self.write(TOO_LONG)
                continue
            if raw is None:
                self._end_of_input()
                return
            line = clean(raw).strip()
            if not line:
                continue
            try:
                await self.handle_line(line)
            except Exception:
                log.exception("terminal command failed")
                self.write("Sorry, something went wrong with that command; it has been logged.")

    def _end_of_input(self) -> None:
        assert self._lines is not None
        if self._lines.interactive:  # Ctrl-D at the prompt: as `quit`
            self._quit()
        elif self.exit_on_eof:
            log.info("terminal input ended; stopping (--exit-on-eof)")
            if self._on_quit is not None:
                self._on_quit()
        else:
            log.info("terminal input ended; the bot keeps running (stop it with SIGTERM)")

    def _quit(self) -> None:
        self.write("Stopping Paperboy…")
        if self._on_quit is not None:
            self._on_quit()

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
            self._quit()
        else:
            self.write(f"Unknown input “{line[:40]}”. Type `help` for what you can do.")

    async def _command(self, text: str) -> None:
        reply = await self.commands.handle(
            Invocation(self.channel, self.user, text, is_admin=True, user_name=self.user)
        )
        self._last_reply = reply
        self.show(reply)

    async def _share(self) -> None:
        """Post the last answer, exactly as shown (the core kept it under its Share button)."""
        reply = self._last_reply
        button = None if reply is None else _share_button(reply.message)
        if button is None:
            self.write("Nothing to share yet: run a /papers lookup first.")
            return
        shared = await self.commands.share(self.channel, button.value)
        if shared.message.ephemeral:  # it can no longer be shared: the core says why
            self.show(shared)
            return
        msg = shared.message
        public = dataclasses.replace(msg, context=(*msg.context, f"shared by {self.user}"))
        message_id = self._new_id()
        self.write(self.render(public, message_id))
        await self.commands.shared(self.channel, message_id, shared)
        hint = "react 👍" if len(shared.paper_ids) == 1 else "react <rank>"
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
            self.write(_not_a_vote(what, "a rank 1-10, or 👍 for a single shared paper"))
            return
        if len(parts) > 1:
            message_id = parts[1]
            posted = await self.store.get_posted(self.channel, message_id)
            if posted is None:
                self.write(f"No digest with message id {message_id[:20]} here.")
                return
        else:
            posted = await self.store.latest_posted(self.channel)
            if posted is None:
                self.write("No digest has been posted here yet; try `/papers post`.")
                return
            message_id = posted.message_id
        # The same rule as a rank beyond 10: what cannot be a vote on this message says so,
        # rather than "Already voted" for a vote that was never possible.
        ranks = [i for i, p in enumerate(posted.paper_ids, start=1) if p]
        valid = _valid_votes(ranks, thumbs=getattr(self.reactions, "allow_thumbs_up", True))
        if (emoji == "👍" and "👍" not in valid) or (emoji != "👍" and int(what) not in ranks):
            self.write(_not_a_vote(what, valid, message_id))
            return
        changed = await self.reactions.on_reaction(
            ReactionEvent(self.channel, message_id, self.user, emoji, added)
        )
        verb = "Vote counted" if added else "Vote removed"
        if not changed:
            verb = "Already voted" if added else "There was no such vote"
        self.write(f"{verb} ({emoji} on message {message_id}).")


def _valid_votes(ranks: list[int], *, thumbs: bool) -> str:
    """What may be voted on a message showing papers at ``ranks``, in words."""
    if not ranks:
        return "nothing: no paper on it can be voted for"
    span = str(ranks[0]) if len(ranks) == 1 else f"{ranks[0]}-{ranks[-1]}"
    return f"{span} or 👍" if len(ranks) == 1 and thumbs else span


def _share_button(msg: Message) -> Button | None:
    """The core's "Share to channel" button on ``msg``, if it has one."""
    return next((b for b in msg.buttons if b.action == SHARE_ACTION), None)


def _not_a_vote(what: str, valid: str, message_id: str | None = None) -> str:
    on = f" on message {message_id}" if message_id else ""
    return f"“{what[:20]}” is not a vote{on}: use {valid}."
