"""Paper records: the fields ``paperboy export`` writes and the JSON API serves."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from bot.core.messages import Link
from bot.papers.catalog import Catalog
from bot.papers.export import EXPORT_FIELDS, export_records, paper_record
from bot.papers.model import Paper, Week

ATTENTION = Paper(
    1,
    "Attention Is All You Need",
    "Transformers.",
    links=(
        Link("Tweet", "https://example.org/t/1"),
        Link("Paper", "https://arxiv.org/abs/1706.03762"),
    ),
)
OTHER = Paper(1, "Another Paper", "Other.", links=(Link("Code", "https://example.org/code"),))
OLD = Week(date(2025, 6, 16), date(2025, 6, 22), "Old", "https://example.org/list.md", (ATTENTION,))
NEW = Week(
    date(2025, 6, 23),
    date(2025, 6, 29),
    "New",
    "digests/picks.md",
    (OTHER, replace(ATTENTION, rank=2)),
)


def test_export_records_have_exactly_the_export_fields_in_order() -> None:
    rows = export_records([NEW, OLD])
    assert [tuple(r) for r in rows] == [EXPORT_FIELDS] * 3
    first = rows[0]
    assert first["week_start"] == "2025-06-23" and first["rank"] == 1
    assert first["url"] is None  # a Code link is never the primary link
    assert rows[1]["url"] == "https://arxiv.org/abs/1706.03762"
    assert rows[1]["arxiv_id"] == "1706.03762"
    assert rows[1]["links"][0] == {"label": "Tweet", "url": "https://example.org/t/1"}
    assert (rows[2]["source"], rows[2]["kind"]) == ("https://example.org/list.md", "weekly")


def test_a_paper_record_lists_its_weeks_newest_first() -> None:
    paper = Catalog.build([OLD, NEW]).get(ATTENTION.paper_id)
    assert paper is not None
    record = paper_record(paper)
    shared = set(EXPORT_FIELDS) - {"week_start", "week_end", "rank", "source", "kind"}
    assert shared <= set(record)
    assert [w["week_start"] for w in record["weeks"]] == ["2025-06-23", "2025-06-16"]
    assert record["weeks"][0] == {
        "week_start": "2025-06-23",
        "week_end": "2025-06-29",
        "rank": 2,
        "source": "digests/picks.md",
        "kind": "weekly",
    }
    assert paper_record(OTHER)["weeks"] == []  # a week's own row has no other weeks
