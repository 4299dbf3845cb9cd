"""Link collections: paper notes, numbered link posts and newsletters -> one dated Week each."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.paths import FIXTURES as FIXTURES_ROOT

from bot.core.messages import Link
from bot.papers.model import ParseResult
from bot.papers.sources.collections import (
    detect_collection_shape,
    parse_collection,
    parse_link_post,
    parse_newsletter,
    parse_paper_notes,
)

FIXTURES = FIXTURES_ROOT / "collections"


def load(name: str, default_date: date | None = None) -> ParseResult:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return parse_collection(text, f"collections/{name}", default_date=default_date)


# --- paper notes ----------------------------------------------------------------------------------


def test_paper_notes_fixture() -> None:
    result = load("2024-03-15-reading-notes.md")
    assert len(result.weeks) == 1
    week = result.weeks[0]
    assert week.kind == "collection"
    assert week.start == week.end == date(2024, 3, 15)  # from the file name
    assert week.title == "2024-03-15-reading-notes"
    assert week.source == "collections/2024-03-15-reading-notes.md"
    assert [p.rank for p in week.papers] == [1, 2, 3, 4]
    assert [p.title for p in week.papers] == [
        "Attention Is All You Need",
        "Local copy of the ResNet paper",
        "LoRA: Low-Rank Adaptation of Large Language Models",
        "Training Compute-Optimal Large Language Models",
    ]

    attention = week.papers[0]
    assert attention.line == 3
    assert attention.links == (
        Link("Paper", "https://arxiv.org/abs/1706.03762"),
        Link("Code", "https://github.com/tensorflow/tensor2tensor"),
    )
    assert attention.url == "https://arxiv.org/abs/1706.03762"
    assert attention.arxiv_id == "1706.03762"
    assert attention.summary == "Replaces recurrence with self-attention everywhere"
    assert attention.bullets == (
        "multi-head attention lets each head look at a different subspace",
        "positional encodings carry the order of tokens",
        "Trains much faster than the recurrent baselines of its time",
    )


def test_paper_notes_file_url_is_a_warning_and_paper_loads_without_link() -> None:
    result = load("2024-03-15-reading-notes.md")
    local = result.weeks[0].papers[1]
    assert local.links == ()
    assert local.summary.startswith("Residual connections")
    assert result.errors == []
    [warning] = result.warnings
    assert warning.line == 11
    assert "file:///" in warning.message
    assert warning.source == "collections/2024-03-15-reading-notes.md"


def test_paper_notes_paragraph_summary_then_bullets_and_numbered_lists() -> None:
    week = load("2024-03-15-reading-notes.md").weeks[0]
    lora, chinchilla = week.papers[2], week.papers[3]
    assert lora.summary.startswith("Fine-tuning through small low-rank updates")
    assert lora.bullets == (
        "Far fewer trainable parameters",
        "No added inference latency once merged",
    )
    # numbered items count as bullets; the first becomes the summary; an empty bullet is dropped
    assert chinchilla.summary == "Parameters and tokens should grow together"
    assert chinchilla.bullets == (
        "A smaller model trained longer beats a larger one trained briefly",
    )
    # a heading that is not a link ends the previous paper's notes
    assert all("belongs to no paper" not in b for p in week.papers for b in p.bullets)


def test_paper_notes_inline_links_become_plain_text() -> None:
    text = "## [A](https://example.org/a)\n- built [a tool](https://example.org/t) for it\n"
    paper = parse_paper_notes(text, "n.md", default_date=date(2024, 1, 1)).weeks[0].papers[0]
    assert paper.summary == "built a tool (https://example.org/t) for it"
    assert paper.links == (Link("Link", "https://example.org/a"),)


# --- link posts -----------------------------------------------------------------------------------


def test_link_post_fixture() -> None:
    result = load("link-roundup.md", default_date=date(1999, 1, 1))
    week = result.weeks[0]
    assert week.start == week.end == date(2024, 1, 7)  # front matter wins over the default
    assert week.title == "Reading roundup #3"
    titles = [p.title for p in week.papers]
    assert titles == [
        "Scaling Laws for Neural Language Models",
        "The Annotated Transformer",
        "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness",
        "Longformer: The Long-Document Transformer",
        "Reformer: The Efficient Transformer",
        "A Recipe for Training Neural Networks",
    ]
    assert [p.rank for p in week.papers] == [1, 2, 3, 4, 5, 6]
    assert [p.line for p in week.papers] == [10, 13, 15, 16, 16, 20]


def test_link_post_item_description_and_passing_links() -> None:
    week = load("link-roundup.md").weeks[0]
    scaling = week.papers[0]
    # the description spans two lines; the link mentioned in passing stays text, not a paper
    assert scaling.summary.startswith("an early study of how loss falls with model size")
    assert "the follow-up (https://arxiv.org/abs/2203.15556)" in scaling.summary
    assert scaling.links == (Link("Paper", "https://arxiv.org/abs/2001.08361"),)
    annotated = week.papers[1]
    assert annotated.links == (Link("Link", "https://nlp.seas.harvard.edu/annotated-transformer/"),)
    assert annotated.summary == "walks through an implementation line by line."
    # prose before the link: the first link is the paper and the whole item is the summary
    recipe = week.papers[5]
    assert recipe.summary.startswith("My favourite post this month is A Recipe")


def test_link_post_list_item_yields_each_paper() -> None:
    week = load("link-roundup.md").weeks[0]
    flash, longformer, reformer = week.papers[2:5]
    assert flash.arxiv_id == "2205.14135"
    assert longformer.arxiv_id == "2004.05150"
    assert reformer.arxiv_id == "2001.04451"
    assert flash.summary == longformer.summary == ""


def test_link_post_item_without_link_is_a_warning() -> None:
    result = load("link-roundup.md")
    assert [(d.severity, d.line) for d in result.diagnostics] == [("warning", 18)]
    assert "item 4" in result.diagnostics[0].message


def test_link_post_bad_front_matter_date_falls_back_with_warning() -> None:
    text = "---\ndate: someday\n---\n**1:** [X](https://example.org/x) words\n"
    result = parse_link_post(text, "posts/2023-05-06-post.md")
    assert result.weeks[0].start == date(2023, 5, 6)
    [warning] = result.warnings
    assert warning.line == 2
    assert "someday" in warning.message


# --- newsletters ----------------------------------------------------------------------------------


def test_newsletter_fixture() -> None:
    result = load("newsletter_20191208.md")
    assert result.diagnostics == []
    week = result.weeks[0]
    assert week.start == date(2019, 12, 8)  # compact date in the file name
    assert week.title == "newsletter_20191208"
    lottery, double_descent, adam = week.papers
    assert lottery.title == (
        "The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural Networks"
    )
    assert lottery.line == 8
    assert lottery.links == (Link("Paper", "https://arxiv.org/abs/1803.03635"),)
    # the TLDR bullet is the summary wherever it is; the other notes stay bullets, in order
    assert lottery.summary == "prune, rewind the survivors to their initial weights, retrain"
    assert lottery.bullets == (
        "Dense networks hide small subnetworks that train to full accuracy from their original "
        "init",
        "Iterative pruning finds smaller winners than one-shot pruning",
    )
    # a bold title followed by a bare "Link" bullet is a paper (not a new section)
    assert double_descent.title == "Deep Double Descent: Where Bigger Models and More Data Hurt"
    assert double_descent.links == ()
    assert double_descent.summary == "Test error rises and then falls again as models grow"
    assert double_descent.bullets == (
        "The effect shows up across CNNs, ResNets and transformers when label noise is present",
    )
    assert adam.links == (
        Link("Paper", "https://arxiv.org/abs/1412.6980"),
        Link("Code", "https://github.com/example/adam-reference"),
    )
    assert adam.summary == "Adaptive moment estimates per parameter"
    assert adam.bullets == ()


def test_newsletter_ignores_other_sections() -> None:
    week = load("newsletter_20191208.md").weeks[0]
    texts = [p.title for p in week.papers] + [b for p in week.papers for b in p.bullets]
    assert not any("x-ray" in t or "dataframe" in t for t in texts)


def test_newsletter_without_papers_section_has_no_week() -> None:
    text = "**Papers**\n\n**Tools**\n\n- a tool\n"
    result = parse_newsletter(text, "n.md", default_date=date(2024, 1, 1))
    assert result.weeks == []
    assert [d.severity for d in result.diagnostics] == ["warning"]


# --- detection and dating -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("2024-03-15-reading-notes.md", "paper-notes"),
        ("link-roundup.md", "link-post"),
        ("newsletter_20191208.md", "newsletter"),
    ],
)
def test_detects_shape(name: str, shape: str) -> None:
    assert detect_collection_shape((FIXTURES / name).read_text(encoding="utf-8")) == shape


def test_unrecognised_text_is_a_warning_without_weeks() -> None:
    result = parse_collection("just some prose\n\n- and a bullet\n", "misc.md")
    assert result.weeks == []
    [warning] = result.diagnostics
    assert warning.severity == "warning"
    assert warning.source == "misc.md"


def test_undatable_collection_is_an_error_naming_the_file() -> None:
    text = "## [A paper](https://arxiv.org/abs/2401.00001)\n- a note\n"
    result = parse_collection(text, "notes/undated.md")
    assert result.weeks == []
    [error] = result.errors
    assert error.source == "notes/undated.md"
    assert "undated.md" in error.message


def test_default_date_dates_an_undated_collection() -> None:
    text = "## [A paper](https://arxiv.org/abs/2401.00001)\n"
    result = parse_collection(text, "notes/undated.md", default_date=date(2024, 2, 2))
    assert result.diagnostics == []
    assert result.weeks[0].start == date(2024, 2, 2)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("digests/2024-03-15-notes.md", date(2024, 3, 15)),
        ("notes_20240315.md", date(2024, 3, 15)),
        ("https://example.org/raw/2023.12.31-links.md?x=1", date(2023, 12, 31)),
        ("2024-13-45-notes.md", date(2000, 1, 1)),  # not a real date: the default applies
    ],
)
def test_date_from_file_name(source: str, expected: date) -> None:
    text = "**1:** [X](https://example.org/x)\n"
    week = parse_collection(text, source, default_date=date(2000, 1, 1)).weeks[0]
    assert week.start == expected


def test_front_matter_title_and_crlf_line_numbers() -> None:
    text = "---\r\ntitle: 'Notes'\r\ndate: 2024-04-01\r\n---\r\n\r\n## [T](https://x.org/t)\r\n"
    week = parse_collection(text, "a.md").weeks[0]
    assert (week.title, week.start, week.papers[0].line) == ("Notes", date(2024, 4, 1), 6)


# --- robustness -----------------------------------------------------------------------------------

_FRAGMENTS = [
    "---",
    "date: 2024-01-01",
    "title: x",
    "## [T](https://arxiv.org/abs/2401.00001)",
    "# [](file:///x)",
    "[Source code](https://github.com/a/b)",
    "**1:** [A\n",
    "B](https://x.org)",
    "**2:** Papers: [A](u), [B](",
    "**Papers**",
    "- Link",
    "- [Link](https://x.org/p)",
    "- TLDR - short",
    "  continued",
    "Title line",
    "- ",
    "1.",
    "![img](https://x.org/i.png)",
    "[[nested]](https://x.org/(a))",
    "",
]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    for parse in (parse_collection, parse_paper_notes, parse_link_post, parse_newsletter):
        result = parse(text, "fuzz.md", default_date=date(2024, 1, 1))
        assert all(d.source == "fuzz.md" for d in result.diagnostics)
        assert len(result.weeks) <= 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=20), max_size=30), st.booleans())
def test_markdown_like_text_never_raises(parts: list[str], dated: bool) -> None:
    text = "\n".join(parts)
    default = date(2024, 1, 1) if dated else None
    for parse in (parse_collection, parse_paper_notes, parse_link_post, parse_newsletter):
        result = parse(text, "fuzz.md", default_date=default)
        for week in result.weeks:
            assert [p.rank for p in week.papers] == list(range(1, len(week.papers) + 1))
            assert all(p.title for p in week.papers)
            assert all(p.line >= 1 for p in week.papers)
        assert all(d.line is None or d.line >= 1 for d in result.diagnostics)
