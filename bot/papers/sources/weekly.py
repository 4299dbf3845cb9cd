"""Curated weekly tables ("ML Papers of the Week" README shape) -> Weeks of Papers.

The file is a run of week headings (see :mod:`bot.papers.sources.headings`): ``## Top ML
Papers of the Week (Jan 9-15)`` headings, or in early versions a bold line
``**Top ML Papers of the Week (Jan 1 - Jan 8)**``. Each is followed by a table whose rows read
``| N) <title and summary> | <links> |`` (see :mod:`bot.papers.sources.rows` for the row
shapes). Line endings may be LF, CRLF or CR alone.

A week that seems to have swallowed another one (its ranks start again at 1, or it has more
rows than ``limits.max_rows_per_week``) or that seems cut short (fewer rows than
``limits.min_rows_per_week`` where the file's weeks usually have more) is reported with its
lines; rows after a restart of the ranks are not read into the week above them.

One pass over the lines; nothing raises: every problem becomes a Diagnostic with its line and
the rest of the file still loads.
"""

from __future__ import annotations

import re
from datetime import date
from statistics import median

from bot.core.errors import SourceError
from bot.core.messages import Link
from bot.papers.model import ParseResult, Week, arxiv_id_from_url
from bot.papers.sources.headings import (
    WeekClue,
    WeekHeading,
    heading_text,
    parse_week_heading,
    resolve_dates,
)
from bot.papers.sources.limits import DEFAULT_LIMITS, SourceLimits
from bot.papers.sources.rows import CELL_SPLIT_RE, SKIP_ROW_RE, Block, RowReader, is_header_cell

__all__ = ["looks_like_weekly", "normalize_newlines", "parse_weekly"]

_LEADING_RANK_RE = re.compile(r"^\d{1,4}\s*[).]\s")  # a row typed without its leading pipe


def normalize_newlines(text: str) -> str:
    """CRLF and CR-only line endings as LF (line numbers stay those an editor shows)."""
    if "\r" in text:
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def bold_heading(line: str) -> WeekHeading | None:
    """A week marked by a bold line, ``**Top ML Papers of the Week (Jan 1 - Jan 8)**``."""
    if not line.startswith(("**", "__")):
        return None
    inner = line.strip("*_ ")
    return parse_week_heading(inner) if inner else None


# --- the file -----------------------------------------------------------------------------------


def _scan(text: str, reader: RowReader) -> list[Block]:
    """One pass over the lines: week headings and the table rows under them."""
    blocks: list[Block] = []
    block: Block | None = None
    fence = ""
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, raw in enumerate(normalize_newlines(text).split("\n"), 1):
        s = raw.strip()
        if not s:
            continue
        first = s[0]
        if fence:
            if s.startswith(fence):
                fence = ""
            continue
        if first == "|":
            if block is not None:
                if block.heading is None:
                    block.rows += _is_data_row(s)
                else:
                    reader.row(block, s, number)
        elif first == "#":
            htext = heading_text(s)
            if htext is None:
                continue
            heading = parse_week_heading(htext)
            if heading is not None:
                block = Block(heading, heading.title, number)
                blocks.append(block)
            elif "week" in htext.casefold() and "(" in htext:
                block = Block(None, htext, number)
                blocks.append(block)
            else:
                block = None  # any other heading ends the week's table
        elif first in "*_" and (heading := bold_heading(s)) is not None:
            block = Block(heading, heading.title, number)
            blocks.append(block)
        elif first in "`~" and s[:3] in ("```", "~~~"):
            fence = s[:3]
        elif (
            block is not None
            and block.heading is not None
            and first.isdigit()
            and "|" in s
            and _LEADING_RANK_RE.match(s)
        ):
            reader.row(block, s, number)
    return blocks


def parse_weekly(
    text: str,
    source: str,
    *,
    default_year: int | None = None,
    limits: SourceLimits = DEFAULT_LIMITS,
) -> ParseResult:
    """Read a curated weekly-tables markdown file. ``source`` names it in every Paper and
    Diagnostic; ``default_year`` (the year of the end date) dates weeks nothing else can date.

    Problems are reported as Diagnostics (file and line) and the rest of the file still loads;
    the only exception is a SourceError should the parser itself fail (a bug)."""
    try:
        return _parse(text, source, default_year, limits)
    except Exception as exc:
        raise SourceError(source, f"internal error in the weekly-table parser: {exc!r}") from exc


