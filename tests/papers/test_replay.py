"""Replay: a synthetic curated list served from a local server through thirty successive
versions, the way the live list really changed (weeks added, headings re-dated, typos fixed,
rows reordered, the early bold-line weeks, an HTML error page, a copy cut in half and served
with 200, the split into an index plus one file per year, a week in two files, a renamed
repository). After every version the archive has reported each week new exactly once, lost
none, and nothing raised."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import aiohttp
from support.curated import SynthWeek, history, index_file, weekly_file
from support.listserver import ListServer, list_server

from bot.papers.archive import Archive
from bot.papers.model import Week

WEEKS = history(16, first=date(2025, 11, 10))  # W0 .. W15, to 2026-03-01; W7 ends in 2026


def week_number(week: Week) -> int:
    """Which synthetic week a parsed week is (its papers' made-up arXiv ids encode it)."""
    aid = week.papers[0].arxiv_id
    assert aid is not None
    return (int(aid.split(".")[1]) - 90000) // 20


@dataclass
class LiveList:
    """The list as curators keep it: its weeks (as edited so far) and how it is laid out."""

    st: ListServer
    weeks: dict[int, SynthWeek] = field(default_factory=dict)
    bold: set[int] = field(default_factory=lambda: {0, 1})  # the earliest weeks' bold lines
    folder: str = "/list/"
    split: bool = False  # README as an index of year files
    extra: dict[int, list[int]] = field(default_factory=dict)  # year -> more weeks listed there

    def add(self, *ns: int) -> None:
        for n in ns:
            self.weeks[n] = WEEKS[n]

    def edit(self, n: int, **changes: object) -> None:
        self.weeks[n] = replace(self.weeks[n], **changes)  # type: ignore[arg-type]

    def redate(self, n: int, days: int) -> None:
        self.weeks[n] = self.weeks[n].redated(days)

    def year(self, year: int) -> list[SynthWeek]:
        own = [w for w in self.weeks.values() if w.end.year == year]
        return own + [self.weeks[n] for n in self.extra.get(year, [])]

    def publish(self) -> None:
        readme = self.folder + "README.md"
        if not self.split:
            self.st.put(readme, weekly_file(self.weeks.values(), bold=self.bold))
            return
        years = sorted({w.end.year for w in self.weeks.values()}, reverse=True)
        links: list[tuple[str, str]] = []
        for year in years:
            self.st.put(f"{self.folder}years/{year}.md", weekly_file(self.year(year)))
            links += [
                (f"Top AI Papers of the Week ({w.start} - {w.end})", f"years/{year}.md#w{w.n}")
                for w in sorted(self.year(year), key=lambda w: w.start, reverse=True)
            ]
        self.st.put(readme, index_file(links))

    def cut_in_half(self, path: str) -> None:
        text = self.st.files[path].decode()
        self.st.put(path, text[: len(text) // 2])


# (what happens, how, which weeks are new, what the fetch of the configured URL comes to)
Step = tuple[str, Callable[[LiveList], None], list[int], str]


def steps() -> list[Step]:
    """The versions of the list, in order."""

    def first(live: LiveList) -> None:
        live.add(0, 1, 2, 3, 4, 5)
        live.edit(3, typo=True)

    def html_page(live: LiveList) -> None:
        live.st.put(live.folder + "README.md", "<!DOCTYPE html><html>Unicorn!</html>")

    def broken(status: int) -> Callable[[LiveList], None]:
        def go(live: LiveList) -> None:
            live.st.broken[live.folder + "README.md"] = status

        return go

    def fixed(live: LiveList) -> None:
        live.st.broken.clear()
        live.publish()

    def moved(live: LiveList) -> None:
        old = live.folder
        live.folder = "/renamed/"
        live.publish()
        live.st.moved[old + "README.md"] = live.folder + "README.md"

    def publish_after(change: Callable[[LiveList], None]) -> Callable[[LiveList], None]:
        def go(live: LiveList) -> None:
            change(live)
            live.publish()

        return go

    return [
        (
            "the list as first fetched, two bold-line weeks",
            publish_after(first),
            [0, 1, 2, 3, 4, 5],
            "new",
        ),
        ("nothing changed (304)", lambda live: None, [], "not_modified"),
        ("a new week", publish_after(lambda live: live.add(6)), [6], "new"),
        ("its heading re-dated", publish_after(lambda live: live.redate(6, 1)), [], "new"),
        ("a typo fixed", publish_after(lambda live: live.edit(3, typo=False)), [], "new"),
        ("rows reordered", publish_after(lambda live: live.edit(4, reverse=True)), [], "new"),
        ("a new week", publish_after(lambda live: live.add(7)), [7], "new"),
        ("an HTML error page served with 200", html_page, [], "failed"),
        ("back, with a new week", publish_after(lambda live: live.add(8)), [8], "new"),
        ("a server error", broken(502), [], "failed"),
        ("back", fixed, [], "not_modified"),
        (
            "cut in half, served with 200",
            lambda live: live.cut_in_half(live.folder + "README.md"),
            [],
            "held",
        ),
        ("still cut in half", lambda live: None, [], "held"),
        ("whole again, a new week", publish_after(lambda live: live.add(9)), [9], "new"),
        ("the new week re-dated", publish_after(lambda live: live.redate(9, -1)), [], "new"),
        ("a new week", publish_after(lambda live: live.add(10)), [10], "new"),
        (
            "split into an index and year files",
            publish_after(lambda live: setattr(live, "split", True)),
            [],
            "new",
        ),
        ("nothing changed (304s)", lambda live: None, [], "not_modified"),
        ("a new week in the 2026 file", publish_after(lambda live: live.add(11)), [11], "new"),
        (
            "the 2026 file cut in half, served with 200",
            lambda live: live.cut_in_half(live.folder + "years/2026.md"),
            [],
            "held",
        ),
        ("whole again, a new week", publish_after(lambda live: live.add(12)), [12], "new"),
        (
            "a week listed in both year files",
            publish_after(lambda live: live.extra.setdefault(2026, []).append(6)),
            [],
            "new",
        ),
        ("listed once again", publish_after(lambda live: live.extra.clear()), [], "new"),
        (
            "a typo and reordered rows",
            publish_after(lambda live: live.edit(12, typo=True, reverse=True)),
            [],
            "new",
        ),
        ("a new week", publish_after(lambda live: live.add(13)), [13], "new"),
        ("the repository renamed (301)", moved, [], "new"),
        ("a new week at the new place", publish_after(lambda live: live.add(14)), [14], "new"),
        (
            "a year file's error page",
            lambda live: live.st.broken.update({live.folder + "years/2025.md": 500}),
            [],
            "not_modified",
        ),
        (
            "back, a week re-dated",
            publish_after(lambda live: (live.st.broken.clear(), live.redate(14, 1))),
            [],
            "new",
        ),
        (
            "a new week, the typo fixed",
            publish_after(lambda live: (live.add(15), live.edit(12, typo=False))),
            [15],
            "new",
        ),
    ]


async def test_thirty_versions_of_the_list(tmp_path: Path) -> None:
    reported: list[int] = []
    async with list_server() as st, aiohttp.ClientSession() as session:
        live = LiveList(st)
        archive = Archive(
            [],
            [st.url("/list/README.md")],
            cache_dir=str(tmp_path),
            on_new_weeks=lambda weeks: reported.extend(week_number(w) for w in weeks),
        )
        await archive.load()
        plan = steps()
        assert len(plan) == 30
        for what, change, expected, status in plan:
            change(live)
            new = await archive.refresh(session)
            assert archive.last_fetch[st.url("/list/README.md")].status == status, what
            assert sorted(week_number(w) for w in new) == expected, what
            if what == "a week listed in both year files":
                # the index lists 2026 first, so its copy is read first and wins
                [twice] = [d for d in archive.diagnostics if "is also in" in d.message]
                assert twice.source == st.url("/list/years/2025.md")
                assert f"is also in {st.url('/list/years/2026.md')}:" in twice.message
            in_catalog = sorted(week_number(w) for w in archive.catalog.weeks())
            assert in_catalog == sorted(set(reported)), f"{what}: a week was lost"
            assert archive.catalog.weeks(), what

    counts = Counter(reported)
    assert counts == Counter(range(16))  # every week reported, each exactly once
    # the last version as the archive has it: every week, with its final title and dates
    weeks = {week_number(w): w for w in archive.catalog.weeks()}
    first = {n: min(w.papers, key=lambda p: p.rank) for n, w in weeks.items()}
    assert [first[n].title for n in range(16)] == [live.weeks[n].title(1) for n in range(16)]
    assert first[12].title == WEEKS[12].title(1)  # its typo fixed
    assert (weeks[14].start, weeks[14].end) == (date(2026, 2, 17), date(2026, 2, 22))
    assert weeks[0].title == "Top AI Papers of the Week (November 10 - November 16) - 2025"
