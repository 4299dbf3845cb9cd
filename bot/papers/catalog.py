"""The archive: every loaded week, deduplicated papers, ranked search and lookups.

The catalog is rebuilt from the sources (it is derived data, never the only copy of anything):
``Catalog.build(weeks)`` returns a new immutable-by-convention instance, and the app swaps the
reference when a source refresh brings new weeks.

Search is SQLite FTS5 (in memory, stdlib ``sqlite3``) ranked with bm25, titles weighted above
summaries. User text never reaches FTS syntax: every word is quoted, so ``"``, ``*``, ``NEAR(``
and ``-`` are just characters. Filters: ``year:2024``, ``week:2025-06-23`` (any date inside a
week), ``has:code`` (or paper, tweet, blog, ...), ``arxiv:2301.04104``.
"""

from __future__ import annotations

import bisect
import random
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from difflib import SequenceMatcher
from typing import NamedTuple

from bot.core.messages import Link
from bot.core.perf import pause_gc
from bot.papers.model import (
    HasLinks,
    Paper,
    Week,
    arxiv_id_from_url,
    make_paper_id,
    normalize_title,
    paper_identity,
)

# --- the deduplicated paper ---------------------------------------------------------------------


class Appearance(NamedTuple):
    """One week a paper was picked in (a tuple: hundreds of thousands are made at load)."""

    week_start: date
    week_end: date
    rank: int
    source: str
    kind: str = "weekly"


@dataclass(slots=True)
class CatalogPaper(HasLinks):
    """One paper, however many weeks it appeared in. Content comes from its newest appearance;
    links are the union over all appearances (first label wins per URL)."""

    paper_id: str
    title: str
    summary: str
    bullets: tuple[str, ...]
    links: tuple[Link, ...]
    appearances: list[Appearance] = field(default_factory=list)

    def has(self, label: str) -> bool:
        wanted = label.casefold()
        return any(wanted in link.label.casefold() for link in self.links)


@dataclass(frozen=True, slots=True)
class SearchHit:
    paper: CatalogPaper
    score: float


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A user's query split into free words and filters, with what was not understood."""

    words: tuple[str, ...]
    year: int | None = None
    week: date | None = None
    has: tuple[str, ...] = ()
    arxiv: str | None = None
    ignored: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.words or self.year or self.week or self.has or self.arxiv)


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: SearchQuery
    hits: list[SearchHit]
    offset: int
    has_more: bool
    relaxed: bool = False  # True when no paper matched every word and any-word matches are shown


_WORD_RE = re.compile(r"\w+", re.UNICODE)
_FILTER_RE = re.compile(r"^(year|week|has|arxiv):(.+)$", re.IGNORECASE)
MAX_QUERY_WORDS = 12
MAX_WORD_LEN = 40
RANK_WINDOW = 1500
FUZZY_BELOW = (
    5  # typo-tolerant matching only when fewer exact suggestions than this  # see Catalog._fts
)


def parse_query(text: str) -> SearchQuery:
    """Split a user query into words and ``key:value`` filters. Never raises."""
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
            if key == "arxiv":
                aid = arxiv_id_from_url("arxiv.org/abs/" + value) or None
                if aid:
                    arxiv = aid
                    continue
            ignored.append(token[:60])
            continue
        for w in _WORD_RE.findall(token):
            if len(words) >= MAX_QUERY_WORDS:
                break
            words.append(w[:MAX_WORD_LEN].lower())
    return SearchQuery(tuple(words), year, week, tuple(has), arxiv, tuple(ignored))


def _fts_phrase(words: Sequence[str], joiner: str) -> str:
    # Every word double-quoted: FTS5 treats the content as a plain token, whatever it holds.
    return f" {joiner} ".join('"' + w.replace('"', '""') + '"' for w in words)


# --- the catalog ----------------------------------------------------------------------------------


