"""CLI commands build only what they use: ``export`` and ``week`` build no search index,
``search`` builds no typo index; and a second command on unchanged sources parses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.papers import search
from bot.papers.sources import parsecache

WEEK = """\
## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Translation with attention alone. | [Paper](https://arxiv.org/abs/1706.03762) |
| 2) **Deep Residual Learning for Image Recognition** - Skip connections. | [Paper](https://arxiv.org/abs/1512.03385) |
"""


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of search indexes, typo indexes and parses made."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "week.md").write_text(WEEK, encoding="utf-8")
    counts = {"search": 0, "indexed": 0, "typo": 0, "parsed": 0}
    index_init, fuzzy_init = search.SearchIndex.__init__, search._Fuzzy.__init__
    index_build = search.SearchIndex._build
    parse = parsecache.ParseCache.parse

    def counting_index(self: search.SearchIndex, *a: object, **k: object) -> None:
        counts["search"] += 1
        index_init(self, *a, **k)  # type: ignore[arg-type]

    def counting_build(self: search.SearchIndex, path: str | None) -> object:
        counts["indexed"] += 1
        return index_build(self, path)

    def counting_fuzzy(self: search._Fuzzy, *a: object, **k: object) -> None:
        counts["typo"] += 1
        fuzzy_init(self, *a, **k)  # type: ignore[arg-type]

    def counting_parse(self: parsecache.ParseCache, *a: object, **k: object) -> object:
        before = self.parsed
        out = parse(self, *a, **k)  # type: ignore[arg-type]
        counts["parsed"] += self.parsed - before
        return out

    monkeypatch.setattr(search.SearchIndex, "__init__", counting_index)
    monkeypatch.setattr(search.SearchIndex, "_build", counting_build)
    monkeypatch.setattr(search._Fuzzy, "__init__", counting_fuzzy)
    monkeypatch.setattr(parsecache.ParseCache, "parse", counting_parse)
    return counts


def test_export_and_week_build_no_index(built: dict[str, int]) -> None:
    assert main(["export", "--source", "week.md"]) == 0
    assert main(["week", "2025-06-25", "--source", "week.md"]) == 0
    assert built == {"search": 0, "indexed": 0, "typo": 0, "parsed": 1}  # then the kept parse


def test_search_builds_the_search_index_only(
    built: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "attention", "--source", "week.md"]) == 0
    assert "Attention Is All You Need" in capsys.readouterr().out
    assert built == {"search": 1, "indexed": 1, "typo": 0, "parsed": 1}
    assert main(["search", "residual", "--source", "week.md"]) == 0
    assert "Deep Residual Learning" in capsys.readouterr().out
    # the second opens the index the first kept: nothing parsed or indexed again
    assert built == {"search": 2, "indexed": 1, "typo": 0, "parsed": 1}
    assert any((Path(".paperboy") / "index" / "search").iterdir())
