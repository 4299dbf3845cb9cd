"""What people follow, and which papers of a week match it. Plain data and matching, no I/O.

A follow is what a person typed after ``/papers follow``, made canonical by ``parse_follow``:

- words (``diffusion language models``): every word appears in the paper's title, summary,
  bullets or arXiv abstract (whole words, case and accents ignored);
- ``author:Vaswani`` (``author:ashish_vaswani`` for a full name): an author with those words in
  their name, from the paper's arXiv metadata;
- ``cat:cs.CL`` (``cat:cs``: the whole archive): the primary or a cross-listed category;
- ``-word``: the paper must not have the word (in the same text as words above).

Everything in one follow must hold; a person's follows are alternatives. A follow needs one
thing to look for besides exclusions.

``FollowIndex`` matches many people's follows against a week at once: each follow is filed
under one of its terms (its longest word, first author word, or category), and a paper only
checks the follows filed under a term it has.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, TypeVar

from bot.core.arxivmeta import ArxivMeta
from bot.core.perf import pause_gc
from bot.papers.model import CatalogPaper, Paper
from bot.papers.query import fold

__all__ = [
    "FollowIndex",
    "FollowSpec",
    "PaperTerms",
    "match_week",
    "paper_terms",
    "parse_follow",
    "parse_many",
]

MAX_TERMS = 8  # words, authors, categories and exclusions in one follow
MAX_SPEC_CHARS = 200
_CAT_RE = re.compile(r"[a-z][a-z\-]{1,15}(\.[a-z\-]{1,8})?")

K = TypeVar("K")


@dataclass(slots=True)  # not frozen (cheaper to build, by the ten thousand); never changed
class FollowSpec:
    words: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()  # folded, words joined by single spaces
    cats: tuple[str, ...] = ()  # lower-case
    excluded: tuple[str, ...] = ()
    # Computed once: the term it is filed under, and whether holding that term is a match.
    key: str = field(init=False, compare=False, repr=False)
    simple: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.key = self._key()
        terms = len(self.words) + len(self.authors) + len(self.cats) + len(self.excluded)
        one_word_author = len(self.authors) == 1 and " " not in self.authors[0]
        simple = terms == 1 and (bool(self.words or self.cats) or one_word_author)
        self.simple = simple

    @property
    def text(self) -> str:
        """The canonical form, as stored and listed (parses back to the same spec)."""
        parts = [*self.words]
        parts += [f"author:{a.replace(' ', '_')}" for a in self.authors]
        parts += [f"cat:{c}" for c in self.cats]
        parts += [f"-{w}" for w in self.excluded]
        return " ".join(parts)

    def _key(self) -> str:
        """The term this follow is filed under in a ``FollowIndex``."""
        if self.cats:
            return "c:" + self.cats[0]
        if self.authors:
            return "a:" + self.authors[0].split()[0]
        return "w:" + max(self.words, key=len) if self.words else ""

    def matches(self, terms: PaperTerms) -> bool:
        if any(w in terms.words for w in self.excluded):
            return False
        if not all(w in terms.words for w in self.words):
            return False
        if not all(c in terms.cats for c in self.cats):
            return False
        return all(any(f" {a} " in name for name in terms.authors) for a in self.authors)


@lru_cache(maxsize=1 << 16)
def parse_follow(text: str) -> FollowSpec | str:
    """The follow ``text`` describes, or what is wrong with it (a sentence for the person).
    Cached: many people follow the same things, and stored follows are parsed every week."""
    plain = text.lower().split()
    if (
        len(text) <= MAX_SPEC_CHARS
        and 0 < len(plain) <= MAX_TERMS
        and all(t.isascii() and t.isalnum() for t in plain)
    ):
        return FollowSpec(tuple(dict.fromkeys(plain)))  # only words: most follows
    text = " ".join(text.split())
    if not text:
        return "Say what to follow: words, author:Name or cat:cs.CL."
    if len(text) > MAX_SPEC_CHARS:
        return f"That is too long; keep a follow under {MAX_SPEC_CHARS} characters."
    words: list[str] = []
    authors: list[str] = []
    cats: list[str] = []
    excluded: list[str] = []
    for token in text.split():
        low = token.lower()
        if low.startswith("author:"):
            name = _fold_fast(token[7:].replace("_", " "))
            if not name:
                return f"`{token[:40]}` names no author; e.g. author:Vaswani."
            authors.append(name)
        elif low.startswith("cat:"):
            cat = low[4:]
            if not _CAT_RE.fullmatch(cat):
                return f"`{token[:40]}` is not an arXiv category; e.g. cat:cs.CL or cat:stat.ML."
            cats.append(cat)
        elif token.startswith("-") and len(token) > 1:
            excluded += _fold_fast(token[1:]).split()
        elif token.isascii() and token.isalnum():
            words.append(low)  # the common case, without the Unicode work of fold()
        else:
            words += fold(token).split()
    words = list(dict.fromkeys(w for w in words if w not in excluded))
    spec = FollowSpec(
        tuple(words),
        tuple(dict.fromkeys(authors)),
        tuple(dict.fromkeys(cats)),
        tuple(dict.fromkeys(excluded)),
    )
    if not (spec.words or spec.authors or spec.cats):
        return "A follow needs something to look for besides -exclusions."
    if len(words) + len(authors) + len(cats) + len(excluded) > MAX_TERMS:
        return f"Keep a follow to {MAX_TERMS} terms or fewer; add another follow instead."
    return spec


def _fold_fast(text: str) -> str:
    """``fold``, without its Unicode work for plain ASCII words."""
    if text.isascii() and text.replace(" ", "").isalnum():
        return " ".join(text.lower().split())
    return fold(text)


@dataclass(frozen=True, slots=True)
class PaperTerms:
    """What follows are matched against: a paper's words, author names (folded, padded with
    spaces) and categories (with their archives: ``cs.cl`` and ``cs``)."""

    paper_id: str
    words: frozenset[str]
    authors: tuple[str, ...]
    cats: frozenset[str]

    def keys(self) -> set[str]:
        out = {"w:" + w for w in self.words}
        out.update("a:" + w for name in self.authors for w in name.split())
        out.update("c:" + c for c in self.cats)
        return out


def paper_terms(paper: CatalogPaper | Paper, meta: ArxivMeta | None) -> PaperTerms:
    parts = [paper.title, paper.summary, *paper.bullets]
    authors: tuple[str, ...] = ()
    cats: set[str] = set()
    if meta is not None and meta.found:
        parts.append(meta.abstract)
        authors = tuple(f" {fold(a)} " for a in meta.authors)
        for c in (meta.primary_category or "", *meta.categories):
            if c:
                cats.add(c.lower())
                cats.add(c.lower().split(".")[0])
    return PaperTerms(
        paper.paper_id, frozenset(fold(" ".join(parts)).split()), authors, frozenset(cats)
    )


class FollowIndex(Generic[K]):
    """Follows of many owners (``K``: a person), filed by term for matching a week at once."""

    def __init__(self, follows: Iterable[tuple[K, FollowSpec]]) -> None:
        self._by_key: dict[str, list[tuple[K, FollowSpec]]] = defaultdict(list)
        self.size = 0
        for owner, spec in follows:
            self._by_key[spec.key].append((owner, spec))
            self.size += 1

    def match(self, papers: Sequence[PaperTerms]) -> dict[K, list[str]]:
        """Per owner with any match: the ids of the papers their follows match, in ``papers``
        order. (Which follow matched which paper is for the message, worked out per person.)"""
        out: dict[K, list[str]] = {}
        by_key = self._by_key
        for terms in papers:
            pid = terms.paper_id
            for key in terms.keys():  # noqa: SIM118 (a method, not a dict)
                filed = by_key.get(key)
                if not filed:
                    continue
                for owner, spec in filed:
                    if spec.simple or spec.matches(terms):
                        ids = out.get(owner)
                        if ids is None:
                            out[owner] = [pid]
                        elif ids[-1] != pid:  # one paper's hits come together
                            ids.append(pid)
        return out


def match_week(
    follows: Iterable[tuple[K, str]], papers: Sequence[PaperTerms]
) -> dict[K, list[str]]:
    """Stored follows (owner, spec text) against a week's papers: per owner with a match, the
    ids of the papers matched, in order. Builds tens of thousands of small objects at once,
    so without the cyclic collector's passes over them."""
    with pause_gc():
        return FollowIndex(parse_many(follows)).match(papers)


def parse_many(specs: Iterable[tuple[K, str]]) -> Iterable[tuple[K, FollowSpec]]:
    """Stored specs parsed again (one that no longer parses is skipped)."""
    for owner, text in specs:
        spec = parse_follow(text)
        if isinstance(spec, FollowSpec):
            yield owner, spec
