"""How the weeks of several sources (or of the several files of one index) come together before
the catalog is built. Two rules, each with a warning naming the rows concerned:

- **The same week in two files.** The catalog keeps one week per start date: the copy read
  first wins, and its rows are the week's rows. Sources are read local paths first, then URLs,
  each in config order; the files of an index source in the order the index lists them. The
  other copy's rows are not used. The same papers under two different dates in two files are
  kept as two weeks (with a warning): only a curator can say which date is right.
- **Two papers sharing an arXiv id.** A paper is identified by its arXiv id, so an upstream link
  typo would merge two different papers (and their votes). When the titles of two rows with the
  same arXiv id are clearly different, they stay two papers: the one that appeared first (oldest
  week, then reading order) keeps the arXiv identity, the other is told apart by its title.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from difflib import SequenceMatcher

from bot.papers.model import (
    Diagnostic,
    Paper,
    Week,
    arxiv_id_from_url,
    normalize_title,
    same_week,
)

__all__ = ["SAME_TITLE_RATIO", "combine_weeks"]

# Titles at least this similar (difflib ratio of their normalised forms) are one paper: a typo
# fixed, a subtitle added. Two papers that merely share a link are far below it.
SAME_TITLE_RATIO = 0.6
# A week re-dated by a curator moves by a few days; weeks further apart are not compared.
_REDATED_DAYS = 7


def combine_weeks(weeks: Sequence[Week]) -> tuple[list[Week], list[Diagnostic]]:
    """The weeks, with papers that only share an arXiv id told apart, and the warnings."""
    notes = _same_week_notes(weeks)
    kept, split = _split_shared_arxiv_ids(weeks)
    return kept, notes + split


# --- the same week in two files -----------------------------------------------------------------


def _where(week: Week) -> str:
    return f"{week.source}:{week.line}"


def _same_week_notes(weeks: Sequence[Week]) -> list[Diagnostic]:
    notes: list[Diagnostic] = []
    first: dict[date, Week] = {}
    for week in weeks:
        if week.kind != "weekly":
            continue
        kept = first.setdefault(week.start, week)
        if kept is not week and kept.source != week.source:
            notes.append(
                Diagnostic(
                    "warning",
                    week.source,
                    week.line,
                    f"the week starting {week.start} is also in {_where(kept)}, which was read "
                    "first: its rows are used and these are not",
                )
            )
    notes.extend(_redated_notes(list(first.values())))
    return notes


def _redated_notes(weeks: list[Week]) -> list[Diagnostic]:
    """The same papers under different dates in two sources (dates at most a week apart)."""
    ordered = sorted(weeks, key=lambda w: w.start)
    read_order = {id(w): k for k, w in enumerate(weeks)}
    ids: dict[int, frozenset[str]] = {}

    def of(i: int) -> frozenset[str]:
        if i not in ids:
            ids[i] = frozenset(p.paper_id for p in ordered[i].papers)
        return ids[i]

    notes: list[Diagnostic] = []
    for i, week in enumerate(ordered):
        j = i + 1
        while j < len(ordered) and (ordered[j].start - week.start).days <= _REDATED_DAYS:
            other = ordered[j]
            if other.source != week.source and same_week(of(i), of(j)):
                # warn on the copy read later, naming the one read first
                first, later = sorted((week, other), key=lambda w: read_order[id(w)])
                notes.append(_redated_note(later, first))
            j += 1
    return notes


def _redated_note(week: Week, other: Week) -> Diagnostic:
    return Diagnostic(
        "warning",
        week.source,
        week.line,
        f"week '{week.title}' ({week.start} to {week.end}) has the papers of week "
        f"'{other.title}' ({other.start} to {other.end}) at {_where(other)}: the same week "
        "dated differently in two files? Both are kept",
    )


# --- two papers sharing an arXiv id -------------------------------------------------------------


def _same_title(a: str, b: str) -> bool:
    return a == b or a in b or b in a or SequenceMatcher(None, a, b).ratio() >= SAME_TITLE_RATIO


def _arxiv_of(paper: Paper) -> str | None:
    """The arXiv id that identifies the paper (the first link's with one, as ``paper_identity``
    reads it), found without normalising any other URL."""
    for link in paper.links:
        low = link.url.lower()
        if "xiv" in low or "huggingface.co/papers/" in low:
            aid = arxiv_id_from_url(link.url)
            if aid:
                return aid.lower()
    return None


def _split_shared_arxiv_ids(weeks: Sequence[Week]) -> tuple[list[Week], list[Diagnostic]]:
    owners: dict[str, Paper] = {}  # arXiv id -> the first paper linking to it
    notes: list[Diagnostic] = []
    warned: set[tuple[str, str]] = set()
    changed: dict[int, Week] = {}
    for i in sorted(range(len(weeks)), key=lambda i: weeks[i].start):
        week = weeks[i]
        papers: list[Paper] | None = None
        for n, paper in enumerate(week.papers):
            aid = _arxiv_of(paper) if paper.identity is None else None
            if aid is None:
                continue
            owner = owners.setdefault(aid, paper)
            if owner is paper or owner.title == paper.title:
                continue
            title = normalize_title(paper.title)
            if _same_title(normalize_title(owner.title), title):
                continue
            if papers is None:
                papers = list(week.papers)
            papers[n] = replace(paper, identity=f"arxiv:{aid}|title:{title}")
            if (aid, title) not in warned:
                warned.add((aid, title))
                notes.append(_shared_note(aid, paper, owner))
        if papers is not None:
            changed[i] = replace(week, papers=tuple(papers))
    return [changed.get(i, w) for i, w in enumerate(weeks)], notes


def _shared_note(aid: str, paper: Paper, owner: Paper) -> Diagnostic:
    return Diagnostic(
        "warning",
        paper.source,
        paper.line,
        f"'{paper.title}' links to arXiv {aid}, as does the different paper '{owner.title}' at "
        f"{owner.source}:{owner.line}: one of the two links is probably a typo; they are kept "
        "as two papers",
    )
