"""Markdown helpers shared by the link-collection parsers.

Inline links and their labels, heading and bullet lines, plain-text cleanup, and the metadata
that dates a document: ``---`` front matter and a date in the file name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from bot.papers.model import arxiv_id_from_url

__all__ = [
    "BULLET_RE",
    "HEADING_RE",
    "LINK_RE",
    "document_date",
    "extra_label",
    "file_name",
    "front_matter",
    "links_only",
    "main_label",
    "plain_text",
    "split_lines",
    "squash",
    "usable_url",
]

# [text](url "title") and ![alt](url); one level of nested brackets/parentheses, unrolled loops.
LINK_RE = re.compile(
    r"(?P<bang>!?)\[(?P<text>[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*)\]"
    r"\(\s*<?(?P<url>[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)>?(?:\s+\"[^\"\n]*\")?\s*\)"
)
HEADING_RE = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(?P<text>.*?))?[ \t]*$")
BULLET_RE = re.compile(r"^(?P<indent>[ \t]*)(?:[-*+]|\d{1,3}[.)])(?:[ \t]+(?P<text>.*))?$")
_FRONT_KEY_RE = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:[ \t]*(?P<value>.*?)[ \t]*$")
_ISO_DATE_RE = re.compile(r"(?<!\d)(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)")
_NAME_DATE_RE = re.compile(r"(?<!\d)(\d{4})([-_.]?)(\d{2})\2(\d{2})(?!\d)")
_LINK_SEPARATORS_RE = re.compile(r"^[\s,;|·•/\-–—]*(?:and[\s,;|]*)?$", re.IGNORECASE)
_PAPER_HOSTS = ("arxiv.org", "openreview.net", "aclanthology.org", "doi.org", "dl.acm.org")


# --- text and links -------------------------------------------------------------------------------


def squash(text: str) -> str:
    return " ".join(text.split())


def plain_text(text: str) -> str:
    """Markdown inline text as plain text: ``[t](u)`` -> ``t (u)``, emphasis markers dropped."""

    def link(m: re.Match[str]) -> str:
        label = squash(m["text"])
        url = m["url"]
        if not url or url == label:
            return label
        return f"{label} ({url})" if label else url

    text = LINK_RE.sub(link, text)
    text = re.sub(r"\*\*|__|`", "", text).replace("\\", "")
    return squash(text)


def split_lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def usable_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def main_label(url: str) -> str:
    """Label of a paper's own link: ``Paper`` for what looks like a paper, else ``Link``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "Link"
    host = parts.netloc.lower()
    if (
        arxiv_id_from_url(url)
        or parts.path.lower().endswith(".pdf")
        or any(host == h or host.endswith("." + h) for h in _PAPER_HOSTS)
    ):
        return "Paper"
    return "Link"


def extra_label(text: str, url: str) -> str:
    """Label of a secondary link (``[Source code](u)`` -> ``Code``)."""
    words = squash(text).casefold()
    host = urlsplit(url).netloc.lower() if usable_url(url) else ""
    if words in ("", "link", "url", "here"):
        return main_label(url)
    if "code" in words or "github" in words or "repo" in words:
        return "Code"
    if "tweet" in words or "thread" in words:
        return "Tweet"
    if "dataset" in words or words == "data":
        return "Dataset"
    if words in ("paper", "pdf", "arxiv") or host.endswith("arxiv.org"):
        return "Paper"
    return squash(text)


def links_only(text: str) -> list[tuple[str, str]] | None:
    """The links of a line made only of markdown links and separators, else None."""
    found: list[tuple[str, str]] = []
    pos = 0
    for m in LINK_RE.finditer(text):
        if m["bang"] or not _LINK_SEPARATORS_RE.match(text[pos : m.start()]):
            return None
        found.append((m["text"], m["url"]))
        pos = m.end()
    if not found or not _LINK_SEPARATORS_RE.match(text[pos:]):
        return None
    return found


# --- front matter and dating ----------------------------------------------------------------------


def front_matter(lines: list[str]) -> tuple[dict[str, tuple[str, int]], int]:
    """Top-level ``key: value`` pairs of a ``---`` front matter block, and the body's first index.

    Only flat keys are read (title and date are all we need), so odd YAML never breaks a file."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            meta: dict[str, tuple[str, int]] = {}
            for idx in range(1, end):
                m = _FRONT_KEY_RE.match(lines[idx])
                if m:
                    value = m["value"]
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                        value = value[1:-1]
                    meta.setdefault(m["key"].lower(), (value, idx + 1))
            return meta, end + 1
    return {}, 0


def _date_from(m: re.Match[str] | None) -> date | None:
    try:
        return date(int(m[1]), int(m[3]), int(m[4])) if m else None
    except ValueError:
        return None


def file_name(source: str) -> str:
    try:
        path = urlsplit(source).path if "://" in source else source
    except ValueError:
        path = source
    return PurePosixPath(unquote(path).replace("\\", "/")).name


def document_date(
    meta: dict[str, tuple[str, int]],
    source: str,
    default_date: date | None,
    warn: Callable[[int | None, str], None],
) -> date | None:
    """The front-matter ``date:``, else a date in the file name, else ``default_date``.

    An unreadable front-matter date is reported through ``warn(line, message)`` and skipped."""
    if "date" in meta:
        value, line = meta["date"]
        found = _date_from(_ISO_DATE_RE.search(value))
        if found is not None:
            return found
        warn(line, f"front matter date {value!r} is not a YYYY-MM-DD date; ignored")
    found = _date_from(_NAME_DATE_RE.search(file_name(source)))
    return found if found is not None else default_date
