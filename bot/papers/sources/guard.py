"""When a fetched copy of a source is suspicious: it would drop a large share of the curated
weeks already known from that source (a file cut in half but served with 200), or it has no
weeks at all where the last good copy had some (an emptied file).

Such a copy is held back: the last good copy stays in use and on disk. It is accepted when the
same loss is served on ``accept_after`` refreshes in a row (the curators really did remove
those weeks), or when an admin accepts it (``paperboy sources accept URL``). A copy with no
weeks at all is only ever accepted by an admin. A week counts as kept when the new copy has the
same week (``bot.papers.model.same_week``), however re-dated or edited. Config:
``sources.hold_back``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.papers.model import Week, same_week

__all__ = ["DEFAULT_HOLD_BACK", "Guard", "Held", "HoldBack", "lost_weeks"]


@dataclass(frozen=True, slots=True)
class HoldBack:
    # A copy losing more than this share of the known weeks of the source (of any one of its
    # files, for an index source) is held back...
    max_lost_percent: int = 25
    # ...until the same loss has been served on this many refreshes in a row.
    accept_after: int = 3


DEFAULT_HOLD_BACK = HoldBack()


@dataclass(frozen=True, slots=True)
class Held:
    """A copy held back: the known weeks it would lose and how often it was served."""

    lost: tuple[Week, ...]
    known: int  # curated weeks known from the source before
    weeks: int  # weeks in the held copy
    seen: int  # refreshes in a row that served this loss
    needed: int | None  # refreshes in a row that accept it; None: only an admin can
    shape: str  # a short stable key of the loss (for "tell the admin once")

    def describe(self, url: str) -> str:
        dates = ", ".join(str(w.start) for w in sorted(self.lost, key=lambda w: w.start)[:5])
        more = f" and {len(self.lost) - 5} more" if len(self.lost) > 5 else ""
        files = sorted({w.source for w in self.lost} - {url})
        if files:
            more += f" in {', '.join(files)}"
        what = (
            "has no weeks at all"
            if self.weeks == 0
            else f"has {self.weeks} weeks and would lose {len(self.lost)} of the {self.known} known"
        )
        when = (
            "only an admin can accept it"
            if self.needed is None
            else f"accepted if served on {self.needed} refreshes in a row (seen {self.seen})"
        )
        return (
            f"held back a suspicious copy of {url}: it {what} (weeks of {dates}{more}); the last "
            f"good copy stays in use; {when}, or run `paperboy sources accept {url}`"
        )


def _ids(week: Week) -> frozenset[str]:
    return frozenset(p.paper_id for p in week.papers)


def lost_weeks(known: Sequence[Week], candidate: Sequence[Week]) -> list[Week]:
    """The known weeks that have no same week in the candidate copy."""
    by_paper: dict[str, list[int]] = {}
    cand_ids = [_ids(w) for w in candidate]
    for i, ids in enumerate(cand_ids):
        for pid in ids:
            by_paper.setdefault(pid, []).append(i)
    lost = []
    for week in known:
        ids = _ids(week)
        near = {i for pid in ids for i in by_paper.get(pid, ())}
        if not any(candidate[i].kind == week.kind and same_week(ids, cand_ids[i]) for i in near):
            lost.append(week)
    return lost


class Guard:
    """The hold-back decision for one source, and how long the same loss has been served."""

    def __init__(self, policy: HoldBack) -> None:
        self.policy = policy
        self._shape: str | None = None
        self._seen = 0

    def reset(self) -> None:
        self._shape, self._seen = None, 0

    def judge(self, known: Sequence[Week], candidate: Sequence[Week]) -> tuple[Held | None, int]:
        """(the copy held back, or None to accept it; how many refreshes served it before it
        was accepted, 0 when it was never held)."""
        if not known:
            self.reset()
            return None, 0
        # Only curated weeks count: a link collection served at a fixed URL is replaced whole
        # every time it moves on. A copy with no weeks at all is suspicious in any case.
        weekly = [w for w in known if w.kind == "weekly"]
        lost = lost_weeks(weekly, candidate) if candidate else list(known)
        if not lost or (candidate and not self._too_many(lost, weekly)):
            self.reset()
            return None, 0
        keys = sorted(f"{w.source} {w.start} {w.kind}" for w in lost)
        shape = hashlib.sha1(f"{len(candidate) == 0}|{'|'.join(keys)}".encode()).hexdigest()[:12]
        self._seen = self._seen + 1 if shape == self._shape else 1
        self._shape = shape
        needed = self.policy.accept_after if candidate else None
        if needed is not None and self._seen >= needed:
            seen = self._seen
            self.reset()
            return None, seen
        return Held(tuple(lost), len(weekly), len(candidate), self._seen, needed, shape), 0

    def _too_many(self, lost: Sequence[Week], known: Sequence[Week]) -> bool:
        """Whether any file loses more than the allowed share of its known weeks (for an index
        source, each of its files: the year file cut in half is suspicious however many other
        years there are)."""
        per_file = Counter(w.source for w in known)
        lost_per_file = Counter(w.source for w in lost)
        limit = self.policy.max_lost_percent
        return any(n * 100 > limit * per_file[src] for src, n in lost_per_file.items())
