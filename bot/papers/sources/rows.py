"""One table row of a curated weekly table -> one Paper (title, summary, bullets, links).

Rows drifted in shape over the years: bold titles with ``-``/``--``/``—``/``:`` separators, plain
titles followed by two spaces or a tab, titles run straight into a verb-led summary, ``<br>●``
bullet points, mistyped bold markers, markdown escapes, missing or padded links cells, links
inside the summary, a rank column, wide tables whose links are not in the last column. All of
them are read; what cannot be read, or runs past a limit, is noted with its line.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache

from bot.core.messages import Link
from bot.papers.model import Diagnostic, Paper, Severity
from bot.papers.sources.headings import WeekHeading
from bot.papers.sources.limits import DEFAULT_LIMITS, SourceLimits

__all__ = ["Block", "RowReader", "is_header_cell"]

# --- markdown details ---------------------------------------------------------------------------

CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")
SKIP_ROW_RE = re.compile(r"^[\s|:\-]*$")  # separator rows and empty rows
_HEADER_CELLS = frozenset(
    {"paper", "papers", "title", "paper title", "links", "link", "paper/project", "project"}
    | {"#", "rank", "no.", "no"}
)
_RANK_RE = re.compile(r"^\s*(\d{1,4})\s*(?:\\?\)|\.(?=\s)|:(?=\s))\s*")
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


def is_header_cell(cell: str) -> bool:
    """``**Paper**``, ``Links``, ``**Paper / Project**``: the cell of a table's header row."""
    words = cell.strip("*_ ").casefold()
    if "/" in words:
        words = "/".join(part.strip(" *_") for part in words.split("/"))
    return words in _HEADER_CELLS


# --- title / summary split ----------------------------------------------------------------------

_BOLD_OPEN_RE = re.compile(r"^(?:\*\*|\*8|__|\*(?=\S))\s*")
_BOLD_CLOSE_RE = re.compile(r"\*\*|\*8|__|\*")
_SEP_LEAD_RE = re.compile(r"^[\s*_]*(?:-{1,2}|–|—|:)?\s*")
_PLAIN_SEP_RE = re.compile(r"[ \t]+(?:-{1,2}|–|—)[ \t]+|[ \t]{2,}|\t")
_VERBS = (
    "Introduces|Introducing|Proposes|Presents|Shows|Develops|Releases|Describes|Builds|Trains"
    "|Finds|Explores|Investigates|Demonstrates|Uses|Provides|Combines|Studies|Applies|Reports"
    "|Surveys|Evaluates|Discusses|Analyzes|Analyses|Argues|Examines|Extends|Offers|Outlines"
)
# A verb, or a sentence-starting word followed by a lower-case word ("This paper", "A new").
_VERB_SPLIT_RE = re.compile(
    rf" (?=(?:{_VERBS})\b|(?:A|An|The|This|These|We|Our|New) [a-z])",
)
# The same, followed by a lower-case word ("Proposes a"): surely a summary, not a title word.
_SURE_VERB_SPLIT_RE = re.compile(rf" (?=(?:{_VERBS}|A|An|The|This|These|We|Our|New) [a-z])")
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


def _inline(m: re.Match[str]) -> str:
    """An inline link in the summary: ``label (url)``, so the URL is not lost."""
    label, url = m.group(1), m.group(2)
    if not url or url == label:
        return label
    return f"{label} ({url})" if label.strip() else url


def _body_links(body: str) -> tuple[str, list[Link]]:
    """Links trailing the body are links of the paper (removed); links inside the text stay
    in it as ``label (url)``."""
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
        head = _LINK_RE.sub(_inline, head)
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
    return _split_plain(head)


def _split_plain(head: str) -> tuple[str, str, bool]:
    """A plain title ends at a separator (`` - ``, two spaces, a tab) within a title's length,
    unless a verb-led summary ("Proposes a ...") clearly starts before it: a double space deep
    in the summary does not make everything before it the title. Without a separator, the
    title ends where a verb-led summary starts."""
    sep = _PLAIN_SEP_RE.search(head)
    sep_words = len(head[: sep.start()].split()) if sep is not None and sep.start() > 0 else None
    flat = " ".join(head.split())
    sure = _verb_split(_SURE_VERB_SPLIT_RE, flat)
    if sure is not None and (sep_words is None or flat.count(" ", 0, sure) + 3 <= sep_words):
        return flat[:sure], flat[sure + 1 :], True
    if sep is not None and sep_words is not None and sep_words <= _LONG_TITLE_WORDS:
        return head[: sep.start()], head[sep.end() :], True
    verb = _verb_split(_VERB_SPLIT_RE, flat)
    if verb is not None:
        return flat[:verb], flat[verb + 1 :], True
    return flat, "", False


def _verb_split(pattern: re.Pattern[str], flat: str) -> int | None:
    """Where a verb-led summary starts after two to 25 title words, else None."""
    for v in pattern.finditer(flat):
        words = flat.count(" ", 0, v.start()) + 1
        if words > _LONG_TITLE_WORDS:
            return None
        if words >= 2:
            return v.start()
    return None


def _cut_title(title: str, limit: int) -> tuple[str, str]:
    """A title cut at the last word boundary within ``limit`` characters, and the rest."""
    cut = title.rfind(" ", 0, limit + 1)
    if cut <= 0:
        cut = limit
    return title[:cut].rstrip(), title[cut:].strip()


# --- rows ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Block:
    """A week heading and what was read under it."""

    heading: WeekHeading | None  # None: looks like a week heading but the dates cannot be read
    title: str
    line: int
    papers: list[Paper] = field(default_factory=list)
    rows: int = 0
    last_rank: int = 0
    ranks: set[int] = field(default_factory=set)
    row_lines: list[int] = field(default_factory=list)  # lines of the rows read as papers
    stray: list[int] = field(default_factory=list)  # lines of rows after the ranks restarted
    columns: int = 0  # of the table's header row, if it has one
    wide_noted: bool = False


