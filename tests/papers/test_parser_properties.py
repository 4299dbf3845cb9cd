"""Property tests: the weekly-table parser never raises, stays within the file, and reads back
what well-formed rows and headings say."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.paths import FIXTURES as FIXTURES_ROOT

from bot.papers.model import ParseResult
from bot.papers.sources.weekly import looks_like_weekly, normalize_newlines, parse_weekly

FIXTURES = FIXTURES_ROOT / "weekly"
FIXTURE_LINES = [
    line
    for name in ("row-variants.md", "heading-shapes.md", "papers-2023.md")
    for line in (FIXTURES / name).read_text(encoding="utf-8").split("\n")
]
ROWS = [line for line in FIXTURE_LINES if line.startswith("| ") and ")" in line[:6]]
HEADINGS = [line for line in FIXTURE_LINES if line.startswith("#") and "(" in line]

FAST = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check_invariants(text: str, result: ParseResult) -> None:
    n_lines = len(normalize_newlines(text).split("\n"))  # a lone CR ends a line too
    for d in result.diagnostics:
        assert d.source == "p.md"
        assert d.line is None or 1 <= d.line <= n_lines, d
        assert "internal error" not in d.message, d
    for week in result.weeks:
        assert week.kind == "weekly"
        assert 1 <= week.line <= n_lines
        assert week.start <= week.end
        assert week.papers
        for p in week.papers:
            assert p.title and p.title == p.title.strip()
            assert p.rank >= 1
            assert week.line < p.line <= n_lines
            assert p.source == "p.md"
            assert all(link.url and link.label for link in p.links)
            assert all(b for b in p.bullets)


@FAST
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = parse_weekly(text, "p.md")
    check_invariants(text, result)
    looks_like_weekly(text)


MARKDOWN_BITS = st.sampled_from(
    [
        *"|*[]()\\-<>#:●•`~_&;8 \n\r\t0123456789aZ",
        *("<br>", "**", "](", "| ", " |", "1) ", "## ", "```", "\\|", "&amp;", " - ", "  "),
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    heading = draw(st.sampled_from(HEADINGS))
    rows = draw(st.lists(st.sampled_from(ROWS), min_size=1, max_size=6))
    text = "\n".join([heading, "| **Paper** | **Links** |", "| --- | --- |", *rows])
    for _ in range(draw(st.integers(0, 12))):
        op = draw(st.sampled_from(("insert", "delete", "replace")))
        at = draw(st.integers(0, len(text)))
        bit = draw(MARKDOWN_BITS)
        if op == "insert":
            text = text[:at] + bit + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        else:
            text = text[:at] + bit + text[at + len(bit) :]
    return text


@FAST
@given(mutated(), st.one_of(st.none(), st.integers(1990, 2030)))
def test_mutated_real_rows_never_raise(text: str, default_year: int | None) -> None:
    result = parse_weekly(text, "p.md", default_year=default_year)
    check_invariants(text, result)


WORD = st.from_regex(r"[A-Z][a-z0-9]{0,8}", fullmatch=True)
LOWER = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@FAST
@given(
    title=st.lists(WORD, min_size=1, max_size=8).map(" ".join),
    summary=st.lists(LOWER, min_size=1, max_size=12).map(" ".join),
    shape=st.sampled_from(
        (
            "**{t}** - {s}",
            "**{t}** -- {s}",
            "**{t}**: {s}",
            "{t} - {s}",
            "{t}  {s}",
            "*8{t}** - {s}",
        )
    ),
    rank=st.integers(1, 10),
    bullets=st.lists(LOWER, max_size=3),
)
def test_well_formed_rows_read_back(
    title: str, summary: str, shape: str, rank: int, bullets: list[str]
) -> None:
    body = shape.format(t=title, s=summary) + "".join(f" <br>● {b}" for b in bullets)
    text = (
        "## Top ML Papers of the Week (Jan 9-15) - 2023\n| **Paper** | **Links** |\n|---|---|\n"
        f"| {rank}) {body} | [Paper](https://example.org/{rank}), [Tweet](https://t.example/1) |\n"
    )
    result = parse_weekly(text, "p.md")
    assert result.diagnostics == []
    [paper] = result.weeks[0].papers
    assert (paper.rank, paper.title, paper.summary) == (rank, title, summary)
    assert paper.bullets == tuple(bullets)
    assert paper.url == f"https://example.org/{rank}"


MONTH_NAMES = (
    ("Jan", "January"),
    ("Feb", "February"),
    ("Mar", "March"),
    ("Apr", "April"),
    ("May", "May"),
    ("Jun", "June"),
    ("Jul", "July"),
    ("Aug", "August"),
    ("Sept", "September"),
    ("Oct", "October"),
    ("Nov", "November"),
    ("Dec", "December"),
)


@FAST
@given(
    start=st.dates(date(2008, 1, 1), date(2040, 12, 31)),
    span=st.integers(5, 8),
    full=st.booleans(),
    year_in_heading=st.booleans(),
    spaced=st.booleans(),
)
def test_heading_dates_read_back(
    start: date, span: int, full: bool, year_in_heading: bool, spaced: bool
) -> None:
    end = start + timedelta(days=span)
    m1, m2 = MONTH_NAMES[start.month - 1][full], MONTH_NAMES[end.month - 1][full]
    dash = " - " if spaced else "-"
    rng = f"{m1} {start.day}{dash}{m2} {end.day}"
    suffix = f" - {end.year}" if year_in_heading else ""
    # without a year, the arXiv id of the one paper gives the start month
    arxiv = f"{start.year % 100:02d}{start.month:02d}.01234"
    text = (
        f"## Top ML Papers of the Week ({rng}){suffix}\n"
        f"| 1) **P** - s. | [Paper](https://arxiv.org/abs/{arxiv}) |\n"
    )
    result = parse_weekly(text, "p.md")
    [week] = result.weeks
    assert (week.start, week.end) == (start, end)
    assert len(result.warnings) == (0 if year_in_heading else 1)
