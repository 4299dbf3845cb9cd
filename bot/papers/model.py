"""Papers and weeks as read from the sources: identity (arXiv id, primary URL, title), links,
weeks, and the diagnostics a parse produces; and the catalog's deduplicated paper with the weeks
it appeared in. Plain data, no I/O."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.core.messages import Link

# --- papers and weeks --------------------------------------------------------------------------

# Labels a reader clicks to *read* the work come first; these never make the primary link.
NON_PRIMARY_LABELS = frozenset({"tweet", "code", "dataset"})

_ARXIV_RE = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html|format)/|huggingface\.co/papers/|alphaxiv\.org/abs/)"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?",
    re.IGNORECASE,
)
_TRACKING_PARAMS = frozenset({"s", "t", "ref", "ref_src", "source"})


_MAYBE_ARXIV = "xiv"  # cheap pre-check: arxiv.org, alphaxiv.org
_HF_PAPERS = "huggingface.co/papers/"


def arxiv_id_from_url(url: str) -> str | None:
    """The arXiv identifier in an arXiv (or arXiv-mirroring) URL, without version suffix."""
    m = _ARXIV_RE.search(url)
    return m.group("id") if m else None


def normalize_url(url: str) -> str:
    """A canonical form of a URL for identity: lower-case host without ``www.``, no fragment,
    no trailing slash, no tracking parameters, http and https alike."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = parts.netloc.lower()
    if host.startswith("www."):
        host = host[4:]
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in _TRACKING_PARAMS and not k.startswith("utm_")
        ]
    )
    path = parts.path.rstrip("/")
    return urlunsplit(("https", host, path, query, ""))


_NOT_WORD = re.compile(r"[^\w\s]")


def normalize_title(title: str) -> str:
    """Case-folded words of a title, punctuation dropped: the key for title lookups."""
    folded = title.casefold()
    if folded.isascii():
        # The common case, several times faster than the regex.
        return " ".join(folded.encode().translate(_ASCII_PUNCT).decode().split())
    return " ".join(_NOT_WORD.sub(" ", folded).split())


_PUNCT = b"!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"
_ASCII_PUNCT = bytes.maketrans(_PUNCT, b" " * len(_PUNCT))


_PAPER_LABEL_RE = re.compile(r"paper\b")  # Paper, Paper 1, Paper (v2), Paper/Book


def primary_link(links: Sequence[Link]) -> Link | None:
    """The link a reader clicks to read the work: a ``Paper`` link (``Paper 1``, ``Paper (v2)``
    count too) first, else the first link whose label is not Tweet, Code or Dataset, else the
    first Tweet (a row with only a Tweet still links somewhere)."""
    for link in links:
        if _PAPER_LABEL_RE.match(link.label.strip().casefold()):
            return link
    for link in links:
        if link.label.strip().casefold() not in NON_PRIMARY_LABELS:
            return link
    for link in links:
        if link.label.strip().casefold() == "tweet":
            return link
    return None


def _identity_link(links: Sequence[Link]) -> Link | None:
    """The link that identifies a paper without an arXiv id. Frozen: votes attach to the ids
    made from it, so it keeps the rule ids were first made with (``primary_link`` may grow)."""
    for link in links:
        if link.label.strip().casefold() == "paper":
            return link
    for link in links:
        if link.label.strip().casefold() not in NON_PRIMARY_LABELS:
            return link
    return None


def paper_identity_key(title: str, links: Sequence[Link]) -> str:
    """What makes two appearances the same paper: the arXiv id, else the primary URL, else the
    normalised title. Independent of rank, week, summary and source."""
    return paper_identity(title, links)[0]


def paper_identity(title: str, links: Sequence[Link]) -> tuple[str, str | None]:
    """(identity key, arXiv id or None) in one pass over the links."""
    for link in links:
        low = link.url.lower()
        aid = arxiv_id_from_url(link.url) if _MAYBE_ARXIV in low or _HF_PAPERS in low else None
        if aid:
            return f"arxiv:{aid.lower()}", aid
    primary = _identity_link(links)
    if primary is not None:
        return f"url:{normalize_url(primary.url)}", None
    return f"title:{normalize_title(title)}", None


def make_paper_id(identity_key: str) -> str:
    """Stable short id (10 hex chars) of an identity key; votes attach to it."""
    return hashlib.sha1(identity_key.encode("utf-8")).hexdigest()[:10]


class HasLinks:
    """The link-derived facts of anything with ``links``: primary link, URL, arXiv id."""

    __slots__ = ()
    links: tuple[Link, ...]

    @property
    def primary(self) -> Link | None:
        return primary_link(self.links)

    @property
    def url(self) -> str | None:
        p = self.primary
        return p.url if p else None

    @property
    def arxiv_id(self) -> str | None:
        for link in self.links:
            aid = arxiv_id_from_url(link.url)
            if aid:
                return aid
        return None


@dataclass(frozen=True, slots=True)
class Paper(HasLinks):
    """One paper as it appears in one week (rank, source and line belong to the appearance)."""

    rank: int
    title: str
    summary: str = ""
    bullets: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    source: str = ""
    line: int = 0
    # Set only to keep apart two papers whose links share an arXiv id (an upstream typo):
    # see ``bot.papers.merge``.
    identity: str | None = None

    @property
    def identity_key(self) -> str:
        if self.identity is not None:
            return self.identity
        return paper_identity_key(self.title, self.links)

    @property
    def paper_id(self) -> str:
        return make_paper_id(self.identity_key)


WeekKind = Literal["weekly", "collection"]


@dataclass(frozen=True, slots=True)
class Week:
    """A dated list of papers: a curated weekly table (``weekly``) or a dated link collection
    (``collection``, where start == end is the collection's date)."""

    start: date
    end: date
    title: str
    source: str
    papers: tuple[Paper, ...] = ()
    line: int = 0
    kind: WeekKind = "weekly"

    @property
    def key(self) -> str:
        """Digest key for a curated week; unique per start date."""
        return f"week:{self.start.isoformat()}"


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


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem found while reading a source; never fatal for the rest of the file."""

    severity: Severity
    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.severity}: {self.message}"


@dataclass(slots=True)
class ParseResult:
    weeks: list[Week] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def extend(self, other: ParseResult) -> None:
        self.weeks.extend(other.weeks)
        self.diagnostics.extend(other.diagnostics)


def same_week(a: Collection[str], b: Collection[str]) -> bool:
    """Whether two curated weeks, given as the stable ids of their papers, are the same week.

    Curators edit a week after publishing it: they re-date its heading, fix a typo in a title,
    reorder, replace or add a row, add a link. None of that makes a new week. The rule: the same
    week when more than half of the smaller week's papers appear in the other one. Two different
    weeks of a curated list share few papers, if any."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if not small:
        return False
    shared = len(set(small) & set(large))
    return shared * 2 > len(set(small))
