"""Follow specs: parsing to a canonical form, what they match, and the index that matches many
people's follows against a week at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.arxivmeta import ArxivMeta
from bot.core.messages import Link
from bot.papers.follows import FollowIndex, FollowSpec, paper_terms, parse_follow
from bot.papers.model import Paper

NOW = datetime(2025, 7, 1, tzinfo=UTC)
P = Paper(
    1, "Sparse Diffusion Models", "Fast denoising.", links=(Link("Paper", "https://x.org/1"),)
)
META = ArxivMeta("x", NOW, authors=("Ashish Vaswani", "José Núñez"), categories=("cs.CL",))


def spec(text: str) -> FollowSpec:
    s = parse_follow(text)
    assert isinstance(s, FollowSpec), s
    return s


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("  Diffusion   MODELS ", "diffusion models"),
        ("author:Ashish_Vaswani", "author:ashish_vaswani"),
        ("cat:CS.CL -Vision -vision", "cat:cs.cl -vision"),
        ("diffusion -diffusion video", "video -diffusion"),
    ],
)
def test_follows_are_made_canonical_and_parse_back_the_same(typed: str, canonical: str) -> None:
    s = spec(typed)
    assert s.text == canonical
    assert spec(s.text) == s


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "-video",
        "author:",
        "cat:cs.CL!",
        "cat:x",
        " ".join(f"w{i}" for i in range(9)),
        "a" * 201,
    ],
)
def test_bad_follows_say_what_is_wrong(bad: str) -> None:
    assert isinstance(parse_follow(bad), str)


def test_what_a_follow_matches() -> None:
    terms = paper_terms(P, META)
    assert spec("diffusion").matches(terms)
    assert spec("sparse models").matches(terms)
    assert not spec("diffusion video").matches(terms)  # every word
    assert not spec("diffusion -denoising").matches(terms)  # exclusions see the summary too
    assert spec("author:vaswani").matches(terms) and spec("author:jose_nunez").matches(terms)
    assert not spec("author:vas").matches(terms)  # whole words of a name
    assert spec("cat:cs.cl").matches(terms) and spec("cat:cs").matches(terms)
    assert not spec("author:vaswani").matches(paper_terms(P, None))  # no metadata, no author


def test_the_index_finds_exactly_what_checking_every_follow_finds() -> None:
    follows = [
        (n, spec(t))
        for n, t in enumerate(
            ["diffusion", "sparse -fast", "author:vaswani cat:cs", "models", "quantum", "cat:cs.cl"]
        )
    ]
    terms = [paper_terms(P, META)]
    found = FollowIndex([*follows, (0, spec("sparse"))]).match(terms)
    assert set(found) == {n for n, s in follows if s.matches(terms[0])} == {0, 2, 3, 5}
    assert found[0] == [P.paper_id]  # once, however many of its follows match
