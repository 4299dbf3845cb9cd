"""The HTML pages over HTTP, on SQLite and PostgreSQL: what each shows, paging, redirects to
canonical addresses, clear errors for bad input, hostile curated text rendered inert, the
security headers, feed discovery links, caching with a TTL for votes, and 304s."""

from __future__ import annotations

from datetime import timedelta

import lxml.html
import pytest
from support.web import HOSTILE, HOSTILE_START, NOW, PAYLOAD_TAGS, SLACK, Web, serve

from bot.storage import Store
from bot.storage.records import Vote
from bot.web.site import CSP

Doc = lxml.html.HtmlElement


async def get_doc(web: Web, path: str, status: int = 200) -> Doc:
    resp = await web.client.get(path, allow_redirects=False)
    assert resp.status == status, (path, resp.status, await resp.text())
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    return lxml.html.fromstring(await resp.text())


def texts(doc: Doc, css: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in doc.cssselect(css)]


# --- what the pages show -------------------------------------------------------------------------


async def test_a_week_page_shows_its_ten_papers_in_rank_order_with_votes(web_site: Web) -> None:
    week = web_site.newest_shipped()
    doc = await get_doc(web_site, f"/weeks/{week.start.isoformat()}")
    titles = texts(doc, "article.paper .title")
    assert titles == [f"{p.rank} {p.title}" for p in week.papers]
    assert texts(doc, "article.paper .votes")[:4] == ["3 votes", "2 votes", "1 vote", "0 votes"]
    first = doc.cssselect("article.paper")[0]
    assert first.get("id") == f"p-{week.papers[0].paper_id}"
    assert [a.get("href") for a in first.cssselect(".links a")] == [
        link.url for link in week.papers[0].links
    ]
    older = doc.cssselect("nav.pager a[rel=prev]")
    assert older and older[0].get("href").startswith("/weeks/2025-06-")


async def test_home_is_the_latest_week(web_site: Web) -> None:
    doc = await get_doc(web_site, "/")
    assert texts(doc, "h1") == ["The latest top papers"]
    assert len(doc.cssselect("article.paper")) == len(HOSTILE)  # the hostile week is newest
    assert doc.cssselect("header nav a[aria-current=page]")[0].get("href") == "/"


async def test_weeks_are_listed_newest_first_and_paged(store: Store) -> None:
    async with serve(store, votes=False, weeks_per_page=3) as web:
        starts = [w.start.isoformat() for w in web.catalog.weeks()]
        assert len(starts) == 7
        seen = []
        for page in (1, 2, 3):
            doc = await get_doc(web, f"/weeks?page={page}")
            seen += [a.get("href").removeprefix("/weeks/") for a in doc.cssselect("a.week-link")]
            assert texts(doc, "p.lead") == [f"7 weeks, newest first · page {page} of 3"]
        assert seen == starts
        for bad in ("4", "0", "two", "-1"):
            doc = await get_doc(web, f"/weeks?page={bad}", status=400)
            assert "page must be a whole number from 1 to 3." in texts(doc, "p.lead")


