"""``paperboy run --exit-on-eof`` as a script would use it: commands piped in, answers out, and
the bot stops by itself when the input ends (exit status 0, no traceback)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WEEKLY = """\
## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Translation with attention alone. | [Paper](https://arxiv.org/abs/1706.03762) |
"""


async def test_piped_commands_then_exit_on_eof(tmp_path: Path) -> None:
    (tmp_path / "picks.md").write_text(WEEKLY, encoding="utf-8")
    config = tmp_path / "paperboy.yaml"
    config.write_text(
        f"sources:\n  paths: [picks.md]\nstore:\n  url: sqlite:///{tmp_path / 'bot.db'}\n"
        "arxiv:\n  enabled: false\nhttp:\n  port: 0\n",
        encoding="utf-8",
    )
    env = dict(os.environ, NO_COLOR="1")
    env.pop("DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--exit-on-eof",
        "--config",
        str(config),
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(b"/papers search attention\n" + b"z" * 70_000 + b"\nhelp\n"), 60
        )
    finally:
        if proc.returncode is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "Attention Is All You Need" in text
    assert "over 64 KiB and was skipped" in text
    assert "Type a command and press Enter" in text  # help, after the long line
    assert "Traceback" not in err.decode()
