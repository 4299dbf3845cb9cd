"""Search over the catalog's papers: the ranked full-text index and autocomplete.

``SearchIndex`` is the engine the catalog searches with, for a ``SearchQuery`` that
``bot.papers.query.parse_query`` made of what a user typed (words and the filters ``year:``,
``week:``, ``has:``; ``arxiv:`` is the catalog's lookup, and ``author:`` / ``cat:`` are applied by
the catalog to the ranked hits, ``SearchQuery.admits_meta``). It is built once over the
catalog's papers (newest first) and never changed; the catalog talks to it through four calls:
``search`` (a page of ranked hits for words and filters), ``suggest`` (titles for
autocomplete), ``warm`` (build the lazy parts now) and ``close``. Lookups by id, arXiv id or
date stay in the catalog, which also tells the index which weeks a ``week:`` date falls in.

The engine is Tantivy (the ``tantivy`` package: Rust, BM25 with block-max pruning), chosen by
measurement over SQLite FTS5 (``bench/engines.py``): exact ranking over every match, titles
weighted above summaries (``TITLE_WEIGHT``). User text never reaches a query parser: queries are
built term by term from the words ``parse_query`` found, so ``"``, ``*``, ``NEAR(``, ``-`` or
``title:`` are just characters. The index lives in memory or, given a directory, on disk, where
a later start opens it instead of indexing again (``bot.papers.archive`` keeps it by content
hash).
"""

from __future__ import annotations

import heapq
import logging
import os
import shutil
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher

import tantivy

from bot.papers.model import CatalogPaper
from bot.papers.query import MAX_QUERY_WORDS, MAX_WORD_LEN, WORD_RE, SearchQuery

log = logging.getLogger("paperboy.search")

__all__ = [
    "SearchHit",
    "SearchIndex",
    "SearchPage",
    "SearchPlan",
]


@dataclass(frozen=True, slots=True)
class SearchHit:
    paper: CatalogPaper
    score: float


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """What ``SearchIndex.search`` asks Tantivy: ``query``, ranked by score or (``newest``,
    filters without words) by position; ``relaxed`` when it matches any word, no paper having
    every one."""

    query: tantivy.Query
    relaxed: bool = False
    newest: bool = False


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: SearchQuery
    hits: list[SearchHit]
    offset: int
    has_more: bool
    relaxed: bool = False  # True when no paper matched every word and any-word matches are shown


FUZZY_BELOW = 5  # typo-tolerant suggestions only when fewer other suggestions than this


