"""The command line as a new user meets it: options before or after the command, help for every
option, one way to name sources, exit statuses (1 errors, 2 usage), JSON on errors, clear lines
for bad output paths and bad manifest options, and ``check`` naming its config file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.parser import parser

GOOD = """\
## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Translation with attention alone. | [Paper](https://arxiv.org/abs/1706.03762) |
| 2) **Deep Residual Learning for Image Recognition** - Skip connections train deep nets. | [Paper](https://arxiv.org/abs/1512.03385) |

## Top ML Papers of the Week (June 16 - June 22) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Picked again a week earlier. | [Paper](https://arxiv.org/abs/1706.03762) |
"""

BAD_CONFIG = "sources:\n  paths: [good.md]\ntimezone: Mars/Olympus\n"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN", "PORT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    return tmp_path


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


# --- options and help -------------------------------------------------------------------------


def test_config_option_before_or_after_the_command(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "custom.yaml").write_text("sources:\n  paths: [good.md]\n", encoding="utf-8")
    for argv in (
        ["--config", "custom.yaml", "check"],
        ["check", "--config", "custom.yaml"],
        ["check", "-c", "custom.yaml"],
        ["search", "attention", "--config", "custom.yaml"],
    ):
        assert main(argv) == 0, argv
    out = capsys.readouterr().out
    assert "Config OK (custom.yaml)" in out
    assert "Attention Is All You Need" in out


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    p = parser()
    [sub] = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_of_every_command_has_help() -> None:
    commands = _subparsers()
    assert set(commands) == {
        "run", "check", "export", "sources", "search", "week", "slack-manifest", "discord-invite",
        "forget-workspace",
    }  # fmt: skip
    [nested] = [
        a for a in commands["sources"]._actions if isinstance(a, argparse._SubParsersAction)
    ]
    commands |= {f"sources {k}": v for k, v in nested.choices.items()}
    for name, sub in commands.items():
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


def test_sources_are_named_the_same_way_everywhere(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("check", "export", "search", "week"):
        dests = {a.dest for a in _subparsers()[name]._actions}
        assert "source" in dests and "sources" not in dests, name
    assert main(["export", "--source", "good.md"]) == 0
    assert main(["week", "--source", "good.md", "latest"]) == 0
    capsys.readouterr()
    assert "unrecognized arguments: good.md" in usage_error(["check", "good.md"], capsys)


def test_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "exit status:" in out
    assert "1  errors" in out and "2  usage errors" in out


# --- exit statuses and errors ----------------------------------------------------------------


def test_config_errors_exit_1_and_usage_errors_exit_2(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "paperboy.yaml").write_text(BAD_CONFIG, encoding="utf-8")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("paperboy: config: timezone: 'Mars/Olympus'")
    assert "Traceback" not in err
    assert "unrecognized arguments" in usage_error(["check", "--nope"], capsys)
    assert "invalid choice" in usage_error(["frobnicate"], capsys)
    assert "out of range 1-50" in usage_error(["search", "x", "-n", "500"], capsys)
    assert "out of range" in usage_error(["search", "x", "--page", "0"], capsys)


def test_check_json_prints_config_errors_as_json(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "paperboy.yaml").write_text(BAD_CONFIG, encoding="utf-8")
    assert main(["check", "--json"]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["ok"] is False and data["kind"] == "config"
    assert data["config"] == "paperboy.yaml"
    [error] = data["errors"]
    assert error == {
        "key": "timezone",
        "line": 3,
        "message": "'Mars/Olympus' is not a known IANA timezone",
    }
    assert "Mars/Olympus" in captured.err  # the human line still goes to stderr


def test_week_json_error_is_json_too(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["week", "--source", "good.md", "--json", "1999-01-01"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and "1999-01-01" in data["errors"][0]["message"]


def test_check_says_which_config_file_it_read(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 0
    assert "Config OK (no config file: defaults and the environment):" in capsys.readouterr().out
    (here / "paperboy.yaml").write_text("sources:\n  paths: [good.md]\n", encoding="utf-8")
    assert main(["check"]) == 0
    assert "Config OK (paperboy.yaml):" in capsys.readouterr().out
    assert main(["check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"] == "paperboy.yaml"


def test_a_config_path_that_is_a_directory_is_an_error(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "paperboy.yaml").mkdir()
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "paperboy: config: config file 'paperboy.yaml' is a directory; give a YAML file"
    )


def test_week_json_lists_each_papers_weeks(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["week", "--source", "good.md", "--json", "2025-06-25"]) == 0
    papers = json.loads(capsys.readouterr().out)["papers"]
    attention = next(p for p in papers if p["title"] == "Attention Is All You Need")
    # Newest first, as in export and the web API.
    assert [(w["week_start"], w["rank"]) for w in attention["weeks"]] == [
        ("2025-06-23", 1),
        ("2025-06-16", 1),
    ]
    residual = next(p for p in papers if p["rank"] == 2)
    assert [(w["week_start"], w["rank"]) for w in residual["weeks"]] == [("2025-06-23", 2)]


@pytest.mark.parametrize("target", ["no/such/dir/x.jsonl", "."])
def test_export_to_a_path_that_cannot_be_written_is_one_line(
    here: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    assert main(["export", "--source", "good.md", "-o", target]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"paperboy: cannot write {target}: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --- slack-manifest ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["your.host", "http://", "", "not a url", "http://bot.example.org"])
def test_manifest_http_needs_an_https_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(["slack-manifest", "--http", url], capsys)
    assert "argument --http:" in err
    assert "https" in err


def test_manifest_http_url_gets_the_events_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack-manifest", "--format", "json", "--http", "https://bot.example.org/"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    url = "https://bot.example.org/slack/events"
    assert manifest["settings"]["event_subscriptions"]["request_url"] == url
    assert main(["slack-manifest", "--format", "json", "--http", "https://x.example.org/hook"]) == 0
    assert "https://x.example.org/hook" in capsys.readouterr().out


def test_manifest_name_within_slacks_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert "at most 35" in usage_error(["slack-manifest", "--name", "P" * 36], capsys)
    assert "must not be empty" in usage_error(["slack-manifest", "--name", "  "], capsys)
    assert main(["slack-manifest", "--format", "json", "--name", "P" * 35]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["display_information"]["name"] == "P" * 35


def test_forget_workspace_needs_yes_then_deletes_only_that_workspace(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from bot.core.messages import ChannelRef
    from bot.storage import open_store
    from bot.storage.records import Subscription

    db = here / "paperboy.db"
    (here / "custom.yaml").write_text(f"store:\n  url: sqlite:///{db}\n", encoding="utf-8")

    async def channels(add: bool) -> list[ChannelRef]:
        store = open_store(f"sqlite:///{db}")
        await store.open()
        try:
            if add:
                for team in ("TA", "TB"):
                    sub = Subscription(ChannelRef("slack", team, "C1"), "0 9 * * MON", "UTC")
                    await store.upsert_subscription(sub)
            return [s.channel for s in await store.list_subscriptions()]
        finally:
            await store.close()

    assert len(asyncio.run(channels(True))) == 2
    assert main(["-c", "custom.yaml", "forget-workspace", "slack", "TA"]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert len(asyncio.run(channels(False))) == 2
    assert main(["-c", "custom.yaml", "forget-workspace", "slack", "TA", "--yes"]) == 0
    assert "slack TA: 1 rows deleted (subscriptions 1)" in capsys.readouterr().out
    assert asyncio.run(channels(False)) == [ChannelRef("slack", "TB", "C1")]
