"""Structured logging: one line per event, ``key=value`` text or JSON, extra fields included."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

_STANDARD = frozenset(
    vars(logging.LogRecord("x", 0, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts = [
            f"ts={ts[:-4]}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"event={_quote(record.getMessage())}",
        ]
        parts += [f"{k}={_quote(v)}" for k, v in _extras(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            exc = self.formatException(record.exc_info).replace("\n", "\\n")
            line += f" exc={json.dumps(exc)}"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        data.update(
            {
                k: v if isinstance(v, int | float | bool | None) else str(v)
                for k, v in _extras(record).items()
            }
        )
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(
    level: str = "INFO",
    fmt: str = "text",
    stream: TextIO | None = None,
    *,
    file: str | Path | None = None,
) -> None:
    """One handler on the root logger: ``file`` when given (everything, warnings too: someone
    is typing in the terminal, and its screen is for the chat), else ``stream`` (default
    stderr)."""
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler: logging.Handler
    if file is not None:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "discord", "slack_bolt", "slack_sdk", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
