"""The weekly-table parser on every row and heading shape, and on broken input."""

from __future__ import annotations

from datetime import date

import pytest
from support.paths import FIXTURES as FIXTURES_ROOT

from bot.core.messages import Link
from bot.papers.model import Paper, ParseResult, Week
from bot.papers.sources.weekly import looks_like_weekly, parse_weekly

FIXTURES = FIXTURES_ROOT / "weekly"
TOP = "Top ML Papers of the Week"
HEAD = "| **Paper**  | **Links** |\n| ------------- | ------------- |\n"


def load(name: str, **kwargs: int) -> ParseResult:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return parse_weekly(text, f"fixtures/{name}", **kwargs)  # type: ignore[arg-type]


def tweet(n: int) -> Link:
    return Link("Tweet", f"https://x.com/example/status/{2000000000000000000 + n}")


def line_of(name: str, needle: str) -> int:
    lines = (FIXTURES / name).read_text(encoding="utf-8").split("\n")
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def by_rank(week: Week) -> dict[int, Paper]:
    return {p.rank: p for p in week.papers}


# --- the row-variants fixture -------------------------------------------------------------------


@pytest.fixture(scope="module")
def variants() -> ParseResult:
    return load("row-variants.md")


def test_variants_weeks(variants: ParseResult) -> None:
    assert [(w.start, w.end, w.title, w.kind) for w in variants.weeks] == [
        (
            date(2025, 6, 16),
            date(2025, 6, 22),
            "Top AI Papers of the Week (June 16 - June 22) - 2025",
            "weekly",
        ),
        (date(2024, 12, 30), date(2025, 1, 5), f"{TOP} (December 30 - January 5) - 2025", "weekly"),
        (date(2023, 2, 27), date(2023, 3, 5), f"{TOP} (Feb 27-Mar 5)", "weekly"),
    ]
    name = "row-variants.md"
    assert [w.line for w in variants.weeks] == [
        line_of(name, "## Top AI Papers of the Week (June 16"),
        line_of(name, "## Top ML Papers of the Week (December 30"),
        line_of(name, "## Top ML Papers of the Week (Feb 27"),
    ]
    assert [len(w.papers) for w in variants.weeks] == [10, 7, 3]
    for week in variants.weeks:
        assert week.source == "fixtures/row-variants.md"
        assert [p.rank for p in week.papers] == list(range(1, len(week.papers) + 1))
        for p in week.papers:
            assert p.source == week.source


def test_variants_diagnostics_are_the_short_week_and_the_inferred_year(
    variants: ParseResult,
) -> None:
    short, inferred = variants.diagnostics
    heading = line_of("row-variants.md", "## Top ML Papers of the Week (Feb 27")
    assert (short.severity, short.line) == ("warning", heading)
    first_row = line_of("row-variants.md", "| 1) **Yearless Heading**")
    assert short.message == (
        "week 'Top ML Papers of the Week (Feb 27-Mar 5)' has only 3 row(s) "
        f"(lines {first_row}-{first_row + 2}) where this file's weeks usually have 7, fewer than "
        "5 (sources.limits.min_rows_per_week): was part of its table lost?"
    )
    assert (inferred.severity, inferred.line) == ("warning", heading)
    assert "year 2023" in inferred.message and "arXiv" in inferred.message


