"""Source problems found while loading are logged as structured records: the message, plus
``source`` and ``line`` fields a log pipeline can filter on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.ops.logs import JsonFormatter
from bot.papers.archive import Archive

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


async def test_source_problems_carry_source_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "broken.md"
    path.write_text(BROKEN, encoding="utf-8")
    archive = Archive([str(path)], cache_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.INFO, logger="paperboy.sources"):
        await archive.load()
    archive.catalog.close()
    [record] = [r for r in caplog.records if getattr(r, "source", None) == str(path)]
    assert record.levelno == logging.ERROR
    assert record.line == 1  # type: ignore[attr-defined]
    assert str(path) not in record.getMessage()  # the place is in fields, not in the text
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["source"] == str(path) and data["line"] == 1 and data["severity"] == "error"
