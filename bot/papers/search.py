"""Search over the catalog's papers: query parsing, the ranked full-text index, autocomplete.

``parse_query`` splits what a user typed into words and filters: ``year:2024``,
``week:2025-06-23`` (any date inside a week), ``has:code`` (or paper, tweet, blog, ...),
``arxiv:2301.04104``, and over arXiv metadata ``author:Vaswani`` and ``cat:cs.CL`` (``cat:cs``:
the whole archive), which the catalog applies to the index's hits
(``SearchQuery.admits_meta``). ``SearchIndex`` is the engine the catalog searches with, built
once over its papers (newest first) and never changed; the catalog talks to it through four calls:
``search`` (a page of ranked hits for words and filters), ``suggest`` (titles for
autocomplete), ``warm`` (build the lazy parts now) and ``close``. Lookups by id, arXiv id or
date stay in the catalog, which also tells the index which weeks a ``week:`` date falls in.

The engine is SQLite FTS5 (in memory, stdlib ``sqlite3``) ranked with bm25, titles weighted
above summaries. User text never reaches FTS syntax: every word is quoted, so ``"``, ``*``,
``NEAR(`` and ``-`` are just characters.
"""

from __future__ import annotations

import bisect
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher

from bot.core.arxivmeta import ArxivMeta
from bot.papers.model import CatalogPaper, arxiv_id_from_url

__all__ = ["SearchHit", "SearchIndex", "SearchPage", "SearchQuery", "parse_query"]


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


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: SearchQuery
    hits: list[SearchHit]
    offset: int
    has_more: bool
    relaxed: bool = False  # True when no paper matched every word and any-word matches are shown


_WORD_RE = re.compile(r"\w+", re.UNICODE)
_FILTER_RE = re.compile(r"^(year|week|has|arxiv|author|cat):(.+)$", re.IGNORECASE)
_CAT_RE = re.compile(r"[a-z][a-z\-]{1,15}(\.[a-z\-]{1,8})?", re.IGNORECASE)
MAX_QUERY_WORDS = 12
MAX_WORD_LEN = 40
RANK_WINDOW = 1500
FUZZY_BELOW = 5  # typo-tolerant suggestions only when fewer other suggestions than this


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
        for w in _WORD_RE.findall(token):
            if len(words) >= MAX_QUERY_WORDS:
                break
            words.append(w[:MAX_WORD_LEN].lower())
    return SearchQuery(
        tuple(words), year, week, tuple(has), arxiv, tuple(ignored), tuple(authors), tuple(cats)
    )


def _quote(word: str) -> str:
    # Double-quoted, FTS5 treats the content as a plain token, whatever it holds.
    return '"' + word.replace('"', '""') + '"'


def _fts_phrase(words: Sequence[str], joiner: str) -> str:
    return f" {joiner} ".join(_quote(w) for w in words)


