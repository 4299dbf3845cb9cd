"""Link collections: dated markdown documents that list papers without a ranked weekly table.

Three shapes are read; ``parse_collection`` tells them apart (``detect_collection_shape``):

``paper-notes``
    Headings (any level) whose text starts with a markdown link, ``## [Title](url)``. Everything
    up to the next heading is that paper's notes. Lines made only of links right under the heading
    (``[Source code](url)``) become extra links (``Code`` for code links). The first block of the
    notes (a paragraph, or else the first bullet) is the summary; every later paragraph or bullet
    (nested ones included, flattened) is a bullet. A heading link that is not http(s) (a
    ``file://`` path, an empty URL) is reported as a warning and the paper loads without it.

``link-post``
    Numbered items ``**1:** [Title](url) description``, usually after YAML-style front matter.
    An item runs until a blank line or the next item. The rule for papers in an item:

    * the item starts with a link: that link is the paper, the text after it is the summary, and
      other links in the description stay in the summary text (not separate papers);
    * the item starts with prose that ends in ``:`` or says "papers" (``Some papers I read:
      [A](u1), [B](u2)``): every link of the item is a separate paper, without summary;
    * otherwise the first link is the paper and the whole item text is the summary.

    Link titles may span a line break; whitespace in them is collapsed.

``newsletter``
    Bold section lines (``**Papers**``) or headings start sections; only the ``Papers`` section is
    read. In it, a plain line is a paper title, and the bullets under it are its notes: bullets
    that are only a link (``Link``, ``[Link](url)``, ``[Code](url)``, ``Code: url``, a bare URL)
    give links; a ``TLDR`` bullet (or else the first note bullet) is the summary; the rest are
    bullets.

Each collection is ONE ``Week(kind="collection")`` with ``start == end ==`` its date: the
front-matter ``date:``, else a date in the file name (``2024-03-15-notes.md``,
``notes_20240315.md``), else ``default_date``. Its title is the front-matter ``title:`` or the
file stem. Problems are ``Diagnostic``s with the source and a 1-based line; nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import Literal

from bot.core.messages import Link
from bot.papers.model import Diagnostic, Paper, ParseResult, Week
from bot.papers.sources.markdown import (
    BULLET_RE,
    HEADING_RE,
    LINK_RE,
    document_date,
    extra_label,
    file_name,
    front_matter,
    links_only,
    main_label,
    plain_text,
    split_lines,
    squash,
    usable_url,
)

__all__ = [
    "CollectionShape",
    "detect_collection_shape",
    "parse_collection",
    "parse_link_post",
    "parse_newsletter",
    "parse_paper_notes",
]

CollectionShape = Literal["paper-notes", "link-post", "newsletter"]

_ITEM_RE = re.compile(r"^[ \t]*\*\*[ \t]*(?P<n>\d{1,4})[ \t]*[:.)]?[ \t]*\*\*[ \t]*[:.)]?[ \t]*")
_BOLD_LINE_RE = re.compile(r"^[ \t]*(?:\*\*|__)(?P<text>[^*_\n]+?)(?:\*\*|__)[ \t]*:?[ \t]*$")
_LABELLED_URL_RE = re.compile(r"^(?P<label>[A-Za-z][\w .]{0,24}?)[ \t]*[:\-–—][ \t]*(?P<url>\S+)$")
_TLDR_RE = re.compile(r"^tl[;:]?\s?dr\b[\s:\-–—.]*", re.IGNORECASE)
_PAPERS_WORDING_RE = re.compile(r"\bpapers\b", re.IGNORECASE)


# --- shared parse state ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Ctx:
    source: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def warn(self, line: int | None, message: str) -> None:
        self.diagnostics.append(Diagnostic("warning", self.source, line, message))

    def error(self, line: int | None, message: str) -> None:
        self.diagnostics.append(Diagnostic("error", self.source, line, message))


@dataclass(slots=True)
class _Draft:
    title: str
    line: int
    summary: str = ""
    bullets: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def add_link(self, ctx: _Ctx, line: int, label: str, url: str) -> None:
        url = url.strip()
        if not usable_url(url):
            shown = url or "(empty)"
            ctx.warn(line, f"unusable URL {shown!r} for {self.title!r} (not http/https); ignored")
            return
        if all(link.url != url for link in self.links):
            self.links.append(Link(label, url))

    def to_paper(self, rank: int, source: str) -> Paper:
        bullets, links = tuple(self.bullets), tuple(self.links)
        return Paper(rank, self.title, self.summary, bullets, links, source, self.line)


_BodyParser = Callable[[list[str], int, _Ctx], list[_Draft]]


def _run(text: str, source: str, default_date: date | None, body: _BodyParser) -> ParseResult:
    ctx = _Ctx(source)
    lines = split_lines(text)
    meta, start = front_matter(lines)
    drafts = [d for d in body(lines, start, ctx) if d.title]
    if not drafts:
        ctx.warn(None, "no papers found in this link collection")
        return ParseResult([], ctx.diagnostics)
    day = document_date(meta, source, default_date, ctx.warn)
    name = file_name(source) or source
    if day is None:
        ctx.error(
            None,
            f"cannot date link collection {name!r}: no 'date:' in front matter, no date in the "
            "file name and no default date configured",
        )
        return ParseResult([], ctx.diagnostics)
    title = plain_text(meta["title"][0]) if "title" in meta else ""
    title = title or PurePosixPath(name).stem or source
    papers = tuple(d.to_paper(i, source) for i, d in enumerate(drafts, start=1))
    return ParseResult([Week(day, day, title, source, papers, 1, "collection")], ctx.diagnostics)


def _notes_to_draft(draft: _Draft, blocks: list[str]) -> None:
    """First block is the summary, the rest are bullets."""
    blocks = [b for b in blocks if b]
    if blocks:
        draft.summary = blocks[0]
        draft.bullets.extend(blocks[1:])


# --- paper-notes ----------------------------------------------------------------------------------


def _heading_link(line: str) -> re.Match[str] | None:
    h = HEADING_RE.match(line)
    if h is None or not h["text"]:
        return None
    text = h["text"].strip("*_ \t")
    m = LINK_RE.match(text)
    return m if m is not None and not m["bang"] else None


def _paper_notes_body(lines: list[str], start: int, ctx: _Ctx) -> list[_Draft]:
    drafts: list[_Draft] = []
    current: _Draft | None = None
    notes: list[tuple[int, str]] = []

    def finish() -> None:
        if current is not None:
            _read_notes(current, notes, ctx)

    for idx in range(start, len(lines)):
        raw, lineno = lines[idx], idx + 1
        if HEADING_RE.match(raw):
            finish()
            current, notes = None, []
            m = _heading_link(raw)
            if m is None:
                continue
            title = plain_text(m["text"])
            if not title:
                ctx.warn(lineno, "heading link without a title; skipped")
                continue
            current = _Draft(title, lineno)
            current.add_link(ctx, lineno, main_label(m["url"]), m["url"])
            drafts.append(current)
        elif current is not None:
            notes.append((lineno, raw))
    finish()
    return drafts


def _read_notes(draft: _Draft, notes: list[tuple[int, str]], ctx: _Ctx) -> None:
    blocks: list[str] = []
    open_block: list[str] | None = None  # the paragraph or bullet being continued
    seen_content = False
    for lineno, raw in notes:
        if not raw.strip():
            open_block = None
            continue
        if not seen_content:
            links = links_only(raw)
            if links is not None:
                for text, url in links:
                    draft.add_link(ctx, lineno, extra_label(text, url), url)
                continue
        seen_content = True
        b = BULLET_RE.match(raw)
        if b:
            open_block = [b["text"] or ""]
            blocks.append("")
        elif open_block is None:
            open_block = [raw]
            blocks.append("")
        else:
            open_block.append(raw)
        blocks[-1] = plain_text(" ".join(open_block))
    _notes_to_draft(draft, blocks)


def parse_paper_notes(text: str, source: str, *, default_date: date | None = None) -> ParseResult:
    """Personal paper notes: ``## [Title](url)`` headings with notes under each."""
    return _run(text, source, default_date, _paper_notes_body)


