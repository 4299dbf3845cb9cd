"""The queries for arXiv metadata (table ``arxiv_meta``, migration 5), written once for both
stores like the rest of ``SqlStore`` (see ``bot.storage.queries`` for the rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.arxivmeta import ArxivMeta
from bot.storage.dialect import SqlDialect
from bot.storage.webqueries import IDS_PER_QUERY

_UPSERT = """
INSERT INTO arxiv_meta (arxiv_id, found, title, authors, abstract, primary_category, categories,
                        published, updated, version, fetched_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (arxiv_id) DO UPDATE SET
    found = excluded.found, title = excluded.title, authors = excluded.authors,
    abstract = excluded.abstract, primary_category = excluded.primary_category,
    categories = excluded.categories, published = excluded.published,
    updated = excluded.updated, version = excluded.version, fetched_at = excluded.fetched_at
"""


class ArxivQueries(SqlDialect):
    """Store methods for arXiv metadata (declared on the ``Store`` protocol)."""

    async def arxiv_meta(self, arxiv_ids: Sequence[str] | None = None) -> list[ArxivMeta]:
        if arxiv_ids is None:
            rows = await self._all("SELECT * FROM arxiv_meta ORDER BY arxiv_id")
            return [self._arxiv_meta(r) for r in rows]
        out: list[ArxivMeta] = []
        ids = list(dict.fromkeys(arxiv_ids))
        for at in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[at : at + IDS_PER_QUERY]
            marks = ", ".join(f"${i}" for i in range(1, len(chunk) + 1))
            rows = await self._all(f"SELECT * FROM arxiv_meta WHERE arxiv_id IN ({marks})", chunk)
            out += [self._arxiv_meta(r) for r in rows]
        return out

    async def save_arxiv_meta(self, metas: Sequence[ArxivMeta]) -> None:
        for m in metas:
            await self._exec(
                _UPSERT,
                (
                    m.arxiv_id,
                    self._flag(m.found),
                    m.title,
                    self._ids(m.authors),
                    m.abstract,
                    m.primary_category,
                    self._ids(m.categories),
                    self._opt_time(m.published),
                    self._opt_time(m.updated),
                    m.version,
                    self._time(m.fetched_at),
                ),
            )

    def _arxiv_meta(self, row: Any) -> ArxivMeta:
        published, updated = row["published"], row["updated"]
        return ArxivMeta(
            arxiv_id=str(row["arxiv_id"]),
            fetched_at=self._from_time(row["fetched_at"]),
            found=bool(row["found"]),
            title=str(row["title"]),
            authors=self._from_ids(row["authors"]),
            abstract=str(row["abstract"]),
            primary_category=row["primary_category"],
            categories=self._from_ids(row["categories"]),
            published=None if published is None else self._from_time(published),
            updated=None if updated is None else self._from_time(updated),
            version=None if row["version"] is None else int(row["version"]),
        )


__all__ = ["ArxivQueries"]
