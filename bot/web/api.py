"""The read-only JSON API: ``/api/weeks``, ``/api/weeks/<date>``, ``/api/papers/<id>``,
``/api/search?q=`` and ``/api/top``. Papers carry the same fields as ``paperboy export``
(``bot.papers.export``), plus ``votes`` where votes are counted; a week's source is its URL, or
for a local file its name only. Errors are ``{"error": "..."}`` with the HTTP status."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.core.weblinks import PERIODS
from bot.papers.export import ArxivLookup, appearance_record, paper_record
from bot.papers.model import CatalogPaper, Week
from bot.web.cache import Rendered
from bot.web.data import Ask, Ranked, WebContext, public_source
from bot.web.params import (
    MAX_PAGE,
    MAX_REF,
    BadRequest,
    day,
    page_number,
    page_of,
    search_text,
)

JSON = "application/json; charset=utf-8"


def as_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def reply(data: Any, *, votes: bool = False) -> Rendered:
    return Rendered(as_json(data), JSON, votes=votes)


def week_summary(week: Week) -> dict[str, Any]:
    return {
        "week_start": week.start.isoformat(),
        "week_end": week.end.isoformat(),
        "title": week.title,
        "source": public_source(week.source),
        "kind": week.kind,
        "papers": len(week.papers),
    }


def public_paper(paper: CatalogPaper, arxiv: ArxivLookup | None = None) -> dict[str, Any]:
    """``paper_record`` with each week's source as the public may see it."""
    record = paper_record(paper, arxiv)
    for week in record["weeks"]:
        week["source"] = public_source(week["source"])
    return record


def paper_json(paper: CatalogPaper, votes: int, arxiv: ArxivLookup | None = None) -> dict[str, Any]:
    return public_paper(paper, arxiv) | {"votes": votes}


def ranked_json(items: Ranked, arxiv: ArxivLookup | None = None) -> list[dict[str, Any]]:
    return [
        paper_json(p, votes, arxiv) | {"rank": i} for i, (p, votes) in enumerate(items, start=1)
    ]


# -- routes ---------------------------------------------------------------------------------------


async def weeks(web: WebContext, ask: Ask) -> Rendered:
    shown = page_of(ask.catalog.weeks(), web.options.weeks_per_page, ask.query)
    return reply(
        {
            "page": shown.number,
            "pages": shown.pages,
            "per_page": web.options.weeks_per_page,
            "total": shown.total,
            "weeks": [week_summary(w) for w in shown.items],
        }
    )


async def week(web: WebContext, ask: Ask) -> Rendered:
    when = day(ask.path["day"])
    found = ask.catalog.week(when) if when is not None else None
    if found is None:
        raise BadRequest("No curated week covers that date (write it YYYY-MM-DD).", status=404)
    counts = await web.counts([p.paper_id for p in found.papers])
    papers = []
    for p in found.papers:
        record = appearance_record(found, p, web.arxiv.get)
        record["source"] = public_source(found.source)
        papers.append(record | {"votes": counts.get(p.paper_id, 0)})
    return reply(week_summary(found) | {"papers": papers}, votes=True)


async def paper(web: WebContext, ask: Ask) -> Rendered:
    ref = ask.path["ref"]
    found = ask.catalog.paper(ref) if len(ref) <= MAX_REF else None
    if found is None:
        raise BadRequest("No paper in the archive has that id, arXiv id or title.", status=404)
    counts = await web.counts([found.paper_id])
    return reply(paper_json(found, counts.get(found.paper_id, 0), web.arxiv.get), votes=True)


async def search(web: WebContext, ask: Ask) -> Rendered:
    text = search_text(ask.query)
    if not text:
        raise BadRequest("Give the search as q=, e.g. /api/search?q=sparse+attention.")
    number = page_number(ask.query, last=MAX_PAGE)
    per = web.options.results_per_page
    result = await asyncio.to_thread(
        ask.catalog.search,
        text,
        limit=per,
        offset=(number - 1) * per,
        meta=web.arxiv.for_paper,
    )
    return reply(
        {
            "query": text,
            "page": number,
            "per_page": per,
            "has_more": result.has_more,
            "relaxed": result.relaxed,
            "ignored": list(result.query.ignored),
            "results": [
                public_paper(h.paper, web.arxiv.get) | {"score": round(h.score, 4)}
                for h in result.hits
            ],
        }
    )


async def top(web: WebContext, ask: Ask) -> Rendered:
    board = await web.board(ask.catalog, ask.query)
    scope: dict[str, Any] = {"period": board.period}
    if board.monday is not None:
        scope = {"week_start": board.monday.isoformat(), "week_end": str(board.sunday)}
    return reply(
        scope | {"periods": list(PERIODS), "results": ranked_json(board.items, web.arxiv.get)},
        votes=True,
    )


__all__ = ["JSON", "as_json", "paper", "search", "top", "week", "weeks"]
