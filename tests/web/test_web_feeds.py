"""Atom and RSS feeds, parsed with feedparser, on SQLite and PostgreSQL: every feed is valid,
entry ids are unique and survive a vote reordering, dates run strictly newest-first without
repeats (also when posts share a timestamp), a repeated conditional request gets 304, hostile
text stays inert, and absolute links never come from another request's Host header."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from typing import Any

import feedparser
import lxml.html
import pytest
from support.web import HOSTILE, NOW, PAYLOAD_TAGS, SLACK, Web, serve

from bot.core.messages import ChannelRef
from bot.core.weblinks import new_token
from bot.storage import Store
from bot.storage.records import PostedDigest, Vote

FORMATS = ("atom", "rss")
VERSIONS = {"atom": "atom10", "rss": "rss20"}


async def fetch(web: Web, path: str, **headers: str) -> Any:
    resp = await web.client.get(path, headers=headers)
    assert resp.status == 200, (path, resp.status, await resp.text())
    fmt = path.rsplit(".", 1)[1]
    assert resp.headers["Content-Type"] == f"application/{fmt}+xml; charset=utf-8"
    parsed = feedparser.parse(await resp.read())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == VERSIONS[fmt]
    return parsed


def dates(parsed: Any) -> list[float]:
    key = "updated_parsed" if parsed.version == "atom10" else "published_parsed"
    return [time.mktime(e[key]) for e in parsed.entries]


def check_ids_and_dates(parsed: Any) -> None:
    ids = [e.id for e in parsed.entries]
    assert len(ids) == len(set(ids)), ids
    when = dates(parsed)
    assert all(a > b for a, b in itertools.pairwise(when)), when


async def channel_token(store: Store, channel: ChannelRef = SLACK) -> str:
    token = new_token()
    await store.set_feed_token(channel, token, NOW)
    return token


# --- every feed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_every_feed_parses_with_unique_ids_and_strictly_descending_dates(
    web_site: Web, fmt: str
) -> None:
    token = await channel_token(web_site.store)
    for path in (f"/feeds/weeks.{fmt}", f"/feeds/top.{fmt}", f"/c/{token}/feed.{fmt}"):
        parsed = await fetch(web_site, path)
        assert parsed.entries, path
        check_ids_and_dates(parsed)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_the_weeks_feed_has_one_entry_per_week_with_its_digest(
    web_site: Web, fmt: str
) -> None:
    parsed = await fetch(web_site, f"/feeds/weeks.{fmt}")
    weeks = web_site.catalog.weeks()
    assert [e.id for e in parsed.entries] == [f"tag:paperboy,2025:week/{w.start}" for w in weeks]
    origin = str(web_site.client.make_url("")).rstrip("/")
    assert [e.link for e in parsed.entries] == [f"{origin}/weeks/{w.start}" for w in weeks]
    newest_shipped = parsed.entries[1]
    assert newest_shipped.title.startswith("Top papers of the week · Jun 30")
    html = newest_shipped.content[0].value if fmt == "atom" else newest_shipped.description
    doc = lxml.html.fromstring(html)
    titles = [" ".join(a.text_content().split()) for a in doc.cssselect("li > p > strong")]
    assert titles == [p.title for p in weeks[1].papers]
    assert parsed.feed.title == "Paperboy: top papers of the week"


async def test_a_feed_names_the_base_url_when_configured(store: Store) -> None:
    async with serve(store, base_url="https://papers.example.org") as web:
        parsed = await fetch(web, "/feeds/weeks.atom")
        assert parsed.entries[0].link.startswith("https://papers.example.org/weeks/")
        assert parsed.feed.links[1].href == "https://papers.example.org/feeds/weeks.atom"


async def test_another_requests_host_header_never_reaches_a_cached_feed(web_site: Web) -> None:
    evil = await fetch(web_site, "/feeds/weeks.atom", Host="evil.example")
    assert evil.entries[0].link.startswith("http://evil.example/")
    mine = await fetch(web_site, "/feeds/weeks.atom")
    assert not any("evil.example" in e.link for e in mine.entries)
    junk = await fetch(web_site, "/feeds/weeks.atom", Host="a b<script>")
    assert junk.entries[0].link.startswith("http://localhost/")


# --- stable ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_ids_stay_when_votes_reorder_the_community_top_ten(web_site: Web, fmt: str) -> None:
    path = f"/feeds/top.{fmt}"
    before = await fetch(web_site, path)
    week = web_site.newest_shipped()
    third = week.papers[2]
    body = before.entries[0].content[0].value if fmt == "atom" else before.entries[0].description
    assert body.index(week.papers[0].title) < body.index(third.title)
    for i in range(5):  # five new voters make the third paper the most voted
        vote = Vote(SLACK, "1752600000.000100", f"U0NEW{i}", "3️⃣", third.paper_id, NOW)
        await web_site.store.add_vote(vote)
    await web_site.clock.advance(timedelta(seconds=11))  # past the cache TTL
    after = await fetch(web_site, path)
    assert [e.id for e in after.entries] == [e.id for e in before.entries]
    body = after.entries[0].content[0].value if fmt == "atom" else after.entries[0].description
    assert body.index(third.title) < body.index(week.papers[0].title)
    check_ids_and_dates(after)


async def test_top_feed_entries_are_calendar_weeks_dated_by_their_newest_vote(
    web_site: Web,
) -> None:
    early = web_site.newest_shipped().papers[4].paper_id
    # A vote two weeks earlier makes a second entry.
    await web_site.store.add_vote(
        Vote(SLACK, "1752600000.000100", "U0OLD", "5️⃣", early, NOW - timedelta(days=14))
    )
    parsed = await fetch(web_site, "/feeds/top.atom")
    assert [e.id for e in parsed.entries] == [
        "tag:paperboy,2025:top/2025-07-14",
        "tag:paperboy,2025:top/2025-06-30",
    ]
    assert parsed.entries[0].updated == "2025-07-16T12:00:00+00:00"  # the newest vote
    assert parsed.entries[1].link.endswith("/top?week=2025-06-30")


async def test_channel_feed_dates_are_unique_even_for_posts_at_the_same_instant(
    web_site: Web,
) -> None:
    ids = tuple(p.paper_id for p in web_site.newest_shipped().papers[:3])
    for n in range(3):  # three shares in the same second
        await web_site.store.record_posted(
            PostedDigest(SLACK, f"1752650000.00030{n}", "share", ids[n : n + 1], NOW)
        )
    token = await channel_token(web_site.store)
    for fmt in FORMATS:
        parsed = await fetch(web_site, f"/c/{token}/feed.{fmt}")
        assert len(parsed.entries) == 5
        check_ids_and_dates(parsed)
        assert len({e.id for e in parsed.entries}) == 5
    again = await fetch(web_site, f"/c/{token}/feed.atom")
    assert [e.id for e in again.entries] == [e.id for e in parsed.entries]


# --- conditional requests ------------------------------------------------------------------------


@pytest.mark.parametrize("feed", ["/feeds/weeks.atom", "/feeds/weeks.rss", "/feeds/top.atom"])
async def test_a_repeated_conditional_request_gets_304(web_site: Web, feed: str) -> None:
    first = await web_site.client.get(feed)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = await web_site.client.get(feed, headers={"If-None-Match": etag})
    assert (again.status, await again.read()) == (304, b"")
    assert again.headers["ETag"] == etag
    since = await web_site.client.get(feed, headers={"If-Modified-Since": modified})
    assert since.status == 304
    older = await web_site.client.get(
        feed, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert older.status == 200
    # A re-render of the same data (after the cache expired) keeps the tag.
    await web_site.clock.advance(timedelta(seconds=60))
    rerendered = await web_site.client.get(feed, headers={"If-None-Match": etag})
    assert rerendered.status == 304


async def test_the_private_feed_also_answers_304(web_site: Web) -> None:
    token = await channel_token(web_site.store)
    first = await web_site.client.get(f"/c/{token}/feed.rss")
    again = await web_site.client.get(
        f"/c/{token}/feed.rss", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status == 304


# --- safety --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_hostile_text_in_a_feed_entry_stays_text(web_site: Web, fmt: str) -> None:
    parsed = await fetch(web_site, f"/feeds/weeks.{fmt}")
    entry = parsed.entries[0]  # the hostile week
    html = entry.content[0].value if fmt == "atom" else entry.description
    doc = lxml.html.fromstring(html)
    for tag in PAYLOAD_TAGS:
        assert doc.cssselect(tag) == [], tag
    for element in doc.iter():
        assert not [a for a in element.attrib if a.lower().startswith("on")]
    hrefs = [a.get("href") for a in doc.cssselect("a")]
    assert hrefs and all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert HOSTILE[0].title in doc.text_content()


async def test_an_unknown_feed_format_is_not_found(web_site: Web) -> None:
    resp = await web_site.client.get("/feeds/weeks.json")
    assert resp.status == 404
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
