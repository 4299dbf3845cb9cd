"""The HTML pages: ``/`` (the latest curated week), ``/weeks`` (every week, paged),
``/weeks/<date>``, ``/papers/<id>``, ``/search?q=``, ``/top?period=`` and a channel's private
``/c/<token>``. Each handler turns an ``Ask`` into a ``Rendered`` page; every page names the
feeds a reader (or Slack's RSS app) can find from its address."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from bot.core.messages import Message
from bot.core.text import truncate_words
from bot.core.weblinks import channel_path, paper_path, week_path
from bot.delivery.digest import source_url
from bot.papers.model import Week
from bot.web.cache import Rendered
from bot.web.data import Ask, WebContext, posted_message
from bot.web.params import (
    MAX_PAGE,
    MAX_REF,
    BadRequest,
    day,
    page_number,
    page_of,
    period,
    search_text,
)
from bot.web.render import render

HTML = "text/html; charset=utf-8"
PERIOD_LABELS = (("week", "Week"), ("month", "Month"), ("year", "Year"), ("all", "All time"))
PERIOD_SCOPES = {
    "week": "the last 7 days",
    "month": "the last 30 days",
    "year": "the last 365 days",
    "all": "all time",
}


@dataclass(frozen=True, slots=True)
class Feed:
    title: str
    href: str
    type: str


def public_feeds() -> tuple[Feed, ...]:
    return (
        Feed("Curated weeks (Atom)", "/feeds/weeks.atom", "application/atom+xml"),
        Feed("Curated weeks (RSS)", "/feeds/weeks.rss", "application/rss+xml"),
        Feed("Community top ten (Atom)", "/feeds/top.atom", "application/atom+xml"),
        Feed("Community top ten (RSS)", "/feeds/top.rss", "application/rss+xml"),
    )


def channel_feeds(token: str) -> tuple[Feed, ...]:
    base = channel_path(token)
    return (
        Feed("Posted in this channel (Atom)", f"{base}/feed.atom", "application/atom+xml"),
        Feed("Posted in this channel (RSS)", f"{base}/feed.rss", "application/rss+xml"),
    )


def page(
    template: str, *, shows_votes: bool = False, status: int = 200, **context: Any
) -> Rendered:
    """A rendered page; ``shows_votes``: it is cached for the vote TTL only."""
    context.setdefault("feeds", public_feeds())
    context.setdefault("nav", "")
    context.setdefault("query", "")
    html = render(template, **context)
    return Rendered(html.encode(), HTML, status=status, votes=shows_votes)


ERROR_TITLES = {404: "Not found", 414: "Address too long", 500: "Something went wrong"}


def error_page(status: int, message: str) -> Rendered:
    title = ERROR_TITLES.get(status, "Bad request")
    return page("error.html", status=status, title=title, message=message)


def redirect(location: str) -> Rendered:
    return Rendered(b"", HTML, status=301, location=location)


def not_found(message: str) -> BadRequest:
    return BadRequest(message, status=404)


# -- weeks ----------------------------------------------------------------------------------------


async def home(web: WebContext, ask: Ask) -> Rendered:
    return await _week_page(web, ask, ask.catalog.latest_week(), nav="home")


async def week(web: WebContext, ask: Ask) -> Rendered:
    when = day(ask.path["day"])
    if when is None:
        raise not_found("A week's address ends in its date, e.g. /weeks/2025-06-23.")
    found = ask.catalog.week(when)
    if found is None:
        raise not_found(f"No curated week covers {when.isoformat()}.")
    if found.start != when:
        return redirect(week_path(found.start))
    return await _week_page(web, ask, found, nav="")


async def _week_page(web: WebContext, ask: Ask, found: Week | None, *, nav: str) -> Rendered:
    if found is None:
        return page("week.html", title="No weeks yet", week=None, nav=nav)
    counts = await web.counts([p.paper_id for p in found.papers])
    older, newer = ask.catalog.neighbours(found)
    label = found.start.isoformat()
    return page(
        "week.html",
        title=f"Week of {label}",
        week=found,
        counts=counts,
        older=older,
        newer=newer,
        source_url=source_url(found),
        nav=nav,
        shows_votes=True,
    )


async def weeks(web: WebContext, ask: Ask) -> Rendered:
    shown = page_of(ask.catalog.weeks(), web.options.weeks_per_page, ask.query)
    return page(
        "weeks.html",
        title="Every week",
        weeks=shown.items,
        total=shown.total,
        page=shown.number,
        pages=shown.pages,
        nav="weeks",
    )


# -- papers and search ----------------------------------------------------------------------------


async def paper(web: WebContext, ask: Ask) -> Rendered:
    ref = ask.path["ref"]
    found = ask.catalog.get(ref) if len(ref) <= MAX_REF else None
    if found is None and len(ref) <= MAX_REF:
        found = ask.catalog.paper(ref)  # an arXiv id or an exact title finds it too
    if found is None:
        raise not_found("No paper in the archive has that id.")
    if found.paper_id != ref:
        return redirect(paper_path(found.paper_id))
    counts = await web.counts([found.paper_id])
    appearances = sorted(found.appearances, key=lambda a: a.week_start, reverse=True)
    return page(
        "paper.html",
        title=truncate_words(found.title, 80),
        paper=found,
        meta=web.arxiv.for_paper(found),
        appearances=appearances,
        votes=counts.get(found.paper_id, 0),
        shows_votes=True,
    )


async def search(web: WebContext, ask: Ask) -> Rendered:
    text = search_text(ask.query)
    number = page_number(ask.query, last=MAX_PAGE)
    if not text:
        return page("search.html", title="Search")
    per = web.options.results_per_page
    offset = (number - 1) * per
    # Off the event loop, as chat does: a search is a few milliseconds of SQLite work.
    result = await asyncio.to_thread(
        ask.catalog.search, text, limit=per, offset=offset, meta=web.arxiv.for_paper
    )
    notes = []
    if result.query.ignored:
        notes.append("Ignored: " + ", ".join(result.query.ignored) + ".")
    if result.relaxed:
        notes.append("No paper matched every word; these match some of them.")

    def at(n: int) -> str:
        return "/search?" + urlencode({"q": text, "page": n})

    return page(
        "search.html",
        title=f"Search: {truncate_words(text, 60)}",
        query=text,
        hits=result.hits,
        page=number,
        first=offset + 1,
        last=offset + len(result.hits),
        notes=notes,
        prev_href=at(number - 1) if number > 1 else None,
        next_href=at(number + 1) if result.has_more and number < MAX_PAGE else None,
    )


# -- leaderboards ---------------------------------------------------------------------------------


async def top(web: WebContext, ask: Ask) -> Rendered:
    board = await web.board(ask.catalog, ask.query)
    if board.monday is not None:
        span = f"{board.monday.isoformat()} – {board.sunday}"
        scope = f"Votes cast {span} (UTC), every platform."
    else:
        scope = f"Votes cast in {PERIOD_SCOPES[board.period]}, Slack and Discord combined."
    return page(
        "top.html",
        title="Most voted papers",
        heading="Most voted papers",
        periods=PERIOD_LABELS,
        period=board.period,
        week=board.monday,
        base_path="/top",
        scope=scope,
        items=board.items,
        nav="top",
        shows_votes=True,
    )


@dataclass(frozen=True, slots=True)
class Post:
    message: Message
    at: datetime


async def channel(web: WebContext, ask: Ask) -> Rendered:
    assert ask.channel is not None  # the site resolved the token
    chosen = period(ask.query)
    items = await web.top(ask.catalog, chosen, ask.channel)
    posted = await web.store.posted_in(ask.channel, web.options.channel_posts)
    opts = web.options.digest
    posts = [Post(posted_message(ask.catalog, p, opts), p.posted_at) for p in posted]
    return page(
        "channel.html",
        title="This channel",
        periods=PERIOD_LABELS,
        period=chosen,
        base_path=channel_path(ask.token),
        items=items,
        posts=posts,
        feeds=channel_feeds(ask.token) + public_feeds(),
        shows_votes=True,
    )


__all__ = [
    "HTML",
    "Feed",
    "channel",
    "error_page",
    "home",
    "paper",
    "search",
    "top",
    "week",
    "weeks",
]
