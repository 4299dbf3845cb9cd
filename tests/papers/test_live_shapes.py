"""The shapes the live curated list took after the frozen README: the 2026 rows (long summaries,
four or five bullets, Tweet-only rows, numbered Paper links, inline links), the earliest
bold-line weeks, and the row and heading drift seen in its history or in mutated copies: CR-only
line endings, a tab separator, a wide table, size limits and a week whose heading went missing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from support.paths import FIXTURES as FIXTURES_ROOT

from bot.core.messages import Link
from bot.papers.model import Paper, ParseResult
from bot.papers.sources.limits import SourceLimits
from bot.papers.sources.loader import load_paths, parse_text
from bot.papers.sources.weekly import looks_like_weekly, parse_weekly

FIXTURES = FIXTURES_ROOT / "weekly"
HEAD = "| **Paper**  | **Links** |\n| ------------- | ------------- |\n"
WEEK = "## Top AI Papers of the Week (June 22 - June 28) - 2026\n"


def load(name: str) -> ParseResult:
    return parse_text((FIXTURES / name).read_text(encoding="utf-8"), name)


def tweet(n: int) -> Link:
    return Link("Tweet", f"https://x.com/example/status/{2100000000000000000 + n}")


def row(rank: int, title: str, n: int | None = None) -> str:
    n = rank if n is None else n
    return f"| {rank}) **{title}** - a note. | [Paper](https://arxiv.org/abs/2606.{99000 + n}) |\n"


# --- the 2026 shape -----------------------------------------------------------------------------


def live() -> list[Paper]:
    return list(load("live-2026.md").weeks[0].papers)


def test_2026_weeks_dates_and_titles() -> None:
    result = load("live-2026.md")
    assert result.diagnostics == []
    assert [(w.start, w.end, w.title, w.line) for w in result.weeks] == [
        (
            date(2026, 6, 22),
            date(2026, 6, 28),
            "Top AI Papers of the Week (June 22 - June 28) - 2026",
            6,
        ),
        (
            date(2026, 6, 15),
            date(2026, 6, 21),
            "Top AI Papers of the Week (June 15 - June 21) - 2026",
            17,
        ),
    ]
    assert [p.title for p in result.weeks[0].papers] == [
        "Tidal Memory for Long-Horizon Agents",
        "Quiet Gradients",
        "Twin Reports on Sparse Decoding",
        "Shadow Critics",
        "Lantern Routing for Mixture Models",
        "Harbor Benchmarks",
    ]
    assert [p.title for p in result.weeks[1].papers] == [
        "Patchwork Tokenizers",
        "Slow Thinking Budgets",
        "Cartographer Vision Encoders",
        "Receipts for Retrieval",
        "Small Models, Long Proofs",
    ]
    assert all(len(p.bullets) == 4 for w in result.weeks for p in w.papers)


def test_long_summary_with_four_bullets() -> None:
    p = live()[0]
    assert p.summary.startswith("Tidal Memory gives a tool-using agent two stores")
    assert p.summary.endswith("tasks whose crucial detail is seen once and needed much later.")
    assert 500 <= len(p.summary) <= 1500
    assert p.bullets == (
        "Two clocks: the scratchpad turns over every step while the ledger changes only when an "
        "entry proves useful twice.",
        "Learned promotion: a small scorer trained on past episodes decides what moves to the "
        "ledger.",
        "Budget: the prompt never grows past its fixed size, however long the task runs.",
        "Why it matters: long-running agents mostly fail by forgetting or by drowning in their "
        "own notes; this is a cheap middle path.",
    )
    assert p.links == (Link("Paper", "https://arxiv.org/abs/2606.99001"), tweet(1))


def test_row_with_only_a_tweet_links_to_the_tweet() -> None:
    p = live()[1]
    assert p.links == (tweet(2),)
    assert p.url == "https://x.com/example/status/2100000000000000002"


def test_numbered_and_versioned_paper_labels_are_paper_links() -> None:
    twin, critics = live()[2], live()[3]
    assert [link.label for link in twin.links] == ["Code", "Paper 1", "Paper 2"]
    assert twin.url == "https://example.org/sparse-decoding-systems.pdf"
    assert [link.label for link in critics.links] == ["Blog", "Paper (v2)", "Tweet"]
    assert critics.url == "https://arxiv.org/abs/2606.99004v2"
    assert critics.arxiv_id == "2606.99004"


def test_inline_link_in_the_summary_keeps_its_url() -> None:
    p = live()[3]
    assert p.summary.startswith(
        "builds on the critic recipe (https://example.org/critic-recipe) and trains a second"
    )
    assert Link("the critic recipe", "https://example.org/critic-recipe") not in p.links


def test_verb_led_summary_is_not_split_at_a_double_space_deep_inside() -> None:
    p = live()[4]
    assert p.title == "Lantern Routing for Mixture Models"
    assert p.summary.startswith("Proposes a router for mixture-of-experts layers")
    assert p.summary.endswith("keeps quality within noise of the usual top-two router.")


def test_single_tab_separates_title_and_summary() -> None:
    p = live()[5]
    assert p.title == "Harbor Benchmarks"
    assert p.summary.startswith("three hundred tasks drawn from port logistics")


def test_long_title_without_separator_is_a_warning() -> None:
    words = " ".join(f"word{i}" for i in range(40))
    text = WEEK + HEAD + f"| 1) {words} | [Paper](https://arxiv.org/abs/2606.99001) |\n"
    result = parse_weekly(text, "s.md")
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 4)
    assert "cannot tell the title from the summary" in d.message


# --- the earliest shape -------------------------------------------------------------------------


def test_bold_line_weeks_and_paper_project_header() -> None:
    text = (FIXTURES / "early-bold-weeks.md").read_text(encoding="utf-8")
    assert looks_like_weekly(text)
    result = load("early-bold-weeks.md")
    assert [(w.start, w.end, w.title, w.line) for w in result.weeks] == [
        (date(2023, 1, 9), date(2023, 1, 15), "Top ML Papers of the Week (Jan 9 - Jan 15)", 7),
        (date(2023, 1, 1), date(2023, 1, 8), "Top ML Papers of the Week (Jan 1 - Jan 8)", 14),
    ]
    first, second = result.weeks
    assert [(p.rank, p.title, p.url) for p in first.papers] == [
        (1, "Gated Echo Networks", "https://arxiv.org/abs/2301.99111"),
        (2, "Paper Lanterns", "https://example.org/paper-lanterns"),
        (3, "Counting With Crowds", "https://arxiv.org/abs/2301.99113"),
    ]
    assert [p.title for p in second.papers] == ["Folding Tables", "Winter Speech", "Lazy Diffusion"]
    assert second.papers[2].links == (
        Link("Paper", "https://arxiv.org/abs/2212.99103"),
        Link("Code", "https://github.com/example/lazy-diffusion"),
    )
    # the only notes: the years these headings leave out, inferred from the arXiv ids
    assert [(d.severity, d.line) for d in result.diagnostics] == [("warning", 7), ("warning", 14)]


# --- line endings, separators, wide tables ------------------------------------------------------


def test_cr_only_line_endings() -> None:
    text = (WEEK + HEAD + row(1, "Carriage One") + row(2, "Carriage Two")).replace("\n", "\r")
    assert looks_like_weekly(text)
    result = parse_text(text, "cr.md")
    [week] = result.weeks
    assert (week.start, week.line) == (date(2026, 6, 22), 1)
    assert [(p.title, p.line, p.url) for p in week.papers] == [
        ("Carriage One", 4, "https://arxiv.org/abs/2606.99001"),
        ("Carriage Two", 5, "https://arxiv.org/abs/2606.99002"),
    ]
    assert result.diagnostics == []


ELEVEN = (
    WEEK + "| # | Paper | Summary | Authors | Lab | Date | Area | Stars | Venue | Links | Notes |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|\n"
    "| 1 | **Quill Models** | small models that write their own unit tests. | A. Writer | Lab "
    "| 2026-06-01 | NLP | 120 | arXiv | [Paper](https://arxiv.org/abs/2606.99021), "
    "[Tweet](https://x.com/example/status/2100000000000000021) | none |\n"
    "| 2 | **Ink Routers** | routes prompts to the cheapest model that can answer. | B. Reader "
    "| Lab | 2026-06-02 | NLP | 80 | arXiv | [Paper](https://arxiv.org/abs/2606.99022) | |\n"
)


def test_eleven_column_table_with_links_in_another_column() -> None:
    result = parse_weekly(ELEVEN, "wide.md")
    [week] = result.weeks
    assert [(p.rank, p.title, p.summary, p.links) for p in week.papers] == [
        (
            1,
            "Quill Models",
            "small models that write their own unit tests.",
            (Link("Paper", "https://arxiv.org/abs/2606.99021"), tweet(21)),
        ),
        (
            2,
            "Ink Routers",
            "routes prompts to the cheapest model that can answer.",
            (Link("Paper", "https://arxiv.org/abs/2606.99022"),),
        ),
    ]
    [d] = result.diagnostics  # one diagnostic for the table, not one per row
    assert (d.severity, d.line) == ("warning", 4)
    assert d.message == (
        "this table has 11 columns and its links are in column 10, not the last one: each row "
        "is read as the title (column 2) and the summary (column 3) and those links; the other "
        "columns are ignored"
    )


# --- size limits --------------------------------------------------------------------------------


def test_title_over_the_limit_is_cut_with_a_warning() -> None:
    long_title = " ".join(["Enormous"] * 60)  # 539 characters
    text = WEEK + HEAD + f"| 1) **{long_title}** - the summary. | [Paper](https://p.example) |\n"
    result = parse_weekly(text, "s.md", limits=SourceLimits(max_title_chars=100))
    [p] = result.weeks[0].papers
    assert p.title == " ".join(["Enormous"] * 11)  # 98 characters, cut at a word
    assert p.summary == " ".join(["Enormous"] * 49) + " the summary."
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 4)
    assert d.message == (
        "title of 539 characters is over the limit of 100 (sources.limits.max_title_chars): "
        "cut at a word, the rest read as summary"
    )


def test_row_with_thousands_of_links_keeps_the_first_ones() -> None:
    links = ", ".join(f"[Mirror {i}](https://m.example/{i})" for i in range(3000))
    text = WEEK + HEAD + f"| 1) **Mirrored** - copies everywhere. | {links} |\n"
    result = parse_weekly(text, "s.md")
    [p] = result.weeks[0].papers
    assert len(p.links) == 50
    assert p.links[-1] == Link("Mirror 49", "https://m.example/49")
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 4)
    assert d.message == (
        "row has 3000 links, over the limit of 50 (sources.limits.max_links_per_row): "
        "kept the first 50"
    )


def test_document_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_text(WEEK + HEAD + row(1, "Too Big") * 200, encoding="utf-8")
    small = tmp_path / "small.md"
    small.write_text(WEEK + HEAD + row(1, "Fits"), encoding="utf-8")
    result = load_paths([big, small], limits=SourceLimits(max_document_bytes=2_000))
    assert [p.title for w in result.weeks for p in w.papers] == ["Fits"]
    [d] = result.diagnostics
    assert (d.severity, d.source, d.line) == ("error", str(big), None)
    assert d.message == (
        "larger than the limit of 2000 bytes (sources.limits.max_document_mb); not read"
    )


# --- a week heading gone missing ----------------------------------------------------------------

TITLES_A = [f"Alpha {i}" for i in range(1, 11)]
TITLES_B = [f"Bravo {i}" for i in range(1, 11)]


def test_missing_heading_does_not_merge_two_weeks() -> None:
    # Week B's heading was deleted: its rows follow week A's and their ranks restart at 1.
    text = (
        WEEK
        + HEAD
        + "".join(row(i, t) for i, t in enumerate(TITLES_A, 1))
        + "".join(row(i, t, 10 + i) for i, t in enumerate(TITLES_B, 1))
    )
    result = parse_weekly(text, "s.md")
    [week] = result.weeks
    assert [p.title for p in week.papers] == TITLES_A
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 14)
    assert d.message == (
        "the ranks start again at 1 under week 'Top AI Papers of the Week (June 22 - June 28) - "
        "2026' (line 1), as if a week heading were missing: the 10 row(s) at lines 14-23 are "
        "not read into that week"
    )


def test_too_many_rows_in_a_week_is_a_warning_naming_the_lines() -> None:
    titles = [f"Charlie {i}" for i in range(1, 18)]
    text = WEEK + HEAD + "".join(row(i, t) for i, t in enumerate(titles, 1))
    result = parse_weekly(text, "s.md")
    assert [p.title for p in result.weeks[0].papers] == titles
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 1)
    assert d.message == (
        "week 'Top AI Papers of the Week (June 22 - June 28) - 2026' has 17 rows (lines 4-20), "
        "more than 15 (sources.limits.max_rows_per_week): is a week heading missing?"
    )


def test_a_week_of_fewer_rows_than_usual_is_a_warning_naming_the_lines() -> None:
    week_b = "## Top AI Papers of the Week (June 15 - June 21) - 2026\n"
    week_c = "## Top AI Papers of the Week (June 8 - June 14) - 2026\n"
    text = (
        WEEK
        + HEAD
        + "".join(row(i, t) for i, t in enumerate(TITLES_A, 1))
        + week_b
        + HEAD
        + "".join(row(i, t, 10 + i) for i, t in enumerate(TITLES_B, 1))
        + week_c
        + HEAD
        + row(1, "Delta 1", 21)
        + row(2, "Delta 2", 22)
    )
    result = parse_weekly(text, "s.md")
    assert [len(w.papers) for w in result.weeks] == [10, 10, 2]
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 27)
    assert d.message == (
        "week 'Top AI Papers of the Week (June 8 - June 14) - 2026' has only 2 row(s) "
        "(lines 30-31) where this file's weeks usually have 10, fewer than 5 "
        "(sources.limits.min_rows_per_week): was part of its table lost?"
    )