class Catalog:
    def __init__(self) -> None:
        self._weeks: list[Week] = []  # weekly tables, newest first
        self._collections: list[Week] = []
        self._papers: list[CatalogPaper] = []
        self._by_id: dict[str, int] = {}
        self._by_arxiv: dict[str, int] = {}
        self._by_title: dict[str, int] = {}
        self._titles: list[str] = []  # normalised, by index
        self._sorted_titles: list[tuple[str, int]] = []
        self._week_starts_asc: list[date] = []
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._fuzzy_ready = False
        self._vocab: frozenset[str] = frozenset()

    # -- building -----------------------------------------------------------------

    @classmethod
    def build(cls, weeks: Iterable[Week]) -> Catalog:
        cat = cls()
        with pause_gc():
            cat._load(weeks)
        return cat

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
        self._index()

    def _add(self, week: Week, paper: Paper) -> None:
        key, aid = paper_identity(paper.title, paper.links)
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

    def _index(self) -> None:
        db = self._db
        # ``meta`` holds filter tokens (year, week, link labels) so filters are posting-list
        # intersections inside FTS5; bm25 gives it no weight.
        db.execute(
            "CREATE VIRTUAL TABLE fts USING fts5(title, summary, meta, tokenize='porter unicode61')"
        )
        db.executemany(
            "INSERT INTO fts(rowid, title, summary, meta) VALUES (?, ?, ?, ?)",
            (
                (
                    i,
                    p.title,
                    p.summary + (" " + " ".join(p.bullets) if p.bullets else ""),
                    _meta_tokens(p),
                )
                for i, p in enumerate(self._papers)
            ),
        )
        self._sorted_titles = sorted(zip(self._titles, range(len(self._titles)), strict=True))

    def _ensure_fuzzy(self) -> None:
        """The trigram index of title *words* for typo correction, built on first use."""
        if self._fuzzy_ready:
            return
        with self._lock:
            ready = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'vocab'").fetchone()
            if ready is None:
                words = sorted({w for t in self._titles for w in t.split() if len(w) >= 3})
                self._vocab = frozenset(words)
                self._db.execute("CREATE VIRTUAL TABLE vocab USING fts5(word, tokenize='trigram')")
                self._db.executemany("INSERT INTO vocab(word) VALUES (?)", ((w,) for w in words))
            self._fuzzy_ready = True

    def warm(self) -> None:
        """Build lazy indexes now (call from a thread at start-up, off the event loop)."""
        self._ensure_fuzzy()

    def close(self) -> None:
        self._db.close()

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
        return self._papers[idx] if idx is not None else None

    def get(self, paper_id: str) -> CatalogPaper | None:
        idx = self._by_id.get(paper_id)
        return self._papers[idx] if idx is not None else None

    def random_paper(self, rng: random.Random | None = None) -> CatalogPaper | None:
        if not self._papers:
            return None
        return (rng or random).choice(self._papers)

    # -- search -----------------------------------------------------------------

    def search(self, text: str | SearchQuery, *, limit: int = 5, offset: int = 0) -> SearchPage:
        query = parse_query(text) if isinstance(text, str) else text
        limit = max(1, min(limit, 50))
        offset = max(0, min(offset, 10_000))
        if query.empty:
            return SearchPage(query, [], offset, False)
        if query.arxiv:
            p = self.paper(query.arxiv)
            hits = [SearchHit(p, 0.0)] if p and self._passes(p, query) else []
            return SearchPage(query, hits[offset : offset + limit], offset, False)
        if not query.words:
            return self._filter_only(query, limit, offset)
        match = _fts_phrase(query.words, "AND")
        relaxed = False
        if len(query.words) > 1 and not self._any(match):
            # No paper has every word: show papers with any of them, and say so.
            match, relaxed = _fts_phrase(query.words, "OR"), True
        hits, more = self._fts(query, match, limit, offset)
        return SearchPage(query, hits, offset, more, relaxed and bool(hits or offset))

    def _any(self, match: str) -> bool:
        match = f"{{title summary}}: ({match})"
        with self._lock:
            row = self._db.execute("SELECT 1 FROM fts WHERE fts MATCH ? LIMIT 1", (match,))
            return row.fetchone() is not None

    def _passes(self, p: CatalogPaper, q: SearchQuery) -> bool:
        if q.year is not None and not any(
            a.week_start.year == q.year or a.week_end.year == q.year for a in p.appearances
        ):
            return False
        if q.week is not None and not any(
            a.week_start <= q.week <= a.week_end for a in p.appearances
        ):
            return False
        return all(p.has(h) for h in q.has)

    def _filter_match(self, q: SearchQuery) -> str | None:
        """FTS5 terms for the query's filters ('' for none); None when a filter can match
        nothing (a week date no loaded week covers)."""
        terms: list[str] = []
        if q.year is not None:
            terms.append(f'meta:"zzy{q.year}"')
        if q.week is not None:
            starts = {
                w.start
                for w in (self.week(q.week), *self._collections)
                if w is not None and w.start <= q.week <= w.end
            }
            if not starts:
                return None
            terms.append("(" + " OR ".join(f'meta:"zzw{d:%Y%m%d}"' for d in sorted(starts)) + ")")
        for label in q.has:
            words = _WORD_RE.findall(label.casefold())
            terms += [f'meta:"zzh{w}"' for w in words]
        return " AND ".join(terms)

    def _fts(
        self, q: SearchQuery, words: str, limit: int, offset: int
    ) -> tuple[list[SearchHit], bool]:
        filters = self._filter_match(q)
        if filters is None:
            return [], False
        match = f"{{title summary}}: ({words})" + (f" AND {filters}" if filters else "")
        with self._lock:
            # bm25 costs ~1 µs per matching row. A very common word can match half the archive,
            # so rank among the RANK_WINDOW newest matches (rowids run newest first).
            cutoff = self._db.execute(
                "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rowid LIMIT 1 OFFSET ?",
                (match, RANK_WINDOW - 1),
            ).fetchone()
            ceiling = cutoff[0] if cutoff else len(self._papers)
            rows = self._db.execute(
                "SELECT rowid, bm25(fts, 8.0, 1.0, 0.0) AS s FROM fts WHERE fts MATCH ?"
                " AND rowid <= ? ORDER BY s LIMIT ? OFFSET ?",
                (match, ceiling, limit + 1, offset),
            ).fetchall()
        hits = [SearchHit(self._papers[r], -float(score)) for r, score in rows]
        return hits[:limit], len(hits) > limit

    def _filter_only(self, q: SearchQuery, limit: int, offset: int) -> SearchPage:
        """Filters without words: the newest matching papers first."""
        filters = self._filter_match(q)
        if not filters:
            return SearchPage(q, [], offset, False)
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rowid LIMIT ? OFFSET ?",
                (filters, limit + 1, offset),
            ).fetchall()
        hits = [SearchHit(self._papers[r], 0.0) for (r,) in rows]
        return SearchPage(q, hits[:limit], offset, len(hits) > limit)

    # -- autocomplete -----------------------------------------------------------------

    def suggest(self, prefix: str, limit: int = 25) -> list[CatalogPaper]:
        """Titles for autocomplete: title-prefix matches first, then papers whose title holds
        every typed word (last one as a prefix), then typo-tolerant trigram matches."""
        limit = max(1, min(limit, 25))
        norm = normalize_title(prefix)[:100]
        if not norm:
            return self._recent(limit)
        seen: dict[int, None] = {}
        i = bisect.bisect_left(self._sorted_titles, (norm, -1))
        while i < len(self._sorted_titles) and len(seen) < limit:
            title, idx = self._sorted_titles[i]
            if not title.startswith(norm):
                break
            seen.setdefault(idx)
            i += 1
        if len(seen) < limit:
            for rowid in self._title_words(norm.split()[:MAX_QUERY_WORDS], limit):
                seen.setdefault(rowid)
        if len(seen) < FUZZY_BELOW and len(norm) >= 3:
            corrected = self._correct(norm.split()[:MAX_QUERY_WORDS])
            if corrected:
                for rowid in self._title_words(corrected, limit):
                    seen.setdefault(rowid)
        return [self._papers[i] for i in list(seen)[:limit]]

    def _title_words(self, words: Sequence[str], limit: int) -> list[int]:
        """Papers whose title holds every word (the last one as a prefix), newest first."""
        if not words:
            return []
        match = " AND ".join(
            [
                *('title:"' + w.replace('"', '""') + '"' for w in words[:-1]),
                'title:"' + words[-1].replace('"', '""') + '"*',
            ]
        )
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rowid LIMIT ?", (match, limit)
            ).fetchall()
        return [r for (r,) in rows]

    def _recent(self, limit: int) -> list[CatalogPaper]:
        week = self.latest_week()
        if week is None:
            return self._papers[:limit]
        return [self._papers[self._by_id[p.paper_id]] for p in week.papers][:limit]

    def _correct(self, words: Sequence[str]) -> list[str] | None:
        """The words with typos replaced by the closest title word (trigram candidates, then
        difflib's ratio); None when nothing needed or could be corrected."""
        self._ensure_fuzzy()
        out: list[str] = []
        changed = False
        for i, word in enumerate(words):
            last = i == len(words) - 1
            known = word in self._vocab or (last and len(word) < 3)
            if known or len(word) < 3:
                out.append(word)
                continue
            grams = sorted({word[k : k + 3] for k in range(len(word) - 2)})[:20]
            match = " OR ".join('"' + g.replace('"', '""') + '"' for g in grams)
            with self._lock:
                rows = self._db.execute(
                    "SELECT word FROM vocab WHERE vocab MATCH ? ORDER BY bm25(vocab) LIMIT 40",
                    (match,),
                ).fetchall()
            best, score = word, 0.0
            for (cand,) in rows:
                target = cand[: len(word) + 1] if last else cand
                r = SequenceMatcher(None, word, target).ratio()
                if r > score:
                    best, score = cand, r
            if score >= 0.75 and best != word:
                changed = True
                out.append(best)
            else:
                out.append(word)
        return out if changed else None


