"""Curated weekly tables ("ML Papers of the Week" README shape) -> Weeks of Papers.

The file is a run of week headings (see :mod:`bot.papers.sources.headings`), each followed by
a table whose rows read ``| N) <title and summary> | <links> |``. Rows drifted in shape over the
years: bold titles with ``-``/``--``/``—``/``:`` separators, plain titles, ``Title  Summary`` with
``<br>●`` bullet points, titles run straight into a verb-led summary, mistyped bold markers,
markdown escapes, missing or padded links cells, links inside the summary. All of them are read.

One pass over the lines; nothing raises: every problem becomes a Diagnostic with its line and
the rest of the file still loads.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from bot.core.errors import SourceError
from bot.core.messages import Link
from bot.papers.model import Diagnostic, Paper, ParseResult, Severity, Week, arxiv_id_from_url
from bot.papers.sources.headings import (
    WeekClue,
    WeekHeading,
    heading_text,
    parse_week_heading,
    resolve_dates,
)

__all__ = ["looks_like_weekly", "parse_weekly"]

# --- markdown details ---------------------------------------------------------------------------

_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")
_SKIP_ROW_RE = re.compile(r"^[\s|:\-]*$")  # separator rows and empty rows
_HEADER_CELLS = frozenset({"paper", "papers", "title", "paper title", "links", "link"})
_RANK_RE = re.compile(r"^\s*(\d{1,4})\s*(?:\\?\)|\.(?=\s)|:(?=\s))\s*")
_LEADING_RANK_RE = re.compile(r"^\d{1,4}\s*[).]\s")
_ESC_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
_PLACEHOLDER = 0xE000  # escaped punctuation c is carried as chr(_PLACEHOLDER + ord(c))
_RESTORE = {_PLACEHOLDER + c: chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum()}
_LINK_RE = re.compile(r"\[([^\[\]]*)\]\(\s*([^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\s*\)")
_BARE_URL_RE = re.compile(r"https?://[^\s<>()\[\]|,]+")
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]*>")
_BULLET_OR_BREAK_RE = re.compile(r"[\n●•▪◦‣]")
_BULLET_LEAD_RE = re.compile(r"^(?:[●•▪◦‣]|[-*+](?=\s))\s*")
_INLINE_BULLET_RE = re.compile(r"\s*[●•▪◦‣]\s*")
_TRAILER_RE = re.compile(r"[\s,;.|]*$")

# --- title / summary split ----------------------------------------------------------------------

_BOLD_OPEN_RE = re.compile(r"^(?:\*\*|\*8|__|\*(?=\S))\s*")
_BOLD_CLOSE_RE = re.compile(r"\*\*|\*8|__|\*")
_SEP_LEAD_RE = re.compile(r"^[\s*_]*(?:-{1,2}|–|—|:)?\s*")
_PLAIN_SEP_RE = re.compile(r"[ \t]+(?:-{1,2}|–|—)[ \t]+|[ \t]{2,}")
_VERBS = (
    "Introduces|Introducing|Proposes|Presents|Shows|Develops|Releases|Describes|Builds|Trains"
    "|Finds|Explores|Investigates|Demonstrates|Uses|Provides|Combines|Studies|Applies|Reports"
    "|Surveys|Evaluates|Discusses|Analyzes|Analyses|Argues|Examines|Extends|Offers|Outlines"
)
# A verb, or a sentence-starting word followed by a lower-case word ("This paper", "A new").
_VERB_SPLIT_RE = re.compile(
    rf" (?=(?:{_VERBS})\b|(?:A|An|The|This|These|We|Our|New) [a-z])",
)
_TITLE_STRIP = " \t*_:-–—|"
_LONG_TITLE_WORDS = 25


def _clean(text: str, escaped: bool = False) -> str:
    """Whitespace collapsed, bold markers dropped, escaped punctuation (carried as placeholders
    when ``escaped``) back to the plain character, HTML entities decoded."""
    if "**" in text:
        text = text.replace("**", "")
    if escaped:
        text = text.translate(_RESTORE)
    if "&" in text and ";" in text:
        text = html.unescape(text)
    return " ".join(text.split())


def _protect(m: re.Match[str]) -> str:
    return chr(_PLACEHOLDER + ord(m.group(1)))


@lru_cache(maxsize=1024)
def _label(raw: str) -> str:
    return _clean(_ESC_RE.sub(r"\1", raw)).strip("*_ ") or "Link"


def _url(raw: str) -> str:
    return _ESC_RE.sub(r"\1", raw) if "\\" in raw else raw


def _cell_links(cell: str) -> list[Link]:
    links = [Link(_label(lbl), _url(url)) for lbl, url in _LINK_RE.findall(cell) if url]
    if not links and "://" in cell:
        links = [Link("Link", u.rstrip(".;")) for u in _BARE_URL_RE.findall(cell)]
    return links


def _body_links(body: str) -> tuple[str, list[Link]]:
    """Links trailing the body are links of the paper (removed); links inside the text are
    replaced by their label."""
    matches = list(_LINK_RE.finditer(body))
    if not matches:
        return body, []
    cut = len(body)
    trailing: list[re.Match[str]] = []
    for m in reversed(matches):
        if not _TRAILER_RE.match(body, m.end(), cut):
            break
        trailing.append(m)
        cut = m.start()
    trailing.reverse()
    links = [
        Link(_label(m.group(1).translate(_RESTORE)), m.group(2).translate(_RESTORE))
        for m in trailing
        if m.group(2)
    ]
    head = body[:cut]
    if len(trailing) < len(matches):
        head = _LINK_RE.sub(lambda m: m.group(1), head)
    return head, links


def _bullets(body: str, escaped: bool) -> tuple[str, list[str]]:
    """Split the body into the text before the first bullet and the bullet points."""
    head: list[str] = []
    bullets: list[str] = []
    for seg in body.split("\n"):
        seg = seg.strip()
        if not seg:
            continue
        lead = _BULLET_LEAD_RE.match(seg)
        parts = _INLINE_BULLET_RE.split(seg[lead.end() :] if lead else seg)
        if lead or bullets:
            bullets.extend(parts)
        else:
            head.append(parts[0])
            bullets.extend(parts[1:])
    return "  ".join(head), [b for b in (_clean(x, escaped) for x in bullets) if b]


def _drop_lead_in(summary: str) -> str:
    """Drop a short trailing lead-in such as "Key findings:" before bullet points."""
    if not summary.endswith(":"):
        return summary
    cut = max(summary.rfind(c, 0, len(summary) - 1) for c in ".!?")
    if len(summary[cut + 1 :].split()) <= 5:
        return summary[: cut + 1].strip()
    return summary


def _split_title(head: str) -> tuple[str, str, bool]:
    """(title, summary, separated) of the text before the bullets."""
    m = _BOLD_OPEN_RE.match(head)
    if m:
        rest = head[m.end() :]
        close = _BOLD_CLOSE_RE.search(rest)
        if close is not None and rest[: close.start()].strip():
            after = rest[close.end() :]
            sep = _SEP_LEAD_RE.match(after)
            return rest[: close.start()], after[sep.end() :] if sep else after, True
        head = rest  # no closing marker: read it as a plain title
    m = _PLAIN_SEP_RE.search(head)
    if m is not None and m.start() > 0:
        return head[: m.start()], head[m.end() :], True
    head = " ".join(head.split())
    for v in _VERB_SPLIT_RE.finditer(head):
        if head.count(" ", 0, v.start()) >= 1:  # at least two title words before it
            return head[: v.start()], head[v.end() :], True
    return head, "", False


# --- rows ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    """A week heading and what was read under it."""

    heading: WeekHeading | None  # None: looks like a week heading but the dates cannot be read
    title: str
    line: int
    papers: list[Paper] = field(default_factory=list)
    rows: int = 0
    last_rank: int = 0
    ranks: set[int] = field(default_factory=set)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def note(self, severity: Severity, line: int | None, message: str) -> None:
        self.diagnostics.append(Diagnostic(severity, self.source, line, message))

    def row(self, block: _Block, text: str, line: int) -> None:
        """Read one table row into the block (or note why it cannot be read)."""
        try:
            self._row(block, text, line)
        except Exception as exc:  # a parser bug must not cost the rest of the file
            self.note("error", line, f"internal error reading this row ({exc!r}); skipped")

    def _row(self, block: _Block, text: str, line: int) -> None:
        s = text.strip()
        if s.startswith("|"):
            s = s[1:]
        if s.endswith("|") and not s.endswith("\\|"):
            s = s[:-1]
        if _SKIP_ROW_RE.match(s):
            return
        cells = [c.strip() for c in (_CELL_SPLIT_RE.split(s) if "\\" in s else s.split("|"))]
        while not cells[-1]:
            cells.pop()
        if cells[0].strip("*_ ").casefold() in _HEADER_CELLS:
            return
        block.rows += 1
        rank: int | None = None
        if len(cells) >= 3 and cells[0].isdigit():  # the rank in a column of its own
            rank, cells = int(cells[0]), cells[1:]
        if len(cells) >= 2:
            body, links = "|".join(cells[:-1]), _cell_links(cells[-1])
        else:
            body, links = cells[0], []
        if rank is None:
            m = _RANK_RE.match(body)
            if m is not None:
                rank, body = int(m.group(1)), body[m.end() :]
        if rank is None and not links:
            self.note("error", line, "cannot read table row: no rank and no links; skipped")
            return
        read = self._paper(body, links, line)
        if read is None:
            return
        if rank is None or rank < 1:
            fallback = block.last_rank + 1
            what = "missing" if rank is None else f"{rank} is not valid"
            self.note("warning", line, f"rank {what}; using the row order ({fallback})")
            rank = fallback
        elif rank in block.ranks:
            self.note("warning", line, f"rank {rank} appears twice in week '{block.title}'")
        block.ranks.add(rank)
        block.last_rank = rank
        title, summary, bullets, all_links = read
        block.papers.append(Paper(rank, title, summary, bullets, all_links, self.source, line))

    def _paper(
        self, body: str, links: list[Link], line: int
    ) -> tuple[str, str, tuple[str, ...], tuple[Link, ...]] | None:
        """Title, summary, bullets and links of a row body (or None, noted, if unreadable)."""
        escaped = "\\" in body
        if escaped:
            body = _ESC_RE.sub(_protect, body)
        if "](" in body:
            body, own = _body_links(body)
            if own:
                seen = {link.url for link in own}
                links = own + [link for link in links if link.url not in seen]
        if "<" in body:
            body = _BR_RE.sub("\n", body)
            body = _TAG_RE.sub("", body)
        bullets: list[str] = []
        if _BULLET_OR_BREAK_RE.search(body):
            body, bullets = _bullets(body, escaped)
        title, summary, separated = _split_title(body.strip())
        title = _clean(" ".join(title.split()).strip(_TITLE_STRIP), escaped)
        if not title:
            self.note("error", line, "cannot read table row: no paper title; skipped")
            return None
        if not separated and len(title.split()) > _LONG_TITLE_WORDS:
            self.note("warning", line, "cannot tell the title from the summary in this row")
        summary = _clean(summary, escaped)
        if bullets:
            summary = _drop_lead_in(summary)
        return title, summary, tuple(bullets), tuple(links)


# --- the file -----------------------------------------------------------------------------------


def _scan(text: str, reader: _Reader) -> list[_Block]:
    """One pass over the lines: week headings and the table rows under them."""
    blocks: list[_Block] = []
    block: _Block | None = None
    fence = ""
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, raw in enumerate(text.split("\n"), 1):
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
                block = _Block(heading, heading.title, number)
                blocks.append(block)
            elif "week" in htext.casefold() and "(" in htext:
                block = _Block(None, htext, number)
                blocks.append(block)
            else:
                block = None  # any other heading ends the week's table
        elif first in "`~" and s[:3] in ("```", "~~~"):
            fence = s[:3]
        elif (
            block is not None
            and block.heading is not None
            and first.isdigit()
            and "|" in s
            and _LEADING_RANK_RE.match(s)
        ):
            reader.row(block, s, number)  # a row without its leading pipe
    return blocks


def parse_weekly(text: str, source: str, *, default_year: int | None = None) -> ParseResult:
    """Read a curated weekly-tables markdown file. ``source`` names it in every Paper and
    Diagnostic; ``default_year`` (the year of the end date) dates weeks nothing else can date.

    Problems are reported as Diagnostics (file and line) and the rest of the file still loads;
    the only exception is a SourceError should the parser itself fail (a bug)."""
    try:
        return _parse(text, source, default_year)
    except Exception as exc:
        raise SourceError(source, f"internal error in the weekly-table parser: {exc!r}") from exc


def _parse(text: str, source: str, default_year: int | None) -> ParseResult:
    reader = _Reader(source)
    blocks = _scan(text, reader)
    weekly: list[_Block] = []
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


def _arxiv(link: Link) -> str | None:
    return arxiv_id_from_url(link.url) if "arxiv" in link.url or "/papers/" in link.url else None


def looks_like_weekly(text: str) -> bool:
    """True if the text has a week heading followed by at least one table row."""
    in_week = False
    for raw in text.split("\n"):
        s = raw.strip()
        if not s:
            continue
        if s[0] == "#":
            htext = heading_text(s)
            if htext is not None:
                in_week = parse_week_heading(htext) is not None
        elif in_week and s[0] == "|" and _is_data_row(s):
            return True
    return False


def _is_data_row(row: str) -> bool:
    """A table row that is neither a separator nor a header row."""
    if _SKIP_ROW_RE.match(row):
        return False
    first = _CELL_SPLIT_RE.split(row.strip().strip("|"), maxsplit=1)[0]
    return first.strip("*_ ").casefold() not in _HEADER_CELLS
