"""Reading configuration sections: typed value converters and the :class:`Section` reader.

A converter turns one located :class:`~bot.config.yaml.Node` into a Python value or raises
:class:`Invalid` with the message shown to the user; a :class:`Section` reads one mapping,
reporting unknown keys and converter failures into the shared error log.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import date, datetime, timedelta
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from bot.config.checks import parse_duration, validate_cron, validate_timezone
from bot.config.yaml import ErrorLog, Node, kind_of

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# --- value converters: raise Invalid(message) --------------------------------------------------


class Invalid(Exception):
    pass


T = TypeVar("T")
Conv = Callable[[Node], T]


def to_str(node: Node) -> str:
    if isinstance(node.value, str):
        return node.value
    if node.expanded and node.text is not None:  # `${VAR}` whose text YAML would read as 5
        return node.text
    raise Invalid(f"expected a string, got {kind_of(node.value)}")


def to_nonempty(node: Node) -> str:
    value = to_str(node)
    if not value.strip():
        raise Invalid("must not be empty")
    return value


def to_ident(node: Node) -> str:
    """A workspace, channel or application id: a string, or a number written unquoted."""
    if isinstance(node.value, int) and not isinstance(node.value, bool) and node.text:
        return node.text
    return to_nonempty(node)


def optional(conv: Conv[T]) -> Conv[T | None]:
    return lambda node: None if node.value is None else conv(node)


def to_bool(node: Node) -> bool:
    if isinstance(node.value, bool):
        return node.value
    raise Invalid(f"expected true or false, got {kind_of(node.value)}")


def to_int(minimum: int = 1, maximum: int | None = None) -> Conv[int]:
    def conv(node: Node) -> int:
        v = node.value
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise Invalid(f"expected a whole number, got {kind_of(node.value)}")
        if v < minimum or (maximum is not None and v > maximum):
            limit = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise Invalid(f"{v} is out of range: must be {limit}")
        return v

    return conv


def to_choice(*options: str) -> Conv[str]:
    def conv(node: Node) -> str:
        if isinstance(node.value, str) and node.value.lower() in options:
            return node.value.lower()
        shown = repr(node.value) if isinstance(node.value, str) else kind_of(node.value)
        raise Invalid(f"expected one of {', '.join(repr(o) for o in options)}, got {shown}")

    return conv


def to_str_list(node: Node) -> tuple[str, ...]:
    if not isinstance(node.value, list):
        raise Invalid(f"expected a list of strings, got {kind_of(node.value)}")
    bad = [item for item in node.value if not isinstance(item.value, str)]
    if bad:
        raise Invalid(f"expected a list of strings, got a list containing {kind_of(bad[0].value)}")
    return tuple(item.value for item in node.value)


def to_url(*schemes: str) -> Conv[str]:
    def conv(node: Node) -> str:
        value = to_str(node).strip()
        parts = urlsplit(value)
        if parts.scheme.lower() not in schemes or not parts.netloc:
            want = " or ".join(f"{s}://" for s in schemes)
            raise Invalid(f"{value!r} is not a valid URL: expected {want} and a host")
        return value

    return conv


def to_url_list(node: Node) -> tuple[str, ...]:
    items = to_str_list(node)
    for item in items:
        to_url("http", "https")(Node(item, node.line))
    return items


def to_duration(positive: bool = True) -> Conv[timedelta]:
    def conv(node: Node) -> timedelta:
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool) and node.text:
            value = node.text  # so that YAML 1.1 sexagesimal `1:30` is not read as 90
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise Invalid(f"expected a duration such as '12h', got {kind_of(value)}")
        try:
            result = parse_duration(value)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if positive and not result:
            raise Invalid("must be longer than zero")
        return result

    return conv


def to_date(node: Node) -> date:
    value = node.value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(f"{value!r} is not a date: write YYYY-MM-DD") from None
    raise Invalid(f"expected a date (YYYY-MM-DD), got {kind_of(value)}")


def to_timezone(node: Node) -> str:
    value = to_str(node)
    if not validate_timezone(value):
        raise Invalid(f"{value!r} is not a known IANA timezone")
    return value


def to_cron(node: Node) -> str:
    value = to_str(node)
    reason = validate_cron(value)
    if reason:
        raise Invalid(f"{value!r} is not a valid cron expression: {reason}")
    return value.strip()


def token_prefix(value: str) -> str:
    """A Slack-style token's kind prefix (``xoxb-``, ``xapp-``), or '' when it has none."""
    m = re.match(r"[a-z]{3,4}-", value)
    return m.group(0) if m else ""