# --- link-post ------------------------------------------------------------------------------------


def _link_post_body(lines: list[str], start: int, ctx: _Ctx) -> list[_Draft]:
    items: list[tuple[int, str, list[str]]] = []
    current: list[str] | None = None
    for idx in range(start, len(lines)):
        raw = lines[idx]
        m = _ITEM_RE.match(raw)
        if m:
            current = [raw[m.end() :]]
            items.append((idx + 1, m["n"], current))
        elif current is not None:
            if not raw.strip() or HEADING_RE.match(raw) or raw.lstrip().startswith("{%"):
                current = None
            else:
                current.append(raw)
    drafts: list[_Draft] = []
    for lineno, number, item_lines in items:
        drafts.extend(_link_post_item(lineno, number, "\n".join(item_lines), ctx))
    return drafts


def _link_post_item(lineno: int, number: str, text: str, ctx: _Ctx) -> list[_Draft]:
    links = [m for m in LINK_RE.finditer(text) if not m["bang"]]
    if not links:
        ctx.warn(lineno, f"item {number} has no link; skipped")
        return []
    lead = text[: links[0].start()].strip()
    if lead and (lead.endswith(":") or _PAPERS_WORDING_RE.search(lead)):
        chosen, summary = links, ""
    elif lead:
        chosen, summary = links[:1], plain_text(text)
    else:
        chosen = links[:1]
        summary = plain_text(text[links[0].end() :]).lstrip(",;:-–— ")
    drafts: list[_Draft] = []
    for m in chosen:
        line = lineno + text.count("\n", 0, m.start())
        title = plain_text(m["text"])
        if not title:
            ctx.warn(line, f"item {number} has a link without a title; skipped")
            continue
        draft = _Draft(title, line, summary=summary)
        draft.add_link(ctx, line, main_label(m["url"]), m["url"])
        drafts.append(draft)
    return drafts


