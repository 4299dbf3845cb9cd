"""``/papers top [week|month|year|all|<date>] [here|workspace]``: the community leaderboard.

Only the words are parsed here; what a window or a scope means (and which votes count) is
``bot.chat.votes``: ``parse_window``, ``SCOPES`` and ``VoteService.leaderboard``.
"""

from __future__ import annotations

from datetime import date

from bot.chat.context import CommandContext, notice
from bot.chat.votes import SCOPES, WINDOWS, Level, parse_window
from bot.core.messages import Invocation, Message, Reply, Section
from bot.core.text import plural, truncate_words

LIMIT = 10


def parse_top(rest: str) -> tuple[str | date, Level] | str:
    """(window, level) from the words after ``top`` (the last of each kind wins; defaults:
    all time, everywhere), or the first word that is neither."""
    window: str | date = "all"
    level: Level = "all"
    for token in rest.lower().split():
        if token in SCOPES:
            level = SCOPES[token]
            continue
        try:
            window = parse_window(token)
        except ValueError:
            return token
    return window, level


_WHERE = {"channel": " in this channel", "workspace": " in this workspace"}


def describe(window: str | date, level: Level) -> str:
    """The period and place a leaderboard covers, as shown in its header."""
    if isinstance(window, date):
        label = f"since {window.isoformat()}"
    else:
        span = WINDOWS[window]
        label = "all time" if span is None else f"the last {span.days} days"
    return label + _WHERE.get(level, "")


def _when(window: str | date) -> str:
    """The period inside a sentence: "yet", "in the last 7 days", "since 2025-06-01"."""
    if isinstance(window, date):
        return f"since {window.isoformat()}"
    span = WINDOWS[window]
    return "yet" if span is None else f"in the last {span.days} days"


async def top(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    parsed = parse_top(rest)
    if isinstance(parsed, str):
        return notice(
            "Which period?",
            f"“{truncate_words(parsed, 30)}” is not a period. Use week, month, year, "
            "all or a date (2025-06-01), optionally with here or workspace.",
        )
    window, level = parsed
    entries = await ctx.vote_service.leaderboard(
        window, channel=inv.channel, level=level, limit=LIMIT
    )
    cat = ctx.catalog()
    ranked = [(p, e.votes) for e in entries if (p := cat.get(e.paper_id)) is not None]
    label = describe(window, level)
    if not ranked:
        return notice(
            "No votes yet",
            f"Nobody has voted {_when(window)}{_WHERE.get(level, '')}. "
            "React 1️⃣–🔟 on a posted digest to vote.",
        )
    sections = tuple(
        Section(title=p.title, url=p.url, body=plural(votes, "vote"), rank=i, paper_id=p.paper_id)
        for i, (p, votes) in enumerate(ranked, start=1)
    )
    key = window.isoformat() if isinstance(window, date) else window
    return Reply(
        Message(header=f"🏆 Most voted papers, {label}", sections=sections),
        paper_ids=tuple(p.paper_id for p, _ in ranked),
        digest_key=f"top:{key}",
    )
