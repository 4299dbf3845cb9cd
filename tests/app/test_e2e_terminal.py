"""End to end: ``paperboy run`` in the terminal as a subprocess, driven through piped stdin.

A digest posts on schedule (the process clock is shifted with the config's clock_offset so the next
cron minute is a few seconds away), then a search, a week lookup, two votes and a leaderboard;
SIGTERM stops it cleanly. A second run on the same database still has the votes and does not
post the digest again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from support.net import free_port

pytestmark = pytest.mark.slow

WEEKLY = """\
# Reading group picks

## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - The Transformer: translation with attention alone. | [Paper](https://arxiv.org/abs/1706.03762) |
| 2) **Deep Residual Learning for Image Recognition** - Skip connections let very deep networks train. | [Paper](https://arxiv.org/abs/1512.03385) |
| 3) **Adam: A Method for Stochastic Optimization** - Adaptive moment estimates for each weight. | [Paper](https://arxiv.org/abs/1412.6980) |
"""


class Bot:
    """A running ``paperboy run`` subprocess with helpers to talk to it."""

    running: ClassVar[list[asyncio.subprocess.Process]] = []

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        Bot.running.append(proc)

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, needle: str, timeout: float = 20.0) -> str:
        """Read stdout until a line contains ``needle``; returns everything read meanwhile."""
        assert self.proc.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{needle!r} not seen; output so far:\n" + "".join(self.out))
            raw = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not raw:
                raise AssertionError(f"EOF before {needle!r}; output:\n" + "".join(self.out))
            line = raw.decode()
            self.out.append(line)
            seen.append(line)
            if needle in line:
                return "".join(seen)

    async def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        # Generous: only a hang fails here (the stop deadline is App.STOP_TIMEOUT, in code).
        rest, err = await asyncio.wait_for(self.proc.communicate(), 60)
        self.out.append(rest.decode())
        assert self.proc.returncode is not None
        return self.proc.returncode, err.decode()


@pytest.fixture(autouse=True)
def _kill_leftovers() -> Iterator[None]:
    """A failing test must not leave a bot running."""
    yield
    for proc in Bot.running:
        if proc.returncode is None:
            proc.kill()
    Bot.running.clear()


async def _start(tmp: Path, config: Path, *args: str) -> Bot:
    env = dict(os.environ)
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.pop("DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "run",
        *args,
        cwd=tmp,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Bot(proc)


async def test_terminal_run_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "picks.md").write_text(WEEKLY, encoding="utf-8")
    real_now = datetime.now(UTC)
    # The process's clock reads 4 s before the next whole minute (at least 20 s from now).
    fire = (real_now + timedelta(seconds=20)).replace(second=0, microsecond=0) + timedelta(
        minutes=1
    )
    offset = (fire - timedelta(seconds=4) - real_now).total_seconds()
    port = free_port()
    config = tmp_path / "paperboy.yaml"
    config.write_text(
        f"""\
clock_offset: {offset:.3f}s
sources:
  paths: [picks.md]
store:
  url: sqlite:///{tmp_path / "bot.db"}
arxiv:
  enabled: false
http:
  port: {port}
subscriptions:
  - platform: terminal
    cron: "{fire.minute} {fire.hour} * * *"
    timezone: UTC
""",
        encoding="utf-8",
    )

    bot = await _start(tmp_path, config)
    await bot.expect("Paperboy is running")
    digest = await bot.expect("vote with `react <rank>`", timeout=30)
    assert "Top papers of the week · Jun 23 – Jun 29, 2025" in digest
    assert "[message " in digest
    assert digest.index("Attention Is All You Need") < digest.index("Deep Residual Learning")

    health = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
    )
    assert b'"status": "ok"' in health
    metrics = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    )
    assert b"paperboy_posts" in metrics

    await bot.send("/papers search residual")
    found = await bot.expect("Results 1–1")
    assert "Deep Residual Learning for Image Recognition" in found
    await bot.send("/papers week 2025-06-25")
    week = await bot.expect("on a shared week to vote")
    assert "Adam: A Method for Stochastic Optimization" in week
    await bot.send("react 3")
    await bot.expect("Vote counted")
    await bot.send("user alice")
    await bot.expect("alice")
    await bot.send("react 3")
    await bot.expect("Vote counted")
    await bot.send("react 1")
    await bot.expect("Vote counted")
    await bot.send("/papers top")
    top = await bot.expect("Attention Is All You Need")
    assert "Most voted papers" in top
    assert "Adam: A Method for Stochastic Optimization" in top
    assert "2 votes" in "".join(bot.out)
    code, err = await bot.stop()
    assert code == 0, err
    assert "Traceback" not in err
    assert "".join(bot.out).count("[message ") == 1

    # Again, on the same database: votes survive, the digest is not posted twice.
    again = await _start(tmp_path, config, "--now")
    await again.expect("Paperboy is running")
    await again.expect("already posted here")
    await again.expect("vote with `react <rank>`")  # the end of the re-shown digest
    await again.send("/papers top")
    await again.expect("Most voted papers")
    top2 = await again.expect("Attention Is All You Need")
    assert "Adam: A Method for Stochastic Optimization" in top2
    code, err = await again.stop()
    assert code == 0, err
    assert "[message " not in "".join(again.out)


async def _run_once(tmp_path: Path, config_text: str) -> tuple[int, str]:
    """``paperboy run`` with this config and no input: (exit code, stderr)."""
    config = tmp_path / "paperboy.yaml"
    config.write_text(config_text, encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "run",
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_bad_config_exits_with_one_line(tmp_path: Path) -> None:
    code, err = await _run_once(tmp_path, "timezone: Europe/Londn\n")
    assert code == 1  # config errors exit 1; 2 is for usage errors
    assert err.strip() == (
        "paperboy: config: timezone: 'Europe/Londn' is not a known IANA timezone (line 1)"
    )


async def test_unreachable_database_exits_with_one_line(tmp_path: Path) -> None:
    code, text = await _run_once(
        tmp_path,
        "store:\n  url: postgresql://nobody@127.0.0.1:1/nowhere\nhttp:\n  enabled: false\n",
    )
    assert code == 1
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1].startswith("paperboy: ")
    assert "127.0.0.1:1" in text


async def test_terminal_unsubscribe_subscribe_and_restart_never_repost(tmp_path: Path) -> None:
    """The terminal's own subscription (made at the first start): unsubscribing and
    subscribing again, then a restart, keep the channel's history: one post, ever."""
    (tmp_path / "picks.md").write_text(WEEKLY, encoding="utf-8")
    config = tmp_path / "paperboy.yaml"
    config.write_text(
        f"sources:\n  paths: [picks.md]\nstore:\n  url: sqlite:///{tmp_path / 'bot.db'}\n"
        "arxiv:\n  enabled: false\nhttp:\n  enabled: false\n",
        encoding="utf-8",
    )
    bot = await _start(tmp_path, config, "--now")
    await bot.expect("vote with `react <rank>`")
    await bot.send("/papers unsubscribe")
    await bot.expect("Unsubscribed")
    await bot.send("/papers subscribe")
    await bot.expect("Subscribed")
    await bot.send("/papers post")
    await bot.expect("already posted here")
    code, err = await bot.stop()
    assert code == 0, err
    again = await _start(tmp_path, config, "--now")
    await again.expect("already posted here")
    await again.expect("vote with `react <rank>`")  # shown again, not posted
    code, err = await again.stop()
    assert code == 0, err
    assert "".join(bot.out).count("[message ") == 1
    assert "[message " not in "".join(again.out)
