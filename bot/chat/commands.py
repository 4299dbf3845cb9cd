"""``/papers ...``: parsed and answered once, as neutral Messages, for every platform.

Nothing here knows which platform it is on. Every answer is a ``Reply``; bad input of any kind
(unknown subcommands, empty or huge queries, FTS syntax, mention syntax) gets a helpful Reply,
never an exception. User-facing text lives here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.core.messages import Button, ChannelRef, Field, Invocation, Message, Reply, Section
from bot.core.text import plural, truncate_words
from bot.delivery.digest import DigestBuilder, DigestOptions, paper_section, week_message
from bot.papers.catalog import Catalog, week_range_label
from bot.papers.model import CatalogPaper
from bot.papers.search import SearchPage
from bot.storage.records import PostedDigest, Subscription

if TYPE_CHECKING:
    from bot.core.clock import Clock
    from bot.delivery.engine import DeliveryEngine
    from bot.ops.metrics import Metrics
    from bot.storage.base import Store

log = logging.getLogger("paperboy.commands")

PAGE_SIZE = 5
MAX_COMMAND_CHARS = 500
DEFAULT_CRON = "0 9 * * MON"
ADMIN_SUBCOMMANDS = ("subscribe", "unsubscribe", "schedule", "preview", "post")
LOOKUP_SUBCOMMANDS = ("search", "week", "show", "top", "random", "help")
KNOWN_SUBCOMMANDS = frozenset((*LOOKUP_SUBCOMMANDS, *ADMIN_SUBCOMMANDS, "find"))
WINDOWS = {"week": 7, "month": 30, "year": 365}

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
)


@dataclass
class CommandContext:
    """Everything commands need, wired by the app. ``catalog`` is a getter: refresh swaps it."""

    catalog: Callable[[], Catalog]
    store: Store
    clock: Clock
    digests: DigestBuilder
    engine: DeliveryEngine | None = None
    default_timezone: str = "UTC"
    on_subscriptions_changed: Callable[[], None] = lambda: None
    metrics: Metrics | None = None
    rng: random.Random = field(default_factory=random.Random)


def admin_command(platform: str) -> str:
    """How admins type admin subcommands: Discord hides them in their own ``/papers-admin``
    command (Discord applies default permissions per top-level command only)."""
    return "/papers-admin" if platform == "discord" else "/papers"


def _notice(header: str, text: str = "", *, context: tuple[str, ...] = ()) -> Reply:
    return Reply(Message(header=header, text=text, context=context, kind="notice"))


class Commands:
    """Implements ``bot.platforms.base.CommandHandler``."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx

    @property
    def opts(self) -> DigestOptions:
        return self.ctx.digests.opts

    # -- entry points ------------------------------------------------------------------------------

    async def handle(self, inv: Invocation) -> Reply:
        started = time.perf_counter()
        sub = "?"
        try:
            text = " ".join(inv.text.split())
            if len(text) > MAX_COMMAND_CHARS:
                return _notice(
                    "That command is too long",
                    f"It has {len(inv.text):,} characters; keep it under {MAX_COMMAND_CHARS}. "
                    "Try a few distinctive words, e.g. `/papers search sparse attention`.",
                )
            sub, _, rest = text.partition(" ")
            sub = sub.lower() or "help"
            if sub in ADMIN_SUBCOMMANDS:
                if not inv.is_admin:
                    return _notice(
                        "That one is for admins",
                        f"Only admins can use `{admin_command(inv.channel.platform)} {sub}`. "
                        "Ask an admin of this "
                        "workspace or server, or try `/papers help`.",
                    )
                return await self._admin(sub, rest, inv)
            handler = {
                "search": self.search,
                "find": self.search,
                "week": self.week,
                "show": self.show,
                "top": self.top,
                "random": self.random,
                "help": self.help,
            }.get(sub)
            if handler is None:
                return self._unknown(sub, inv)
            reply = await handler(rest, inv)
            return self._with_share(reply, text)
        except Exception:
            log.exception("command failed", extra={"command": inv.text[:200]})
            return _notice(
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

    def _with_share(self, reply: Reply, text: str) -> Reply:
        """Private lookups carry a button that posts the same answer to the channel."""
        msg = reply.message
        if not msg.ephemeral or msg.kind != "reply" or not (msg.sections or msg.fields):
            return reply
        if text.split(" ", 1)[0].lower() == "help":
            return reply
        share = Button("Share to channel", action="share", value=text)
        return Reply(
            Message(
                header=msg.header,
                url=msg.url,
                text=msg.text,
                sections=msg.sections,
                fields=msg.fields,
                context=msg.context,
                buttons=(*msg.buttons, share),
                kind=msg.kind,
                ephemeral=True,
            ),
            paper_ids=reply.paper_ids,
            digest_key=reply.digest_key,
        )

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        out = []
        for p in self.ctx.catalog().suggest(prefix[:200], limit=min(limit, 25)):
            out.append((truncate_words(p.title, 100), p.paper_id))
        return out

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
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

    # -- lookups -----------------------------------------------------------------------------------

    async def help(self, rest: str, inv: Invocation) -> Reply:
        fields = [Field(f"/papers {usage}", what) for usage, what in HELP_LINES]
        if inv.is_admin:
            admin = admin_command(inv.channel.platform)
            fields += [
                Field(f"{admin} {usage}", f"(admin) {what}") for usage, what in ADMIN_HELP_LINES
            ]
        cat = self.ctx.catalog()
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

    def _unknown(self, sub: str, inv: Invocation) -> Reply:
        from difflib import get_close_matches

        known = LOOKUP_SUBCOMMANDS + (ADMIN_SUBCOMMANDS if inv.is_admin else ())
        close = get_close_matches(sub, known, n=1)
        hint = f" Did you mean `/papers {close[0]}`?" if close else ""
        shown = truncate_words(sub, 40)
        return _notice(
            "I don't know that command",
            f"`{shown}` is not a /papers command.{hint} "
            f"Commands: {', '.join(known)}. `/papers help` explains each.",
        )

    async def search(self, rest: str, inv: Invocation) -> Reply:
        words, page = _take_page(rest)
        if not words.strip():
            return _notice(
                "What should I look for?",
                "Give a few words, e.g. `/papers search diffusion language models`. "
                "Filters: year:2024, week:2025-06-23, has:code, arxiv:2301.04104.",
            )
        offset = (page - 1) * PAGE_SIZE
        # Off the event loop: a search is a few ms of SQLite work, and acks must stay fast.
        result = await asyncio.to_thread(
            self.ctx.catalog().search, words, limit=PAGE_SIZE, offset=offset
        )
        return self._search_reply(words, page, result)

    def _search_reply(self, words: str, page: int, result: SearchPage) -> Reply:
        shown = truncate_words(words, 80)
        notes = []
        if result.query.ignored:
            notes.append(f"Ignored: {', '.join(result.query.ignored)}.")
        if result.relaxed:
            notes.append("No paper matched every word; these match some of them.")
        if not result.hits:
            text = (
                f"No papers match “{shown}”."
                if page == 1
                else f"No more results for “{shown}” (page {page})."
            )
            return _notice("No results", " ".join([text, *notes, "Try fewer or other words."]))
        # Ranks restart on every page: a shared page is voted on with 1️⃣..5️⃣.
        sections = tuple(self._paper_hit(h.paper, i) for i, h in enumerate(result.hits, start=1))
        buttons: list[Button] = []
        if page > 1:
            buttons.append(
                Button("◀ Previous", action="page", value=f"search {words} page:{page - 1}")
            )
        if result.has_more:
            buttons.append(Button("Next ▶", action="page", value=f"search {words} page:{page + 1}"))
        first = result.offset + 1
        last = result.offset + len(result.hits)
        return Reply(
            Message(
                header=f"🔎 Papers matching “{shown}”",
                text=" ".join(notes),
                sections=sections,
                context=(f"Results {first}–{last} · page {page}",),
                buttons=tuple(buttons),
            ),
            paper_ids=tuple(h.paper.paper_id for h in result.hits),
            digest_key=f"search:{words}",
        )

    def _paper_hit(self, paper: CatalogPaper, n: int) -> Section:
        s = paper_section(
            paper, None, DigestOptions(summary_length=200, bullets=False, links=self.opts.links)
        )
        newest = max(paper.appearances, key=lambda a: a.week_start, default=None)
        where = f" · week of {newest.week_start.isoformat()} #{newest.rank}" if newest else ""
        return Section(
            title=s.title,
            url=s.url,
            body=s.body,
            rank=n,
            links=s.links,
            paper_id=paper.paper_id,
            bullets=(f"id {paper.paper_id}{where}",),
        )

    async def week(self, rest: str, inv: Invocation) -> Reply:
        cat = self.ctx.catalog()
        spec = rest.strip() or "latest"
        if spec.lower() not in ("latest", "last", "this", "current"):
            try:
                day = date.fromisoformat(spec)
            except ValueError:
                return _notice(
                    "Which week?",
                    f"“{truncate_words(spec, 40)}” is not a date. Use `/papers week latest` or a "
                    "date like `/papers week 2025-06-23` (any day inside the week).",
                )
            week = cat.week(day)
            if week is None:
                weeks = cat.weeks()
                span = (
                    f" The archive covers {weeks[-1].start.isoformat()} to "
                    f"{weeks[0].end.isoformat()}."
                    if weeks
                    else ""
                )
                return _notice("No week there", f"No curated week covers {day.isoformat()}.{span}")
        else:
            week = cat.latest_week()
            if week is None:
                return _notice("No weeks yet", "The archive has no curated weeks loaded yet.")
        msg = week_message(week, self.opts, kind="reply")
        older, newer = cat.neighbours(week)
        buttons = []
        if older is not None:
            buttons.append(
                Button("◀ Older", action="page", value=f"week {older.start.isoformat()}")
            )
        if newer is not None:
            buttons.append(
                Button("Newer ▶", action="page", value=f"week {newer.start.isoformat()}")
            )
        msg = Message(
            header=msg.header,
            url=msg.url,
            sections=msg.sections,
            context=("React 1️⃣–🔟 on a shared week to vote.",),
            buttons=tuple(buttons),
        )
        return Reply(
            msg,
            paper_ids=tuple(p.paper_id for p in week.papers[: self.opts.max_papers]),
            digest_key=week.key,
        )

    async def show(self, rest: str, inv: Invocation) -> Reply:
        ref = rest.strip()
        if not ref:
            return _notice(
                "Which paper?",
                "Give a paper id, an arXiv id or a title, e.g. `/papers show 1706.03762`.",
            )
        cat = self.ctx.catalog()
        paper = cat.paper(ref)
        if paper is None:
            close = cat.suggest(ref, limit=5)
            if len(close) == 1 or (close and _norm(close[0].title) == _norm(ref)):
                paper = close[0]
            else:
                text = f"No paper matches “{truncate_words(ref, 60)}”."
                if close:
                    text += " Did you mean one of these?"
                return Reply(
                    Message(
                        header="Paper not found",
                        text=text,
                        sections=tuple(
                            Section(title=p.title, url=p.url, bullets=(f"id {p.paper_id}",))
                            for p in close
                        ),
                        kind="notice",
                    )
                )
        return await self._paper_reply(paper)

    async def _paper_reply(self, paper: CatalogPaper, header: str = "") -> Reply:
        s = paper_section(paper, None, DigestOptions(summary_length=900, bullets=True, links=()))
        weeks = sorted(paper.appearances, key=lambda a: a.week_start, reverse=True)
        seen = ", ".join(f"{a.week_start.isoformat()} (#{a.rank})" for a in weeks[:6]) + (
            f" and {len(weeks) - 6} more" if len(weeks) > 6 else ""
        )
        fields = [Field("Paper id", paper.paper_id)]
        if paper.arxiv_id:
            fields.append(Field("arXiv", paper.arxiv_id))
        if seen:
            fields.append(Field("In the weekly top ten", seen))
        return Reply(
            Message(
                header=header or "📄 " + truncate_words(paper.title, 140),
                sections=(s,),
                fields=tuple(fields),
                context=("React 👍 on a shared paper to vote for it.",),
            ),
            paper_ids=(paper.paper_id,),
            digest_key=f"paper:{paper.paper_id}",
        )

    async def random(self, rest: str, inv: Invocation) -> Reply:
        paper = self.ctx.catalog().random_paper(self.ctx.rng)
        if paper is None:
            return _notice("The archive is empty", "No papers are loaded yet.")
        return await self._paper_reply(paper, header="🎲 " + truncate_words(paper.title, 140))

    async def top(self, rest: str, inv: Invocation) -> Reply:
        window, scope, since, label = "all", "everywhere", None, "all time"
        now = self.ctx.clock.now()
        for token in rest.lower().split():
            if token in WINDOWS:
                window, since = token, now - timedelta(days=WINDOWS[token])
                label = f"the last {WINDOWS[token]} days"
            elif token == "all":
                window, since, label = "all", None, "all time"
            elif token in ("here", "channel", "workspace", "server", "guild", "everywhere"):
                scope = token
            else:
                try:
                    day = date.fromisoformat(token)
                except ValueError:
                    return _notice(
                        "Which period?",
                        f"“{truncate_words(token, 30)}” is not a period. Use week, month, year, "
                        "all or a date (2025-06-01), optionally with here or workspace.",
                    )
                since = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
                window, label = day.isoformat(), f"since {day.isoformat()}"
        kwargs: dict[str, str] = {}
        if scope in ("here", "channel"):
            kwargs = {
                "platform": inv.channel.platform,
                "workspace": inv.channel.workspace,
                "channel": inv.channel.channel,
            }
            label += " in this channel"
        elif scope in ("workspace", "server", "guild"):
            kwargs = {"platform": inv.channel.platform, "workspace": inv.channel.workspace}
            label += " in this workspace"
        entries = await self.ctx.store.leaderboard(since=since, limit=10, **kwargs)
        cat = self.ctx.catalog()
        ranked = [(p, e.votes) for e in entries if (p := cat.get(e.paper_id)) is not None]
        if not ranked:
            return _notice(
                "No votes yet",
                f"Nobody has voted for {label}. React 1️⃣–🔟 on a posted digest to vote.",
            )
        sections = tuple(
            Section(
                title=p.title,
                url=p.url,
                body=f"{plural(votes, 'vote')}",
                rank=i,
                paper_id=p.paper_id,
            )
            for i, (p, votes) in enumerate(ranked, start=1)
        )
        return Reply(
            Message(header=f"🏆 Most voted papers, {label}", sections=sections),
            paper_ids=tuple(p.paper_id for p, _ in ranked),
            digest_key=f"top:{window}",
        )

    # -- admin -------------------------------------------------------------------------------------

    async def _admin(self, sub: str, rest: str, inv: Invocation) -> Reply:
        if sub == "subscribe":
            return await self.subscribe(rest, inv)
        current = await self.ctx.store.get_subscription(inv.channel)
        if sub == "unsubscribe":
            if await self.ctx.store.delete_subscription(inv.channel):
                self.ctx.on_subscriptions_changed()
                return _notice("Unsubscribed", "This channel will get no more scheduled digests.")
            return _notice("Not subscribed", "This channel has no digest subscription.")
        if current is None:
            return _notice(
                "Not subscribed",
                "This channel has no digest subscription. Start one with "
                f"`{admin_command(inv.channel.platform)} subscribe {DEFAULT_CRON} "
                f"{self.ctx.default_timezone}`.",
            )
        if sub == "schedule":
            return _notice("Digest schedule", self._describe(current))
        if sub == "preview":
            digest = await self.ctx.digests.next_digest(
                current,
                await self.ctx.store.sent_digest_keys(current.id or 0),
                self.ctx.clock.now(),
            )
            if digest is None:
                return _notice(
                    "Nothing new to post",
                    "The newest digest was already posted here (or there are no votes yet for a "
                    "community digest). The next run will post nothing unless a new week arrives.",
                )
            m = digest.message
            return Reply(
                Message(
                    header="Preview · " + m.header,
                    url=m.url,
                    sections=m.sections,
                    context=("Only you can see this preview.",),
                    kind="reply",
                ),
                paper_ids=digest.paper_ids,
            )
        # post
        if self.ctx.engine is None:
            return _notice("Posting is not available", "The delivery engine is not running.")
        outcome = await self.ctx.engine.deliver(current)
        return _notice("Post now", _describe_outcome(outcome.status, outcome.error))

    async def subscribe(self, rest: str, inv: Invocation) -> Reply:
        from bot.config.checks import validate_cron, validate_timezone

        try:
            tokens = shlex.split(rest)
        except ValueError:
            tokens = rest.replace('"', " ").replace("'", " ").split()
        kind = "curated"
        tz: str | None = None
        cron_parts: list[str] = []
        for t in tokens:
            if t.lower() in ("curated", "community"):
                kind = t.lower()
            elif ("/" in t and not t[0].isdigit() and t[0] != "*") or t in ("UTC", "GMT"):
                tz = t
            else:
                cron_parts.extend(t.split())
        current = await self.ctx.store.get_subscription(inv.channel)
        cron = " ".join(cron_parts) or (current.cron if current else DEFAULT_CRON)
        tz = tz or (current.timezone if current else self.ctx.default_timezone)
        problem = validate_cron(cron)
        if problem is not None:
            return _notice(
                "That schedule is not valid",
                f"`{truncate_words(cron, 60)}` is not a valid cron expression: {problem}. "
                f"Example: `{admin_command(inv.channel.platform)} subscribe {DEFAULT_CRON} "
                "Europe/London` (Mondays 09:00).",
            )
        if not validate_timezone(tz):
            return _notice(
                "Unknown timezone",
                f"`{truncate_words(tz, 60)}` is not a known IANA timezone, "
                "e.g. Europe/London, America/New_York, Asia/Tokyo or UTC.",
            )
        sub = await self.ctx.store.upsert_subscription(
            Subscription(
                inv.channel,
                cron,
                tz,
                "community" if kind == "community" else "curated",
                enabled=True,
                paused_reason=None,
                last_fire_at=current.last_fire_at if current else None,
            )
        )
        if current is not None and not current.enabled:
            await self.ctx.store.set_paused(sub.id or 0, None)
        self.ctx.on_subscriptions_changed()
        return _notice("Subscribed", self._describe(sub))

    def _describe(self, sub: Subscription) -> str:
        from bot.delivery.scheduler import next_fire

        state = "active" if sub.enabled else f"paused ({sub.paused_reason or 'no reason given'})"
        nxt = next_fire(sub.cron, sub.timezone, self.ctx.clock.now())
        local = nxt.astimezone(ZoneInfo(sub.timezone))
        return (
            f"{sub.kind.capitalize()} digest, `{sub.cron}` in {sub.timezone}, {state}. "
            f"Next run: {local.strftime('%a %d %b %Y %H:%M')} {local.tzname()}."
        )


def _describe_outcome(status: str, error: str | None) -> str:
    return {
        "sent": "Posted this week's digest here.",
        "reconciled": "This week's digest was already posted here (found it); not posting again.",
        "already_sent": "This week's digest was already posted here; it is never posted twice.",
        "nothing_new": "Nothing new to post: the newest digest was already posted here.",
        "paused": f"Could not post: the subscription is paused ({error or 'no reason'}).",
    }.get(status, f"Could not post right now ({error or status}); it will be retried.")


def _take_page(rest: str) -> tuple[str, int]:
    words: list[str] = []
    page = 1
    tokens = rest.split()
    i = 0
    while i < len(tokens):
        t = tokens[i]
        low = t.lower()
        if low.startswith("page:") and low[5:].isdigit():
            page = int(low[5:])
        elif low in ("--page", "-p") and i + 1 < len(tokens) and tokens[i + 1].isdigit():
            page = int(tokens[i + 1])
            i += 1
        else:
            words.append(t)
        i += 1
    return " ".join(words), max(1, min(page, 200))


def _norm(s: str) -> str:
    from bot.papers.model import normalize_title

    return normalize_title(s)