class SearchIndex:
    """Ranked full-text search and title autocomplete over papers, addressed by position.

    ``papers`` run newest first; ``titles`` are their normalised titles (``normalize_title``),
    position for position. Safe to call from several threads."""

    def __init__(self, papers: Sequence[CatalogPaper], titles: Sequence[str]) -> None:
        self._papers = papers
        self._titles = titles
        self._sorted_titles = sorted(zip(titles, range(len(titles)), strict=True))
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._fuzzy_ready = False
        self._vocab: frozenset[str] = frozenset()
        self._index()

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

    # -- search -----------------------------------------------------------------

    def search(
        self, query: SearchQuery, limit: int, offset: int, *, week_starts: Collection[date] = ()
    ) -> SearchPage:
        """Papers matching the query's words and its year, week and has filters, best first
        (``arxiv`` is the catalog's lookup, not a search). ``week_starts``: the start dates of
        the loaded weeks that cover ``query.week``; none means no paper can match it."""
        if not query.words:
            return self._filter_only(query, week_starts, limit, offset)
        match = _fts_phrase(query.words, "AND")
        relaxed = False
        if len(query.words) > 1 and not self._any(match):
            # No paper has every word: show papers with any of them, and say so.
            match, relaxed = _fts_phrase(query.words, "OR"), True
        hits, more = self._ranked(query, week_starts, match, limit, offset)
        return SearchPage(query, hits, offset, more, relaxed and bool(hits or offset))

    def _any(self, match: str) -> bool:
        match = f"{{title summary}}: ({match})"
        with self._lock:
            row = self._db.execute("SELECT 1 FROM fts WHERE fts MATCH ? LIMIT 1", (match,))
            return row.fetchone() is not None

    def _ranked(
        self,
        q: SearchQuery,
        week_starts: Collection[date],
        words: str,
        limit: int,
        offset: int,
    ) -> tuple[list[SearchHit], bool]:
        filters = _filter_match(q, week_starts)
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

    def _filter_only(
        self, q: SearchQuery, week_starts: Collection[date], limit: int, offset: int
    ) -> SearchPage:
        """Filters without words: the newest matching papers first."""
        filters = _filter_match(q, week_starts)
        if not filters:
            return SearchPage(q, [], offset, False)
        rows = self._rowids(filters, limit + 1, offset)
        hits = [SearchHit(self._papers[r], 0.0) for r in rows]
        return SearchPage(q, hits[:limit], offset, len(hits) > limit)

    def _rowids(self, match: str, limit: int, offset: int = 0) -> list[int]:
        """Positions of the papers matching an FTS5 expression, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rowid LIMIT ? OFFSET ?",
                (match, limit, offset),
            ).fetchall()
        return [r for (r,) in rows]

    # -- autocomplete -----------------------------------------------------------------

    def suggest(self, prefix: str, limit: int) -> list[CatalogPaper]:
        """Titles for autocomplete of a normalised, non-empty ``prefix``: title-prefix matches
        first, then papers whose title holds every typed word (last one as a prefix), then
        typo-tolerant trigram matches."""
        seen = dict.fromkeys(self._title_prefix(prefix, limit))
        if len(seen) < limit:
            for rowid in self._title_words(prefix.split()[:MAX_QUERY_WORDS], limit):
                seen.setdefault(rowid)
        if len(seen) < FUZZY_BELOW and len(prefix) >= 3:
            corrected = self._correct(prefix.split()[:MAX_QUERY_WORDS])
            if corrected:
                for rowid in self._title_words(corrected, limit):
                    seen.setdefault(rowid)
        return [self._papers[i] for i in list(seen)[:limit]]

    def _title_prefix(self, prefix: str, limit: int) -> list[int]:
        """Papers whose normalised title starts with ``prefix``, in title order."""
        out: list[int] = []
        i = bisect.bisect_left(self._sorted_titles, (prefix, -1))
        while i < len(self._sorted_titles) and len(out) < limit:
            title, idx = self._sorted_titles[i]
            if not title.startswith(prefix):
                break
            out.append(idx)
            i += 1
        return out

    def _title_words(self, words: Sequence[str], limit: int) -> list[int]:
        """Papers whose title holds every word (the last one as a prefix), newest first."""
        if not words:
            return []
        match = " AND ".join(
            [*("title:" + _quote(w) for w in words[:-1]), "title:" + _quote(words[-1]) + "*"]
        )
        return self._rowids(match, limit)

    def _correct(self, words: Sequence[str]) -> list[str] | None:
        """The words with typos replaced by the closest title word; None when nothing needed
        or could be corrected."""
        self._ensure_fuzzy()
        out: list[str] = []
        for i, word in enumerate(words):
            last = i == len(words) - 1
            known = word in self._vocab or (last and len(word) < 3)
            out.append(word if known or len(word) < 3 else self._closest(word, last))
        return out if out != list(words) else None

    def _closest(self, word: str, last: bool) -> str:
        """The title word nearest ``word`` (trigram candidates, then difflib's ratio, at least
        0.75; the last, still typed word compared with candidates' prefixes), else ``word``."""
        grams = sorted({word[k : k + 3] for k in range(len(word) - 2)})[:20]
        with self._lock:
            rows = self._db.execute(
                "SELECT word FROM vocab WHERE vocab MATCH ? ORDER BY bm25(vocab) LIMIT 40",
                (" OR ".join(_quote(g) for g in grams),),
            ).fetchall()
        best, score = word, 0.0
        for (cand,) in rows:
            target = cand[: len(word) + 1] if last else cand
            r = SequenceMatcher(None, word, target).ratio()
            if r > score:
                best, score = cand, r
        return best if score >= 0.75 else word


# Filter tokens live in the ``meta`` column; a query's filters are written with the same
# functions, so what is indexed and what is asked for cannot drift apart.


def _year_token(year: int) -> str:
    return f"zzy{year}"


def _week_token(start: date) -> str:
    return f"zzw{start.year:04d}{start.month:02d}{start.day:02d}"


def _label_tokens(label: str) -> list[str]:
    """``has:`` tokens of a link label: one per word (``Code`` -> ``zzhcode``)."""
    return [f"zzh{w}" for w in _WORD_RE.findall(label.casefold())]


def _filter_match(q: SearchQuery, week_starts: Collection[date]) -> str | None:
    """FTS5 terms for the query's filters ('' for none); None when a filter can match nothing
    (a week date no loaded week covers)."""
    terms: list[str] = []
    if q.year is not None:
        terms.append(f'meta:"{_year_token(q.year)}"')
    if q.week is not None:
        if not week_starts:
            return None
        weeks = (f'meta:"{_week_token(d)}"' for d in sorted(week_starts))
        terms.append("(" + " OR ".join(weeks) + ")")
    for label in q.has:
        terms += [f'meta:"{t}"' for t in _label_tokens(label)]
    return " AND ".join(terms)


_LABEL_TOKENS: dict[str, str] = {}


def _meta_tokens(p: CatalogPaper) -> str:
    """Filter tokens of a paper: its weeks' years and start dates, its links' label words
    (repeats are harmless: the meta column carries no weight)."""
    parts = []
    for a in p.appearances:
        start, end = a.week_start, a.week_end
        parts.append(f"{_year_token(start.year)} {_week_token(start)}")
        if end.year != start.year:
            parts.append(_year_token(end.year))
    for link in p.links:
        tokens = _LABEL_TOKENS.get(link.label)
        if tokens is None:
            tokens = _LABEL_TOKENS.setdefault(link.label, " ".join(_label_tokens(link.label)))
        parts.append(tokens)
    return " ".join(parts)
