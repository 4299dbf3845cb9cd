"""The JSON API on SQLite and PostgreSQL: the same fields as ``paperboy export`` (plus votes),
paging, the search query language, leaderboards, and JSON errors with a clear message."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from support.web import Web

from bot.papers.export import EXPORT_FIELDS, export_records

JSON = "application/json; charset=utf-8"


async def get_json(web: Web, path: str, status: int = 200) -> Any:
    resp = await web.client.get(path)
    assert resp.status == status, (path, resp.status, await resp.text())
    assert resp.headers["Content-Type"] == JSON
    return await resp.json()


async def test_a_week_has_the_export_fields_and_votes(web_site: Web) -> None:
    week = web_site.newest_shipped()
    data = await get_json(web_site, "/api/weeks/2025-07-02")  # any day inside the week
    assert data["week_start"] == week.start.isoformat()
    assert data["source"] == PurePath(week.source).name  # never the server's directories
    papers = data["papers"]
    assert [tuple(p) for p in papers] == [(*EXPORT_FIELDS, "votes")] * len(week.papers)
    exported = export_records([week])
    for record in exported:
        record["source"] = PurePath(week.source).name
    assert [{k: p[k] for k in EXPORT_FIELDS} for p in papers] == exported
    assert [p["votes"] for p in papers[:4]] == [3, 2, 1, 0]


async def test_weeks_are_listed_newest_first(web_site: Web) -> None:
    data = await get_json(web_site, "/api/weeks")
    starts = [w["week_start"] for w in data["weeks"]]
    assert starts == [w.start.isoformat() for w in web_site.catalog.weeks()]
    assert (data["page"], data["pages"], data["total"]) == (1, 1, 7)
    assert data["weeks"][1]["papers"] == 10
    error = await get_json(web_site, "/api/weeks?page=2", status=400)
    assert error == {"error": "page must be a whole number from 1 to 1."}


async def test_a_paper_by_id_or_arxiv_id(web_site: Web) -> None:
    paper = web_site.catalog.paper("1706.03762")
    assert paper is not None
    data = await get_json(web_site, f"/api/papers/{paper.paper_id}")
    assert data == await get_json(web_site, "/api/papers/1706.03762")
    assert data["title"] == "Attention Is All You Need" and data["votes"] == 3
    assert data["arxiv_id"] == "1706.03762" and data["url"] == "https://arxiv.org/abs/1706.03762"
    assert data["weeks"] == [
        {
            "week_start": "2025-06-30",
            "week_end": "2025-07-06",
            "rank": 1,
            "source": "paperboy-picks.md",
            "kind": "weekly",
        }
    ]
    missing = await get_json(web_site, "/api/papers/nothing-like-this", status=404)
    assert missing == {"error": "No paper in the archive has that id, arXiv id or title."}


async def test_search_with_filters_and_errors(web_site: Web) -> None:
    data = await get_json(web_site, "/api/search?q=attention+has:code")
    assert data["query"] == "attention has:code"
    titles = [r["title"] for r in data["results"]]
    assert "Attention Is All You Need" in titles
    assert all(any(link["label"] == "Code" for link in r["links"]) for r in data["results"])
    data = await get_json(web_site, "/api/search?q=attention+year:nope")
    assert data["ignored"] == ["year:nope"]
    error = await get_json(web_site, "/api/search", status=400)
    assert error["error"].startswith("Give the search as q=")
    await get_json(web_site, "/api/search?q=" + "w" * 400, status=400)


async def test_top_by_period_and_by_week(web_site: Web) -> None:
    papers = web_site.newest_shipped().papers
    data = await get_json(web_site, "/api/top?period=month")
    assert data["period"] == "month"
    results = data["results"]
    assert [(r["rank"], r["title"], r["votes"]) for r in results[:2]] == [
        (1, papers[0].title, 3),
        (2, papers[1].title, 2),
    ]
    week = await get_json(web_site, "/api/top?week=2025-07-14")
    assert (week["week_start"], week["week_end"]) == ("2025-07-14", "2025-07-20")
    assert len(week["results"]) == 4
    error = await get_json(web_site, "/api/top?period=forever", status=400)
    assert error == {"error": "period must be one of: week, month, year, all."}
    error = await get_json(web_site, "/api/top?week=last", status=400)
    assert error["error"].startswith("week must be a date")
