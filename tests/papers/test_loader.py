"""The source-loading entry point: dispatch between weekly tables and link collections, files and
directories, unreadable paths and bad encodings as diagnostics."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from pathlib import Path

import pytest
from support.paths import FIXTURES as FIXTURES_ROOT

import bot.papers.sources
from bot.core.errors import SourceError
from bot.papers.model import Diagnostic, ParseResult, Week
from bot.papers.sources import loader, weekly
from bot.papers.sources.loader import decode_text, load_paths, parse_text

FIXTURES = FIXTURES_ROOT / "collections"
WEEKLY_MARK = "<!-- fake weekly -->"


class FakeWeekly:
    """Stands in for the weekly parser: texts carrying WEEKLY_MARK are 'weekly'."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None]] = []

    def looks_like_weekly(self, text: str) -> bool:
        return WEEKLY_MARK in text

    def parse_weekly(
        self, text: str, source: str, *, default_year: int | None = None, **_: object
    ) -> ParseResult:
        self.calls.append((source, default_year))
        if "explode" in text:
            raise SourceError(source, "cannot make sense of it", line=3)
        week = Week(
            date(default_year or 2023, 1, 9), date(default_year or 2023, 1, 15), "W", source
        )
        return ParseResult([week], [])


@pytest.fixture
def fake_weekly(monkeypatch: pytest.MonkeyPatch) -> FakeWeekly:
    fake = FakeWeekly()
    monkeypatch.setattr(loader, "looks_like_weekly", fake.looks_like_weekly)
    monkeypatch.setattr(loader, "parse_weekly", fake.parse_weekly)
    return fake


def test_parse_text_dispatches_weekly(fake_weekly: FakeWeekly) -> None:
    result = parse_text(f"{WEEKLY_MARK}\n| 1) x |", "w.md", default_date=date(2024, 5, 1))
    assert [w.kind for w in result.weeks] == ["weekly"]
    # default_year falls back to the default date's year
    assert fake_weekly.calls == [("w.md", 2024)]
    parse_text(WEEKLY_MARK, "w.md", default_date=date(2024, 5, 1), default_year=2021)
    assert fake_weekly.calls[-1] == ("w.md", 2021)


def test_parse_text_dispatches_collections(fake_weekly: FakeWeekly) -> None:
    text = (FIXTURES / "link-roundup.md").read_text(encoding="utf-8")
    result = parse_text(text, "link-roundup.md")
    assert [w.kind for w in result.weeks] == ["collection"]
    assert fake_weekly.calls == []


def test_load_paths_files_and_directory_sorted_by_name(
    fake_weekly: FakeWeekly, tmp_path: Path
) -> None:
    digests = tmp_path / "digests"
    digests.mkdir()
    for name in ("newsletter_20191208.md", "2024-03-15-reading-notes.md"):
        shutil.copy(FIXTURES / name, digests / name)
    (digests / "b-weekly.md").write_text(f"{WEEKLY_MARK}\n", encoding="utf-8")
    (digests / "ignored.txt").write_text("not markdown", encoding="utf-8")
    (digests / "sub").mkdir()
    (digests / "sub" / "deeper.md").write_text(f"{WEEKLY_MARK}\n", encoding="utf-8")
    single = tmp_path / "link-roundup.md"
    shutil.copy(FIXTURES / "link-roundup.md", single)

    result = load_paths([digests, str(single)])
    assert [Path(w.source).name for w in result.weeks] == [
        "2024-03-15-reading-notes.md",
        "b-weekly.md",
        "newsletter_20191208.md",
        "link-roundup.md",
    ]
    assert [w.kind for w in result.weeks] == ["collection", "weekly", "collection", "collection"]
    assert result.errors == []


def test_missing_path_is_an_error_not_an_exception(fake_weekly: FakeWeekly, tmp_path: Path) -> None:
    good = tmp_path / "2024-01-01-n.md"
    good.write_text("## [P](https://arxiv.org/abs/2401.00001)\n", encoding="utf-8")
    missing = tmp_path / "nope.md"
    result = load_paths([missing, good])
    assert len(result.weeks) == 1
    [error] = result.errors
    assert error.source == str(missing)
    assert "no such file" in error.message


