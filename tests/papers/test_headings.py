"""Week headings: every shape the curated files use, and how a missing year is inferred."""

from __future__ import annotations

from datetime import date

import pytest

from bot.papers.sources.headings import (
    WeekClue,
    WeekHeading,
    arxiv_yymm,
    heading_text,
    parse_week_heading,
    resolve_dates,
)

TOP = "Top ML Papers of the Week"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (f"{TOP} (Jan 9-15)", (1, 9, 1, 15, None)),
        (f"{TOP} (Mar 6-Mar 12)", (3, 6, 3, 12, None)),
        (f"{TOP} (Feb 13 - 19)", (2, 13, 2, 19, None)),
        (f"{TOP} (May 29-June 4)", (5, 29, 6, 4, None)),
        (f"{TOP} (December 25 - December 31)", (12, 25, 12, 31, None)),
        (f"{TOP} (March 26 - March 31) - 2024", (3, 26, 3, 31, 2024)),
        (f"{TOP} (April 6 - April 13) - 2025", (4, 6, 4, 13, 2025)),
        (f"{TOP} (June 23 - June 29) - 2025", (6, 23, 6, 29, 2025)),
        (f"{TOP} (Feb 27-Mar 5)", (2, 27, 3, 5, None)),
        (f"{TOP} (December 30 - January 5) - 2025", (12, 30, 1, 5, 2025)),
        ("top ml papers of the week (sept 4 - sept 10)", (9, 4, 9, 10, None)),
        ("TOP AI PAPERS OF THE WEEK (SEP 11 - SEPTEMBER 17) 2023", (9, 11, 9, 17, 2023)),
        (f"{TOP} (Aug. 1st - Aug. 7th)", (8, 1, 8, 7, None)),
        (f"{TOP} (Jan 30 - 5)", (1, 30, 2, 5, None)),
        (f"{TOP} (Dec 30, 2024 - Jan 5)", (12, 30, 1, 5, 2025)),
        (f"{TOP} (Dec 30 - Jan 5, 2025)", (12, 30, 1, 5, 2025)),
        (f"{TOP} (Oct 2 – Oct 8) (2023)", (10, 2, 10, 8, 2023)),
        (f"**{TOP} (Nov 6 - 12)**", (11, 6, 11, 12, None)),
    ],
)
def test_week_heading_shapes(text: str, parts: tuple[int, int, int, int, int | None]) -> None:
    h = parse_week_heading(text)
    assert h is not None
    assert (h.start_month, h.start_day, h.end_month, h.end_day, h.year) == parts


@pytest.mark.parametrize(
    "text",
    [
        "2025",
        "ML Papers of The Week",
        "Other heading shapes that occur (each followed by a table)",
        "Top ML Papers of the Week",
        "Top ML Papers of the Week (Janu 9-15)",
        "Papers (Jan 9-15)",  # dates, but not a week heading
        "",
    ],
)
def test_not_week_headings(text: str) -> None:
    assert parse_week_heading(text) is None


def test_title_is_heading_text_without_markers() -> None:
    h = parse_week_heading(f"**{TOP} (June 23 - June 29) - 2025**")
    assert h is not None
    assert h.title == f"{TOP} (June 23 - June 29) - 2025"


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("## Top ML Papers of the Week (Jan 9-15)", "Top ML Papers of the Week (Jan 9-15)"),
        ("# Title", "Title"),
        ("###   Spaced    out  ", "Spaced out"),
        ("## Closed ##", "Closed"),
        ("##", ""),
        ("#hashtag", None),
        ("####### seven", None),
        ("plain text", None),
    ],
)
def test_heading_text(line: str, text: str | None) -> None:
    assert heading_text(line) == text


def test_dates_and_year_boundary() -> None:
    h = WeekHeading("t", 12, 30, 1, 5, 2025)
    assert h.wraps
    assert h.dates(2025) == (date(2024, 12, 30), date(2025, 1, 5))
    assert WeekHeading("t", 2, 29, 3, 6).dates(2023) is None  # 2023 is not a leap year
    assert WeekHeading("t", 2, 29, 3, 6).dates(2024) == (date(2024, 2, 29), date(2024, 3, 6))


@pytest.mark.parametrize(
    ("aid", "yymm"),
    [
        ("2303.08774", (2023, 3)),
        ("2501.00001", (2025, 1)),
        ("1706.03762", (2017, 6)),
        ("cs/0701001", (2007, 1)),
        ("hep-th/9901001", (1999, 1)),
        ("2313.00001", None),
        ("nonsense", None),
    ],
)
def test_arxiv_yymm(aid: str, yymm: tuple[int, int] | None) -> None:
    assert arxiv_yymm(aid) == yymm


def _h(text: str) -> WeekHeading:
    h = parse_week_heading(text)
    assert h is not None
    return h