_LABEL_TOKENS: dict[str, str] = {}


def _meta_tokens(p: CatalogPaper) -> str:
    """Filter tokens of a paper: ``zzy<year>``, ``zzw<week start>``, ``zzh<label word>``
    (repeats are harmless: the meta column carries no weight)."""
    parts = []
    for a in p.appearances:
        start, end = a.week_start, a.week_end
        parts.append(f"zzy{start.year} zzw{start.year:04d}{start.month:02d}{start.day:02d}")
        if end.year != start.year:
            parts.append(f"zzy{end.year}")
    for link in p.links:
        tokens = _LABEL_TOKENS.get(link.label)
        if tokens is None:
            words = _WORD_RE.findall(link.label.casefold())
            tokens = _LABEL_TOKENS.setdefault(link.label, " ".join(f"zzh{w}" for w in words))
        parts.append(tokens)
    return " ".join(parts)


def week_range_label(week: Week) -> str:
    """``Jun 23 – Jun 29, 2025`` for display."""
    start, end = week.start, week.end
    if start == end:
        return start.strftime("%b %-d, %Y")
    if start.year != end.year:
        return f"{start.strftime('%b %-d, %Y')} – {end.strftime('%b %-d, %Y')}"
    return f"{start.strftime('%b %-d')} – {end.strftime('%b %-d, %Y')}"