def parse_link_post(text: str, source: str, *, default_date: date | None = None) -> ParseResult:
    """A blog post of numbered items ``**1:** [Title](url) description``."""
    return _run(text, source, default_date, _link_post_body)


# --- newsletter -----------------------------------------------------------------------------------


def _section_name(line: str) -> str | None:
    m = _BOLD_LINE_RE.match(line)
    if m:
        return m["text"]
    h = HEADING_RE.match(line)
    if h:
        return h["text"] or ""
    return None


def _is_papers_section(name: str) -> bool:
    return plain_text(name).rstrip(":").strip().casefold() in ("papers", "paper")


def _link_bullet(text: str) -> list[tuple[str, str]] | None:
    """The links of a bullet that only carries links (``Link``, ``[Code](u)``, ``Code: u``)."""
    stripped = text.strip()
    if plain_text(stripped).casefold().rstrip(":") in ("link", "links"):
        found = links_only(stripped)
        return found if found is not None else []
    found = links_only(stripped)
    if found is not None:
        return found
    if re.fullmatch(r"https?://\S+", stripped):
        return [("", stripped)]
    m = _LABELLED_URL_RE.match(stripped)
    if m and usable_url(m["url"]):
        return [(m["label"], m["url"])]
    return None


def _next_content(lines: list[str], idx: int) -> str:
    for j in range(idx + 1, len(lines)):
        if lines[j].strip():
            return lines[j]
    return ""


def _starts_paper(lines: list[str], idx: int) -> bool:
    """Whether the line after a bold/heading line opens a paper's link bullets."""
    b = BULLET_RE.match(_next_content(lines, idx))
    return b is not None and _link_bullet(b["text"] or "") is not None


