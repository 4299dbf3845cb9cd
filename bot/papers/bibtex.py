"""BibTeX for papers (``/papers cite``, ``paperboy export --format bibtex``), written with
bibtexparser (v1's ``BibDatabase`` and ``BibTexWriter``).

A paper with an arXiv id is an arXiv-style ``@misc``: ``eprint``, ``archivePrefix = {arXiv}``,
``primaryClass`` (from arXiv metadata, when known), ``author``, ``year`` (of the first version,
else of the id), ``title`` and ``url``. A paper without one is a plain ``@misc`` with its title
and url. Field values are escaped for LaTeX (``\\&``, ``\\%``, ``\\textbraceleft{}``, ...:
BibTeX counts braces even after a backslash, so braces are never written as ``\\{``), so
every entry parses back to what was written and no title can break out of its braces. Text
stays UTF-8.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

import bibtexparser
from bibtexparser.bibdatabase import BibDatabase
from bibtexparser.bwriter import BibTexWriter

from bot.core.arxivmeta import ArxivMeta
from bot.papers.sources.headings import arxiv_yymm

__all__ = ["bibtex", "bibtex_entry", "latex_escape", "url_value"]

FIELD_ORDER = ("title", "author", "year", "eprint", "archivePrefix", "primaryClass", "url")

_SPECIAL = {
    "\\": r"\textbackslash{}",
    # BibTeX counts braces even after a backslash, so ``\{`` could unbalance a field.
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_SPECIAL_RE = re.compile("|".join(re.escape(c) for c in _SPECIAL))
_STOP = frozenset({"a", "an", "the", "on", "of", "for", "and", "to", "in", "with", "is", "are"})


def latex_escape(text: str) -> str:
    """``text`` as a BibTeX field value: LaTeX's special characters escaped, whitespace
    collapsed (a field is one line)."""
    return _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group()], " ".join(text.split()))


def url_value(url: str) -> str:
    """A URL as a field value: verbatim (LaTeX's ``\\url`` takes it as it is), except what
    would end the field or the line, percent-encoded."""
    return "".join(_URL_UNSAFE.get(c, c) for c in url.strip())


_URL_UNSAFE = {"{": "%7B", "}": "%7D", "\\": "%5C", " ": "%20", "\n": "", "\r": ""}


def _ascii_word(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def _key(authors: tuple[str, ...], year: str | None, title: str, fallback: str) -> str:
    """``vaswani2017attention``: first author's last name, year, first word of the title that
    says something (each part only when known)."""
    last = _ascii_word(authors[0].split()[-1]) if authors and authors[0].split() else ""
    words = [_ascii_word(w) for w in title.split()]
    first = next((w for w in words if w and w not in _STOP), "")
    key = f"{last}{year or ''}{first}" if last else f"{first}{year or ''}"
    return key if key[:1].isalpha() else fallback


def bibtex_entry(paper: Any, meta: ArxivMeta | None = None) -> dict[str, str]:
    """One entry of a ``CatalogPaper`` or ``Paper`` (bibtexparser's dict: ``ENTRYTYPE``,
    ``ID`` and escaped field values)."""
    aid = paper.arxiv_id
    title = meta.title if meta is not None and meta.title else paper.title
    authors = meta.authors if meta is not None else ()
    year: str | None = None
    if meta is not None and meta.published is not None:
        year = str(meta.published.year)
    elif aid and (yymm := arxiv_yymm(aid)):
        year = str(yymm[0])
    entry: dict[str, str] = {
        "ENTRYTYPE": "misc",
        "ID": _key(authors, year, title, f"paper{paper.paper_id}"),
        "title": latex_escape(title),
    }
    if authors:
        entry["author"] = " and ".join(latex_escape(a) for a in authors)
    if aid:
        if year:
            entry["year"] = year
        entry["eprint"] = aid
        entry["archivePrefix"] = "arXiv"
        if meta is not None and meta.primary_category:
            entry["primaryClass"] = latex_escape(meta.primary_category)
        entry["url"] = f"https://arxiv.org/abs/{aid}"
    elif paper.url:
        entry["url"] = url_value(paper.url)
    return entry


def bibtex(papers: Iterable[Any], meta: Callable[[Any], ArxivMeta | None] = lambda p: None) -> str:
    """The entries of ``papers`` (in order, each once), with keys made unique (``...a``,
    ``...b``) where two would clash."""
    db = BibDatabase()
    seen_papers: set[str] = set()
    keys: dict[str, int] = {}
    for p in papers:
        if p.paper_id in seen_papers:
            continue
        seen_papers.add(p.paper_id)
        entry = bibtex_entry(p, meta(p))
        n = keys.get(entry["ID"], 0)
        keys[entry["ID"]] = n + 1
        if n:
            entry["ID"] += _suffix(n)
        db.entries.append(entry)
    writer = BibTexWriter()
    writer.order_entries_by = None
    writer.display_order = list(FIELD_ORDER)
    writer.indent = "  "
    text: str = bibtexparser.dumps(db, writer)
    return text.strip() + "\n"


def _suffix(n: int) -> str:
    """1 -> a, 2 -> b, ..., 26 -> z, 27 -> aa."""
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("a") + r) + out
    return out
