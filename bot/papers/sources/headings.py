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


Dates = tuple[date, date]
Note = tuple[Severity, str]


def _dates_in(h: WeekHeading, end_year: int) -> Dates | None:
    """The dates of ``h`` with its end date in ``end_year`` (an inferred year: 2..9998)."""
    return h.dates(end_year) if 1 < end_year < 9999 else None


def _near(h: WeekHeading, year: int) -> list[tuple[Dates, int]]:
    """(dates, end year) of ``h`` for each valid end year from ``year - 1`` to ``year + 1``."""
    options: list[tuple[Dates, int]] = []
    for end_year in (year - 1, year, year + 1):
        d = _dates_in(h, end_year)
        if d is not None:
            options.append((d, end_year))
    return options


def _from_arxiv(h: WeekHeading, ids: Sequence[str]) -> tuple[int, str] | None:
    """(end year, why) putting the week nearest the month most of its arXiv ids name."""
    counts = Counter(ym for ym in map(arxiv_yymm, ids) if ym is not None)
    if not counts:
        return None
    # the most common month; on a tie the latest (a week can list old papers, not future ones)
    (ay, am), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    target = ay * 12 + am - 1
    options = _near(h, ay)
    if not options:
        return None

    def distance(option: tuple[Dates, int]) -> int:
        start = option[0][0]
        return abs(start.year * 12 + start.month - 1 - target)

    _, end_year = min(options, key=distance)  # the first of equally near ones
    return end_year, f"arXiv ids of its papers ({ay % 100:02d}{am:02d}.*)"


def _from_neighbour(h: WeekHeading, anchor: Dates, older: bool) -> int | None:
    """The end year putting this week just before (``older``) or just after the anchor week."""
    a_start, a_end = anchor
    options = [(d[0], end_year) for d, end_year in _near(h, a_end.year)]
    if older:
        fitting = [o for o in options if o[0] <= a_start]
        return max(fitting)[1] if fitting else None
    fitting = [o for o in options if o[0] >= a_start]
    return min(fitting)[1] if fitting else None


def _newest_first(dated: dict[int, Dates]) -> bool:
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
    resolver = _Resolver(clues)
    resolver.from_own_clues()
    resolver.from_neighbours()
    resolver.from_default_year(default_year)
    resolver.report_undated()
    return [resolver.dating(i) for i in range(len(clues))]


class _Resolver:
    """The work of :func:`resolve_dates`: the weeks dated so far and the notes on each."""

    def __init__(self, clues: Sequence[WeekClue]) -> None:
        self.clues = clues
        self.dated: dict[int, Dates] = {}
        self.notes: list[list[Note]] = [[] for _ in clues]
        self.pending: list[int] = []  # weeks without a year in the heading, not dated yet
        self.newest_first = True

    def infer(self, i: int, end_year: int, why: str) -> bool:
        """Date week ``i`` with its end date in ``end_year`` and say why; False if invalid."""
        h = self.clues[i].heading
        d = _dates_in(h, end_year)
        if d is None:
            return False
        self.dated[i] = d
        self.notes[i].append(("warning", _inferred(h, end_year, why)))
        return True

    def from_own_clues(self) -> None:
        """Date each week from the year in its heading, else from its papers' arXiv ids; the
        rest are pending. Then read the file's order from the weeks dated so far."""
        for i, clue in enumerate(self.clues):
            h = clue.heading
            if h.year is None:
                found = _from_arxiv(h, clue.arxiv_ids)
                if found is None or not self.infer(i, *found):
                    self.pending.append(i)
            elif (d := h.dates(h.year)) is not None:
                self.dated[i] = d
            else:
                self.notes[i].append(("error", f"week heading '{h.title}' names no valid date"))
        self.newest_first = _newest_first(self.dated)

    def from_neighbours(self) -> None:
        """Downwards: each pending week from the nearest dated one above it; then upwards for
        the weeks above the topmost dated one."""
        n = len(self.clues)
        todo = set(self.pending)
        for order, above in ((range(n), True), (range(n - 1, -1, -1), False)):
            last: int | None = None
            for i in order:
                if last is not None and i in todo and i not in self.dated:
                    self._from_neighbour(i, last, above)
                if i in self.dated:
                    last = i
        self.pending = [i for i in self.pending if i not in self.dated]

    def _from_neighbour(self, i: int, j: int, above: bool) -> None:
        """Date week ``i`` next to the dated week ``j`` (above it in the file if ``above``)."""
        end_year = _from_neighbour(
            self.clues[i].heading, self.dated[j], older=above == self.newest_first
        )
        if end_year is not None:
            self.infer(i, end_year, f"the neighbouring week at line {self.clues[j].line}")

    def from_default_year(self, default_year: int | None) -> None:
        """Nothing dated at all: the topmost week takes the default year, the rest follow it."""
        if not self.pending or default_year is None or self.dated:
            return
        if self.infer(self.pending[0], default_year, "the default year"):
            self.from_neighbours()

    def report_undated(self) -> None:
        for i in self.pending:
            notes = self.notes[i]
            if any(sev == "error" for sev, _ in notes):
                continue
            notes.append(
                (
                    "error",
                    f"cannot tell the year of week heading '{self.clues[i].heading.title}': no "
                    "year in the heading, no arXiv ids in its links and no dated neighbouring "
                    "week; week skipped",
                )
            )

    def dating(self, i: int) -> Dating:
        """Week ``i``'s dates and notes; a week spanning more than a month loses its dates."""
        d = self.dated.get(i)
        notes = self.notes[i]
        title = self.clues[i].heading.title
        if d is not None:
            span = (d[1] - d[0]).days + 1
            if span > _MAX_SPAN:
                notes.append(("error", f"week heading '{title}' spans {span} days; skipped"))
                d = None
            elif span not in _USUAL_SPAN:
                notes.append(("warning", f"week heading '{title}' spans {span} days"))
        return Dating(d, tuple(notes))


def _inferred(h: WeekHeading, end_year: int, why: str) -> str:
    return (
        f"no year in week heading '{h.title}'; "
        f"year {end_year} (of the end date) inferred from {why}"
    )
