"""The catalog: dedupe, lookups, and ranked search with filters and autocomplete through it."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from bot.core.arxivmeta import ArxivMeta
from bot.core.messages import Link
from bot.papers import catalog as catalog_module
from bot.papers.catalog import Catalog, week_range_label
from bot.papers.model import Paper, Week


def _paper(rank: int, title: str, summary: str, *links: tuple[str, str]) -> Paper:
    return Paper(rank, title, summary, (), tuple(Link(a, b) for a, b in links), "t.md", rank)


ATTN = _paper(
    1,
    "Attention Is All You Need",
    "The Transformer: sequence transduction built on attention alone.",
    ("Paper", "https://arxiv.org/abs/1706.03762"),
)
BERT = _paper(
    2,
    "BERT: Pre-training of Deep Bidirectional Transformers",
    "Masked-language pre-training of a bidirectional encoder.",
    ("Paper", "https://arxiv.org/abs/1810.04805"),
    ("Code", "https://github.com/google-research/bert"),
)
LORA = _paper(
    1,
    "LoRA: Low-Rank Adaptation of Large Language Models",
    "Freezes the weights and trains small low-rank update matrices.",
    ("Paper", "https://arxiv.org/abs/2106.09685v2"),
)
# The same paper again in a later week, via its PDF URL and another rank.
ATTN_AGAIN = _paper(
    3,
    "Attention Is All You Need",
    "Revisited: the architecture behind today's language models.",
    ("Paper", "https://arxiv.org/pdf/1706.03762.pdf"),
    ("Blog", "https://example.org/attention-blog"),
)
BLOG_ONLY = _paper(
    2, "A Field Guide to Tokenizers", "Notes on tokenizers.", ("Blog", "https://example.org/tok")
)

OLD = Week(date(2024, 12, 30), date(2025, 1, 5), "Week A", "a.md", (ATTN, BERT))
NEW = Week(date(2025, 6, 23), date(2025, 6, 29), "Week B", "b.md", (LORA, BLOG_ONLY, ATTN_AGAIN))


@pytest.fixture
def cat() -> Catalog:
    return Catalog.build([OLD, NEW])


def test_dedupes_the_same_paper_across_weeks(cat: Catalog) -> None:
    assert len(cat) == 4
    p = cat.paper("1706.03762")
    assert p is not None
    assert [(a.week_start, a.rank) for a in p.appearances] == [
        (date(2025, 6, 23), 3),
        (date(2024, 12, 30), 1),
    ]
    # Content from the newest appearance, links merged.
    assert p.summary.startswith("Revisited")
    assert [link.label for link in p.links] == ["Paper", "Blog", "Paper"]
    assert p.paper_id == ATTN.paper_id == ATTN_AGAIN.paper_id


def test_stable_id_survives_reordering() -> None:
    a = Catalog.build([NEW, OLD])
    b = Catalog.build([OLD, NEW])
    assert {p.paper_id for p in a.papers} == {p.paper_id for p in b.papers}


def test_lookups(cat: Catalog) -> None:
    assert cat.paper(LORA.paper_id) is cat.paper("arxiv:2106.09685v1")
    assert cat.paper("https://arxiv.org/abs/2106.09685") is cat.paper(
        "lora low rank adaptation of large language models"
    )
    assert cat.paper("") is None
    assert cat.paper("nothing like this") is None


def test_week_lookup(cat: Catalog) -> None:
    assert cat.week("latest") is NEW
    assert cat.week(None) is NEW
    assert cat.week("2025-01-01") is OLD  # any date inside the week
    assert cat.week(date(2024, 12, 30)) is OLD
    assert cat.week("2025-06-29") is NEW
    assert cat.week("2025-06-30") is None
    assert cat.week("not a date") is None
    assert cat.neighbours(NEW) == (OLD, None)
    assert week_range_label(OLD) == "Dec 30, 2024 – Jan 5, 2025"


def test_search_ranks_title_matches_first(cat: Catalog) -> None:
    page = cat.search("attention")
    assert [h.paper.title for h in page.hits][0] == "Attention Is All You Need"
    assert not page.has_more
    # Stemming: "transformer" finds "Transformers"; summaries are searched too.
    assert [h.paper.title for h in cat.search("transformer").hits] == [BERT.title]
    assert [h.paper.title for h in cat.search("architecture").hits] == [ATTN.title]


def test_search_filters(cat: Catalog) -> None:
    assert [h.paper.title for h in cat.search("has:code").hits] == [BERT.title]
    assert {h.paper.title for h in cat.search("year:2024").hits} == {ATTN.title, BERT.title}
    assert {h.paper.title for h in cat.search("week:2025-06-25 language").hits} == {
        LORA.title,
        ATTN.title,
    }
    assert [h.paper.title for h in cat.search("arxiv:1810.04805").hits] == [BERT.title]
    assert cat.search("has:code attention").hits == []


def test_search_paging(cat: Catalog) -> None:
    first = cat.search("the OR a language", limit=1)
    assert len(first.hits) == 1
    assert first.has_more
    second = cat.search("the OR a language", limit=1, offset=1)
    assert second.hits and second.hits[0].paper is not first.hits[0].paper


@pytest.mark.parametrize(
    ("hostile", "plain"),
    [
        ('"', ""),
        ("*", ""),
        ("NEAR(", "near"),
        ("-", ""),
        ('"attention', "attention"),
        ("attention*", "attention"),
        ("transf*", "transf"),  # no prefix search: nothing holds the word "transf"
        ("NEAR(attention bert)", "near attention bert"),
        ("-bert", "bert"),  # not a negation
        ("attention -bert", "attention bert"),
        ("title:attention", "title attention"),  # not a field restriction
        ("summary:tokenizers OR bert", "summary tokenizers or bert"),
        ("x" * 10_000, "x" * 40),
        ("<!channel>", "channel"),
        ("@everyone", "everyone"),
        ("AND OR NOT", "and or not"),
        ("attention AND bert", "attention and bert"),
        ("^", ""),
        ("{}", ""),
        ("\x00", ""),
        ("attention^8", "attention 8"),
        ("bert~2", "bert 2"),
        ("[a TO z]", "a to z"),
        ("/atten.*/", "atten"),
    ],
)
def test_fts_syntax_is_inert(cat: Catalog, hostile: str, plain: str) -> None:
    """Query-language syntax in what a user types does nothing: the hits are those of its plain
    words (none when it has no words), and it never raises."""
    page = cat.search(hostile)
    expected = cat.search(plain)
    assert [h.paper.paper_id for h in page.hits] == [h.paper.paper_id for h in expected.hits]
    assert page.relaxed == expected.relaxed
    if not plain:
        assert page.hits == []
    assert cat.search("transf").hits == []  # so "transf*" above proves no prefix expansion


def test_multi_word_query_relaxes_to_any_word(cat: Catalog) -> None:
    page = cat.search("tokenizers zebra")
    assert page.relaxed
    assert [h.paper.title for h in page.hits] == [BLOG_ONLY.title]


def test_suggest_prefix_words_and_typos(cat: Catalog) -> None:
    assert [p.title for p in cat.suggest("attent")][0] == ATTN.title
    assert BERT.title in [p.title for p in cat.suggest("bidirectional trans")]
    assert [p.title for p in cat.suggest("atention is al")][0] == ATTN.title
    assert [p.title for p in cat.suggest("tokenisers")][0] == BLOG_ONLY.title
    assert len(cat.suggest("", limit=25)) == 3  # the latest week
    assert cat.suggest("zzzzzzzz") == []


def test_random_paper(cat: Catalog) -> None:
    assert cat.random_paper(random.Random(3)) in cat.papers
    assert Catalog.build([]).random_paper() is None
    assert Catalog.build([]).search("x").hits == []
    assert Catalog.build([]).week("latest") is None


def test_same_week_survives_curator_edits() -> None:
    from bot.papers.model import same_week

    week = [f"p{i}" for i in range(10)]
    assert same_week(week, list(reversed(week)))  # reordered, re-dated: same ids
    assert same_week(week, [*week[:9], "new"])  # one row replaced
    assert same_week(week, [*week, "extra"])  # a row added
    assert same_week(week[:6], week)  # a shorter copy of it
    assert not same_week(week, [*week[:5], *(f"q{i}" for i in range(5))])  # half is not more
    assert not same_week(week, [f"q{i}" for i in range(10)])
    assert not same_week([], week)


def test_an_author_filter_finds_its_paper_ranked_below_the_first_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``author:`` filters the ranked hits; when the author's paper ranks below the first
    window of hits, the window widens until it is found (exact over every match)."""
    monkeypatch.setattr(catalog_module, "META_WINDOW", 3)
    weeks = [
        Week(
            date(2025, 1, 6) + (date(2025, 1, 13) - date(2025, 1, 6)) * i,
            date(2025, 1, 12) + (date(2025, 1, 13) - date(2025, 1, 6)) * i,
            f"Week {i}",
            "w.md",
            (
                Paper(
                    1,
                    f"Quasar survey number {i}",
                    "Quasars, quasars and more quasars.",
                    links=(Link("Paper", f"https://arxiv.org/abs/2501.{i:05d}"),),
                ),
            ),
        )
        for i in range(40)
    ]
    # The author's paper mentions the word once, in its summary: it ranks last of 41 matches.
    weeks.append(
        Week(
            date(2024, 1, 1),
            date(2024, 1, 7),
            "Old",
            "w.md",
            (
                Paper(
                    1,
                    "Stellar nurseries",
                    "Dust clouds; one quasar mentioned.",
                    links=(Link("Paper", "https://arxiv.org/abs/2401.00001"),),
                ),
            ),
        )
    )
    cat = Catalog.build(weeks)
    ranked = [h.paper.title for h in cat.search("quasar", limit=50).hits]
    assert ranked[-1] == "Stellar nurseries" and len(ranked) == 41

    def meta(p: object) -> ArxivMeta | None:
        title = getattr(p, "title", "")
        who = ("Vera Rubin",) if title == "Stellar nurseries" else ("Someone Else",)
        return ArxivMeta("x", datetime(2025, 1, 1, tzinfo=UTC), authors=who)

    page = cat.search("quasar author:Rubin", meta=meta)
    assert [h.paper.title for h in page.hits] == ["Stellar nurseries"] and not page.has_more
    others = cat.search("quasar author:Else", limit=5, offset=35, meta=meta)
    assert len(others.hits) == 5 and not others.has_more  # 40 by "Someone Else" in all