def token_problem(prefix: str, what: str, value: str) -> str | None:
    if value.startswith(prefix):
        return None
    got = token_prefix(value)
    got = f"one starting with {got!r}" if got else "a value that is not a Slack token"
    return f"expected a {what} starting with {prefix!r}, got {got}"


def to_database_url(node: Node) -> str:
    value = to_str(node).strip()
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme == "postgres":
        value = "postgresql" + value[len("postgres") :]
        scheme = "postgresql"
    if scheme == "postgresql":
        parts = urlsplit(value)
        named = any(k in parts.query for k in ("dbname=", "database="))
        if parts.path.strip("/") == "" and not named:
            raise Invalid(
                "the PostgreSQL URL names no database; add it, e.g. "
                "postgresql://user@host:5432/paperboy"
            )
        return value
    if scheme == "sqlite":
        if value.split("://", 1)[1].lstrip("/") == "":
            raise Invalid(
                "sqlite:/// needs a file path, e.g. sqlite:///.paperboy/paperboy.db "
                "(sqlite:///:memory: for a database that is thrown away at exit)"
            )
        return value
    got = f"one starting with {scheme + '://'!r}" if scheme else "no URL scheme"
    raise Invalid(f"expected a sqlite:/// or postgresql:// URL, got {got}")


def to_snowflake(node: Node) -> str:
    value = to_ident(node)
    if not value.isdigit():
        raise Invalid(f"expected a numeric Discord id, got {value!r}")
    return value


def to_shards(node: Node) -> int | Literal["auto"]:
    if isinstance(node.value, str) and node.value.strip().lower() == "auto":
        return "auto"
    if isinstance(node.value, int) and not isinstance(node.value, bool):
        return to_int(1)(node)
    raise Invalid(f"expected a number of shards or 'auto', got {kind_of(node.value)}")


def to_log_level(node: Node) -> str:
    value = to_str(node).strip().upper()
    if value not in LOG_LEVELS:
        raise Invalid(f"{node.value!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
    return value


# --- reading sections --------------------------------------------------------------------------


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


class Section:
    """One mapping being read: reports unknown keys, converts values, collects errors."""

    def __init__(self, errs: ErrorLog, node: Node | None, path: str, keys: tuple[str, ...]) -> None:
        self.errs, self.path = errs, path
        self.line = node.line if node is not None else None
        self.items: dict[str, Node] = {}
        self.key_lines: dict[str, int] = {}
        if node is None or node.value is None:
            return
        if not isinstance(node.value, dict):
            where = "" if path else " at the top level"
            errs.add(path, f"expected a mapping{where}, got {kind_of(node.value)}", node.line)
            return
        self.items, self.key_lines = node.value, node.key_lines
        for key in node.value:
            if key not in keys:
                close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(keys)}"
                errs.add(self.sub(key), f"unknown key; {hint}", node.key_lines[key])

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.items

    def failed(self, key: str) -> bool:
        """Whether ``key``'s value could not be read (an unset ``${VAR}``, already reported)."""
        node = self.items.get(key)
        return node is not None and node.failed

    def line_of(self, key: str) -> int | None:
        node = self.items.get(key)
        return node.line if node is not None else self.line

    def get(self, key: str, conv: Conv[T], default: T) -> T:
        node = self.items.get(key)
        if node is None or node.failed:
            return default
        try:
            return conv(node)
        except Invalid as exc:
            self.errs.add(self.sub(key), str(exc), node.line)
            return default

    def need(self, key: str, conv: Conv[T], placeholder: T) -> T:
        if key not in self.items:
            self.errs.add(self.path, f"missing required key {key!r}", self.line)
            return placeholder
        return self.get(key, conv, placeholder)

    def section(self, key: str, cls: type) -> Section:
        return Section(self.errs, self.items.get(key), self.sub(key), field_names(cls))

    def env_or_file(self, key: str, var: str, env: Mapping[str, str], conv: Conv[T]) -> T | None:
        """The file's value for ``key`` when given (even empty), else ``$var``; '' is unset."""
        if key in self.items:
            given = self.get(key, optional(conv), None)
            return None if given == "" else given  # 0 (http.port: 0) is a value
        value = env.get(var) or None
        if value is None:
            return None
        try:
            return conv(Node(value, None, value))
        except Invalid as exc:
            self.errs.add(self.sub(key), f"{exc} (from the {var} environment variable)", None)
            return None