def _newsletter_body(lines: list[str], start: int, ctx: _Ctx) -> list[_Draft]:
    drafts: list[_Draft] = []
    current: _Draft | None = None
    bullets: list[tuple[int, str]] = []
    in_papers = False
    previous_blank = True

    def finish() -> None:
        if current is not None:
            _read_newsletter_bullets(current, bullets, ctx)

    for idx in range(start, len(lines)):
        raw, lineno = lines[idx], idx + 1
        blank = not raw.strip()
        section = _section_name(raw)
        if section is not None and not (in_papers and _starts_paper(lines, idx)):
            finish()
            current, bullets = None, []
            in_papers = _is_papers_section(section)
        elif in_papers and not blank:
            b = BULLET_RE.match(raw)
            if b:
                if current is not None:
                    bullets.append((lineno, b["text"] or ""))
                elif plain_text(b["text"] or ""):
                    ctx.warn(lineno, "bullet in the Papers section before any paper title; ignored")
            elif current is not None and bullets and raw[:1] in (" ", "\t"):
                bullets[-1] = (bullets[-1][0], bullets[-1][1] + " " + raw.strip())
            elif current is not None and not bullets and not previous_blank:
                current.title = squash(current.title + " " + plain_text(raw))
            else:
                finish()
                bullets = []
                current = _newsletter_title(raw, lineno, ctx)
                if current is not None:
                    drafts.append(current)
        previous_blank = blank
    finish()
    return drafts


def _newsletter_title(raw: str, lineno: int, ctx: _Ctx) -> _Draft | None:
    section = _section_name(raw)
    text = (section if section is not None else raw).strip()
    m = LINK_RE.match(text)
    if m is not None and not m["bang"]:
        draft = _Draft(plain_text(m["text"]), lineno)
        draft.add_link(ctx, lineno, main_label(m["url"]), m["url"])
        return draft
    title = plain_text(text)
    return _Draft(title, lineno) if title else None


def _read_newsletter_bullets(draft: _Draft, bullets: list[tuple[int, str]], ctx: _Ctx) -> None:
    notes: list[str] = []
    summary: str | None = None
    for lineno, text in bullets:
        links = _link_bullet(text)
        if links is not None:
            for label, url in links:
                draft.add_link(ctx, lineno, extra_label(label, url), url)
            continue
        note = plain_text(text)
        tldr = _TLDR_RE.match(note)
        if tldr and summary is None:
            summary = note[tldr.end() :]
        elif note:
            notes.append(note)
    if summary is not None:
        draft.summary = summary
        draft.bullets.extend(notes)
    else:
        _notes_to_draft(draft, notes)


def parse_newsletter(text: str, source: str, *, default_date: date | None = None) -> ParseResult:
    """A newsletter digest: bold sections, papers under ``**Papers**`` with Link/TLDR bullets."""
    return _run(text, source, default_date, _newsletter_body)


# --- detection ------------------------------------------------------------------------------------


def detect_collection_shape(text: str) -> CollectionShape | None:
    """Which link-collection shape ``text`` has (the one with most markers), or None."""
    lines = split_lines(text)
    heading_links = sum(1 for line in lines if _heading_link(line) is not None)
    items = sum(1 for line in lines if _ITEM_RE.match(line))
    papers = sum(
        1
        for line in lines
        if (name := _section_name(line)) is not None and _is_papers_section(name)
    )
    best = max(heading_links, items, papers)
    if best == 0:
        return None
    if heading_links == best:
        return "paper-notes"
    return "link-post" if items == best else "newsletter"


_PARSERS: dict[CollectionShape, Callable[..., ParseResult]] = {
    "paper-notes": parse_paper_notes,
    "link-post": parse_link_post,
    "newsletter": parse_newsletter,
}


def parse_collection(text: str, source: str, *, default_date: date | None = None) -> ParseResult:
    """Parse a link collection of any known shape into (at most) one dated ``Week``."""
    shape = detect_collection_shape(text)
    if shape is not None:
        return _PARSERS[shape](text, source, default_date=default_date)
    ctx = _Ctx(source)
    ctx.warn(
        None,
        "not a weekly table or a known link collection (paper notes with linked headings, "
        "numbered **1:** items, or a **Papers** section); nothing loaded",
    )
    return ParseResult([], ctx.diagnostics)
