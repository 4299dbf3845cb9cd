"""BibTeX entries parse back with bibtexparser to exactly the fields written, whatever the
title holds: LaTeX's special characters are escaped, so nothing ends a field early."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import bibtexparser
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.arxivmeta import ArxivMeta
from bot.core.messages import Link
from bot.papers.bibtex import bibtex, latex_escape
from bot.papers.model import Paper

UNESCAPE = {
    r"\textbackslash{}": "\\",
    r"\textasciitilde{}": "~",
    r"\textasciicircum{}": "^",
    r"\textbraceleft{}": "{",
    r"\textbraceright{}": "}",
    **{"\\" + c: c for c in "&%$#_"},
}
_UNESCAPE_RE = re.compile("|".join(re.escape(k) for k in UNESCAPE))


def unescape(value: str) -> str:
    return _UNESCAPE_RE.sub(lambda m: UNESCAPE[m.group()], value)


@settings(max_examples=150, deadline=None)
@given(
    title=st.text(min_size=1, max_size=80).filter(lambda t: t.split()),
    author=st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1).filter(
        lambda t: t.split() and " and " not in f" {t} "
    ),
)
def test_any_title_and_author_round_trip(title: str, author: str) -> None:
    p = Paper(1, title, links=(Link("Paper", "https://arxiv.org/abs/2301.04104"),))
    meta = ArxivMeta(
        "2301.04104",
        datetime(2025, 1, 1, tzinfo=UTC),
        title=title,
        authors=(author,),
        primary_category="cs.AI",
    )
    text = bibtex([p], lambda _: meta)
    (entry,) = bibtexparser.loads(text).entries
    assert unescape(entry["title"]) == " ".join(title.split())
    assert unescape(entry["author"]) == " ".join(author.split())
    assert entry["eprint"] == "2301.04104" and entry["primaryclass"] == "cs.AI"
    assert entry["year"] == "2023"  # from the id when arXiv gave no date


def test_two_papers_with_the_same_key_get_distinct_keys() -> None:
    a = Paper(1, "Scaling Laws", links=(Link("Paper", "https://example.org/a"),))
    b = Paper(2, "Scaling Laws", links=(Link("Paper", "https://example.org/b"),))
    entries = bibtexparser.loads(bibtex([a, b, a])).entries
    assert [e["ID"] for e in entries] == ["scaling", "scalinga"]


def test_escaping_covers_every_special_character() -> None:
    assert latex_escape("a\\b{c}&d%e$f#g_h~i^j") == (
        r"a\textbackslash{}b\textbraceleft{}c\textbraceright{}\&d\%e\$f\#g\_h"
        r"\textasciitilde{}i\textasciicircum{}j"
    )
