"""Synthetic curated weekly lists in the shapes the live list took: ``## Top AI Papers of the
Week (June 22 - June 28) - 2026`` headings (or the early bold lines without a year), rows with a
bold title, a summary and bullets, Paper and Tweet links. Every title, summary and id is made
up; each week's papers are its own (ids never repeat across weeks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

_ADJ = ("Sparse", "Tidal", "Quiet", "Folded", "Patient", "Lantern", "Harbor", "Shadow", "Slow")
_NOUN = ("Routers", "Critics", "Ledgers", "Kernels", "Planners", "Encoders", "Budgets", "Maps")
_TOPIC = ("Long Contexts", "Tool Agents", "Proof Search", "Speech", "Tables", "Retrieval", "Code")


@dataclass(frozen=True)
class SynthWeek:
    n: int  # which week of the synthetic history (0 = the oldest)
    start: date
    yymm: str = ""  # the month of its papers' arXiv ids (the start's, when made)
    rows: int = 10
    days: int = 7  # length of the week as its heading states it
    typo: bool = False  # the first title carries a typo (fixed in a later version)
    reverse: bool = False  # rows listed in reverse order

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def title(self, r: int) -> str:
        i = self.n * 31 + r * 7
        words = f"{_ADJ[i % len(_ADJ)]} {_NOUN[(i // 3) % len(_NOUN)]}"
        title = f"{words} for {_TOPIC[(i // 5) % len(_TOPIC)]} {self.n}-{r}"
        return title.replace("for", "fro", 1) if self.typo and r == 1 else title

    def titles(self) -> list[str]:
        return [self.title(r) for r in range(1, self.rows + 1)]

    def arxiv(self, r: int) -> str:
        return f"{self.yymm or format(self.start, '%y%m')}.{90000 + self.n * 20 + r:05d}"

    def redated(self, days: int) -> SynthWeek:
        return replace(self, start=self.start + timedelta(days=days), days=self.days - days)


def history(count: int, first: date = date(2025, 12, 1)) -> list[SynthWeek]:
    """``count`` consecutive Monday..Sunday weeks from ``first``, oldest first."""
    starts = [first + timedelta(weeks=n) for n in range(count)]
    return [SynthWeek(n, start, f"{start:%y%m}") for n, start in enumerate(starts)]


def _range(week: SynthWeek, full: bool) -> str:
    fmt = "%B" if full else "%b"
    return f"{week.start.strftime(fmt)} {week.start.day} - {week.end.strftime(fmt)} {week.end.day}"


def row(week: SynthWeek, r: int) -> str:
    title = week.title(r)
    return (
        f"| {r}) **{title}** - a synthetic study of {title.lower()} written for these tests, "
        "long enough to read like a summary. <br>● Setup: one small model and one benchmark. "
        "<br>● Result: a modest gain. <br>● Why it matters: it exercises the parser. "
        f"| [Paper](https://arxiv.org/abs/{week.arxiv(r)}), "
        f"[Tweet](https://x.com/example/status/{2100000000000000000 + week.n * 100 + r}) |"
    )


def table(week: SynthWeek, *, bold: bool = False) -> str:
    if bold:
        heading = f"**Top ML Papers of the Week ({_range(week, full=False)})**"
        header = "| **Paper / Project** | **Links** |"
    else:
        heading = f"## Top AI Papers of the Week ({_range(week, full=True)}) - {week.end.year}"
        header = "| **Paper**  | **Links** |"
    ranks = range(week.rows, 0, -1) if week.reverse else range(1, week.rows + 1)
    rows = "\n".join(row(week, r) for r in ranks)
    return f"{heading}\n\n{header}\n| ------------- | ------------- |\n{rows}\n"


def weekly_file(
    weeks: Iterable[SynthWeek],
    *,
    title: str = "Top AI Papers of the Week",
    bold: Iterable[int] = (),
) -> str:
    """A file of weekly tables, newest week first; weeks whose ``n`` is in ``bold`` are marked
    the early way, by a bold line."""
    early = set(bold)
    ordered = sorted(weeks, key=lambda w: w.start, reverse=True)
    body = "\n".join(table(w, bold=w.n in early) for w in ordered)
    return f"# {title}\n\nA synthetic list for the tests.\n\n{body}"


def index_file(links: Iterable[tuple[str, str]], *, extra: str = "") -> str:
    """A README that is an index: one ``- [label](target)`` line per link."""
    lines = "\n".join(f"- [{label}]({target})" for label, target in links)
    return f"# Top AI Papers of the Week\n\nThe list now lives in one file per year.\n\n{lines}\n{extra}"
