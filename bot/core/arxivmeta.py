"""What arXiv says about a paper (its API's Atom entry), as plain data: fetched by
``bot.papers.arxiv``, kept by the store, shown by chat and the web, searched by ``author:`` and
``cat:``. A record with ``found`` false remembers that arXiv did not know the id, so it is not
asked again until the record is stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


def arxiv_key(arxiv_id: str) -> str:
    """The key metadata is kept under: the id without a version suffix, lower-case."""
    aid = arxiv_id.strip().lower().removeprefix("arxiv:")
    head, sep, tail = aid.rpartition("v")
    if sep and head and tail.isdigit() and (head[-1:].isdigit()):
        return head
    return aid


@dataclass(frozen=True, slots=True)
class ArxivMeta:
    arxiv_id: str  # ``arxiv_key`` form
    fetched_at: datetime
    found: bool = True
    title: str = ""
    authors: tuple[str, ...] = ()
    abstract: str = ""
    primary_category: str | None = None
    categories: tuple[str, ...] = ()
    published: datetime | None = None  # the first version
    updated: datetime | None = None  # the latest version
    version: int | None = None  # the latest version's number


__all__ = ["ArxivMeta", "arxiv_key"]