def test_explicit_year_needs_no_note() -> None:
    [d] = resolve_dates([WeekClue(_h(f"{TOP} (April 6 - April 13) - 2025"), 1)])
    assert d.dates == (date(2025, 4, 6), date(2025, 4, 13))
    assert d.notes == ()


def test_year_from_arxiv_ids_takes_most_common_month() -> None:
    clue = WeekClue(_h(f"{TOP} (Feb 27-Mar 5)"), 7, ["2303.00001", "2302.00002", "2303.00003"])
    [d] = resolve_dates([clue])
    assert d.dates == (date(2023, 2, 27), date(2023, 3, 5))
    [(severity, message)] = d.notes
    assert severity == "warning"
    assert "year 2023" in message and "arXiv" in message and "2303" in message


@pytest.mark.parametrize(
    ("ids", "start", "end"),
    [
        (["2501.00001", "2501.00002", "2412.00003"], date(2024, 12, 30), date(2025, 1, 5)),
        (["2412.00001", "2412.00002"], date(2024, 12, 30), date(2025, 1, 5)),
    ],
)
def test_year_from_arxiv_across_new_year(ids: list[str], start: date, end: date) -> None:
    [d] = resolve_dates([WeekClue(_h(f"{TOP} (December 30 - January 5)"), 1, ids)])
    assert d.dates == (start, end)


def test_year_from_neighbours_newest_first() -> None:
    clues = [
        WeekClue(_h(f"{TOP} (Jan 16 - Jan 22) - 2023"), 1),
        WeekClue(_h(f"{TOP} (Jan 9-15)"), 10),
        WeekClue(_h(f"{TOP} (Jan 2-8)"), 20),
        WeekClue(_h(f"{TOP} (Dec 26 - Jan 1)"), 30),
        WeekClue(_h(f"{TOP} (Dec 19 - 25)"), 40),
    ]
    got = resolve_dates(clues)
    assert [d.dates[0] if d.dates else None for d in got] == [
        date(2023, 1, 16),
        date(2023, 1, 9),
        date(2023, 1, 2),
        date(2022, 12, 26),
        date(2022, 12, 19),
    ]
    assert got[0].notes == ()
    assert "neighbouring week at line 1" in got[1].notes[0][1]
    assert "neighbouring week at line 30" in got[4].notes[0][1]


def test_year_from_the_week_below_when_the_top_has_none() -> None:
    clues = [
        WeekClue(_h(f"{TOP} (Jan 2-8)"), 1),
        WeekClue(_h(f"{TOP} (Dec 26 - Jan 1) - 2023"), 10),
    ]
    first, second = resolve_dates(clues)
    assert first.dates == (date(2023, 1, 2), date(2023, 1, 8))
    assert "neighbouring week at line 10" in first.notes[0][1]
    assert second.dates == (date(2022, 12, 26), date(2023, 1, 1))


def test_neighbours_in_a_file_that_runs_oldest_first() -> None:
    clues = [
        WeekClue(_h(f"{TOP} (Dec 18 - 24) - 2022"), 1),
        WeekClue(_h(f"{TOP} (Dec 25 - 31) - 2022"), 2),
        WeekClue(_h(f"{TOP} (Jan 1-7)"), 3),
    ]
    assert resolve_dates(clues)[2].dates == (date(2023, 1, 1), date(2023, 1, 7))


def test_default_year_dates_the_top_week_and_the_rest_follow() -> None:
    clues = [
        WeekClue(_h(f"{TOP} (Jan 2-8)"), 1),
        WeekClue(_h(f"{TOP} (Dec 26 - Jan 1)"), 2),
    ]
    first, second = resolve_dates(clues, default_year=2023)
    assert first.dates == (date(2023, 1, 2), date(2023, 1, 8))
    assert "default year" in first.notes[0][1]
    assert second.dates == (date(2022, 12, 26), date(2023, 1, 1))


def test_undatable_week_is_an_error() -> None:
    [d] = resolve_dates([WeekClue(_h(f"{TOP} (Jan 9-15)"), 3)])
    assert d.dates is None
    [(severity, message)] = d.notes
    assert severity == "error"
    assert f"'{TOP} (Jan 9-15)'" in message and "year" in message


def test_invalid_dates_are_errors() -> None:
    [bad] = resolve_dates([WeekClue(_h(f"{TOP} (Feb 30 - Mar 6) - 2024"), 1)])
    assert bad.dates is None and bad.notes[0][0] == "error"
    [long] = resolve_dates([WeekClue(_h(f"{TOP} (Jan 1 - Mar 1) - 2024"), 1)])
    assert long.dates is None and "spans" in long.notes[0][1]


def test_unusual_span_is_a_warning() -> None:
    [d] = resolve_dates([WeekClue(_h(f"{TOP} (Jan 1 - Jan 14) - 2024"), 1)])
    assert d.dates == (date(2024, 1, 1), date(2024, 1, 14))
    assert d.notes == (("warning", f"week heading '{TOP} (Jan 1 - Jan 14) - 2024' spans 14 days"),)
