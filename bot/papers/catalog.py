"""The archive: every loaded week, deduplicated papers, lookups, and search through its index.

The catalog is rebuilt from the sources (it is derived data, never the only copy of anything):
``Catalog.build(weeks)`` returns a new immutable-by-convention instance, and the app swaps the
reference when a source refresh brings new weeks. Ranked search and autocomplete are the
``SearchIndex``'s (``bot.papers.search``); the catalog resolves what only it knows (arXiv ids,
which weeks a date falls in, the latest week) and hands the rest to the index.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import date

from bot.core.arxivmeta import ArxivMeta
from bot.core.perf import pause_gc
from bot.papers.model import (
    Appearance,
    CatalogPaper,
    Paper,
    Week,
    arxiv_id_from_url,
    make_paper_id,
    normalize_title,
    paper_identity,
)
from bot.papers.query import SearchQuery, parse_query
from bot.papers.search import SearchHit, SearchIndex, SearchPage

META_WINDOW = 1000  # ranked hits an author:/cat: filter looks through first (then 10x more)


class Catalog:
    def __init__(self, weeks: Iterable[Week] = (), *, index_path: str | None = None) -> None:
        self._weeks: list[Week] = []  # weekly tables, newest first
        self._collections: list[Week] = []
        self._papers: list[CatalogPaper] = []
        self._by_id: dict[str, int] = {}
        self._by_arxiv: dict[str, int] = {}
        self._by_title: dict[str, int] = {}
        self._titles: list[str] = []  # normalised, by index
        self._week_starts_asc: list[date] = []
        self._load(weeks)
        self._index_path = index_path
        self._index_lock = threading.Lock()
        self._built: SearchIndex | None = None

    @property
    def _index(self) -> SearchIndex:
        """The search index, built (or opened from ``index_path``) on first use: what never
        searches (``paperboy export``, ``week``) never pays for it."""
        if self._built is None:
            with self._index_lock:
                if self._built is None:
                    self._built = SearchIndex(
                        self._papers, self._titles, path=self._index_path, reuse=True
                    )
        return self._built

    @property
    def index_reused(self) -> bool:
        """Whether the search index was opened from ``index_path`` rather than built (False
        while it is not built yet)."""
        return self._built is not None and self._built.reused

    # -- building -----------------------------------------------------------------

    @classmethod
    def build(cls, weeks: Iterable[Week], *, index_path: str | None = None) -> Catalog:
        """A catalog of ``weeks``; with ``index_path`` (a directory named for exactly these
        weeks) its search index is kept there, and opened from there when already built."""
        with pause_gc():
            return cls(weeks, index_path=index_path)

    def _load(self, weeks: Iterable[Week]) -> None:
        by_start: dict[date, Week] = {}
        collections: list[Week] = []
        for week in weeks:
            if week.kind == "weekly":
                # Two sources with the same week: the first loaded wins (config order).
                by_start.setdefault(week.start, week)
            else:
                collections.append(week)
        self._weeks = sorted(by_start.values(), key=lambda w: w.start, reverse=True)
        self._week_starts_asc = sorted(by_start)
        self._collections = sorted(collections, key=lambda w: w.start, reverse=True)
        # Newest first, so a paper's content comes from its newest appearance.
        for week in sorted([*self._weeks, *self._collections], key=lambda w: w.start, reverse=True):
            for paper in week.papers:
                self._add(week, paper)

    def _add(self, week: Week, paper: Paper) -> None:
        key, aid = paper_identity(paper.title, paper.links)
        if paper.identity is not None:  # shares an arXiv id with another paper (merge.py)
            key, aid = paper.identity, None
        pid = make_paper_id(key)
        appearance = Appearance(week.start, week.end, paper.rank, week.source, week.kind)
        idx = self._by_id.get(pid)
        if idx is None:
            idx = len(self._papers)
            self._by_id[pid] = idx
            self._papers.append(
                CatalogPaper(
                    pid, paper.title, paper.summary, paper.bullets, paper.links, [appearance]
                )
            )
            if aid:
                self._by_arxiv.setdefault(aid.lower(), idx)
            norm = normalize_title(paper.title)
            self._by_title.setdefault(norm, idx)
            self._titles.append(norm)
            return
        cp = self._papers[idx]
        cp.appearances.append(appearance)
        known = {link.url for link in cp.links}
        extra = tuple(link for link in paper.links if link.url not in known)
        if extra:
            cp.links = cp.links + extra
        if not cp.summary and paper.summary:
            cp.summary = paper.summary

    def warm(self) -> None:
        """Build the search index and its lazy parts now (call from a thread, off the event
        loop), rather than on the first search or autocomplete."""
        self._index.warm()

    def close(self) -> None:
        if self._built is not None:
            self._built.close()

    # -- size and listing --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._papers)

    @property
    def papers(self) -> Sequence[CatalogPaper]:
        return self._papers

    def weeks(self) -> list[Week]:
        """Curated weekly tables, newest first."""
        return list(self._weeks)

    def collections(self) -> list[Week]:
        return list(self._collections)

    # -- lookups -----------------------------------------------------------------

    def latest_week(self) -> Week | None:
        return self._weeks[0] if self._weeks else None

    def week(self, spec: str | date | None = "latest") -> Week | None:
        """``latest``, an ISO date (any date inside a week), or a date. None if no such week."""
        if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "latest")):
            return self.latest_week()
        if isinstance(spec, str):
            try:
                day = date.fromisoformat(spec.strip())
            except ValueError:
                return None
        else:
            day = spec
        i = bisect.bisect_right(self._week_starts_asc, day)
        # Check the nearest weeks starting on or before the day (weeks may run 6-8 days).
        for j in range(i - 1, max(i - 3, -1), -1):
            start = self._week_starts_asc[j]
            week = self._week_at(start)
            if week is not None and week.start <= day <= week.end:
                return week
        return None

    def _week_at(self, start: date) -> Week | None:
        lo, hi = 0, len(self._weeks)
        # self._weeks is newest first: binary search on the reversed order.
        while lo < hi:
            mid = (lo + hi) // 2
            if self._weeks[mid].start > start:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self._weeks) and self._weeks[lo].start == start:
            return self._weeks[lo]
        return None

    def neighbours(self, week: Week) -> tuple[Week | None, Week | None]:
        """(older, newer) weeks around ``week``."""
        i = bisect.bisect_left(self._week_starts_asc, week.start)
        older = self._week_at(self._week_starts_asc[i - 1]) if i > 0 else None
        newer = (
            self._week_at(self._week_starts_asc[i + 1])
            if i + 1 < len(self._week_starts_asc)
            else None
        )
        return older, newer

    def paper(self, ref: str) -> CatalogPaper | None:
        """By paper id, arXiv id (``2301.04104``, ``arxiv:2301.04104v2``, an arXiv URL), or exact
        title (case and punctuation ignored)."""
        ref = ref.strip()
        if not ref:
            return None
        idx = self._by_id.get(ref.lower())
        if idx is None:
            aid = arxiv_id_from_url(ref) or arxiv_id_from_url(
                "arxiv.org/abs/" + ref.removeprefix("arxiv:").removeprefix("arXiv:")
            )
            if aid:
                idx = self._by_arxiv.get(aid.lower())
        if idx is None:
            idx = self._by_title.get(normalize_title(ref))
        return self._at(idx)

    def get(self, paper_id: str) -> CatalogPaper | None:
        return self._at(self._by_id.get(paper_id))

    def _at(self, idx: int | None) -> CatalogPaper | None:
        return self._papers[idx] if idx is not None else None

    def random_paper(self, rng: random.Random | None = None) -> CatalogPaper | None:
        if not self._papers:
            return None
        return (rng or random).choice(self._papers)

    # -- search and autocomplete ----------------------------------------------------------

    def search(
        self,
        text: str | SearchQuery,
        *,
        limit: int = 5,
        offset: int = 0,
        meta: Callable[[CatalogPaper], ArxivMeta | None] | None = None,
    ) -> SearchPage:
        """A page of hits. ``meta`` gives a paper's arXiv metadata, for ``author:`` and
        ``cat:`` (without it, those filters match nothing)."""
        query = parse_query(text) if isinstance(text, str) else text
        limit = max(1, min(limit, 50))
        offset = max(0, min(offset, 10_000))
        if query.empty:
            return SearchPage(query, [], offset, False)
        if query.needs_meta:
            return self._search_meta(query, limit, offset, meta or (lambda p: None))
        if query.arxiv:
            p = self.paper(query.arxiv)
            hits = [SearchHit(p, 0.0)] if p and query.admits(p) else []
            return SearchPage(query, hits[offset : offset + limit], offset, False)
        starts = self._starts_covering(query.week) if query.week is not None else set()
        return self._index.search(query, limit, offset, week_starts=starts)

    def _search_meta(
        self,
        query: SearchQuery,
        limit: int,
        offset: int,
        meta: Callable[[CatalogPaper], ArxivMeta | None],
    ) -> SearchPage:
        """The hits of the query without its ``author:``/``cat:`` filters, in their ranked
        order (all papers, newest first, when nothing else is asked), kept when their metadata
        passes those filters. The ranked hits are read ``META_WINDOW`` at a time, ten times more
        each round, until the page is full or every match was read: the ranking stays exact
        over every match, and a common word with a rare author costs more only when it must."""
        rest = dataclasses.replace(query, authors=(), cats=())
        relaxed = False
        if rest.empty:
            found = [SearchHit(p, 0.0) for p in self._papers if query.admits_meta(meta(p))]
        elif rest.arxiv:
            candidates = self.search(rest, limit=1).hits
            found = [h for h in candidates if query.admits_meta(meta(h.paper))]
        else:
            starts = self._starts_covering(rest.week) if rest.week is not None else set()
            window = META_WINDOW
            while True:
                page = self._index.search(rest, window, 0, week_starts=starts)
                relaxed = page.relaxed
                found = [h for h in page.hits if query.admits_meta(meta(h.paper))]
                if len(found) > offset + limit or not page.has_more:
                    break
                window *= 10
        hits = found[offset : offset + limit]
        return SearchPage(query, hits, offset, len(found) > offset + limit, relaxed and bool(found))

    def _starts_covering(self, day: date) -> set[date]:
        """Start dates of the weekly table and the collections that cover ``day``."""
        return {
            w.start
            for w in (self.week(day), *self._collections)
            if w is not None and w.start <= day <= w.end
        }

    def suggest(self, prefix: str, limit: int = 25) -> list[CatalogPaper]:
        """Titles for autocomplete: title-prefix matches first, then papers whose title holds
        every typed word (last one as a prefix), then typo-tolerant trigram matches; the
        latest week's papers for empty input."""
        limit = max(1, min(limit, 25))
        norm = normalize_title(prefix)[:100]
        if not norm:
            return self._recent(limit)
        return self._index.suggest(norm, limit)

    def _recent(self, limit: int) -> list[CatalogPaper]:
        week = self.latest_week()
        if week is None:
            return self._papers[:limit]
        return [self._papers[self._by_id[p.paper_id]] for p in week.papers][:limit]


def week_range_label(week: Week) -> str:
    """``Jun 23 – Jun 29, 2025`` for display."""
    start, end = week.start, week.end
    if start == end:
        return start.strftime("%b %-d, %Y")
    if start.year != end.year:
        return f"{start.strftime('%b %-d, %Y')} – {end.strftime('%b %-d, %Y')}"
    return f"{start.strftime('%b %-d')} – {end.strftime('%b %-d, %Y')}"