class SearchIndex:
    """Ranked full-text search and title autocomplete over papers, addressed by position.

    ``papers`` run newest first; ``titles`` are their normalised titles (``normalize_title``),
    position for position. ``path``: a directory to keep the index in (built there, or opened
    when ``reuse`` and an index is already there); none keeps it in memory. Safe to call from
    several threads."""

    def __init__(
        self,
        papers: Sequence[CatalogPaper],
        titles: Sequence[str],
        *,
        path: str | None = None,
        reuse: bool = False,
    ) -> None:
        self._papers = papers
        self._titles = titles
        self._lock = threading.Lock()
        self._fuzzy: _Fuzzy | None = None
        self.reused = False
        if path is not None and reuse:
            self.reused = self._open(path)
        if not self.reused:
            self._ix = self._build(path)
        self._searcher = self._ix.searcher()

    def _open(self, path: str) -> bool:
        """Open the index kept at ``path``; False (and ``path`` cleared) when there is none
        or it cannot be used: derived data, it is built again."""
        try:
            if not os.path.isdir(path) or not tantivy.Index.exists(path):
                return False
            ix = tantivy.Index(_SCHEMA, path=path, reuse=True)
            _register(ix)
            ix.reload()
            if ix.searcher().num_docs != len(self._papers):
                raise ValueError("holds another number of papers")
        except Exception as exc:
            log.warning(
                "search index unusable; building it again",
                extra={"path": path, "error": f"{type(exc).__name__}: {exc}"},
            )
            shutil.rmtree(path, ignore_errors=True)
            return False
        self._ix = ix
        return True

    def _build(self, path: str | None) -> tantivy.Index:
        """Index the papers, in memory or into ``path`` (built beside it, then moved in, so a
        crash midway never leaves a partial index under the name)."""
        if path is None:
            ix = tantivy.Index(_SCHEMA)
            _register(ix)
            self._index(ix)
            return ix
        tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        ix = tantivy.Index(_SCHEMA, path=tmp, reuse=False)
        _register(ix)
        self._index(ix)
        shutil.rmtree(path, ignore_errors=True)
        try:
            os.replace(tmp, path)
        except OSError:  # another process put one there meanwhile: use this one where it is
            return ix
        ix = tantivy.Index(_SCHEMA, path=path, reuse=True)
        _register(ix)
        ix.reload()
        return ix

    def _index(self, ix: tantivy.Index) -> None:
        # Stemming is most of the cost: two indexing threads where there are two cores.
        writer = ix.writer(heap_size=_WRITER_HEAP, num_threads=_WRITER_THREADS)
        add = writer.add_document
        for i, p in enumerate(self._papers):
            add(
                tantivy.Document(
                    pos=i,
                    title=p.title,
                    text=" ".join((p.title, p.summary, *p.bullets)),
                    words=self._titles[i],
                    tkey=self._titles[i],
                    meta=_meta_tokens(p),
                )
            )
        writer.commit()
        writer.wait_merging_threads()
        ix.reload()

    def warm(self) -> None:
        """Build the lazy parts now (call from a thread at start-up, off the event loop)."""
        self._fuzzy_index()

    def close(self) -> None:
        """Nothing to release: the index is dropped with the last reference (a search still
        running on this index when a new catalog replaces it finishes normally)."""

    # -- search -----------------------------------------------------------------

    def search(
        self, query: SearchQuery, limit: int, offset: int, *, week_starts: Collection[date] = ()
    ) -> SearchPage:
        """Papers matching the query's words and its year, week and has filters, best first
        over every match (``arxiv`` is the catalog's lookup, not a search). ``week_starts``:
        the start dates of the loaded weeks that cover ``query.week``; none means no paper can
        match it."""
        plan = self.plan(query, week_starts=week_starts)
        if plan is None:
            return SearchPage(query, [], offset, False)
        if plan.newest:  # filters without words: the newest matching papers first
            rows = self._newest(plan.query, limit + 1, offset)
            newest = [SearchHit(self._papers[r], 0.0) for r in rows]
            return SearchPage(query, newest[:limit], offset, len(newest) > limit)
        # Equal scores go newest first, whatever segment the index put each paper in: take a
        # few more than the page and order by (score, position) here.
        found = self._searcher.search(plan.query, offset + limit + 1 + TIE_SLACK, count=False).hits
        positions = self._positions([addr for _, addr in found])
        order = sorted(zip(found, positions, strict=True), key=lambda h: (-h[0][0], h[1]))
        hits = [
            SearchHit(self._papers[i], float(score))
            for (score, _), i in order[offset : offset + limit + 1]
        ]
        return SearchPage(
            query, hits[:limit], offset, len(hits) > limit, plan.relaxed and bool(hits or offset)
        )

    def plan(self, query: SearchQuery, *, week_starts: Collection[date] = ()) -> SearchPlan | None:
        """The Tantivy query ``search`` runs for ``query`` (None when nothing can match, so
        nothing is searched). Deciding whether to relax to any-word matching searches once
        (one hit, no count) when there are several words. ``bench/search.py`` times the
        engine alone on these queries."""
        filters = _filter_query(query, week_starts)
        if filters is None:
            return None
        terms = [t for w in query.words for t in _stem(w)][:MAX_QUERY_WORDS]
        if not terms:
            if query.words or filters is _NO_FILTER:
                return None
            return SearchPlan(filters, newest=True)
        words = _words_query(terms, tantivy.Occur.Must)
        relaxed = False
        if len(terms) > 1 and not self._searcher.search(words, 1, count=False).hits:
            # No paper has every word: show papers with any of them, and say so.
            words, relaxed = _words_query(terms, tantivy.Occur.Should), True
        if filters is _NO_FILTER:
            return SearchPlan(words, relaxed=relaxed)
        both = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, words),
                (tantivy.Occur.Must, tantivy.Query.const_score_query(filters, 0.0)),
            ]
        )
        return SearchPlan(both, relaxed=relaxed)

    @property
    def searcher(self) -> tantivy.Searcher:
        """The Tantivy searcher the index answers with (for ``bench/``)."""
        return self._searcher

    def _newest(self, query: tantivy.Query, limit: int, offset: int = 0) -> list[int]:
        """Positions of the papers matching ``query``, newest (lowest position) first."""
        found = self._searcher.search(
            query, limit, count=False, order_by_field="pos", offset=offset, order=tantivy.Order.Asc
        ).hits
        return [int(pos) for pos, _ in found]

    def _positions(self, addresses: list[tantivy.DocAddress]) -> list[int]:
        if not addresses:
            return []
        values = self._searcher.fast_field_values("pos", addresses)
        return [int(v) for v in values if v is not None]

    # -- autocomplete -----------------------------------------------------------------

    def suggest(self, prefix: str, limit: int) -> list[CatalogPaper]:
        """Titles for autocomplete of a normalised, non-empty ``prefix``: title-prefix matches
        first, then papers whose title holds every typed word (last one as a prefix), then
        typo-tolerant trigram matches."""
        seen = dict.fromkeys(self._title_prefix(prefix, limit))
        if len(seen) < limit:
            for pos in self._title_words(prefix.split()[:MAX_QUERY_WORDS], limit):
                seen.setdefault(pos)
        if len(seen) < FUZZY_BELOW and len(prefix) >= 3:
            corrected = self._fuzzy_index().correct(prefix.split()[:MAX_QUERY_WORDS])
            if corrected:
                for pos in self._title_words(corrected, limit):
                    seen.setdefault(pos)
        return [self._papers[i] for i in list(seen)[:limit]]

    def _title_prefix(self, prefix: str, limit: int) -> list[int]:
        """Papers whose normalised title starts with ``prefix``, in title order."""
        query = tantivy.Query.regex_query(_SCHEMA, "tkey", _regex_literal(prefix) + ".*")
        found = self._searcher.search(
            query, limit, count=False, order_by_field="tkey", order=tantivy.Order.Asc
        ).hits
        return self._positions([addr for _, addr in found])

    def _title_words(self, words: Sequence[str], limit: int) -> list[int]:
        """Papers whose title holds every word (the last one as a prefix), newest first."""
        if not words:
            return []
        clauses = [
            (tantivy.Occur.Must, tantivy.Query.term_query(_SCHEMA, "words", w)) for w in words[:-1]
        ]
        last = tantivy.Query.regex_query(_SCHEMA, "words", _regex_literal(words[-1]) + ".*")
        clauses.append((tantivy.Occur.Must, last))
        return self._newest(tantivy.Query.boolean_query(clauses), limit)

    def _fuzzy_index(self) -> _Fuzzy:
        if self._fuzzy is None:
            with self._lock:
                if self._fuzzy is None:
                    self._fuzzy = _Fuzzy(self._titles)
        return self._fuzzy


