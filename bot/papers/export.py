"""Papers as plain records (dicts of JSON types), with the same fields wherever they leave the
bot: ``paperboy export`` (JSON lines or CSV), ``paperboy search/week --json`` and the web
archive's JSON API (``bot.web.api``).

An *appearance* record is one paper in one week (``EXPORT_FIELDS``); a *paper* record is one
deduplicated paper with the weeks it was picked in. ``authors`` comes from arXiv metadata
(``arxiv``: a lookup by arXiv id, such as ``ArxivIndex.get``); without it, or for a paper
arXiv has no record of, it is an empty list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.core.arxivmeta import ArxivMeta
from bot.core.messages import Link
from bot.papers.model import Appearance, CatalogPaper, Paper, Week

EXPORT_FIELDS = (
    "week_start",
    "week_end",
    "rank",
    "title",
    "authors",
    "summary",
    "bullets",
    "url",
    "links",
    "arxiv_id",
    "paper_id",
    "source",
    "kind",
)

# A paper's arXiv metadata by arXiv id (None: no id, or nothing known).
ArxivLookup = Callable[[str | None], ArxivMeta | None]


def _authors(arxiv_id: str | None, arxiv: ArxivLookup | None) -> list[str]:
    meta = arxiv(arxiv_id) if arxiv is not None and arxiv_id else None
    return list(meta.authors) if meta is not None else []


def links_record(links: Sequence[Link]) -> list[dict[str, str]]:
    return [{"label": link.label, "url": link.url} for link in links]


def appearance_record(week: Week, paper: Paper, arxiv: ArxivLookup | None = None) -> dict[str, Any]:
    """One paper as it appears in one week: the ``EXPORT_FIELDS``, in that order."""
    aid = paper.arxiv_id
    return {
        "week_start": week.start.isoformat(),
        "week_end": week.end.isoformat(),
        "rank": paper.rank,
        "title": paper.title,
        "authors": _authors(aid, arxiv),
        "summary": paper.summary,
        "bullets": list(paper.bullets),
        "url": paper.url,
        "links": links_record(paper.links),
        "arxiv_id": aid,
        "paper_id": paper.paper_id,
        "source": week.source,
        "kind": week.kind,
    }


def export_records(weeks: Iterable[Week], arxiv: ArxivLookup | None = None) -> list[dict[str, Any]]:
    """Every appearance in ``weeks``, week by week, by rank."""
    return [appearance_record(w, p, arxiv) for w in weeks for p in w.papers]


def week_record(a: Appearance) -> dict[str, Any]:
    """A week a paper was picked in, with the appearance fields that belong to the week."""
    return {
        "week_start": a.week_start.isoformat(),
        "week_end": a.week_end.isoformat(),
        "rank": a.rank,
        "source": a.source,
        "kind": a.kind,
    }


def paper_record(paper: CatalogPaper | Paper, arxiv: ArxivLookup | None = None) -> dict[str, Any]:
    """One paper: the appearance fields that belong to the paper, and (for a catalog paper)
    ``weeks``, newest first."""
    appearances = getattr(paper, "appearances", [])
    return {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "authors": _authors(paper.arxiv_id, arxiv),
        "summary": paper.summary,
        "bullets": list(paper.bullets),
        "url": paper.url,
        "arxiv_id": paper.arxiv_id,
        "links": links_record(paper.links),
        "weeks": [
            week_record(a) for a in sorted(appearances, key=lambda a: a.week_start, reverse=True)
        ],
    }


__all__ = [
    "EXPORT_FIELDS",
    "ArxivLookup",
    "appearance_record",
    "export_records",
    "links_record",
    "paper_record",
    "week_record",
]