async def test_a_date_inside_a_week_redirects_to_the_weeks_own_address(web_site: Web) -> None:
    resp = await web_site.client.get("/weeks/2025-07-02", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (301, "/weeks/2025-06-30")
    doc = await get_doc(web_site, "/weeks/1999-01-04", status=404)
    assert texts(doc, "p.lead") == ["No curated week covers 1999-01-04."]
    await get_doc(web_site, "/weeks/not-a-date", status=404)


async def test_a_paper_page_shows_links_weeks_and_votes(web_site: Web) -> None:
    paper = web_site.catalog.paper("1706.03762")
    assert paper is not None
    doc = await get_doc(web_site, f"/papers/{paper.paper_id}")
    assert texts(doc, "h1") == [paper.title]
    assert paper.summary in texts(doc, "p.summary")
    assert texts(doc, "dd")[:3] == [paper.paper_id, "1706.03762", "3 votes, all time"]
    picked = doc.cssselect("ul.picked a")
    assert [a.get("href") for a in picked] == [f"/weeks/2025-06-30#p-{paper.paper_id}"]
    resp = await web_site.client.get("/papers/1706.03762", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (301, f"/papers/{paper.paper_id}")
    await get_doc(web_site, "/papers/0000000000", status=404)
    await get_doc(web_site, "/papers/" + "x" * 400, status=404)


async def test_search_speaks_the_chat_query_language_and_pages(web_site: Web) -> None:
    doc = await get_doc(web_site, "/search?q=attention")
    titles = texts(doc, "article.paper .title a")
    assert "Attention Is All You Need" in titles
    doc = await get_doc(web_site, "/search?q=arxiv:1706.03762")
    assert texts(doc, "article.paper .title a") == ["Attention Is All You Need"]
    doc = await get_doc(web_site, "/search?q=week:2025-07-08")  # a day inside the hostile week
    assert len(doc.cssselect("article.paper")) == 3
    doc = await get_doc(web_site, "/search?q=attention+year:20x5")
    assert texts(doc, "p.note") == ["Ignored: year:20x5."]
    doc = await get_doc(web_site, "/search?q=zzqqxxnothing")
    assert texts(doc, "p.lead") == ["No papers match “zzqqxxnothing”."]
    doc = await get_doc(web_site, "/search")
    assert "has:code" in texts(doc, "p.lead")[0]  # the tips
    doc = await get_doc(web_site, "/search?q=" + "a" * 301, status=400)
    assert texts(doc, "p.lead")[0].startswith("That search has 301 characters")


async def test_search_results_page_with_next_and_previous(store: Store) -> None:
    async with serve(store, votes=False, results_per_page=2) as web:
        doc = await get_doc(web, "/search?q=language")
        assert len(doc.cssselect("article.paper")) == 2
        nxt = doc.cssselect("nav.pager a[rel=next]")[0].get("href")
        assert nxt == "/search?q=language&page=2"
        doc = await get_doc(web, nxt)
        assert texts(doc, "article.paper .rank") == ["3", "4"]
        assert doc.cssselect("nav.pager a[rel=prev]")[0].get("href") == "/search?q=language&page=1"


async def test_top_combines_platforms_by_period_and_by_week(web_site: Web) -> None:
    papers = web_site.newest_shipped().papers
    doc = await get_doc(web_site, "/top?period=week")
    items = texts(doc, "ol.ranked li")
    assert items[0] == f"{papers[0].title} 3 votes Details"  # 2 on Slack + 1 on Discord
    assert items[1] == f"{papers[1].title} 2 votes Details"
    assert [a.get("href") for a in doc.cssselect(".tabs a[aria-current=page]")] == [
        "/top?period=week"
    ]
    doc = await get_doc(web_site, "/top?week=2025-07-16")
    assert len(texts(doc, "ol.ranked li")) == 4
    doc = await get_doc(web_site, "/top?week=2025-07-07")  # a week without votes
    assert texts(doc, "p.empty")
    doc = await get_doc(web_site, "/top?period=decade", status=400)
    assert texts(doc, "p.lead") == ["period must be one of: week, month, year, all."]


# --- safety --------------------------------------------------------------------------------------


async def test_hostile_curated_text_is_shown_as_text_and_makes_no_elements(web_site: Web) -> None:
    resp = await web_site.client.get(f"/weeks/{HOSTILE_START.isoformat()}")
    html = await resp.text()
    for tag in PAYLOAD_TAGS:  # every "<" of the payloads arrives escaped
        assert f"<{tag}>" not in html and f"<{tag} " not in html, tag
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in html
    doc = lxml.html.fromstring(html)
    for tag in PAYLOAD_TAGS:
        assert doc.cssselect(tag) == [], tag
    for element in doc.iter():
        assert not [a for a in element.attrib if a.lower().startswith("on")], element.tag
    hrefs = [a.get("href") for a in doc.cssselect("a")]
    assert all(h.startswith(("/", "http://", "https://")) for h in hrefs), hrefs
    assert not any("javascript" in h or "data:" in h or '"' in h for h in hrefs)
    titles = texts(doc, "article.paper .title")
    assert titles[0] == f"1 {HOSTILE[0].title}"  # the text itself, intact
    assert titles[1] == f"2 {HOSTILE[1].title}"
    assert "<svg onload=alert('svg')>" in texts(doc, ".bullets li")
    # Only http(s) links are links; the rest of a hostile paper's links are dropped.
    first = doc.cssselect("article.paper")[0]
    assert [a.get("href") for a in first.cssselect(".links a")] == ["https://example.org/code"]
    assert first.cssselect(".title a") == []  # its primary link is javascript:


async def test_every_page_sends_the_security_headers_and_names_its_feeds(web_site: Web) -> None:
    for path in ("/", "/weeks", "/weeks/2025-06-30", "/search?q=x", "/top", "/nope/../weeks/x"):
        resp = await web_site.client.get(path)
        assert resp.headers["Content-Security-Policy"] == CSP
        assert "script-src" not in CSP and "default-src 'none'" in CSP
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        doc = lxml.html.fromstring(await resp.text())
        feeds = {
            (link.get("type"), link.get("href")) for link in doc.cssselect("link[rel=alternate]")
        }
        assert ("application/atom+xml", "/feeds/weeks.atom") in feeds, path
        assert ("application/rss+xml", "/feeds/weeks.rss") in feeds, path
        assert ("application/atom+xml", "/feeds/top.atom") in feeds, path
    css = await web_site.client.get("/static/style.css")
    assert css.headers["Content-Type"].startswith("text/css")
    assert "prefers-color-scheme: dark" in await css.text()


async def test_an_overlong_query_string_is_refused(web_site: Web) -> None:
    doc = await get_doc(web_site, "/weeks?x=" + "y" * 1200, status=414)
    assert texts(doc, "p.lead")[0].startswith("The address is too long")


async def test_head_requests_get_headers_only(web_site: Web) -> None:
    resp = await web_site.client.head("/weeks")
    assert resp.status == 200 and resp.headers["ETag"]
    assert await resp.read() == b""


# --- caching and conditional requests ------------------------------------------------------------


async def test_votes_show_after_the_cache_ttl(web_site: Web) -> None:
    paper = web_site.catalog.paper("1706.03762")
    assert paper is not None
    path = f"/papers/{paper.paper_id}"
    assert "3 votes, all time" in texts(await get_doc(web_site, path), "dd")
    await web_site.store.add_vote(
        Vote(SLACK, "1752600000.000100", "U0NEW", "1️⃣", paper.paper_id, NOW)
    )
    assert "3 votes, all time" in texts(await get_doc(web_site, path), "dd")  # cached
    await web_site.clock.advance(timedelta(seconds=10))
    assert "4 votes, all time" in texts(await get_doc(web_site, path), "dd")


async def test_a_repeated_conditional_request_gets_304(web_site: Web) -> None:
    first = await web_site.client.get("/weeks/2025-06-30")
    etag = first.headers["ETag"]
    again = await web_site.client.get("/weeks/2025-06-30", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    assert again.headers["ETag"] == etag
    other = await web_site.client.get("/weeks/2025-06-30", headers={"If-None-Match": '"other"'})
    assert other.status == 200


@pytest.mark.parametrize("path", ["/api/weeks", "/feeds/weeks.atom"])
async def test_public_feeds_and_api_allow_any_origin(web_site: Web, path: str) -> None:
    resp = await web_site.client.get(path)
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