def _parse(text: str, source: str, default_year: int | None, limits: SourceLimits) -> ParseResult:
    reader = RowReader(source, limits)
    blocks = _scan(text, reader)
    weekly: list[Block] = []
    for b in blocks:
        if b.heading is None:
            if b.rows:
                reader.note(
                    "error",
                    b.line,
                    f"cannot read the dates of week heading '{b.title}'; "
                    f"its {b.rows} table row(s) are skipped",
                )
        elif b.papers:
            weekly.append(b)
        elif not b.rows:
            reader.note("warning", b.line, f"week heading '{b.title}' has no table rows")
    _check_sizes(weekly, reader)
    clues = [
        WeekClue(
            b.heading,
            b.line,
            [aid for p in b.papers for aid in map(_arxiv, p.links) if aid is not None],
        )
        for b in weekly
        if b.heading is not None
    ]
    result = ParseResult()
    seen: dict[date, int] = {}
    for b, dating in zip(weekly, resolve_dates(clues, default_year), strict=True):
        for severity, message in dating.notes:
            reader.note(severity, b.line, message)
        if dating.dates is not None:
            start, end = dating.dates
            if start in seen:
                reader.note(
                    "warning",
                    b.line,
                    f"the week starting {start} is already listed at line {seen[start]}",
                )
            seen.setdefault(start, b.line)
            result.weeks.append(
                Week(start, end, b.title, source, tuple(b.papers), b.line, kind="weekly")
            )
    result.diagnostics = sorted(reader.diagnostics, key=lambda d: d.line or 0)
    return result


def _lines(lines: list[int]) -> str:
    return f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"


def _check_sizes(blocks: list[Block], reader: RowReader) -> None:
    """Weeks that seem to hold another week's rows, or to have lost some of their own."""
    limits = reader.limits
    usual = median(len(b.papers) for b in blocks) if blocks else 0
    for b in blocks:
        if b.stray:
            reader.note(
                "warning",
                b.stray[0],
                f"the ranks start again at 1 under week '{b.title}' (line {b.line}), as if a "
                f"week heading were missing: the {len(b.stray)} row(s) at {_lines(b.stray)} "
                "are not read into that week",
            )
        n = len(b.papers)
        if n > limits.max_rows_per_week:
            reader.note(
                "warning",
                b.line,
                f"week '{b.title}' has {n} rows ({_lines(b.row_lines)}), more than "
                f"{limits.max_rows_per_week} (sources.limits.max_rows_per_week): "
                "is a week heading missing?",
            )
        elif n < limits.min_rows_per_week <= usual:
            reader.note(
                "warning",
                b.line,
                f"week '{b.title}' has only {n} row(s) ({_lines(b.row_lines)}) where this "
                f"file's weeks usually have {usual:g}, fewer than "
                f"{limits.min_rows_per_week} (sources.limits.min_rows_per_week): "
                "was part of its table lost?",
            )


def _arxiv(link: Link) -> str | None:
    return arxiv_id_from_url(link.url) if "arxiv" in link.url or "/papers/" in link.url else None


def looks_like_weekly(text: str) -> bool:
    """True if the text has a week heading (or bold week line) followed by a table row."""
    in_week = False
    for raw in normalize_newlines(text).split("\n"):
        s = raw.strip()
        if not s:
            continue
        if s[0] == "#":
            htext = heading_text(s)
            if htext is not None:
                in_week = parse_week_heading(htext) is not None
        elif s[0] in "*_" and bold_heading(s) is not None:
            in_week = True
        elif in_week and s[0] == "|" and _is_data_row(s):
            return True
    return False


def _is_data_row(row: str) -> bool:
    """A table row that is neither a separator nor a header row."""
    if SKIP_ROW_RE.match(row):
        return False
    first = CELL_SPLIT_RE.split(row.strip().strip("|"), maxsplit=1)[0]
    return not is_header_cell(first)
