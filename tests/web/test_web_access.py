"""Who sees what, on SQLite and PostgreSQL. A channel's page, leaderboard and feed answer only
at the link ``/papers feed`` printed in that channel: any other token (unknown, malformed,
another shape, or rotated away, even one whose page was cached) gets the same 404. No page,
feed or API answer ever shows a workspace, channel, user or message id."""

from __future__ import annotations

import lxml.html
import pytest
from support.clock import FakeClock
from support.web import DISCORD, NOW, SLACK, Web

from bot.chat.commands import CommandContext, Commands
from bot.core.messages import ChannelRef, Invocation
from bot.core.weblinks import new_token
from bot.delivery.digest import DigestBuilder

BASE = "https://papers.example.org"
PRIVATE = ("", "/feed.atom", "/feed.rss")
# Everything the seeded data knows about who and where (support.web.seed).
IDENTIFIERS = (
    SLACK.workspace,
    SLACK.channel,
    DISCORD.workspace,
    DISCORD.channel,
    "U0VOTER01",
    "U0VOTER02",
    "U0VOTER03",
    "U0VOTER04",
    "770000000000000001",
    "770000000000000002",
    "1752600000.000100",
    "1752600000.000200",
    "1390000000000000001",
)


def commands(web: Web) -> Commands:
    catalog = web.catalog
    return Commands(
        CommandContext(
            catalog=lambda: catalog,
            store=web.store,
            clock=FakeClock(NOW),
            digests=DigestBuilder(lambda: catalog, web.store),
            web_base_url=BASE,
        )
    )


async def feed_link(web: Web, text: str = "feed", channel: ChannelRef = SLACK) -> str:
    """``/papers <text>`` by an admin in ``channel``: the printed page address, made local."""
    reply = await commands(web).handle(Invocation(channel, "U0ADMIN", text, is_admin=True))
    page = {f.name: f.value for f in reply.message.fields}["Page"]
    assert page.startswith(BASE + "/c/")
    return page.removeprefix(BASE)


async def body(web: Web, path: str, status: int) -> str:
    resp = await web.client.get(path)
    text = await resp.text()
    assert resp.status == status, (path, resp.status, text)
    return text


async def test_the_printed_link_opens_the_channels_page_and_feeds(web_site: Web) -> None:
    path = await feed_link(web_site)
    html = await body(web_site, path, 200)
    doc = lxml.html.fromstring(html)
    ranked = [" ".join(li.text_content().split()) for li in doc.cssselect("ol.ranked > li")]
    papers = web_site.newest_shipped().papers
    # Only this Slack channel's votes: two for the first paper here (the Discord vote is not).
    assert ranked[0] == f"{papers[0].title} 2 votes Details"
    assert len(doc.cssselect("ol.posts > li")) == 2  # the digest and a shared paper
    feeds = [(link.get("type"), link.get("href")) for link in doc.cssselect("link[rel=alternate]")]
    assert feeds[0] == ("application/atom+xml", path + "/feed.atom")
    for suffix in PRIVATE[1:]:
        await body(web_site, path + suffix, 200)
    resp = await web_site.client.get(path)
    assert resp.headers["Cache-Control"] == "private, no-cache"
    assert resp.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_each_channel_sees_only_its_own(web_site: Web) -> None:
    slack, discord = await feed_link(web_site), await feed_link(web_site, channel=DISCORD)
    assert slack != discord
    doc = lxml.html.fromstring(await body(web_site, discord, 200))
    ranked = [" ".join(li.text_content().split()) for li in doc.cssselect("ol.ranked > li")]
    papers = web_site.newest_shipped().papers
    expected = [f"{papers[0].title} 1 vote Details", f"{papers[1].title} 1 vote Details"]
    assert sorted(ranked) == sorted(expected)  # a tie: ordered by paper id


@pytest.mark.parametrize(
    "token",
    [
        new_token(),  # the right shape, but nobody's
        "short",
        "x" * 33,
        "%3Cscript%3E" + "a" * 20,
        "A" * 32,
    ],
)
async def test_a_wrong_token_is_404_on_the_page_and_both_feeds(web_site: Web, token: str) -> None:
    await feed_link(web_site)  # the channel has a real token too
    pages = set()
    for suffix in PRIVATE:
        resp = await web_site.client.get(f"/c/{token}{suffix}")
        assert resp.status == 404, suffix
        pages.add(await resp.text())
    assert len(pages) == 2  # the 404 page, and the feeds' plain-text 404
    assert (await web_site.client.get("/c/")).status == 404


async def test_after_a_rotation_the_old_link_is_404_and_the_new_one_works(web_site: Web) -> None:
    old = await feed_link(web_site)
    for suffix in PRIVATE:
        await body(web_site, old + suffix, 200)  # now cached, too
    new = await feed_link(web_site, "feed rotate")
    assert new != old
    not_found = await body(web_site, f"/c/{new_token()}", 404)
    for suffix in PRIVATE:
        text = await body(web_site, old + suffix, 404)
        if not suffix:
            assert text == not_found  # a rotated link looks like any unknown one
        await body(web_site, new + suffix, 200)


async def test_no_page_feed_or_answer_shows_who_or_where(web_site: Web) -> None:
    paper = web_site.newest_shipped().papers[0].paper_id
    paths = [
        "/",
        "/weeks",
        "/weeks/2025-06-30",
        f"/papers/{paper}",
        "/search?q=attention",
        "/top",
        "/top?period=week",
        "/top?week=2025-07-14",
        "/feeds/weeks.atom",
        "/feeds/top.atom",
        "/feeds/top.rss",
        "/api/weeks",
        "/api/weeks/2025-06-30",
        f"/api/papers/{paper}",
        "/api/search?q=attention",
        "/api/top",
    ]
    link = await feed_link(web_site)
    paths += [link + suffix for suffix in PRIVATE]  # a channel's own pages name it no more
    for path in paths:
        text = await body(web_site, path, 200)
        for ident in IDENTIFIERS:
            assert ident not in text, (path, ident)
