"""Versioned schema migrations, one SQL file per version and dialect.

Files live next to this module as ``NNNN_<name>.<dialect>.sql`` (dialect ``sqlite`` or
``postgres``), numbered 1..N without gaps. Each backend records applied versions in its own
``schema_migrations(version, applied_at)`` table and applies the pending ones in order, inside one
transaction, under a lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``pg_advisory_xact_lock``).

Statements in a file are separated by ``;`` at the end of a line; ``--`` starts a comment. Keep
semicolons out of string literals (no triggers): the splitter is deliberately simple.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

_FILE_RE = re.compile(
    r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.(?P<dialect>sqlite|postgres)\.sql$"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The file's statements, comments removed, without the trailing ``;``."""
        return split_statements(self.sql)


def split_statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0].rstrip() for line in sql.splitlines()]
    text = "\n".join(line for line in lines if line.strip())
    return [stmt.strip() for stmt in re.split(r";\s*(?:\n|$)", text) if stmt.strip()]


def load_migrations(dialect: Dialect) -> list[Migration]:
    """All migrations for ``dialect`` in version order; checks they are numbered 1..N."""
    found: list[Migration] = []
    for entry in resources.files(__name__).iterdir():
        m = _FILE_RE.match(entry.name)
        if m is None or m.group("dialect") != dialect:
            continue
        found.append(
            Migration(int(m.group("version")), m.group("name"), entry.read_text(encoding="utf-8"))
        )
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations must be numbered 1..N, found {versions}")
    return found


def pending_migrations(dialect: Dialect, current: int) -> list[Migration]:
    """Migrations newer than ``current`` (the highest applied version, 0 for a new database)."""
    return [mig for mig in load_migrations(dialect) if mig.version > current]


def latest_version(dialect: Dialect) -> int:
    return len(load_migrations(dialect))


__all__ = [
    "Dialect",
    "Migration",
    "latest_version",
    "load_migrations",
    "pending_migrations",
    "split_statements",
]
