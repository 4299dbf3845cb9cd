"""Atom and RSS 2.0 feeds, generated with ``feedgen``: the curated weeks (one entry per week,
its digest as the content), the community top ten per calendar week, and behind a channel's
private link what was posted in that channel.

Entry ids are tag URIs made of what never changes for an entry (a week's start date; a posted
message, hashed), never of ranks or votes, so a reordering updates an entry instead of adding
one. Readers such as Slack's RSS app reject duplicate or out-of-order dates: entries are sorted
newest first and every date is strictly older than the one before it, to the second (RSS dates
have no finer resolution). A feed's ``updated`` date is its newest entry's, so the same data
gives the same bytes, ETag and ``Last-Modified``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from feedgen.feed import FeedGenerator

from bot.core.messages import Message
from bot.core.weblinks import channel_path, top_path, week_path
from bot.delivery.digest import DigestOptions, community_message
from bot.papers.catalog import week_range_label
from bot.papers.model import Week
from bot.web.cache import Rendered
from bot.web.data import Ask, WebContext, midnight, monday_of, posted_message, week_digest
from bot.web.params import BadRequest
from bot.web.render import render

TAG = "tag:paperboy,2025:"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # ``updated`` of a feed with no entries
TYPES = {"atom": "application/atom+xml; charset=utf-8", "rss": "application/rss+xml; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    link: str
    updated: datetime
    content: str  # HTML


@dataclass(frozen=True, slots=True)
class FeedInfo:
    id: str
    title: str
    subtitle: str
    page: str  # the HTML page the feed belongs to (absolute)
    self_href: str  # the feed's own address (absolute)


def strictly_descending(entries: Sequence[Entry]) -> list[Entry]:
    """Newest first, with every date (whole seconds, UTC) strictly before the previous one's:
    a tie moves the older entry one second back. Deterministic for the same entries."""
    ordered = sorted(entries, key=lambda e: (e.updated, e.id), reverse=True)
    out: list[Entry] = []
    for entry in ordered:
        when = entry.updated.astimezone(UTC).replace(microsecond=0)
        if out and when >= out[-1].updated:
            when = out[-1].updated - timedelta(seconds=1)
        out.append(replace(entry, updated=when))
    return out


def build(fmt: str, info: FeedInfo, entries: Sequence[Entry]) -> bytes:
    """The feed as Atom (``fmt`` "atom") or RSS 2.0 ("rss") bytes."""
    items = strictly_descending(entries)
    fg = FeedGenerator()
    fg.id(info.id)
    fg.title(info.title)
    fg.subtitle(info.subtitle)  # RSS: the channel's description
    fg.link(href=info.page, rel="alternate")
    fg.link(href=info.self_href, rel="self")
    fg.language("en")
    fg.generator("Paperboy")
    fg.updated(items[0].updated if items else EPOCH)
    for item in items:
        fe = fg.add_entry(order="append")
        fe.id(item.id)
        fe.guid(item.id, permalink=False)
        fe.title(item.title)
        fe.link(href=item.link)
        fe.updated(item.updated)
        fe.published(item.updated)
        fe.content(item.content, type="html")
    data: bytes = fg.atom_str(pretty=False) if fmt == "atom" else fg.rss_str(pretty=False)
    return data


def _format(ask: Ask) -> str:
    fmt = ask.path["fmt"]
    if fmt not in TYPES:
        raise BadRequest("Feeds end in .atom or .rss.", status=404)
    return fmt


def _feed(fmt: str, info: FeedInfo, entries: Sequence[Entry], *, votes: bool) -> Rendered:
    body = build(fmt, info, entries)
    newest = max((e.updated for e in entries), default=EPOCH).replace(microsecond=0)
    return Rendered(body, TYPES[fmt], last_modified=newest, votes=votes)


def content(message: Message, origin: str) -> str:
    return render("message.html", message=message, origin=origin)


@lru_cache(maxsize=512)
def week_content(week: Week, opts: DigestOptions, origin: str) -> str:
    """A curated week's digest as HTML. Memoised by value: a week reads the same in the weeks
    feed and in every channel feed it was posted to, until its text changes."""
    return content(week_digest(week, opts), origin)


# -- the feeds ------------------------------------------------------------------------------------


async def weeks(web: WebContext, ask: Ask) -> Rendered:
    fmt = _format(ask)
    opts = web.options.digest
    entries = []
    for week in ask.catalog.weeks()[: web.options.feed_weeks]:
        entries.append(
            Entry(
                id=f"{TAG}week/{week.start.isoformat()}",
                title=f"Top papers of the week · {week_range_label(week)}",
                link=ask.origin + week_path(week.start),
                updated=midnight(week.start),
                content=week_content(week, opts, ask.origin),
            )
        )
    info = FeedInfo(
        id=f"{TAG}weeks",
        title="Paperboy: top papers of the week",
        subtitle="Every curated week, newest first: ten papers with summaries and links.",
        page=ask.origin + "/weeks",
        self_href=f"{ask.origin}/feeds/weeks.{fmt}",
    )
    return _feed(fmt, info, entries, votes=False)


async def top(web: WebContext, ask: Ask) -> Rendered:
    fmt = _format(ask)
    this_week = monday_of(web.clock.now().date())
    entries = []
    for back in range(web.options.feed_top_weeks):
        monday = this_week - timedelta(weeks=back)
        ranked, last = await web.top_week(ask.catalog, monday)
        if last is None or not ranked:
            continue
        sunday = monday + timedelta(days=6)
        label = f"{monday.strftime('%b %-d')} – {sunday.strftime('%b %-d, %Y')}"
        message = community_message(ranked, label, web.options.digest)
        entries.append(
            Entry(
                id=f"{TAG}top/{monday.isoformat()}",
                title=f"Community top {len(ranked)} · {label}",
                link=f"{ask.origin}/top?week={monday.isoformat()}",
                updated=last,
                content=content(replace(message, context=()), ask.origin),
            )
        )
    info = FeedInfo(
        id=f"{TAG}top",
        title="Paperboy: community top ten",
        subtitle="The most-voted papers of each week, Slack and Discord votes combined.",
        page=ask.origin + top_path("week"),
        self_href=f"{ask.origin}/feeds/top.{fmt}",
    )
    return _feed(fmt, info, entries, votes=True)


async def channel(web: WebContext, ask: Ask) -> Rendered:
    assert ask.channel is not None  # the site resolved the token
    fmt = _format(ask)
    opts = web.options.digest
    posted = await web.store.posted_in(ask.channel, web.options.channel_posts)
    entries = []
    for post in posted:
        # The message's identity, hashed: the feed shows no platform ids.
        key = f"{post.channel}/{post.message_id}".encode()
        kind, _, value = post.digest_key.partition(":")
        week = ask.catalog.week(value) if kind == "week" else None
        if week is not None and week.start.isoformat() == value:
            title = f"Top papers of the week · {week_range_label(week)}"
            path, html = week_path(week.start), week_content(week, opts, ask.origin)
        else:
            message = posted_message(ask.catalog, post, opts)
            title, path = message.header, channel_path(ask.token)
            html = content(message, ask.origin)
        entries.append(
            Entry(
                id=f"{TAG}posted/{hashlib.sha256(key).hexdigest()[:24]}",
                title=title,
                link=ask.origin + path,
                updated=post.posted_at,
                content=html,
            )
        )
    page = ask.origin + channel_path(ask.token)
    info = FeedInfo(
        id=f"{TAG}channel/{hashlib.sha256(str(ask.channel).encode()).hexdigest()[:24]}",
        title="Paperboy: posted in this channel",
        subtitle="The digests and papers Paperboy posted in this channel, newest first.",
        page=page,
        self_href=f"{page}/feed.{fmt}",
    )
    return _feed(fmt, info, entries, votes=True)


__all__ = [
    "TAG",
    "TYPES",
    "Entry",
    "FeedInfo",
    "build",
    "channel",
    "strictly_descending",
    "top",
    "weeks",
]
