"""``/papers ...``: parsed and answered once, as neutral Messages, for every platform.

Nothing here knows which platform it is on. Every answer is a ``Reply``; bad input of any kind
(unknown subcommands, empty or huge queries, FTS syntax, mention syntax) gets a helpful Reply,
never an exception. ``Commands`` is the one class adapters talk to; it dispatches to
``lookups`` (search, week, show, random), ``top`` (the leaderboard) and ``admin`` (the
subscription), and adds the Share button (``with_share_button``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from difflib import get_close_matches

from bot.chat import admin, lookups
from bot.chat.context import CommandContext, Handler, admin_command, notice
from bot.chat.top import top
from bot.core.messages import Button, ChannelRef, Field, Invocation, Message, Reply
from bot.core.text import plural, truncate_words
from bot.papers.catalog import week_range_label
from bot.storage.records import PostedDigest

log = logging.getLogger("paperboy.commands")

MAX_COMMAND_CHARS = 500
SHARE_LABEL = "Share to channel"
SHARE_ACTION = "share"
ADMIN_SUBCOMMANDS = tuple(admin.HANDLERS)
LOOKUP_SUBCOMMANDS = ("search", "week", "show", "top", "random", "help")
KNOWN_SUBCOMMANDS = frozenset((*LOOKUP_SUBCOMMANDS, *ADMIN_SUBCOMMANDS, "find"))

HELP_LINES = (
    (
        "search <words>",
        "ranked search over titles and summaries; filters: year:2024, "
        "week:2025-06-23, has:code, arxiv:2301.04104; page:2 for more",
    ),
    ("week [date|latest]", "the curated top ten of a week (any date inside it)"),
    ("show <paper id | arXiv id | title>", "one paper with its links and weeks"),
    ("top [week|month|year|all] [here|workspace]", "the community leaderboard from votes"),
    ("random", "a random paper from the archive"),
    ("help", "this list"),
)
ADMIN_HELP_LINES = (
    ("subscribe [cron] [timezone] [curated|community]", "post digests here on a schedule"),
    ("unsubscribe", "stop posting digests here"),
    ("schedule", "this channel's subscription and its next run"),
    ("preview", "the next digest, shown only to you"),
    ("post", "post this week's digest now (never twice)"),
    ("feed [rotate]", "this channel's private web page and feed link (rotate: replace it)"),
)

__all__ = ["CommandContext", "Commands", "admin_command", "with_share_button"]


async def help_reply(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    """The subcommands this user may run (admins see theirs too) and what the archive holds."""
    fields = [Field(f"/papers {usage}", what) for usage, what in HELP_LINES]
    if inv.is_admin:
        admin_cmd = admin_command(inv.channel.platform)
        fields += [
            Field(f"{admin_cmd} {usage}", f"(admin) {what}") for usage, what in ADMIN_HELP_LINES
        ]
    cat = ctx.catalog()
    latest = cat.latest_week()
    about = f"{plural(len(cat), 'paper')} in the archive"
    if latest is not None:
        about += f"; newest week {week_range_label(latest)}"
    return Reply(
        Message(
            header="Paperboy: papers from the curated weekly top tens",
            text=about + ".",
            fields=tuple(fields),
            context=("Digests are voted on with 1️⃣–🔟 reactions.",),
        )
    )


LOOKUPS: dict[str, Handler] = {
    "search": lookups.search,
    "find": lookups.search,
    "week": lookups.week,
    "show": lookups.show,
    "top": top,
    "random": lookups.random_paper,
    "help": help_reply,
}


def with_share_button(reply: Reply, command_text: str) -> Reply:
    """The share-button rule, kept in one place: the core adds Share; platforms never do.

    A private lookup reply that shows papers (sections or fields) gets a "Share to channel"
    button, last, whose value is the command that made it (re-run publicly when pressed).
    Notices, public messages and help are left alone."""
    msg = reply.message
    if not msg.ephemeral or msg.kind != "reply" or not (msg.sections or msg.fields):
        return reply
    if command_text.split(" ", 1)[0].lower() == "help":
        return reply
    share = Button(SHARE_LABEL, action=SHARE_ACTION, value=command_text)
    return dataclasses.replace(
        reply, message=dataclasses.replace(msg, buttons=(*msg.buttons, share))
    )


def unknown(sub: str, inv: Invocation) -> Reply:
    known = LOOKUP_SUBCOMMANDS + (ADMIN_SUBCOMMANDS if inv.is_admin else ())
    close = get_close_matches(sub, known, n=1)
    hint = f" Did you mean `/papers {close[0]}`?" if close else ""
    shown = truncate_words(sub, 40)
    return notice(
        "I don't know that command",
        f"`{shown}` is not a /papers command.{hint} "
        f"Commands: {', '.join(known)}. `/papers help` explains each.",
    )


class Commands:
    """Implements ``bot.platforms.base.CommandHandler``: ``handle``, ``suggest``, ``shared``."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx

    async def handle(self, inv: Invocation) -> Reply:
        """Answer one ``/papers`` command; never raises (an error is logged and apologised for)."""
        started = time.perf_counter()
        sub = "?"
        try:
            text = " ".join(inv.text.split())
            if len(text) > MAX_COMMAND_CHARS:
                return notice(
                    "That command is too long",
                    f"It has {len(inv.text):,} characters; keep it under {MAX_COMMAND_CHARS}. "
                    "Try a few distinctive words, e.g. `/papers search sparse attention`.",
                )
            sub, _, rest = text.partition(" ")
            sub = sub.lower() or "help"
            return await self._dispatch(sub, rest, text, inv)
        except Exception:
            log.exception("command failed", extra={"command": inv.text[:200]})
            return notice(
                "Sorry, something went wrong",
                "That command hit an error on our side; it has been logged. "
                "Please try again in a moment.",
            )
        finally:
            if self.ctx.metrics is not None:
                self.ctx.metrics.observe(
                    "command_seconds",
                    time.perf_counter() - started,
                    command=sub if sub in KNOWN_SUBCOMMANDS else "unknown",
                )

    async def _dispatch(self, sub: str, rest: str, text: str, inv: Invocation) -> Reply:
        if sub in admin.HANDLERS:
            if not inv.is_admin:
                return notice(
                    "That one is for admins",
                    f"Only admins can use `{admin_command(inv.channel.platform)} {sub}`. "
                    "Ask an admin of this workspace or server, or try `/papers help`.",
                )
            return await admin.HANDLERS[sub](self.ctx, rest, inv)
        handler = LOOKUPS.get(sub)
        if handler is None:
            return unknown(sub, inv)
        return with_share_button(await handler(self.ctx, rest, inv), text)

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """Autocomplete: (title within 100 characters, paper id) for at most 25 papers."""
        out = []
        for p in self.ctx.catalog().suggest(prefix[:200], limit=min(limit, 25)):
            out.append((truncate_words(p.title, 100), p.paper_id))
        return out

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        """A reply was shared to the channel as ``message_id``: record it so votes on it count."""
        if not reply.paper_ids:
            return
        await self.ctx.store.record_posted(
            PostedDigest(
                channel,
                message_id,
                reply.digest_key or "share",
                reply.paper_ids,
                self.ctx.clock.now(),
            )
        )