_Read = tuple[str, str, tuple[str, ...], tuple[Link, ...]]


class RowReader:
    def __init__(self, source: str, limits: SourceLimits = DEFAULT_LIMITS) -> None:
        self.source = source
        self.limits = limits
        self.diagnostics: list[Diagnostic] = []

    def note(self, severity: Severity, line: int | None, message: str) -> None:
        self.diagnostics.append(Diagnostic(severity, self.source, line, message))

    def row(self, block: Block, text: str, line: int) -> None:
        """Read one table row into the block (or note why it cannot be read)."""
        try:
            self._row(block, text, line)
        except Exception as exc:  # a parser bug must not cost the rest of the file
            self.note("error", line, f"internal error reading this row ({exc!r}); skipped")

    def _row(self, block: Block, text: str, line: int) -> None:
        s = text.strip()
        if s.startswith("|"):
            s = s[1:]
        if s.endswith("|") and not s.endswith("\\|"):
            s = s[:-1]
        if SKIP_ROW_RE.match(s):
            return
        cells = [c.strip() for c in (CELL_SPLIT_RE.split(s) if "\\" in s else s.split("|"))]
        while not cells[-1]:
            cells.pop()
        if is_header_cell(cells[0]):
            block.columns = len(cells)
            return
        block.rows += 1
        rank: int | None = None
        columns = len(cells)
        if len(cells) >= 3 and cells[0].isdigit():  # the rank in a column of its own
            rank, cells = int(cells[0]), cells[1:]
        body, links = self._cells(block, cells, columns, line)
        if rank is None:
            m = _RANK_RE.match(body)
            if m is not None:
                rank, body = int(m.group(1)), body[m.end() :]
        if rank is None and not links:
            self.note("error", line, "cannot read table row: no rank and no links; skipped")
            return
        if block.stray or (rank == 1 and 1 in block.ranks):
            block.stray.append(line)  # the ranks started again: a week heading went missing
            return
        read = self._paper(body, links, line)
        if read is not None:
            self._add(block, rank, read, line)

    def _add(self, block: Block, rank: int | None, read: _Read, line: int) -> None:
        if rank is None or rank < 1:
            fallback = block.last_rank + 1
            what = "missing" if rank is None else f"{rank} is not valid"
            self.note("warning", line, f"rank {what}; using the row order ({fallback})")
            rank = fallback
        elif rank in block.ranks:
            self.note("warning", line, f"rank {rank} appears twice in week '{block.title}'")
        block.ranks.add(rank)
        block.last_rank = rank
        block.row_lines.append(line)
        title, summary, bullets, all_links = read
        block.papers.append(Paper(rank, title, summary, bullets, all_links, self.source, line))

    def _cells(
        self, block: Block, cells: list[str], columns: int, line: int
    ) -> tuple[str, list[Link]]:
        """The paper's text and its links. The links are in the last cell (more cells than the
        header has are pipes in the summary). In a wide table (four or more columns in its
        header, or links in another cell than the last), the title and summary are the first
        two cells and the links are in whichever later cells have links; one note per table
        says so."""
        if len(cells) < 2:
            return cells[0], []
        links = _cell_links(cells[-1])
        wide = block.columns >= 4 and len(cells) >= 3
        if not wide and (links or len(cells) < 3):
            return "|".join(cells[:-1]), links
        linked = [i for i in range(1, len(cells)) if _LINK_RE.search(cells[i])]
        if not linked:
            return ("  ".join(c for c in cells[:2] if c) if wide else "|".join(cells[:-1])), []
        text = cells[: min(2, linked[0])]
        if not block.wide_noted:
            block.wide_noted = True
            skip = columns - len(cells)  # a rank column before the paper
            where = ", ".join(str(i + 1 + skip) for i in linked)
            read = " and ".join(
                f"{what} (column {i + 1 + skip})"
                for i, what in enumerate(("the title", "the summary")[: len(text)])
            )
            self.note(
                "warning",
                line,
                f"this table has {columns} columns and its links are in column {where}, not "
                f"the last one: each row is read as {read} and those links; the other "
                "columns are ignored",
            )
        return "  ".join(c for c in text if c), [
            link for i in linked for link in _cell_links(cells[i])
        ]

    def _paper(self, body: str, links: list[Link], line: int) -> _Read | None:
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
        summary = _clean(summary, escaped)
        if not separated and len(title.split()) > _LONG_TITLE_WORDS:
            self.note("warning", line, "cannot tell the title from the summary in this row")
        title, summary = self._title_limit(title, summary, line)
        if bullets:
            summary = _drop_lead_in(summary)
        return title, summary, tuple(bullets), tuple(self._links_limit(links, line))

    def _title_limit(self, title: str, summary: str, line: int) -> tuple[str, str]:
        limit = self.limits.max_title_chars
        if len(title) <= limit:
            return title, summary
        length = len(title)
        title, rest = _cut_title(title, limit)
        self.note(
            "warning",
            line,
            f"title of {length} characters is over the limit of {limit} "
            "(sources.limits.max_title_chars): cut at a word, the rest read as summary",
        )
        return title, f"{rest} {summary}".strip()

    def _links_limit(self, links: list[Link], line: int) -> list[Link]:
        limit = self.limits.max_links_per_row
        if len(links) <= limit:
            return links
        self.note(
            "warning",
            line,
            f"row has {len(links)} links, over the limit of {limit} "
            f"(sources.limits.max_links_per_row): kept the first {limit}",
        )
        return links[:limit]