def test_two_space_title_with_bullets(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[1]
    assert p.title == "Folded Attention Kernels"
    assert p.summary == (
        "This paper folds the attention matrix into a few small kernels so that very long "
        "inputs fit on one accelerator."
    )
    assert p.bullets == (
        "Folding: the kernels are shared across heads, so memory stays flat as inputs grow.",
        "Accuracy: within half a point of full attention on four retrieval suites.",
    )
    assert p.links == (Link("Paper", "https://arxiv.org/abs/2506.99101"), tweet(1))
    assert p.line == line_of("row-variants.md", "| 1) Folded Attention Kernels")
    assert p.arxiv_id == "2506.99101"


def test_plain_title_with_dash(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[2]
    assert p.title == "Patient Retrievers"
    assert p.summary.startswith("a retriever that waits for a second query")
    assert p.bullets == ()


def test_title_run_into_verb_led_summary(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[3]
    assert p.title == "Ledger Memory for Tool Agents"
    assert p.summary.startswith("Proposes an append-only ledger")


def test_bold_title_with_report_and_blog(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[4]
    assert p.title == "Self-Checking Planners"
    assert p.summary == (
        "planners that re-read their own plans before acting; large gains on household tasks."
    )
    assert p.links == (
        Link("Technical Report", "https://example.org/scp-report.pdf"),
        Link("Blog", "https://example.org/blog/scp"),
        tweet(4),
    )
    assert p.url == "https://example.org/scp-report.pdf"


def test_mistyped_bold_marker(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[5]
    assert p.title == "Mistyped Marker Models"
    assert p.summary.startswith("the bold marker at the start")


def test_links_without_commas(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[6]
    assert p.links == (Link("Paper", "https://arxiv.org/abs/2506.99106"), tweet(6))


def test_primary_link_in_the_body(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[7]
    assert p.title == "Desktop Agent Leaderboard"
    assert p.summary == (
        "An open leaderboard that scores agents on everyday office chores, judged by volunteers."
    )
    assert p.links == (Link("Report", "https://example.org/leaderboard-report"), tweet(7))
    assert p.url == "https://example.org/leaderboard-report"


def test_markdown_escapes(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[8]
    assert p.title == "Math Q&A with Tools_v2"
    assert p.summary == "escaped characters such as *stars* and a pipe | must read as plain text."
    assert p.links[0] == Link("Paper", "https://arxiv.org/abs/2506.99108")


def test_row_without_links_cell(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[9]
    assert p.title == "Lonely Row"
    assert p.summary == "nothing follows this summary: no links cell and no closing pipe."
    assert p.links == ()
    assert p.url is None


def test_padded_cells_with_project_link(variants: ParseResult) -> None:
    p = by_rank(variants.weeks[0])[10]
    assert p.title == "Roomy Cells"
    assert p.summary.endswith("a Project link instead of a Paper link.")
    assert p.links == (Link("Project", "https://example.org/roomy"), tweet(10))
    assert p.url == "https://example.org/roomy"


@pytest.mark.parametrize(
    ("rank", "title", "summary"),
    [
        (1, "Across New Year", "the em dash separates this title from its summary."),
        (2, "Card-Only Release", "an en dash here, and the only readable link is a system card."),
        (3, "Colon Separated", "the summary follows a colon."),
        (4, "Half Closed Bold", "only one star closes this title."),
        (5, "Never Closed Bold", "the closing stars are missing entirely."),
        (
            6,
            "Sparse Mixture Routers",
            "This work routes each token to two of sixty-four experts and keeps the load "
            "balanced without an auxiliary loss.",
        ),
        (
            7,
            "Cited Baseline",
            "builds on an earlier method (https://example.org/earlier) and beats it on every "
            "split.",
        ),
    ],
)
def test_separators_and_broken_bold(
    variants: ParseResult, rank: int, title: str, summary: str
) -> None:
    p = by_rank(variants.weeks[1])[rank]
    assert (p.title, p.summary) == (title, summary)


def test_link_labels_and_primary(variants: ParseResult) -> None:
    week = by_rank(variants.weeks[1])
    assert week[2].links[0] == Link("System Card", "https://example.org/card.pdf")
    assert week[2].url == "https://example.org/card.pdf"
    # an empty link target is ignored
    assert [link.label for link in week[4].links] == ["Paper", "Tweet"]
    # a combined label is kept as written and still makes the primary link
    assert week[5].links[0] == Link("Paper/Book", "https://arxiv.org/abs/2501.99205")
    assert week[5].url == "https://arxiv.org/abs/2501.99205"
    # a link inside the summary text is not a link of the paper
    assert week[7].links == (
        Link("Paper", "https://arxiv.org/abs/2501.99207"),
        Link("Dataset", "https://example.org/data"),
    )
    assert week[3].url == "https://arxiv.org/abs/2501.99203"


def test_rows_under_a_non_week_heading_are_ignored(variants: ParseResult) -> None:
    titles = {p.title for w in variants.weeks for p in w.papers}
    assert "Not A Week Row" not in titles


# --- heading shapes -----------------------------------------------------------------------------


def test_every_heading_shape() -> None:
    result = load("heading-shapes.md")
    got = [(w.start, w.end) for w in result.weeks]
    assert got == [
        (date(2025, 6, 23), date(2025, 6, 29)),
        (date(2025, 4, 6), date(2025, 4, 13)),  # eight-day week
        (date(2024, 12, 30), date(2025, 1, 5)),  # the year belongs to the end date
        (date(2024, 3, 26), date(2024, 3, 31)),  # six-day week, "#" level
        (date(2023, 12, 25), date(2023, 12, 31)),  # arXiv 2312
        (date(2023, 9, 4), date(2023, 9, 10)),  # "sept", lower case, arXiv 2309
        (date(2023, 5, 29), date(2023, 6, 4)),  # from the neighbours from here on
        (date(2023, 3, 6), date(2023, 3, 12)),
        (date(2023, 2, 27), date(2023, 3, 5)),
        (date(2023, 2, 13), date(2023, 2, 19)),
        (date(2023, 1, 9), date(2023, 1, 15)),
        (date(2022, 12, 26), date(2023, 1, 1)),
    ]
    assert result.weeks[5].title == "top ml papers of the week (sept 4 - sept 10)"
    assert result.weeks[10].title == f"{TOP} (Jan 9-15)"  # closing #s dropped
    assert [w.papers[0].title for w in result.weeks] == [f"Heading Shape {i}" for i in range(1, 13)]
    assert result.errors == []
    inferred = {d.line: d.message for d in result.warnings}
    assert sorted(inferred) == [w.line for w in result.weeks[4:]]
    assert "arXiv" in inferred[result.weeks[4].line]
    assert f"neighbouring week at line {result.weeks[5].line}" in inferred[result.weeks[6].line]
    assert f"neighbouring week at line {result.weeks[10].line}" in inferred[result.weeks[11].line]


# --- the 2023 shape -----------------------------------------------------------------------------


def test_2023_shape() -> None:
    result = load("papers-2023.md")
    first, second = result.weeks
    assert (first.start, first.end) == (date(2023, 3, 27), date(2023, 4, 2))
    assert (second.start, second.end) == (date(2023, 3, 20), date(2023, 3, 26))
    assert first.title == f"{TOP} (Mar 27 - Apr 2)"
    assert [p.rank for p in first.papers] == list(range(1, 11))
    assert [p.rank for p in second.papers] == list(range(1, 11))
    assert [d.severity for d in result.diagnostics] == ["warning", "warning"]

    hugging = first.papers[0]
    assert hugging.title == (
        "HuggingGPT: Solving AI Tasks with ChatGPT and its Friends in Hugging Face"
    )
    assert hugging.summary.startswith("An LLM acts as a controller")
    assert [link.label for link in hugging.links] == ["Paper", "Code", "Tweet"]
    assert hugging.arxiv_id == "2303.17580"
    assert hugging.links[2].url.endswith("?s=20&t=AbCdEf")

    survey = first.papers[3]
    assert survey.links[0] == Link("Paper/Survey", "https://arxiv.org/abs/2303.18223")
    assert survey.url == "https://arxiv.org/abs/2303.18223"
    assert first.papers[4].links[0] == Link("Paper", "https://arxiv.org/abs/2304.00612")
    assert [link.label for link in first.papers[5].links] == ["Paper", "Tweet"]  # [Code]()

    reflexion = second.papers[1]
    assert reflexion.title == (
        "Reflexion: an Autonomous Agent with Dynamic Memory and Self-Reflection"
    )
    assert [link.label for link in reflexion.links] == ["Paper", "Code", "Tweet"]
    assert second.papers[6].title == "GPT-4 Technical Report"
    assert second.papers[6].arxiv_id == "2303.08774"
    assert second.papers[9].title == "PaLM-E: An Embodied Multimodal Language Model"
    assert all(p.summary and p.url for w in result.weeks for p in w.papers)


# --- diagnostics --------------------------------------------------------------------------------


def test_garbage_rows_are_reported_and_the_rest_loads() -> None:
    text = (
        f"## {TOP} (Jan 9-15) - 2023\n"  # 1
        + HEAD  # 2, 3
        + "| 1) **Good One** - fine. | [Paper](https://example.org/1) |\n"  # 4
        + "| lorem ipsum dolor |\n"  # 5: no rank, no links
        + "| 3) | [Paper](https://example.org/3) |\n"  # 6: no title
        + "| **No Rank** - missing number. | [Paper](https://example.org/4) |\n"  # 7
        + "| 4) **Twice** - one. | [Paper](https://example.org/5) |\n"  # 8
        + "| 4) **Twice Again** - two. | [Paper](https://example.org/6) |\n"  # 9
        + "| 0) **Zero** - bad rank. | [Paper](https://example.org/7) |\n"  # 10
        + "| 6) **  ** - | |\n"  # 11: empty bold title
        + "| 7) **Last** - still loads. | [Paper](https://example.org/8) |\n"  # 12
    )
    result = parse_weekly(text, "digests/x.md")
    [week] = result.weeks
    assert [(p.rank, p.title, p.line) for p in week.papers] == [
        (1, "Good One", 4),
        (2, "No Rank", 7),
        (4, "Twice", 8),
        (4, "Twice Again", 9),
        (5, "Zero", 10),
        (7, "Last", 12),
    ]
    got = [(d.severity, d.line) for d in result.diagnostics]
    assert got == [
        ("error", 5),
        ("error", 6),
        ("warning", 7),
        ("warning", 9),
        ("warning", 10),
        ("error", 11),
    ]
    assert all(d.source == "digests/x.md" for d in result.diagnostics)
    messages = [d.message for d in result.diagnostics]
    assert "no rank and no links" in messages[0]
    assert "no paper title" in messages[1]
    assert "rank missing" in messages[2]
    assert "appears twice" in messages[3]
    assert "0 is not valid" in messages[4]
    assert str(result.diagnostics[0]).startswith("digests/x.md:5: error: ")


def test_week_without_year_and_no_clue_is_skipped_with_error() -> None:
    text = (
        "# Notes\n"
        f"## {TOP} (Jan 9-15)\n" + HEAD + "| 1) **Somewhere In Time** - undated. | "
        "[Paper](https://example.org/a) |\n"
    )
    result = parse_weekly(text, "s.md")
    assert result.weeks == []
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("error", 2)
    assert f"'{TOP} (Jan 9-15)'" in d.message


def test_default_year_dates_an_undatable_week() -> None:
    text = f"## {TOP} (Jan 9-15)\n" + HEAD + "| 1) **Dated By Default** - x. | [P](u) |\n"
    result = parse_weekly(text, "s.md", default_year=2024)
    [week] = result.weeks
    assert (week.start, week.end) == (date(2024, 1, 9), date(2024, 1, 15))
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 1)
    assert "default year" in d.message


def test_year_inferred_from_arxiv_across_new_year() -> None:
    text = (
        f"## {TOP} (December 30 - January 5)\n"
        + HEAD
        + "| 1) **A** - a. | [Paper](https://arxiv.org/abs/2501.00011v2) |\n"
        + "| 2) **B** - b. | [Paper](https://arxiv.org/pdf/2501.00012) |\n"
        + "| 3) **C** - c. | [Paper](https://huggingface.co/papers/2412.00013) |\n"
    )
    result = parse_weekly(text, "s.md")
    [week] = result.weeks
    assert (week.start, week.end) == (date(2024, 12, 30), date(2025, 1, 5))
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 1)
    assert "2501" in d.message


def test_unreadable_week_heading_skips_its_rows_with_error() -> None:
    text = f"## {TOP} (Janu 9-15)\n" + HEAD + "| 1) **Lost** - x. | [Paper](u) |\n"
    result = parse_weekly(text, "s.md")
    assert result.weeks == []
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("error", 1)
    assert "1 table row(s)" in d.message


def test_week_heading_without_rows_is_a_warning() -> None:
    text = f"## {TOP} (Jan 9-15) - 2023\n\nNo table this week.\n\n## {TOP} (Jan 2-8) - 2023\n"
    result = parse_weekly(text, "s.md")
    assert result.weeks == []
    assert [(d.severity, d.line) for d in result.diagnostics] == [("warning", 1), ("warning", 5)]


def test_invalid_date_in_heading_is_an_error() -> None:
    text = f"## {TOP} (Feb 30 - Mar 6) - 2023\n" + HEAD + "| 1) **X** - x. | [P](u) |\n"
    result = parse_weekly(text, "s.md")
    assert result.weeks == []
    assert [(d.severity, d.line) for d in result.diagnostics] == [("error", 1)]


def test_duplicate_week_is_a_warning() -> None:
    row = "| 1) **X** - x. | [Paper](https://example.org/x) |\n"
    text = f"## {TOP} (Jan 9-15) - 2023\n{row}\n## {TOP} (January 9 - 15) - 2023\n{row}"
    result = parse_weekly(text, "s.md")
    assert len(result.weeks) == 2
    [d] = result.diagnostics
    assert (d.severity, d.line) == ("warning", 4)
    assert "2023-01-09" in d.message and "line 1" in d.message


# --- odd but valid markdown ---------------------------------------------------------------------


def test_crlf_bom_fences_and_rows_without_leading_pipe() -> None:
    text = (
        "\ufeff# Title\r\n"  # 1
        f"## {TOP} (Jan 9-15) - 2023\r\n"  # 2
        "```\r\n"  # 3
        "| 9) **In A Fence** - ignored. | [P](u) |\r\n"  # 4
        f"## {TOP} (Jan 2-8) - 2023\r\n"  # 5: inside the fence, not a heading
        "```\r\n"  # 6
        "| 1) **First** - one. | [Paper](https://example.org/1) |\r\n"  # 7
        "2) **Second** - two. | [Paper](https://example.org/2) |\r\n"  # 8
        "| 3 | **Third** - rank column. | [Paper](https://example.org/3) |\r\n"  # 9
    )
    result = parse_weekly(text, "s.md")
    [week] = result.weeks
    assert week.line == 2
    assert [(p.rank, p.title, p.summary, p.line) for p in week.papers] == [
        (1, "First", "one.", 7),
        (2, "Second", "two.", 8),
        (3, "Third", "rank column.", 9),
    ]
    assert result.diagnostics == []


def test_html_and_bullets_without_br() -> None:
    text = (
        f"## {TOP} (Jan 9-15) - 2023\n"
        + HEAD
        + "| 1) **Bulleted** - lead text. Highlights: ● first point ● second &amp; last "
        "| [Paper](https://example.org/1) |\n"
        "| 2) Breaks Only<br>Summary on its own line.<br/>- dash bullet <b>bold</b> | "
        "[Paper](https://example.org/2) |\n"
    )
    first, second = parse_weekly(text, "s.md").weeks[0].papers
    assert (first.title, first.summary, first.bullets) == (
        "Bulleted",
        "lead text.",
        ("first point", "second & last"),
    )
    assert (second.title, second.summary, second.bullets) == (
        "Breaks Only",
        "Summary on its own line.",
        ("dash bullet bold",),
    )


def test_verb_split_needs_two_title_words_and_title_case_guard() -> None:
    text = (
        f"## {TOP} (Jan 9-15) - 2023\n"
        + HEAD
        + "| 1) Attention Is All You Need A new network built only on attention. | [P](u) |\n"
        "| 2) Learning To Reason: A Survey Of Methods | [P](u) |\n"
        "| 3) Lens Shows how probes read hidden states. | [P](u) |\n"
    )
    a, b, c = parse_weekly(text, "s.md").weeks[0].papers
    assert (a.title, a.summary) == (
        "Attention Is All You Need",
        "A new network built only on attention.",
    )
    assert (b.title, b.summary) == ("Learning To Reason: A Survey Of Methods", "")
    assert (c.title, c.summary) == ("Lens Shows how probes read hidden states.", "")


def test_primary_link_prefers_paper_then_any_label_then_a_tweet() -> None:
    text = (
        f"## {TOP} (Jan 9-15) - 2023\n"
        + HEAD
        + "| 1) **X** - x. | [Tweet](https://t.example/1), [Code](https://c.example), "
        "[Paper](https://p.example) |\n"
        "| 2) **Y** - y. | [Tweet](https://t.example/2), [Dataset](https://d.example) |\n"
    )
    x, y = parse_weekly(text, "s.md").weeks[0].papers
    assert x.url == "https://p.example"
    assert y.url == "https://t.example/2"  # no other link to read it at: the Tweet


# --- format detection ---------------------------------------------------------------------------


def test_looks_like_weekly() -> None:
    for name in ("row-variants.md", "heading-shapes.md", "papers-2023.md"):
        assert looks_like_weekly((FIXTURES / name).read_text(encoding="utf-8"))
    assert not looks_like_weekly("")
    assert not looks_like_weekly("# Notes\n\n- [A paper](https://arxiv.org/abs/2301.00001)\n")
    # a week heading with only the table header is not enough
    assert not looks_like_weekly(f"## {TOP} (Jan 9-15)\n" + HEAD)
    # table rows under another heading do not count
    assert not looks_like_weekly(f"## {TOP} (Jan 9-15)\n## Other\n| 1) **A** - a. | [P](u) |\n")
    # a table of contents naming weeks is not a week heading
    assert not looks_like_weekly(f"- [{TOP} (Jan 9-15)](./#x)\n| 1) **A** - a. | [P](u) |\n")
    assert looks_like_weekly(f"### {TOP} (Jan 9-15)\n\n| 1) **A** - a. | [P](u) |\n")