@pytest.mark.skipif(
    sys.platform == "win32" or (hasattr(os, "geteuid") and os.geteuid() == 0),
    reason="permissions are not enforced here",
)
def test_unreadable_file_is_an_error(fake_weekly: FakeWeekly, tmp_path: Path) -> None:
    locked = tmp_path / "locked.md"
    locked.write_text("x", encoding="utf-8")
    locked.chmod(0)
    try:
        result = load_paths([locked])
    finally:
        locked.chmod(0o600)
    [error] = result.errors
    assert error.source == str(locked)
    assert "cannot read" in error.message


def test_read_error_is_an_error_diagnostic(
    fake_weekly: FakeWeekly, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked.md"
    locked.write_text("x", encoding="utf-8")
    other = tmp_path / "2024-01-01-ok.md"
    other.write_text("## [P](https://arxiv.org/abs/2401.00001)\n", encoding="utf-8")
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.md":
            raise PermissionError(13, "Permission denied")
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = load_paths([tmp_path])
    assert len(result.weeks) == 1
    assert result.errors == [
        Diagnostic("error", str(locked), None, "cannot read: Permission denied")
    ]


def test_empty_directory_is_a_warning(fake_weekly: FakeWeekly, tmp_path: Path) -> None:
    result = load_paths([tmp_path])
    assert result.weeks == []
    assert [(d.severity, d.source) for d in result.diagnostics] == [("warning", str(tmp_path))]


def test_invalid_utf8_is_replaced_with_a_warning(fake_weekly: FakeWeekly, tmp_path: Path) -> None:
    path = tmp_path / "2024-02-02-notes.md"
    path.write_bytes(
        b"## [Caf\xe9 paper](https://arxiv.org/abs/2402.00002)\n\n## [B](https://b.org)\n"
    )
    result = load_paths([path])
    assert [p.title for p in result.weeks[0].papers] == ["Caf\ufffd paper", "B"]
    [warning] = result.warnings
    assert (warning.source, warning.line) == (str(path), 1)
    assert "UTF-8" in warning.message


def test_decode_text_drops_bom_and_finds_the_bad_line() -> None:
    assert decode_text("\ufeffhello".encode(), "s") == ("hello", [])
    text, [warning] = decode_text(b"ok\nok\n\xff\n", "s")
    assert text == "ok\nok\n\ufffd\n"
    assert warning == Diagnostic("warning", "s", 3, warning.message)


def test_parser_source_error_becomes_a_diagnostic(fake_weekly: FakeWeekly, tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text(f"{WEEKLY_MARK} explode\n", encoding="utf-8")
    result = load_paths([bad])
    assert result.diagnostics == [Diagnostic("error", str(bad), 3, "cannot make sense of it")]


def test_undated_collection_in_a_directory(fake_weekly: FakeWeekly, tmp_path: Path) -> None:
    (tmp_path / "undated.md").write_text("**1:** [X](https://x.org/x)\n", encoding="utf-8")
    assert [e.source for e in load_paths([tmp_path]).errors] == [str(tmp_path / "undated.md")]
    dated = load_paths([tmp_path], default_date=date(2024, 6, 1))
    assert dated.errors == []
    assert dated.weeks[0].start == date(2024, 6, 1)


def test_package_reexports() -> None:
    assert bot.papers.sources.parse_text is parse_text
    assert bot.papers.sources.load_paths is load_paths
    assert callable(bot.papers.sources.parse_collection)
    assert bot.papers.sources.RemoteSource.__name__ == "RemoteSource"
    assert bot.papers.sources.parse_weekly is weekly.parse_weekly
    assert bot.papers.sources.looks_like_weekly is weekly.looks_like_weekly


def test_real_weekly_parser_through_the_loader(tmp_path: Path) -> None:
    text = (
        "## Top ML Papers of the Week (June 23 - June 29) - 2025\n"
        "| **Paper** | **Links** |\n"
        "| --- | --- |\n"
        "| 1) **A Made-Up Paper** - a summary we wrote. "
        "| [Paper](https://arxiv.org/abs/2506.00001) |\n"
    )
    path = tmp_path / "weekly.md"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "2024-03-15-notes.md").write_text(
        (FIXTURES / "2024-03-15-reading-notes.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = load_paths([tmp_path])
    assert [(w.kind, w.start) for w in result.weeks] == [
        ("collection", date(2024, 3, 15)),
        ("weekly", date(2025, 6, 23)),
    ]
    assert result.weeks[1].papers[0].title == "A Made-Up Paper"
