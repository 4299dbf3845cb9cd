"""``paperboy check --online`` against the local fake Slack and Discord and a real SQLite file:
accepted tokens and an openable store pass; a rejected token, an unreachable platform or a
store that cannot be opened fail with exit status 1 and say which."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.discord import TOKEN, FakeDiscord
from support.slack import APP_TOKEN, BOT_TOKEN, TEAM_ID, FakeSlack

from bot.cli import main


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("DATABASE_URL", "SLACK_SIGNING_SECRET", "PORT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "picks.md").write_text(
        "## Top ML Papers of the Week (June 23 - June 29) - 2025\n"
        "| **Paper**  | **Links** |\n| --- | --- |\n"
        "| 1) **Attention Is All You Need** - Attention only. "
        "| [Paper](https://arxiv.org/abs/1706.03762) |\n",
        encoding="utf-8",
    )
    return tmp_path


def write_config(
    here: Path, slack: FakeSlack, discord_fake: FakeDiscord, store: str | None = None
) -> None:
    (here / "paperboy.yaml").write_text(
        f"""\
sources:
  paths: [picks.md]
store:
  url: {store or f"sqlite:///{here / 'bot.db'}"}
slack:
  mode: socket
  api_base_url: {slack.url}
discord:
  api_base_url: {discord_fake.api_url}
  gateway_url: {discord_fake.gateway_url}
""",
        encoding="utf-8",
    )


async def check_online(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = await asyncio.to_thread(main, ["check", "--online", "--json"])
    return code, json.loads(capsys.readouterr().out)


async def test_online_check_passes_with_good_tokens_and_store(
    here: Path,
    slack: FakeSlack,
    discord_fake: FakeDiscord,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    write_config(here, slack, discord_fake)
    code, data = await check_online(capsys)
    assert code == 0, data
    online = {p["check"]: p for p in data["online"]}  # type: ignore[union-attr]
    assert set(online) == {"store", "slack bot token", "slack app token", "discord token"}
    assert all(p["ok"] for p in online.values())
    assert TEAM_ID in online["slack bot token"]["detail"]
    assert (here / "bot.db").exists()  # opened and migrated, as `run` would
    assert slack.calls("auth.test") and slack.calls("apps.connections.open")
    assert discord_fake.calls("get_me")
    assert slack.calls("chat.postMessage") == []  # nothing is posted

    # The human form lists each probe.
    code = await asyncio.to_thread(main, ["check", "--online"])
    out = capsys.readouterr().out
    assert code == 0
    assert "slack bot token: OK: accepted: workspace" in out
    assert "discord token: OK: accepted: logged in as" in out


async def test_online_check_names_what_failed(
    here: Path,
    slack: FakeSlack,
    discord_fake: FakeDiscord,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-the-right-one")
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    discord_fake.fail_next("get_me", 401)
    (here / "blocker").write_text("a file where a directory should be", encoding="utf-8")
    write_config(here, slack, discord_fake, store=f"sqlite:///{here / 'blocker' / 'bot.db'}")
    code, data = await check_online(capsys)
    assert code == 1
    online = {p["check"]: p for p in data["online"]}  # type: ignore[union-attr]
    assert online["store"]["ok"] is False and "blocker" in online["store"]["detail"]
    assert online["slack bot token"] == {
        "check": "slack bot token",
        "ok": False,
        "detail": "Slack refused it (invalid_auth)",
    }
    assert online["slack app token"]["ok"] is True
    assert online["discord token"] == {
        "check": "discord token",
        "ok": False,
        "detail": "Discord rejected the bot token",
    }
    assert data["ok"] is False


async def test_online_check_with_slack_unreachable(
    here: Path,
    slack: FakeSlack,
    discord_fake: FakeDiscord,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    (here / "paperboy.yaml").write_text(
        f"sources:\n  paths: [picks.md]\nstore:\n  url: sqlite:///{here / 'bot.db'}\n"
        f"slack:\n  api_base_url: http://127.0.0.1:{port}/api/\n",
        encoding="utf-8",
    )
    code, data = await check_online(capsys)
    assert code == 1
    detail = data["online"][1]["detail"]  # type: ignore[index]
    assert detail.startswith(f"cannot reach Slack at http://127.0.0.1:{port}/api/: cannot connect")
