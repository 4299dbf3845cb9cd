"""The paperboy CLI: export, search, week and check, in process."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot.cli import main

GOOD = """\
## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Translation with attention alone. | [Paper](https://arxiv.org/abs/1706.03762), [Code](https://github.com/tensorflow/tensor2tensor) |
| 2) **Deep Residual Learning for Image Recognition** - Skip connections train deep nets. | [Paper](https://arxiv.org/abs/1512.03385) |
"""

BROKEN = """\
## Top ML Papers of the Week (Month 99 - Nope)
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Lost Row** - under a heading whose dates cannot be read. | [Paper](https://arxiv.org/abs/2401.00001) |

## Top ML Papers of the Week (June 16 - June 22) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Adam: A Method for Stochastic Optimization** - Adaptive moments. | [Paper](https://arxiv.org/abs/1412.6980) |
"""


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "broken.md").write_text(BROKEN, encoding="utf-8")
    return tmp_path


def test_export_jsonl(sources: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--source", "good.md"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["title"] for r in rows] == [
        "Attention Is All You Need",
        "Deep Residual Learning for Image Recognition",
    ]
    first = rows[0]
    assert first["week_start"] == "2025-06-23" and first["week_end"] == "2025-06-29"
    assert first["rank"] == 1
    assert first["url"] == "https://arxiv.org/abs/1706.03762"
    assert first["arxiv_id"] == "1706.03762"
    assert first["links"][1] == {
        "label": "Code",
        "url": "https://github.com/tensorflow/tensor2tensor",
    }
    assert first["source"] == "good.md"
    assert len(first["paper_id"]) == 10


def test_export_csv_to_file(sources: Path) -> None:
    assert main(["export", "--source", "good.md", "--format", "csv", "-o", "out.csv"]) == 0
    rows = list(csv.DictReader(io.StringIO((sources / "out.csv").read_text(encoding="utf-8"))))
    assert rows[1]["title"] == "Deep Residual Learning for Image Recognition"
    assert rows[0]["links"].startswith("Paper=https://arxiv.org/abs/1706.03762 Code=")


def test_search_human_and_json(sources: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--source", "good.md", "residual"]) == 0
    out = capsys.readouterr().out
    assert "1. Deep Residual Learning for Image Recognition" in out
    assert main(["search", "--source", "good.md", "--json", "attention"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"][0]["arxiv_id"] == "1706.03762"
    assert main(["search", "--source", "good.md", "zebra"]) == 0
    assert "No papers match" in capsys.readouterr().out


def test_week(sources: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["week", "--source", "good.md", "2025-06-25"]) == 0
    assert "Jun 23 – Jun 29, 2025" in capsys.readouterr().out
    assert main(["week", "--source", "good.md", "--json", "latest"]) == 0
    assert json.loads(capsys.readouterr().out)["week_start"] == "2025-06-23"
    assert main(["week", "--source", "good.md", "1999-01-01"]) == 1


def test_check_lists_problems_with_file_and_line(
    sources: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--source", "good.md"]) == 0
    assert main(["check", "--source", "good.md", "--source", "broken.md"]) == 1
    out = capsys.readouterr().out
    assert "broken.md:1: error:" in out
    assert "1 errors" in out or "1 error" in out
    assert main(["check", "--json", "--source", "broken.md"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"]
    assert data["papers"] == 1  # the rest of the file still loads
    assert data["diagnostics"][0]["source"] == "broken.md"


def test_check_validates_config_too(sources: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sources / "paperboy.yaml").write_text(
        "sources:\n  paths: [good.md]\nsubscriptions:\n  - platform: terminal\n"
        "    cron: '0 9 * * MON'\n    timezone: Mars/Olympus\n",
        encoding="utf-8",
    )
    assert main(["check"]) == 1  # a config error: 1, like every error; 2 is for usage errors
    err = capsys.readouterr().err
    assert "subscriptions[0].timezone: 'Mars/Olympus' is not a known IANA timezone (line 6)" in err


def test_shipped_digests_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # From a directory without digests/, the CLI falls back to the ones beside the package.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["search", "attention"]) == 0
    assert "Attention Is All You Need" in capsys.readouterr().out
    assert main(["export"]) == 0
    assert len(capsys.readouterr().out.splitlines()) >= 50


def test_slack_manifest_points_at_the_events_route(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack-manifest", "--format", "json", "--http", "https://bot.example.org"]) == 0
    text = capsys.readouterr().out
    assert "https://bot.example.org/slack/events" in text
    assert json.loads(text)["settings"]["socket_mode_enabled"] is False
    assert main(["slack-manifest", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["socket_mode_enabled"] is True
    assert "uninstalled" not in text and "redirect_urls" not in text


def test_slack_manifest_for_distribution_has_the_redirect_and_uninstall_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["slack-manifest", "--format", "json", "--http", "https://bot.example.org", "--oauth"]
    assert main(argv) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://bot.example.org/slack/oauth_redirect"
    ]
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(events)
    assert main(["slack-manifest", "--oauth"]) == 2
    assert "--oauth needs --http" in capsys.readouterr().err
