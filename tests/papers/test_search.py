"""Query parsing, and the search index used on its own: the contract the catalog relies on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from bot.core.messages import Link
from bot.papers.model import Appearance, CatalogPaper, normalize_title
from bot.papers.query import SearchQuery, parse_query
from bot.papers.search import SearchIndex

JUNE = Appearance(date(2025, 6, 23), date(2025, 6, 29), 1, "b.md")
NEW_YEAR = Appearance(date(2024, 12, 30), date(2025, 1, 5), 2, "a.md")

# Newest first, as the catalog hands them over.
DIFFUSION = CatalogPaper(
    "p1",
    "Diffusion Models Beat GANs",
    "Image synthesis with diffusion.",
    (),
    (Link("Paper", "https://arxiv.org/abs/2105.05233"), Link("Code", "https://github.com/x/y")),
    [JUNE],
)
SCALING = CatalogPaper(
    "p2",
    "Scaling Laws for Neural Language Models",
    "Loss falls as a power law of model size.",
    ("Compute-optimal training.",),
    (Link("Paper", "https://arxiv.org/abs/2001.08361"),),
    [NEW_YEAR],
)
PAPERS = [DIFFUSION, SCALING]


@pytest.fixture
def index() -> Iterator[SearchIndex]:
    idx = SearchIndex(PAPERS, [normalize_title(p.title) for p in PAPERS])
    yield idx
    idx.close()


def titles(page_hits: list[CatalogPaper]) -> list[str]:
    return [p.title for p in page_hits]


def test_parse_query() -> None:
    q = parse_query("year:2024 week:2025-06-23 has:Code arxiv:2301.04104 foo year:abc Deep")
    assert q.year == 2024 and q.week == date(2025, 6, 23) and q.has == ("code",)
    assert q.arxiv == "2301.04104"
    assert q.words == ("foo", "deep")
    assert q.ignored == ("year:abc",)
    assert parse_query("BERT: pre-training").words == ("bert", "pre", "training")
    assert parse_query("").empty
    assert len(parse_query("w " * 500).words) == 12


def test_index_ranks_words_and_searches_bullets(index: SearchIndex) -> None:
    page = index.search(parse_query("diffusion"), 5, 0)
    assert titles([h.paper for h in page.hits]) == [DIFFUSION.title]
    assert page.hits[0].score > 0
    # Bullets are searched with the summary.
    assert titles([h.paper for h in index.search(parse_query("optimal"), 5, 0).hits]) == [
        SCALING.title
    ]


def test_index_week_filter_uses_the_week_starts_it_is_given(index: SearchIndex) -> None:
    query = parse_query("week:2025-01-02")
    # The catalog says which loaded weeks cover the date; the index matches their papers.
    page = index.search(query, 5, 0, week_starts={NEW_YEAR.week_start})
    assert titles([h.paper for h in page.hits]) == [SCALING.title]
    # No loaded week covers the date: nothing can match, with or without words.
    assert index.search(query, 5, 0).hits == []
    assert index.search(parse_query("week:2025-01-02 scaling"), 5, 0).hits == []


def test_index_filters_only_newest_first_with_paging(index: SearchIndex) -> None:
    first = index.search(parse_query("year:2025"), 1, 0)
    assert titles([h.paper for h in first.hits]) == [DIFFUSION.title]
    assert first.has_more
    second = index.search(parse_query("year:2025"), 1, 1)
    assert titles([h.paper for h in second.hits]) == [SCALING.title]
    assert not second.has_more
    assert titles([h.paper for h in index.search(parse_query("has:code"), 5, 0).hits]) == [
        DIFFUSION.title
    ]


def test_index_suggest_prefix_words_and_typos(index: SearchIndex) -> None:
    assert titles(index.suggest("scal", 25)) == [SCALING.title]
    assert titles(index.suggest("neural lang", 25)) == [SCALING.title]
    index.warm()
    assert titles(index.suggest("difusion models", 25)) == [DIFFUSION.title]
    assert index.suggest("qqqqqq", 25) == []


def test_query_admits_checks_year_week_and_links() -> None:
    assert SearchQuery((), year=2024).admits(SCALING)  # the week starts in 2024
    assert not SearchQuery((), year=2024).admits(DIFFUSION)
    assert SearchQuery((), week=date(2025, 6, 29)).admits(DIFFUSION)
    assert not SearchQuery((), week=date(2025, 6, 30)).admits(DIFFUSION)
    assert SearchQuery((), has=("code",)).admits(DIFFUSION)
    assert not SearchQuery((), has=("code",)).admits(SCALING)


def test_ranking_is_exact_over_every_match_the_best_being_the_oldest() -> None:
    """The best match is the oldest paper of 2,000 that match: ranking covers every match (not
    a window of the newest ones), and a title match outranks summary matches."""
    papers = [
        CatalogPaper(
            f"n{i}",
            f"Paper number {i}",
            f"A long summary that mentions quasars once among many other words, number {i}.",
            (),
            (),
            [JUNE],
        )
        for i in range(1_999)
    ]
    best = CatalogPaper(
        "old", "Quasars in the Early Universe", "Bright distant objects.", (), (), [NEW_YEAR]
    )
    papers.append(best)  # positions run newest first: the oldest is last
    idx = SearchIndex(papers, [normalize_title(p.title) for p in papers])
    page = idx.search(parse_query("quasar"), 5, 0)
    assert page.hits[0].paper is best
    assert len(page.hits) == 5 and page.has_more
    # Filters keep exact ranking too.
    assert idx.search(parse_query("quasars year:2024"), 5, 0).hits[0].paper is best
