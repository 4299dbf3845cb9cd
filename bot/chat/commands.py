"""``/papers ...``: parsed and answered once, as neutral Messages, for every platform.

Nothing here knows which platform it is on. Every answer is a ``Reply``; bad input of any kind
(unknown subcommands, empty or huge queries, FTS syntax, mention syntax) gets a helpful Reply,
never an exception. ``Commands`` is the one class adapters talk to; it dispatches to
``lookups`` (search, week, show, random), ``top`` (the leaderboard) and ``admin`` (the
subscription), and adds the Share button (``with_share_button``).

Sharing posts what the user saw, not a new answer: a private lookup answer is kept in the store
(a ``Share``) under a random id, which its "Share to channel" button carries; ``share(channel,
id)`` gives back that very answer, made public, so a shared ``random``, ``top`` or ``search`` is
the one on the user's screen, on every platform. An unknown or expired id gets a friendly note.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import time
from datetime import timedelta
from difflib import get_close_matches

from bot.chat import admin, follows, lookups
from bot.chat.context import CommandContext, Handler, admin_command, notice
from bot.chat.top import top
from bot.core.messages import Button, ChannelRef, Field, Invocation, Message, Reply
from bot.core.text import plural, truncate_words
from bot.delivery.follows import PAUSED_NOTE
from bot.papers.catalog import week_range_label
from bot.storage.records import Person, PostedDigest, Share

log = logging.getLogger("paperboy.commands")

MAX_COMMAND_CHARS = 500
SHARE_LABEL = "Share to channel"
SHARE_ACTION = "share"
ADMIN_SUBCOMMANDS = tuple(admin.HANDLERS)
LOOKUP_SUBCOMMANDS = (
    "search",
    "week",
    "show",
    "cite",
    "top",
    "random",
    "follow",
    "following",
    "unfollow",
    "help",
)
KNOWN_SUBCOMMANDS = frozenset((*LOOKUP_SUBCOMMANDS, *ADMIN_SUBCOMMANDS, "find"))

HELP_LINES = (
    (
        "search <words>",
        "ranked search over titles and summaries; filters: year:2024, "
        "week:2025-06-23, has:code, arxiv:2301.04104, author:Vaswani, cat:cs.CL; "
        "page:2 for more",
    ),
    ("week [date|latest]", "the curated top ten of a week (any date inside it)"),
    ("show <paper id | arXiv id | title>", "one paper with its links, authors and weeks"),
    (
        "cite <paper id | arXiv id | title>",
        "BibTeX for the paper, for a reference manager",
    ),
    ("top [week|month|year|all] [here|workspace]", "the community leaderboard from votes"),
    ("random", "a random paper from the archive"),
    (
        "follow <words | author:Name | cat:cs.CL> [-word]",
        "a direct message when a new week has papers matching it",
    ),
    ("following", "what you follow (only you see it)"),
    ("unfollow <n | all>", "stop following one, or everything"),
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

_SHARE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

__all__ = ["CommandContext", "Commands", "admin_command", "shareable", "with_share_button"]


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
    "cite": lookups.cite,
    "top": top,
    "random": lookups.random_paper,
    "follow": follows.follow,
    "following": follows.following,
    "unfollow": follows.unfollow,
    "help": help_reply,
}


def shareable(reply: Reply, command_text: str) -> bool:
    """The share-button rule, kept in one place: the core adds Share; platforms never do.

    A private lookup reply that shows papers (sections or fields) may be shared; notices,
    public messages and help may not."""
    msg = reply.message
    if not msg.ephemeral or msg.kind != "reply" or not (msg.sections or msg.fields):
        return False
    return command_text.split(" ", 1)[0].lower() != "help"


def with_share_button(reply: Reply, share_id: str) -> Reply:
    """``reply`` with a "Share to channel" button, last, carrying the id it is kept under."""
    msg = reply.message
    share = Button(SHARE_LABEL, action=SHARE_ACTION, value=share_id)
    return dataclasses.replace(
        reply, message=dataclasses.replace(msg, buttons=(*msg.buttons, share))
    )


def cannot_share(ttl: timedelta) -> Reply:
    hours = ttl.total_seconds() / 3600
    kept = plural(int(hours), "hour") if hours >= 1 and hours.is_integer() else "a while"
    return notice(
        "That answer can no longer be shared",
        f"Answers can be shared for {kept} after they were shown. "
        "Run the command again and share the new answer.",
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


# What cannot answer before the archive has loaded (help and subscriptions can).
NEEDS_ARCHIVE = frozenset(("search", "find", "week", "show", "top", "random", "preview", "post"))


def still_loading() -> Reply:
    return notice(
        "Still loading the archive",
        "Paperboy has just started and is still loading the papers; "
        "please try again in a few seconds.",
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
            reply = await self._dispatch(sub, rest, text, inv)
            return await self._with_pause_note(reply, inv)
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

    async def _with_pause_note(self, reply: Reply, inv: Invocation) -> Reply:
        """A private answer tells its asker, once, that their follow alerts are paused because
        their direct messages are closed (where the platform could not tell them at once)."""
        if not reply.message.ephemeral:
            return reply
        person = Person(inv.channel.platform, inv.channel.workspace, inv.user_id)
        try:
            reason = await self.ctx.store.claim_pause_notice(person)
        except Exception:
            log.warning("could not check for paused follows", exc_info=True)
            return reply
        if reason is None:
            return reply
        msg = reply.message
        context = (*msg.context, PAUSED_NOTE)
        return dataclasses.replace(reply, message=dataclasses.replace(msg, context=context))

    async def _dispatch(self, sub: str, rest: str, text: str, inv: Invocation) -> Reply:
        if sub in NEEDS_ARCHIVE and not self.ctx.ready():
            return still_loading()
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
        reply = await handler(self.ctx, rest, inv)
        return await self._offer_share(reply, text, inv) if shareable(reply, text) else reply

    async def _offer_share(self, reply: Reply, text: str, inv: Invocation) -> Reply:
        """Keep ``reply`` as shown (with its Share button) for ``share``. If it cannot be kept,
        the answer goes out without the button rather than not at all."""
        shown = with_share_button(reply, secrets.token_urlsafe(12))
        share_id = shown.message.buttons[-1].value
        now = self.ctx.clock.now()
        try:
            await self.ctx.store.save_share(
                Share(share_id, inv.channel, inv.user_id, shown, now, now + self.ctx.share_ttl)
            )
        except Exception:
            log.exception("could not keep an answer for sharing", extra={"command": text[:200]})
            return reply
        return shown

    async def share(self, channel: ChannelRef, share_id: str) -> Reply:
        """The answer kept under ``share_id``, exactly as shown but public (no share or paging
        buttons), to post to ``channel``; or, when it is unknown, expired or from another
        channel, a private note saying so. Never raises."""
        try:
            kept = await self.ctx.store.get_share(share_id) if _SHARE_ID.match(share_id) else None
        except Exception:
            log.exception("could not read a kept answer", extra={"share": share_id[:80]})
            return notice(
                "Sorry, something went wrong",
                "That answer could not be shared just now; please try again in a moment.",
            )
        if kept is None or kept.channel != channel or kept.expires_at <= self.ctx.clock.now():
            return cannot_share(self.ctx.share_ttl)
        reply = kept.reply
        return Reply(reply.message.public(), reply.paper_ids, reply.digest_key)

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """Autocomplete: (title within 100 characters, paper id) for at most 25 papers."""
        if not self.ctx.ready():
            return []
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
