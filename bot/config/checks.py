"""Small, reusable checks for configuration values: cron expressions, IANA timezones, durations.

These know nothing about the YAML file; ``bot.config.read`` uses them on config values, and chat
commands use them to validate what users type.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from zoneinfo import available_timezones

from croniter import croniter

__all__ = ["format_duration", "parse_duration", "validate_cron", "validate_timezone"]

_CRON_ALIASES = frozenset({"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly"})
_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


def validate_cron(expr: str) -> str | None:
    """``None`` if ``expr`` is a valid five-field cron expression (or an ``@daily``-style alias),
    else the reason it is not."""
    text = expr.strip()
    if not text:
        return "it is empty"
    if text.startswith("@"):
        if text.lower() in _CRON_ALIASES:
            return None
        return f"unknown alias; use one of {', '.join(sorted(_CRON_ALIASES))}"
    parts = text.split()
    if len(parts) != 5:
        extra = "; seconds and year fields are not supported" if len(parts) in (6, 7) else ""
        fields_ = "minute hour day-of-month month day-of-week"
        return f"expected 5 fields ({fields_}), got {len(parts)}{extra}"
    for (name, low, high), value in zip(_CRON_FIELDS, parts, strict=True):
        for item in value.split(","):
            reason = _check_cron_item(name, low, high, item)
            if reason:
                return reason
    if croniter.is_valid(text, strict=True):
        return None
    try:
        croniter.expand(text, strict=True)
    except Exception as exc:  # croniter's own error types vary between releases
        detail = re.sub(r"^\[.*?\] is not acceptable[.,]?\s*", "", str(exc)).strip()
        return detail or "a field has a value croniter cannot read"
    return "croniter rejects it"  # pragma: no cover - is_valid and expand disagree


def _check_cron_item(name: str, low: int, high: int, item: str) -> str | None:
    base, slash, step = item.partition("/")
    if base.upper() in ("H", "R") or base.upper().startswith(("H(", "R(")):
        return f"{name} '{item}': hashed (H) and random (R) values are not supported"
    if slash and base != "*" and "-" not in base:
        top = 6 if name == "day of week" else high
        single = base.isdigit() and step.isdigit() and int(base) + int(step) > top
        instead = f"'{base}'" if single else f"a range such as '{base}-{top}/{step}'"
        return (
            f"{name} '{item}' steps from a single value, which cron versions read differently; "
            f"write {instead} or '*/{step}'"
        )
    for bound in base.split("-"):
        if bound.isdigit() and not low <= int(bound) <= high:
            return f"{name} {int(bound)} is out of range {low}-{high}"
    return None


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: str) -> bool:
    """True if ``name`` is an IANA timezone key such as ``Europe/London`` or ``UTC``."""
    return name in _timezones()


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str | int | float) -> timedelta:
    """``"12h"``, ``"30m"``, ``"90s"``, ``"2d"``, ``"1w"``, ``"1h30m"``; a plain number is
    seconds. Raises ValueError for anything else, including negative values."""
    if isinstance(text, bool):
        raise ValueError("expected a duration, got a boolean")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=text)
    s = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return timedelta(seconds=float(s))
    compact = s.replace(" ", "")
    pieces = _DURATION_PART.findall(compact)
    if not pieces or "".join(n + u for n, u in pieces) != compact:
        raise ValueError(
            f"{text!r} is not a valid duration: use seconds or units like '90s', '30m', '12h', "
            "'2d', '1h30m'"
        )
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in pieces))


def format_duration(value: timedelta) -> str:
    """The shortest ``1d2h30m``-style text for a timedelta (``0s`` for zero)."""
    total = int(value.total_seconds())
    out = ""
    for unit in ("d", "h", "m", "s"):
        amount, total = divmod(total, _UNIT_SECONDS[unit])
        if amount:
            out += f"{amount}{unit}"
    return out or "0s"
