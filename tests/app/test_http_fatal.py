"""The HTTP server (/healthz, /metrics) cannot start: the bot stops with one clear line and a
non-zero exit status, instead of running on without its health check."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import App
from bot.config.load import parse_config
from bot.core.errors import PaperboyError

WEEKLY = """\
## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Translation with attention alone. | [Paper](https://arxiv.org/abs/1706.03762) |
"""


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def config(tmp_path: Path, http: str) -> str:
    (tmp_path / "picks.md").write_text(WEEKLY, encoding="utf-8")
    return (
        f"sources:\n  paths: [{tmp_path / 'picks.md'}]\n  cache_dir: {tmp_path / 'cache'}\n"
        f"store:\n  url: sqlite:///{tmp_path / 'bot.db'}\nterminal:\n  enabled: false\n"
        f"arxiv:\n  enabled: false\nhttp:\n{http}"
    )


async def start_error(text: str) -> str:
    app = App(parse_config(text, env={}))
    try:
        with pytest.raises(PaperboyError) as info:
            await app.start()
    finally:
        await app.stop()
    return str(info.value)


async def test_port_in_use_is_fatal(tmp_path: Path, busy_port: int) -> None:
    message = await start_error(config(tmp_path, f"  port: {busy_port}\n"))
    assert message == (
        f"cannot listen on 127.0.0.1:{busy_port} for /healthz and /metrics: Address already in "
        "use; set http.port (0: any free port) or PORT, http.host, or http.enabled: false"
    )


async def test_invalid_host_is_fatal(tmp_path: Path) -> None:
    message = await start_error(config(tmp_path, "  host: 127.0.0.999\n  port: 0\n"))
    assert message.startswith("cannot listen on 127.0.0.999:0 for /healthz and /metrics: ")
    assert "(" not in message.split(": ", 1)[1].split(";")[0]  # words, not a repr


async def test_port_zero_picks_a_free_port(tmp_path: Path) -> None:
    app = App(parse_config(config(tmp_path, "  port: 0\n"), env={}))
    try:
        await app.start()
        assert app.http_port is not None and app.http_port > 0
    finally:
        await app.stop()


@pytest.mark.slow
async def test_paperboy_run_exits_1_with_one_line(tmp_path: Path, busy_port: int) -> None:
    path = tmp_path / "paperboy.yaml"
    path.write_text(config(tmp_path, f"  port: {busy_port}\n"), encoding="utf-8")
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(path),
        cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    text = err.decode()
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"paperboy: cannot listen on 127.0.0.1:{busy_port} for /healthz")
