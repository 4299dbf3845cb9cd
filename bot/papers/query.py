"""The query language of ``/papers search``, the web search and ``paperboy search``:
``parse_query`` splits what a user typed into words and filters (``year:2024``,
``week:2025-06-23``: any date inside a week, ``has:code`` or paper, tweet, blog, ...,
``arxiv:2301.04104``, and over arXiv metadata ``author:Vaswani`` and ``cat:cs.CL``) and never
raises; ``SearchQuery`` is the result, with the checks a paper's facts and metadata must pass.
The engine that answers a query is ``bot.papers.search``."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from bot.core.arxivmeta import ArxivMeta
from bot.papers.model import CatalogPaper, arxiv_id_from_url

__all__ = ["MAX_QUERY_WORDS", "MAX_WORD_LEN", "WORD_RE", "SearchQuery", "fold", "parse_query"]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A user's query split into free words and filters, with what was not understood."""

    words: tuple[str, ...]
    year: int | None = None
    week: date | None = None
    has: tuple[str, ...] = ()
    arxiv: str | None = None
    ignored: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()  # author:Name (every one must match an author)
    cats: tuple[str, ...] = ()  # cat:cs.CL (every one must match a category)

    @property
    def empty(self) -> bool:
        return not (
            self.words
            or self.year
            or self.week
            or self.has
            or self.arxiv
            or self.authors
            or self.cats
        )

    @property
    def needs_meta(self) -> bool:
        """Whether the query filters on arXiv metadata (``author:``, ``cat:``)."""
        return bool(self.authors or self.cats)

    def admits_meta(self, meta: ArxivMeta | None) -> bool:
        """Whether a paper with this arXiv metadata passes the author and cat filters (a paper
        without metadata passes none)."""
        if not self.needs_meta:
            return True
        if meta is None or not meta.found:
            return False
        names = [f" {fold(a)} " for a in meta.authors]
        cats = [c.casefold() for c in (meta.primary_category or "", *meta.categories) if c]
        for who in self.authors:
            if not any(f" {who} " in n for n in names):
                return False
        return all(any(c == cat or c.startswith(cat + ".") for c in cats) for cat in self.cats)

    def admits(self, p: CatalogPaper) -> bool:
        """Whether ``p`` passes the year, week and has filters."""
        if self.year is not None and not any(
            a.week_start.year == self.year or a.week_end.year == self.year for a in p.appearances
        ):
            return False
        if self.week is not None and not any(
            a.week_start <= self.week <= a.week_end for a in p.appearances
        ):
            return False
        return all(p.has(h) for h in self.has)


WORD_RE = re.compile(r"\w+", re.UNICODE)
_FILTER_RE = re.compile(r"^(year|week|has|arxiv|author|cat):(.+)$", re.IGNORECASE)
_CAT_RE = re.compile(r"[a-z][a-z\-]{1,15}(\.[a-z\-]{1,8})?", re.IGNORECASE)
MAX_QUERY_WORDS = 12
MAX_WORD_LEN = 40


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a name (``Łukasz Kaiser`` and ``lukasz kaiser``
    alike where Unicode can tell), words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", plain.replace("ł", "l")).split())


def parse_query(text: str) -> SearchQuery:
    """Split a user query into words and ``key:value`` filters. Never raises."""
    authors: list[str] = []
    cats: list[str] = []
    words: list[str] = []
    has: list[str] = []
    ignored: list[str] = []
    year: int | None = None
    week: date | None = None
    arxiv: str | None = None
    for token in text.split():
        m = _FILTER_RE.match(token)
        if m:
            key, value = m.group(1).lower(), m.group(2).strip()
            if key == "year" and re.fullmatch(r"(19|20)\d\d", value):
                year = int(value)
                continue
            if key == "week":
                try:
                    week = date.fromisoformat(value)
                    continue
                except ValueError:
                    pass
            if key == "has" and re.fullmatch(r"[A-Za-z][A-Za-z ]{0,30}", value):
                has.append(value.lower())
                continue
            if key == "author" and fold(value.replace("_", " ")):
                authors.append(fold(value.replace("_", " "))[:60])
                continue
            if key == "cat" and _CAT_RE.fullmatch(value):
                cats.append(value.casefold())
                continue
            if key == "arxiv":
                aid = arxiv_id_from_url("arxiv.org/abs/" + value) or None
                if aid:
                    arxiv = aid
                    continue
            ignored.append(token[:60])
            continue
        for w in WORD_RE.findall(token):
            if len(words) >= MAX_QUERY_WORDS:
                break
            words.append(w[:MAX_WORD_LEN].lower())
    return SearchQuery(
        tuple(words), year, week, tuple(has), arxiv, tuple(ignored), tuple(authors), tuple(cats)
    )
