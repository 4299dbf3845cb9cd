"""Parsed sources kept on disk, by content hash, so an unchanged source is never parsed again.

A source text's key is the SHA-256 of the parser's own code (``PARSER_VERSION``: any change to
the parsing modules makes every key new), the parse settings, the source's name and the text.
``ParseCache.parse(text, source, settings, parse)`` returns the stored result for that key, or
calls ``parse()`` and stores what it returns. The cache is derived data, never the only copy: an
entry that cannot be read (truncated, corrupt, from another version) is deleted and the text
parsed again. ``parsed`` and ``reused`` count texts parsed and taken from the cache.

``fingerprint(weeks)`` names a list of weeks by the keys of the texts they came from (None when
any week did not come through this cache): the catalog's persisted search index is kept under
it, so the index of unchanged sources is opened, not built again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path

from bot.core.messages import Link
from bot.papers.model import Diagnostic, Paper, ParseResult, Week

log = logging.getLogger("paperboy.sources")

__all__ = ["PARSER_VERSION", "ParseCache"]


def _code_version() -> str:
    """A hash of the modules that turn text into weeks, and weeks into the catalog's index."""
    here = Path(__file__).resolve().parent
    papers = here.parent
    files = sorted(here.glob("*.py")) + [
        papers / name for name in ("model.py", "merge.py", "catalog.py", "search.py")
    ]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


PARSER_VERSION = _code_version()


class ParseCache:
    """Parse results by content hash, in memory and (given a directory) on disk."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.parsed = 0
        self.reused = 0
        self._lock = threading.Lock()
        # id(week) -> (key, week): which text each live week came from (the week is kept so
        # that an id is never mistaken for a collected object's).
        self._origin: dict[int, tuple[str, Week]] = {}

    def key(self, text: str, source: str, settings: str) -> str:
        h = hashlib.sha256()
        for part in (PARSER_VERSION, settings, source):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def parse(
        self, text: str, source: str, settings: str, parse: Callable[[], ParseResult]
    ) -> ParseResult:
        """The result of ``parse()`` for this text, from the cache when it holds it."""
        key = self.key(text, source, settings)
        result = self._read(key)
        if result is None:
            result = parse()
            self._write(key, result)
            with self._lock:
                self.parsed += 1
        else:
            with self._lock:
                self.reused += 1
        with self._lock:
            for week in result.weeks:
                self._origin[id(week)] = (key, week)
        return result

    def fingerprint(self, weeks: Sequence[Week], extra: Iterable[str] = ()) -> str | None:
        """A name for exactly these weeks (in this order), or None when one of them did not
        come through this cache. Forgets the origin of every week not in ``weeks``."""
        keys: list[str] = []
        with self._lock:
            origin = self._origin
            for week in weeks:
                entry = origin.get(id(week))
                if entry is None or entry[1] is not week:
                    return None
                keys.append(entry[0])
            live = {id(w) for w in weeks}
            self._origin = {i: e for i, e in origin.items() if i in live}
        h = hashlib.sha256(PARSER_VERSION.encode())
        for part in (*extra, *keys):
            h.update(part.encode() + b"\0")
        h.update(str(len(weeks)).encode())
        return h.hexdigest()[:32]

    # -- disk ------------------------------------------------------------------------------

    def _path(self, key: str) -> Path | None:
        return self.directory / f"{key}.pickle" if self.directory is not None else None

    def _read(self, key: str) -> ParseResult | None:
        path = self._path(key)
        if path is None or not path.exists():
            return None
        try:
            with path.open("rb") as f:
                return _decode(pickle.load(f))
        except Exception as exc:  # derived data: whatever is wrong with it, parse again
            log.warning(
                "parse cache entry unreadable; parsing the source again",
                extra={"path": str(path), "error": f"{type(exc).__name__}: {exc}"},
            )
            path.unlink(missing_ok=True)
            return None

    def _write(self, key: str, result: ParseResult) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(_encode(result), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning(
                "cannot write the parse cache", extra={"path": str(path), "error": str(exc)}
            )

    def prune(self, keep: Iterable[str]) -> None:
        """Delete stored entries whose keys are not in ``keep``."""
        if self.directory is None or not self.directory.is_dir():
            return
        wanted = {f"{k}.pickle" for k in keep}
        for path in self.directory.glob("*.pickle"):
            if path.name not in wanted:
                path.unlink(missing_ok=True)

    def live_keys(self) -> set[str]:
        with self._lock:
            return {key for key, _ in self._origin.values()}


# -- the stored form ---------------------------------------------------------------------------
# Plain tuples, not the dataclasses themselves: unpickling a frozen slotted dataclass costs a
# ``dataclasses.fields()`` call per object, several times the cost of calling its constructor.

_FORMAT = 1


def _encode(result: ParseResult) -> tuple[object, ...]:
    weeks = [
        (
            w.start.toordinal(),
            w.end.toordinal(),
            w.title,
            w.source,
            w.line,
            w.kind,
            [
                (
                    p.rank,
                    p.title,
                    p.summary,
                    p.bullets,
                    tuple(x for link in p.links for x in (link.label, link.url)),
                    p.source,
                    p.line,
                    p.identity,
                )
                for p in w.papers
            ],
        )
        for w in result.weeks
    ]
    diags = [(d.severity, d.source, d.line, d.message) for d in result.diagnostics]
    return (_FORMAT, weeks, diags)


def _decode(data: object) -> ParseResult:
    if not isinstance(data, tuple) or len(data) != 3 or data[0] != _FORMAT:
        raise TypeError("not a parse cache entry of this version")
    _, weeks, diags = data
    fromordinal = date.fromordinal
    out = ParseResult(
        [
            Week(
                fromordinal(start),
                fromordinal(end),
                title,
                source,
                tuple(
                    Paper(
                        rank,
                        ptitle,
                        summary,
                        bullets,
                        tuple(Link(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)),
                        psource,
                        pline,
                        identity,
                    )
                    for rank, ptitle, summary, bullets, flat, psource, pline, identity in papers
                ),
                line,
                kind,
            )
            for start, end, title, source, line, kind, papers in weeks
        ],
        [Diagnostic(*d) for d in diags],
    )
    return out
