"""Which weeks are new: a week is new when it is the same week (``model.same_week``: more than
half of the smaller week's papers shared) as no week known before, from any source. A week
that curators re-dated, retitled or lightly edited is therefore not new, nor is one that moved
to another file, nor one that comes back after a copy without it was accepted."""

from __future__ import annotations

from collections.abc import Iterable

from bot.papers.model import Week, same_week

__all__ = ["KnownWeeks"]


class KnownWeeks:
    """Every week seen so far, as the stable ids of its papers, indexed by paper."""

    def __init__(self, weeks: Iterable[Week] = ()) -> None:
        self._weeks: list[tuple[str, frozenset[str]]] = []  # (kind, paper ids)
        self._by_paper: dict[str, list[int]] = {}
        for week in weeks:
            self.add(week)

    def __len__(self) -> int:
        return len(self._weeks)

    def _ids(self, week: Week) -> frozenset[str]:
        return frozenset(p.paper_id for p in week.papers)

    def knows(self, week: Week) -> bool:
        return self._match(week.kind, self._ids(week))

    def _match(self, kind: str, ids: frozenset[str]) -> bool:
        near = {i for pid in ids for i in self._by_paper.get(pid, ())}
        return any(self._weeks[i][0] == kind and same_week(self._weeks[i][1], ids) for i in near)

    def add(self, week: Week) -> None:
        self._add(week.kind, self._ids(week))

    def _add(self, kind: str, ids: frozenset[str]) -> None:
        index = len(self._weeks)
        self._weeks.append((kind, ids))
        for pid in ids:
            self._by_paper.setdefault(pid, []).append(index)

    def novel(self, weeks: Iterable[Week]) -> list[Week]:
        """The weeks matching no known week, each then known (so a week listed twice in one
        batch is new once). An edited version of a known week is remembered as well, so a week
        edited bit by bit stays the same week."""
        new = []
        for week in weeks:
            ids = self._ids(week)
            if not self._match(week.kind, ids):
                new.append(week)
            elif self._has(week.kind, ids):
                continue
            self._add(week.kind, ids)
        return new

    def _has(self, kind: str, ids: frozenset[str]) -> bool:
        first = next(iter(ids), None)
        candidates = self._by_paper.get(first, ()) if first is not None else ()
        return any(self._weeks[i] == (kind, ids) for i in candidates)
