"""Week headings of curated weekly tables and the dates they stand for.

A week heading looks like ``## Top ML Papers of the Week (Jan 9-15)`` or
``## Top ML Papers of the Week (December 30 - January 5) - 2025``. A year after the heading
belongs to the *end* date. Headings without a year get one inferred by :func:`resolve_dates`:
from the arXiv ids of the week's papers, else from the neighbouring weeks, else from a default.

Everything here is pure: no I/O, no exceptions escape (invalid dates come back as notes).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from bot.papers.model import Severity

_ATX_RE = re.compile(r"^\s*(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"(?:(?:st|nd|rd|th)\b)?"
_RANGE_RE = re.compile(
    rf"\(\s*(?P<m1>{_MONTH})\.?\s*(?P<d1>\d{{1,2}}){_DAY}(?:\s*,?\s*(?P<y1>\d{{4}}))?"
    r"\s*(?:-+|–|—|\bto\b|\buntil\b)\s*"
    rf"(?:(?P<m2>{_MONTH})\.?\s*)?(?P<d2>\d{{1,2}}){_DAY}(?:\s*,?\s*(?P<y2>\d{{4}}))?\s*\)"
    r"(?:\s*(?:[-–—,:/]\s*)?\(?(?P<y>\d{4})\b)?",
    re.IGNORECASE,
)
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_ARXIV_YYMM_RE = re.compile(r"(?:^|/)(\d{2})(\d{2})(?:\.\d{4,5}|\d{3})(?:v\d+)?$")

# A week spans 5..9 days in practice (six- and eight-day weeks occur); beyond a month it is
# certainly a misread heading.
_USUAL_SPAN = range(5, 10)
_MAX_SPAN = 31


@dataclass(frozen=True, slots=True)
class WeekHeading:
    """The parts of a week heading. ``year`` is the year of the end date, if the heading says."""

    title: str
    start_month: int
    start_day: int
    end_month: int
    end_day: int
    year: int | None = None

    @property
    def wraps(self) -> bool:
        """True when the week crosses New Year (``December 30 - January 5``)."""
        return (self.start_month, self.start_day) > (self.end_month, self.end_day)

    def dates(self, end_year: int) -> tuple[date, date] | None:
        """Start and end dates when the end date falls in ``end_year``; None if invalid."""
        start_year = end_year - 1 if self.wraps else end_year
        try:
            return (
                date(start_year, self.start_month, self.start_day),
                date(end_year, self.end_month, self.end_day),
            )
        except ValueError:
            return None


def heading_text(line: str) -> str | None:
    """The text of an ATX markdown heading line (``## Text ##`` -> ``Text``), else None."""
    m = _ATX_RE.match(line)
    if m is None:
        return None
    return " ".join((m.group(2) or "").split())


def parse_week_heading(text: str) -> WeekHeading | None:
    """A WeekHeading if ``text`` (heading text without the #s) names a week, else None."""
    if "week" not in text.casefold():
        return None
    m = _RANGE_RE.search(text)
    if m is None:
        return None
    sm = _MONTHS[m.group("m1")[:3].casefold()]
    sd = int(m.group("d1"))
    ed = int(m.group("d2"))
    if m.group("m2"):
        em = _MONTHS[m.group("m2")[:3].casefold()]
    elif ed < sd:  # "(Jan 30 - 5)": the end day is in the next month
        em = sm % 12 + 1
    else:
        em = sm
    wraps = (sm, sd) > (em, ed)
    year: int | None = None
    if m.group("y"):
        year = int(m.group("y"))
    elif m.group("y2"):
        year = int(m.group("y2"))
    elif m.group("y1"):
        year = int(m.group("y1")) + (1 if wraps else 0)
    title = text.strip().strip("*_").strip()
    return WeekHeading(title, sm, sd, em, ed, year)


def arxiv_yymm(arxiv_id: str) -> tuple[int, int] | None:
    """(year, month) encoded in an arXiv id: ``2303.08774`` -> (2023, 3); ``cs/0701001`` ->
    (2007, 1)."""
    m = _ARXIV_YYMM_RE.search(arxiv_id)
    if m is None:
        return None
    yy, mm = int(m.group(1)), int(m.group(2))
    if not 1 <= mm <= 12:
        return None
    return (2000 + yy if yy < 91 else 1900 + yy), mm


@dataclass(frozen=True, slots=True)
class WeekClue:
    """What is known about one week when dating it: its heading, heading line, arXiv ids."""

    heading: WeekHeading
    line: int
    arxiv_ids: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Dating:
    """The dates of a week (None if it cannot be dated) and notes to report on its heading."""

    dates: tuple[date, date] | None
    notes: tuple[tuple[Severity, str], ...] = ()


def _from_arxiv(h: WeekHeading, ids: Sequence[str]) -> tuple[int, str] | None:
    counts = Counter(ym for ym in map(arxiv_yymm, ids) if ym is not None)
    if not counts:
        return None
    # the most common month; on a tie the latest (a week can list old papers, not future ones)
    (ay, am), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    target = ay * 12 + am - 1
    best: tuple[int, int] | None = None
    for end_year in (ay - 1, ay, ay + 1):
        d = h.dates(end_year) if 1 < end_year < 9999 else None
        if d is None:
            continue
        dist = abs(d[0].year * 12 + d[0].month - 1 - target)
        if best is None or dist < best[0]:
            best = (dist, end_year)
    if best is None:
        return None
    return best[1], f"arXiv ids of its papers ({ay % 100:02d}{am:02d}.*)"


def _from_neighbour(h: WeekHeading, anchor: tuple[date, date], older: bool) -> int | None:
    """The end year putting this week just before (``older``) or just after the anchor week."""
    a_start, a_end = anchor
    options: list[tuple[date, int]] = []
    for end_year in (a_end.year - 1, a_end.year, a_end.year + 1):
        d = h.dates(end_year) if 1 < end_year < 9999 else None
        if d is not None:
            options.append((d[0], end_year))
    if not options:
        return None
    if older:
        fitting = [o for o in options if o[0] <= a_start]
        return max(fitting)[1] if fitting else None
    fitting = [o for o in options if o[0] >= a_start]
    return min(fitting)[1] if fitting else None


def _newest_first(dated: dict[int, tuple[date, date]]) -> bool:
    """Whether the dated weeks run newest first (the usual order); True when unknown."""
    starts = [dated[i][0] for i in sorted(dated)]
    desc = sum(1 for a, b in pairwise(starts) if a > b)
    asc = sum(1 for a, b in pairwise(starts) if a < b)
    return desc >= asc


def resolve_dates(clues: Sequence[WeekClue], default_year: int | None = None) -> list[Dating]:
    """Date every week, in file order. A week without a year in its heading takes it from the
    arXiv ids of its papers, else from the nearest dated neighbouring week (files normally run
    newest first; the order is read from the weeks that carry years), else ``default_year``
    (the year of the end date). Every inferred year is noted as a warning; an undatable week
    gets an error note and no dates."""
    n = len(clues)
    dated: dict[int, tuple[date, date]] = {}
    notes: list[list[tuple[Severity, str]]] = [[] for _ in range(n)]
    pending: list[int] = []
    for i, clue in enumerate(clues):
        h = clue.heading
        if h.year is not None:
            d = h.dates(h.year)
            if d is None:
                notes[i].append(("error", f"week heading '{h.title}' names no valid date"))
            else:
                dated[i] = d
            continue
        found = _from_arxiv(h, clue.arxiv_ids)
        if found is not None:
            d = h.dates(found[0])
            if d is not None:
                dated[i] = d
                notes[i].append(("warning", _inferred(h, found[0], found[1])))
                continue
        pending.append(i)

    newest_first = _newest_first(dated)

    def from_neighbour(i: int, j: int, above: bool) -> bool:
        h = clues[i].heading
        end_year = _from_neighbour(h, dated[j], older=above == newest_first)
        d = h.dates(end_year) if end_year is not None else None
        if end_year is None or d is None:
            return False
        dated[i] = d
        why = f"the neighbouring week at line {clues[j].line}"
        notes[i].append(("warning", _inferred(h, end_year, why)))
        return True

    def propagate() -> None:
        todo = set(pending)
        # downwards: each week from the nearest dated one above it; then upwards for the weeks
        # above the topmost dated one
        for order, above in ((range(n), True), (range(n - 1, -1, -1), False)):
            last: int | None = None
            for i in order:
                if last is not None and i in todo and i not in dated:
                    from_neighbour(i, last, above=above)
                if i in dated:
                    last = i
        pending[:] = [i for i in pending if i not in dated]

    propagate()
    if pending and default_year is not None and not dated:
        # Nothing dated at all: the topmost week takes the default year, the rest follow it.
        i = pending[0]
        h = clues[i].heading
        d = h.dates(default_year) if 1 < default_year < 9999 else None
        if d is not None:
            dated[i] = d
            notes[i].append(("warning", _inferred(h, default_year, "the default year")))
            propagate()

    for i in pending:
        h = clues[i].heading
        if any(sev == "error" for sev, _ in notes[i]):
            continue
        notes[i].append(
            (
                "error",
                f"cannot tell the year of week heading '{h.title}': no year in the heading, "
                "no arXiv ids in its links and no dated neighbouring week; week skipped",
            )
        )

    result: list[Dating] = []
    for i, clue in enumerate(clues):
        d = dated.get(i)
        if d is not None:
            span = (d[1] - d[0]).days + 1
            if span > _MAX_SPAN:
                notes[i].append(
                    ("error", f"week heading '{clue.heading.title}' spans {span} days; skipped")
                )
                d = None
            elif span not in _USUAL_SPAN:
                notes[i].append(
                    ("warning", f"week heading '{clue.heading.title}' spans {span} days")
                )
        result.append(Dating(d, tuple(notes[i])))
    return result


def _inferred(h: WeekHeading, end_year: int, why: str) -> str:
    return (
        f"no year in week heading '{h.title}'; "
        f"year {end_year} (of the end date) inferred from {why}"
    )