class _Fuzzy:
    """Typo correction of title words: a trigram index of the words of every title."""

    def __init__(self, titles: Sequence[str]) -> None:
        self.vocab = sorted({w for t in titles for w in t.split() if len(w) >= 3})
        self.known = frozenset(self.vocab)
        grams: dict[str, list[int]] = {}
        for i, word in enumerate(self.vocab):
            for g in {word[k : k + 3] for k in range(len(word) - 2)}:
                grams.setdefault(g, []).append(i)
        self.grams = grams

    def correct(self, words: Sequence[str]) -> list[str] | None:
        """The words with typos replaced by the closest title word; None when nothing needed
        or could be corrected."""
        out: list[str] = []
        for i, word in enumerate(words):
            last = i == len(words) - 1
            known = word in self.known or (last and len(word) < 3)
            out.append(word if known or len(word) < 3 else self._closest(word, last))
        return out if out != list(words) else None

    def _closest(self, word: str, last: bool) -> str:
        """The title word nearest ``word`` (the 40 sharing most trigrams with it, then
        difflib's ratio, at least 0.75; the last, still typed word compared with candidates'
        prefixes), else ``word``."""
        counts: dict[int, int] = {}
        for g in sorted({word[k : k + 3] for k in range(len(word) - 2)})[:20]:
            for i in self.grams.get(g, ()):
                counts[i] = counts.get(i, 0) + 1
        best, score = word, 0.0
        for i in heapq.nlargest(40, counts, key=counts.__getitem__):
            cand = self.vocab[i]
            target = cand[: len(word) + 1] if last else cand
            r = SequenceMatcher(None, word, target).ratio()
            if r > score:
                best, score = cand, r
        return best if score >= 0.75 else word


