"""The CLI on live sources: ``check`` lists the files an index source followed, ``export``
carries bullet points, every diagnostic is printed once, and ``sources accept`` takes a copy
that the bot held back."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from support.curated import history, index_file, weekly_file
from support.listserver import ListServer, list_server

from bot.cli import main
from bot.papers.sources.cache import cache_paths

WEEKS = history(8, first=date(2025, 12, 15))


@pytest.fixture
async def st(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ListServer]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    async with list_server() as server:
        for year in (2025, 2026):
            server.put(
                f"/list/years/{year}.md", weekly_file(w for w in WEEKS if w.end.year == year)
            )
        server.put(
            "/list/README.md",
            index_file([("2026", "years/2026.md#top"), ("2025", "years/2025.md#top")]),
        )
        yield server


async def run(*argv: str) -> int:
    """``paperboy ARGV`` in a thread (it runs its own event loop; the server runs in ours)."""
    return await asyncio.to_thread(main, list(argv))


async def test_check_lists_the_files_an_index_followed(
    st: ListServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = st.url("/list/README.md")
    assert await run("check", "--source", url) == 0
    out = capsys.readouterr().out
    assert out == (
        f"{url}: an index; read 2 file(s) it links to:\n"
        f"  {st.url('/list/years/2026.md')} (6 weeks)\n"
        f"  {st.url('/list/years/2025.md')} (2 weeks)\n"
        "80 papers in 8 curated weeks, 2025-12-15 to 2026-02-08 and 0 collections; "
        "0 errors, 0 warnings.\n"
    )
    assert await run("check", "--json", "--source", url) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["remote"] == [
        {
            "url": url,
            "status": "not_modified",
            "files": [st.url("/list/years/2026.md"), st.url("/list/years/2025.md")],
        }
    ]


async def test_sources_accept_takes_a_held_back_copy(
    st: ListServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = st.url("/list/README.md")
    (tmp_path / "paperboy.yaml").write_text(
        f"sources:\n  paths: []\n  urls: [{url}]\n  cache_dir: cache\n", encoding="utf-8"
    )
    assert await run("check") == 0
    capsys.readouterr()
    st.put("/list/years/2026.md", weekly_file(WEEKS[6:]))  # four of its six weeks gone

    assert await run("check") == 0
    out = capsys.readouterr().out
    assert f"held back a suspicious copy of {url}: it has 4 weeks and would lose 4" in out
    assert f"{url}: held back; run `paperboy sources accept {url}` to take it" in out
    assert "80 papers in 8 curated weeks" in out

    assert await run("sources", "accept", url) == 0
    assert capsys.readouterr().out == f"{url}: accepted: 4 weeks\n"
    year = cache_paths(tmp_path / "cache", st.url("/list/years/2026.md"))[0]
    assert year.read_text(encoding="utf-8") == weekly_file(WEEKS[6:])
    assert await run("check") == 0
    assert "40 papers in 4 curated weeks" in capsys.readouterr().out
    assert await run("sources", "accept", url) == 0
    assert capsys.readouterr().out == f"{url}: nothing to accept: it serves the copy in use\n"

    assert await run("sources", "accept", st.url("/elsewhere.md")) == 2
    assert "is not one of the configured sources.urls" in capsys.readouterr().err


BROKEN = """\
## Top ML Papers of the Week (Month 99 - Nope)
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Lost Row** - under a heading whose dates cannot be read. | [Paper](https://arxiv.org/abs/2401.00001) |

## Top ML Papers of the Week (June 16 - June 22) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Adam: A Method for Stochastic Optimization** - Adaptive moments. <br>● First point. <br>● Second point. | [Paper](https://arxiv.org/abs/1412.6980) |
"""


def test_every_diagnostic_is_printed_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.md").write_text(BROKEN, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert main(["check", "--source", "broken.md"]) == 1
        out = capsys.readouterr().out
        assert main(["export", "--source", "broken.md"]) == 0
        err = capsys.readouterr().err
    line = "broken.md:1: error: cannot read the dates of week heading"
    assert out.count(line) == 1 and err.count(line) == 1
    assert caplog.records == []  # nothing logged besides what the commands print


def test_export_carries_bullets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.md").write_text(BROKEN, encoding="utf-8")
    assert main(["export", "--source", "broken.md"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["title"] == "Adam: A Method for Stochastic Optimization"
    assert row["bullets"] == ["First point.", "Second point."]
    assert main(["export", "--source", "broken.md", "--format", "csv"]) == 0
    [flat] = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert flat["bullets"] == "First point. • Second point."
    assert flat["summary"] == "Adaptive moments."
