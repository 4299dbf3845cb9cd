"""Structured logs: to a file only when someone is typing in the terminal."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ops.logs import setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_with_a_log_file_warnings_stay_off_the_screen(tmp_path: Path, restore_root: None) -> None:
    screen = io.StringIO()
    log_file = tmp_path / ".paperboy" / "paperboy.log"
    setup_logging("INFO", stream=screen, file=log_file)
    logging.getLogger("paperboy.test").warning("source fetch failed", extra={"url": "x"})
    logging.getLogger("paperboy.test").error("something broke")
    assert screen.getvalue() == ""
    text = log_file.read_text(encoding="utf-8")
    assert 'event="source fetch failed" url=x' in text and "something broke" in text


def test_without_a_file_logs_go_to_the_stream(restore_root: None) -> None:
    screen = io.StringIO()
    setup_logging("INFO", "json", stream=screen)
    logging.getLogger("paperboy.test").info("hello", extra={"n": 3})
    assert '"event": "hello"' in screen.getvalue() and '"n": 3' in screen.getvalue()