# -- the tantivy schema and queries ------------------------------------------------------------

TIE_SLACK = 32  # hits beyond the page fetched to order equal scores newest first
TITLE_WEIGHT = 8.0  # a word in the title counts eight times more than elsewhere
_WRITER_THREADS = max(1, min(2, os.cpu_count() or 1))
_WRITER_HEAP = 48_000_000 * _WRITER_THREADS
_STEM = "paperboy_stem"


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_WORD_LEN + 1))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_integer_field("pos", stored=False, indexed=False, fast=True)
    # ``text`` is the title, summary and bullets: what a query's words must match. ``title``
    # again on its own, only to rank a word found in the title above one found elsewhere.
    b.add_text_field("title", tokenizer_name=_STEM, index_option="freq")
    b.add_text_field("text", tokenizer_name=_STEM, index_option="freq")
    # Unstemmed title words for autocomplete, and the filter tokens: matched, never ranked.
    b.add_text_field("words", tokenizer_name="default", index_option="basic")
    # The whole normalised title as one term, for title-prefix autocomplete in title order.
    b.add_text_field("tkey", tokenizer_name="raw", fast=True, index_option="basic")
    b.add_text_field("meta", tokenizer_name="default", index_option="basic")
    return b.build()


_SCHEMA = _schema()
_ANALYZER = _analyzer()
_NO_FILTER = tantivy.Query.all_query()


def _register(ix: tantivy.Index) -> None:
    ix.register_tokenizer(_STEM, _analyzer())


def _regex_literal(text: str) -> str:
    """``text`` matching itself in a Tantivy regex (normalised titles hold only word
    characters and spaces; anything else is escaped)."""
    return "".join(c if c.isalnum() or c in " _" else "\\" + c for c in text)


def _stem(word: str) -> list[str]:
    """The index terms of a query word, as the title and summary were tokenized."""
    return [t for t in _ANALYZER.analyze(word) if t]


def _words_query(terms: Sequence[str], occur: tantivy.Occur) -> tantivy.Query:
    """Every term (``Must``) or any (``Should``) in the text, each scoring more when it is in
    the title. Matching on one field keeps a conjunction an intersection of plain posting
    lists (the title clauses only add to the score)."""
    unique = list(dict.fromkeys(terms))
    clauses = [(occur, tantivy.Query.term_query(_SCHEMA, "text", t)) for t in unique]
    clauses += [
        (
            tantivy.Occur.Should,
            tantivy.Query.boost_query(tantivy.Query.term_query(_SCHEMA, "title", t), TITLE_WEIGHT),
        )
        for t in unique
    ]
    return tantivy.Query.boolean_query(clauses)


# Filter tokens live in the ``meta`` column; a query's filters are written with the same
# functions, so what is indexed and what is asked for cannot drift apart.


def _year_token(year: int) -> str:
    return f"zzy{year}"


def _week_token(start: date) -> str:
    return f"zzw{start.year:04d}{start.month:02d}{start.day:02d}"


def _label_tokens(label: str) -> list[str]:
    """``has:`` tokens of a link label: one per word (``Code`` -> ``zzhcode``)."""
    return [f"zzh{w}" for w in WORD_RE.findall(label.casefold())]


def _filter_query(q: SearchQuery, week_starts: Collection[date]) -> tantivy.Query | None:
    """The query's filters as one query (``_NO_FILTER`` for none); None when a filter can match
    nothing (a week date no loaded week covers)."""
    terms: list[tantivy.Query] = []
    if q.year is not None:
        terms.append(_meta(_year_token(q.year)))
    if q.week is not None:
        if not week_starts:
            return None
        weeks = [(tantivy.Occur.Should, _meta(_week_token(d))) for d in sorted(week_starts)]
        terms.append(tantivy.Query.boolean_query(weeks))
    for label in q.has:
        terms += [_meta(t) for t in _label_tokens(label)]
    if not terms:
        return _NO_FILTER
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, t) for t in terms])


def _meta(token: str) -> tantivy.Query:
    return tantivy.Query.term_query(_SCHEMA, "meta", token)


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
