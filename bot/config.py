"""Configuration: YAML with ``${ENV}`` references -> validated, frozen :class:`Settings`.

Every key is optional; an empty or missing file gives a bot that runs in the terminal on SQLite
with the shipped ``digests/``. Secrets come from the environment (``${SLACK_BOT_TOKEN}`` in the
file, or the plain environment variable when the file leaves the key out). All mistakes are
collected and raised together as :class:`ConfigErrors`, each located by key path and line.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import yaml
from croniter import croniter

from bot.errors import ConfigError
from bot.model import ChannelRef, Subscription, SubscriptionKind

DEFAULT_CONFIG_FILE = "paperboy.yaml"
DEFAULT_DATABASE_URL = "sqlite:///.paperboy/paperboy.db"
PLATFORMS = ("slack", "discord", "terminal")
KEYCAP_EMOJI = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourcesSettings:
    paths: tuple[str, ...] = ("digests",)
    urls: tuple[str, ...] = ()
    refresh_interval: timedelta = timedelta(hours=6)
    cache_dir: str = ".paperboy/cache"
    default_date: date | None = None


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = DEFAULT_DATABASE_URL  # postgres:// is normalised to postgresql://


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    grace: timedelta = timedelta(hours=12)
    stalled_after_weeks: int = 2
    community_window_days: int = 7


@dataclass(frozen=True, slots=True)
class DigestSettings:
    summary_length: int = 280
    bullets: bool = True
    links: tuple[str, ...] = ("Paper", "Code", "Tweet")
    seed_reactions: bool = True
    max_papers: int = 10


@dataclass(frozen=True, slots=True)
class VoteSettings:
    emoji: tuple[str, ...] = KEYCAP_EMOJI
    allow_thumbs_up: bool = True


@dataclass(frozen=True, slots=True)
class SlackSettings:
    bot_token: str
    app_token: str | None = None
    signing_secret: str | None = None
    mode: Literal["socket", "http"] = "http"
    api_base_url: str = "https://slack.com/api/"
    admin_user_group: str | None = None
    seed_reactions: bool = True


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    token: str
    application_id: str | None = None
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str | None = None
    test_guild: int | None = None
    shards: int | Literal["auto"] | None = None
    seed_reactions: bool = True


@dataclass(frozen=True, slots=True)
class TerminalSettings:
    enabled: bool | None = None  # None: on when no chat platform is configured
    workspace: str = "local"
    channel: str = "terminal"
    color: bool | None = None


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class SubscriptionSettings:
    platform: str
    workspace: str
    channel: str
    cron: str
    timezone: str
    kind: SubscriptionKind = "curated"

    @property
    def channel_ref(self) -> ChannelRef:
        return ChannelRef(self.platform, self.workspace, self.channel)

    def to_subscription(self) -> Subscription:
        return Subscription(self.channel_ref, self.cron, self.timezone, self.kind)


@dataclass(frozen=True, slots=True)
class Settings:
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    timezone: str = "UTC"
    admin_channel: ChannelRef | None = None
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    votes: VoteSettings = field(default_factory=VoteSettings)
    slack: SlackSettings | None = None
    discord: DiscordSettings | None = None
    terminal: TerminalSettings = field(default_factory=TerminalSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    subscriptions: tuple[SubscriptionSettings, ...] = ()
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @property
    def terminal_enabled(self) -> bool:
        """``terminal.enabled`` resolved: when unset, on if no chat platform is configured or a
        subscription posts to the terminal."""
        if self.terminal.enabled is not None:
            return self.terminal.enabled
        no_platform = self.slack is None and self.discord is None
        return no_platform or any(s.platform == "terminal" for s in self.subscriptions)


class ConfigErrors(ConfigError):
    """Several configuration mistakes at once; ``str()`` gives one line per error."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.key_path, first.message, first.line)
        self.errors = errors
        self.args = ("\n".join(str(e) for e in errors),)


# --- small public validators -------------------------------------------------------------------

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


# --- YAML -> located tree ----------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """A private SafeLoader subclass: we only compose nodes with it, never touch SafeLoader."""


@dataclass(slots=True)
class _Node:
    value: Any  # dict[str, _Node] for mappings, list[_Node] for sequences, else a scalar
    line: int | None
    text: str | None = None  # a scalar's text (after ${ENV} expansion)
    key_lines: dict[str, int] = field(default_factory=dict)
    failed: bool = False  # already reported (an unset ${VAR}); read as absent
    expanded: bool = False  # the scalar came from ${ENV} expansion


_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


class _Errors:
    def __init__(self) -> None:
        self.items: list[ConfigError] = []
        self.broken: set[str] = set()  # platforms whose token reference already failed

    def add(self, path: str, message: str, line: int | None) -> None:
        self.items.append(ConfigError(path, message, line))


def _expand(text: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``$$``; returns (text, error message)."""
    problems: list[str] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name is None:
            problems.append("malformed ${...} reference; write ${NAME} or ${NAME:-default}")
            return ""
        value = env.get(name)
        if m.group(2) is not None:  # ${VAR:-default}: default when unset or empty
            return value if value else m.group(2)
        if value is None:
            problems.append(
                f"environment variable {name} is not set "
                f"(set it, or give a default with ${{{name}:-default}})"
            )
            return ""
        return value

    out = _ENV_REF.sub(sub, text)
    return out, (problems[0] if problems else None)


def _to_tree(
    loader: _Loader, node: yaml.Node, path: str, env: Mapping[str, str], errs: _Errors
) -> _Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys on the node, not globally
        out = _Node({}, line)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                errs.add(path, f"keys must be strings, got {_kind(key)} {key!r}", key_line)
                continue
            sub_path = f"{path}.{key}" if path else key
            if key in out.value:
                first = out.key_lines[key]
                errs.add(sub_path, f"duplicate key (first given on line {first})", key_line)
                continue
            out.value[key] = _to_tree(loader, value_node, sub_path, env, errs)
            out.key_lines[key] = key_line
        return out
    if isinstance(node, yaml.SequenceNode):
        items = [
            _to_tree(loader, item, f"{path}[{i}]", env, errs) for i, item in enumerate(node.value)
        ]
        return _Node(items, line)
    assert isinstance(node, yaml.ScalarNode)
    raw: str = node.value
    from_env = node.tag == "tag:yaml.org,2002:str" and "$" in raw
    if from_env:
        expanded, problem = _expand(raw, env)
        if problem:
            errs.add(path, problem, line)
            return _Node(None, line, "", failed=True)
        if node.style is None:  # a plain scalar takes the type its expanded text spells
            tag = loader.resolve(yaml.ScalarNode, expanded, (True, False))  # type: ignore[no-untyped-call]
            node = yaml.ScalarNode(tag, expanded, node.start_mark, node.end_mark)
        else:
            return _Node(expanded, line, expanded, expanded=True)
        raw = expanded
    try:
        value = loader.construct_object(node)
    except (ValueError, OverflowError) as exc:  # e.g. the date 2023-13-01
        errs.add(path, f"{raw!r} cannot be read: {exc}", line)
        return _Node(None, line, raw, failed=True)
    return _Node(value, line, raw, expanded=from_env)


def _compose(
    text: str, source: str, env: Mapping[str, str], errs: _Errors
) -> tuple[_Node | None, bool]:
    """The located tree of ``text`` and whether it was valid YAML."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return (None if root is None else _to_tree(loader, root, "", env, errs)), True
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot be read"
        errs.add("", f"invalid YAML in {source}: {problem}", mark.line + 1 if mark else None)
    except yaml.YAMLError as exc:
        errs.add("", f"invalid YAML in {source}: {exc}", None)
    except RecursionError:
        errs.add("", f"invalid YAML in {source}: an anchor refers to itself", None)
    finally:
        loader.dispose()
    return None, False


# --- value converters: raise _Invalid(message) -------------------------------------------------


class _Invalid(Exception):
    pass


T = TypeVar("T")
_Conv = Callable[[_Node], T]


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime):
        return "a timestamp"
    if isinstance(value, date):
        return "a date"
    return type(value).__name__


def _str(node: _Node) -> str:
    if isinstance(node.value, str):
        return node.value
    if node.expanded and node.text is not None:  # `${VAR}` whose text YAML would read as 5
        return node.text
    raise _Invalid(f"expected a string, got {_kind(node.value)}")


def _nonempty(node: _Node) -> str:
    value = _str(node)
    if not value.strip():
        raise _Invalid("must not be empty")
    return value


def _ident(node: _Node) -> str:
    """A workspace, channel or application id: a string, or a number written unquoted."""
    if isinstance(node.value, int) and not isinstance(node.value, bool) and node.text:
        return node.text
    return _nonempty(node)


def _opt(conv: _Conv[T]) -> _Conv[T | None]:
    return lambda node: None if node.value is None else conv(node)


def _bool(node: _Node) -> bool:
    if isinstance(node.value, bool):
        return node.value
    raise _Invalid(f"expected true or false, got {_kind(node.value)}")


def _int(minimum: int = 1, maximum: int | None = None) -> _Conv[int]:
    def conv(node: _Node) -> int:
        v = node.value
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise _Invalid(f"expected a whole number, got {_kind(node.value)}")
        if v < minimum or (maximum is not None and v > maximum):
            limit = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise _Invalid(f"{v} is out of range: must be {limit}")
        return v

    return conv


def _choice(*options: str) -> _Conv[str]:
    def conv(node: _Node) -> str:
        if isinstance(node.value, str) and node.value.lower() in options:
            return node.value.lower()
        shown = repr(node.value) if isinstance(node.value, str) else _kind(node.value)
        raise _Invalid(f"expected one of {', '.join(repr(o) for o in options)}, got {shown}")

    return conv


def _str_list(node: _Node) -> tuple[str, ...]:
    if not isinstance(node.value, list):
        raise _Invalid(f"expected a list of strings, got {_kind(node.value)}")
    bad = [item for item in node.value if not isinstance(item.value, str)]
    if bad:
        raise _Invalid(f"expected a list of strings, got a list containing {_kind(bad[0].value)}")
    return tuple(item.value for item in node.value)


def _url(*schemes: str) -> _Conv[str]:
    def conv(node: _Node) -> str:
        value = _str(node).strip()
        parts = urlsplit(value)
        if parts.scheme.lower() not in schemes or not parts.netloc:
            want = " or ".join(f"{s}://" for s in schemes)
            raise _Invalid(f"{value!r} is not a valid URL: expected {want} and a host")
        return value

    return conv


def _url_list(node: _Node) -> tuple[str, ...]:
    items = _str_list(node)
    for item in items:
        _url("http", "https")(_Node(item, node.line))
    return items


def _duration(positive: bool = True) -> _Conv[timedelta]:
    def conv(node: _Node) -> timedelta:
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool) and node.text:
            value = node.text  # so that YAML 1.1 sexagesimal `1:30` is not read as 90
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise _Invalid(f"expected a duration such as '12h', got {_kind(value)}")
        try:
            result = parse_duration(value)
        except ValueError as exc:
            raise _Invalid(str(exc)) from None
        if positive and not result:
            raise _Invalid("must be longer than zero")
        return result

    return conv


def _date(node: _Node) -> date:
    value = node.value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise _Invalid(f"{value!r} is not a date: write YYYY-MM-DD") from None
    raise _Invalid(f"expected a date (YYYY-MM-DD), got {_kind(value)}")


def _timezone(node: _Node) -> str:
    value = _str(node)
    if not validate_timezone(value):
        raise _Invalid(f"{value!r} is not a known IANA timezone")
    return value


def _cron(node: _Node) -> str:
    value = _str(node)
    reason = validate_cron(value)
    if reason:
        raise _Invalid(f"{value!r} is not a valid cron expression: {reason}")
    return value.strip()


def _token_shape(prefix: str, what: str, value: str) -> str | None:
    if value.startswith(prefix):
        return None
    m = re.match(r"[a-z]{3,4}-", value)
    got = f"one starting with {m.group(0)!r}" if m else "a value that is not a Slack token"
    return f"expected a {what} starting with {prefix!r}, got {got}"


def _database_url(node: _Node) -> str:
    value = _str(node).strip()
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme == "postgres":
        return "postgresql" + value[len("postgres") :]
    if scheme in ("postgresql", "sqlite"):
        return value
    got = f"one starting with {scheme + '://'!r}" if scheme else "no URL scheme"
    raise _Invalid(f"expected a sqlite:/// or postgresql:// URL, got {got}")


def _snowflake(node: _Node) -> str:
    value = _ident(node)
    if not value.isdigit():
        raise _Invalid(f"expected a numeric Discord id, got {value!r}")
    return value


def _shards(node: _Node) -> int | Literal["auto"]:
    if isinstance(node.value, str) and node.value.strip().lower() == "auto":
        return "auto"
    if isinstance(node.value, int) and not isinstance(node.value, bool):
        return _int(1)(node)
    raise _Invalid(f"expected a number of shards or 'auto', got {_kind(node.value)}")


def _log_level(node: _Node) -> str:
    value = _str(node).strip().upper()
    if value not in LOG_LEVELS:
        raise _Invalid(f"{node.value!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
    return value


# --- reading sections --------------------------------------------------------------------------


def _keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


class _Section:
    """One mapping being read: reports unknown keys, converts values, collects errors."""

    def __init__(self, errs: _Errors, node: _Node | None, path: str, keys: tuple[str, ...]) -> None:
        self.errs, self.path = errs, path
        self.line = node.line if node is not None else None
        self.items: dict[str, _Node] = {}
        self.key_lines: dict[str, int] = {}
        if node is None or node.value is None:
            return
        if not isinstance(node.value, dict):
            where = "" if path else " at the top level"
            errs.add(path, f"expected a mapping{where}, got {_kind(node.value)}", node.line)
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

    def line_of(self, key: str) -> int | None:
        node = self.items.get(key)
        return node.line if node is not None else self.line

    def get(self, key: str, conv: _Conv[T], default: T) -> T:
        node = self.items.get(key)
        if node is None or node.failed:
            return default
        try:
            return conv(node)
        except _Invalid as exc:
            self.errs.add(self.sub(key), str(exc), node.line)
            return default

    def need(self, key: str, conv: _Conv[T], placeholder: T) -> T:
        if key not in self.items:
            self.errs.add(self.path, f"missing required key {key!r}", self.line)
            return placeholder
        return self.get(key, conv, placeholder)

    def section(self, key: str, cls: type) -> _Section:
        return _Section(self.errs, self.items.get(key), self.sub(key), _keys(cls))

    def env_or_file(self, key: str, var: str, env: Mapping[str, str], conv: _Conv[T]) -> T | None:
        """The file's value for ``key`` when given (even empty), else ``$var``; '' is unset."""
        if key in self.items:
            return self.get(key, _opt(conv), None) or None
        value = env.get(var) or None
        if value is None:
            return None
        try:
            return conv(_Node(value, None, value))
        except _Invalid as exc:
            self.errs.add(self.sub(key), f"{exc} (from the {var} environment variable)", None)
            return None


def _slack(top: _Section, env: Mapping[str, str]) -> SlackSettings | None:
    s = top.section("slack", SlackSettings)
    bot = s.env_or_file("bot_token", "SLACK_BOT_TOKEN", env, _str)
    app = s.env_or_file("app_token", "SLACK_APP_TOKEN", env, _str)
    signing = s.env_or_file("signing_secret", "SLACK_SIGNING_SECRET", env, _str)
    mode = s.get("mode", _opt(_choice("socket", "http")), None)
    api = s.get("api_base_url", _url("http", "https"), "https://slack.com/api/")
    group = s.get("admin_user_group", _opt(_nonempty), None)
    seed = s.get("seed_reactions", _bool, True)
    if bot is None:
        if s.items.get("bot_token", _Node(None, None)).failed:
            s.errs.broken.add("slack")
        elif app or signing:
            s.errs.add(
                s.sub("bot_token"),
                "not set, but other Slack secrets are; set SLACK_BOT_TOKEN or slack.bot_token",
                s.line,
            )
        return None
    for key, var, value, prefix, what in (
        ("bot_token", "SLACK_BOT_TOKEN", bot, "xoxb-", "Slack bot token"),
        ("app_token", "SLACK_APP_TOKEN", app, "xapp-", "Slack app-level token"),
    ):
        problem = _token_shape(prefix, what, value) if value else None
        if problem and s.has(key):
            s.errs.add(s.sub(key), problem, s.line_of(key))
        elif problem:
            s.errs.add(s.sub(key), f"{problem} (from the {var} environment variable)", None)
    mode = mode or ("socket" if app else "http")
    if mode == "socket" and not app:
        msg = "socket mode needs an app-level token (xapp-...); set it or SLACK_APP_TOKEN"
        s.errs.add(s.sub("app_token"), msg, s.line_of("mode"))
    if mode == "http" and not signing:
        msg = "http mode needs the app's signing secret; set it or SLACK_SIGNING_SECRET"
        s.errs.add(s.sub("signing_secret"), msg, s.line_of("mode"))
    return SlackSettings(
        bot_token=bot,
        app_token=app,
        signing_secret=signing,
        mode="socket" if mode == "socket" else "http",
        api_base_url=api if api.endswith("/") else api + "/",
        admin_user_group=group,
        seed_reactions=seed,
    )


def _discord(top: _Section, env: Mapping[str, str]) -> DiscordSettings | None:
    d = top.section("discord", DiscordSettings)
    token = d.env_or_file("token", "DISCORD_TOKEN", env, _str)
    app_id = d.get("application_id", _opt(_snowflake), None)
    api = d.get("api_base_url", _url("http", "https"), "https://discord.com/api/v10")
    gateway = d.get("gateway_url", _opt(_url("ws", "wss")), None)
    guild = d.get("test_guild", _opt(_snowflake), None)
    shards = d.get("shards", _opt(_shards), None)
    seed = d.get("seed_reactions", _bool, True)
    if token is None:
        if d.items.get("token", _Node(None, None)).failed:
            d.errs.broken.add("discord")
        return None
    if token.lower().startswith("bot "):
        line = d.line_of("token") if d.has("token") else None
        d.errs.add(d.sub("token"), "write the token without the 'Bot ' prefix", line)
    return DiscordSettings(
        token=token,
        application_id=app_id,
        api_base_url=api.rstrip("/"),
        gateway_url=gateway,
        test_guild=int(guild) if guild else None,
        shards=shards,
        seed_reactions=seed,
    )


def _platform_problem(platform: str, settings: Settings) -> str | None:
    if platform == "slack" and settings.slack is None:
        return "'slack' is not configured: set slack.bot_token or SLACK_BOT_TOKEN"
    if platform == "discord" and settings.discord is None:
        return "'discord' is not configured: set discord.token or DISCORD_TOKEN"
    if platform == "terminal" and settings.terminal.enabled is False:
        return "'terminal' is disabled (terminal.enabled is false)"
    return None


def _channel(sec: _Section, terminal: TerminalSettings) -> tuple[str, str, str]:
    platform = sec.need("platform", _choice(*PLATFORMS), "")
    if platform in ("terminal", ""):  # "": already reported; do not pile on more errors
        workspace = sec.get("workspace", _ident, terminal.workspace)
        channel = sec.get("channel", _ident, terminal.channel)
    else:
        workspace = sec.need("workspace", _ident, "")
        channel = sec.need("channel", _ident, "")
    return platform, workspace, channel


def _subscriptions(
    top: _Section, timezone: str, terminal: TerminalSettings
) -> list[tuple[int, _Section, SubscriptionSettings]]:
    node = top.items.get("subscriptions")
    if node is None or node.value is None:
        return []
    if not isinstance(node.value, list):
        top.errs.add("subscriptions", f"expected a list, got {_kind(node.value)}", node.line)
        return []
    out: list[tuple[int, _Section, SubscriptionSettings]] = []
    for i, item in enumerate(node.value):
        sec = _Section(top.errs, item, f"subscriptions[{i}]", _keys(SubscriptionSettings))
        if not isinstance(item.value, dict):
            continue
        platform, workspace, channel = _channel(sec, terminal)
        cron = sec.need("cron", _cron, "")
        tz = sec.get("timezone", _timezone, timezone)
        kind = sec.get("kind", _choice("curated", "community"), "curated")
        community = kind == "community"
        sub = SubscriptionSettings(
            platform, workspace, channel, cron, tz, "community" if community else "curated"
        )
        out.append((i, sec, sub))
    return out


def _check_channels(
    settings: Settings, subs: list[tuple[int, _Section, SubscriptionSettings]], admin: _Section
) -> None:
    """Platforms referenced must be configured, and one subscription per channel."""
    seen: dict[ChannelRef, int] = {}
    refs = [(sec, sub.channel_ref) for _, sec, sub in subs]
    if settings.admin_channel is not None:
        refs.append((admin, settings.admin_channel))
    for sec, ref in refs:
        problem = _platform_problem(ref.platform, settings)
        if problem and ref.platform not in sec.errs.broken:
            sec.errs.add(sec.sub("platform"), problem, sec.line_of("platform"))
    for i, sec, sub in subs:
        ref = sub.channel_ref
        if ref in seen and sub.channel and sub.platform:
            msg = f"duplicate of subscriptions[{seen[ref]}] ({ref}): one subscription per channel"
            sec.errs.add(sec.path, msg, sec.line)
        seen.setdefault(ref, i)


# --- building Settings -------------------------------------------------------------------------


def _build(root: _Node | None, env: Mapping[str, str], errs: _Errors) -> Settings:
    top = _Section(errs, root, "", _keys(Settings))
    s, ds = top.section("sources", SourcesSettings), SourcesSettings()
    sources = SourcesSettings(
        paths=s.get("paths", _str_list, ds.paths),
        urls=s.get("urls", _url_list, ()),
        refresh_interval=s.get("refresh_interval", _duration(), ds.refresh_interval),
        cache_dir=s.get("cache_dir", _nonempty, ds.cache_dir),
        default_date=s.get("default_date", _opt(_date), None),
    )
    st = top.section("store", StoreSettings)
    db_url = st.env_or_file("url", "DATABASE_URL", env, _database_url) or DEFAULT_DATABASE_URL
    timezone = top.get("timezone", _timezone, "UTC")
    sc = top.section("scheduler", SchedulerSettings)
    scheduler = SchedulerSettings(
        grace=sc.get("grace", _duration(positive=False), timedelta(hours=12)),
        stalled_after_weeks=sc.get("stalled_after_weeks", _int(), 2),
        community_window_days=sc.get("community_window_days", _int(), 7),
    )
    dg = top.section("digest", DigestSettings)
    digest = DigestSettings(
        summary_length=dg.get("summary_length", _int(), 280),
        bullets=dg.get("bullets", _bool, True),
        links=dg.get("links", _str_list, DigestSettings().links),
        seed_reactions=dg.get("seed_reactions", _bool, True),
        max_papers=dg.get("max_papers", _int(), 10),
    )
    vs = top.section("votes", VoteSettings)
    votes = VoteSettings(
        emoji=vs.get("emoji", _str_list, KEYCAP_EMOJI),
        allow_thumbs_up=vs.get("allow_thumbs_up", _bool, True),
    )
    if not votes.emoji or len(set(votes.emoji)) != len(votes.emoji):
        errs.add("votes.emoji", "must be a non-empty list without repeats", vs.line_of("emoji"))
    elif digest.max_papers > len(votes.emoji):
        msg = f"{digest.max_papers} papers but only {len(votes.emoji)} vote emoji in votes.emoji"
        errs.add("digest.max_papers", msg, dg.line_of("max_papers"))
    tm = top.section("terminal", TerminalSettings)
    terminal = TerminalSettings(
        enabled=tm.get("enabled", _opt(_bool), None),
        workspace=tm.get("workspace", _ident, "local"),
        channel=tm.get("channel", _ident, "terminal"),
        color=tm.get("color", _opt(_bool), None),
    )
    hp = top.section("http", HttpSettings)
    http = HttpSettings(
        host=hp.get("host", _nonempty, "127.0.0.1"),
        port=hp.env_or_file("port", "PORT", env, _int(0, 65535)) or 8080,
        enabled=hp.get("enabled", _bool, True),
    )
    admin = top.section("admin_channel", ChannelRef)
    admin_ref = ChannelRef(*_channel(admin, terminal)) if admin.items else None
    subs = _subscriptions(top, timezone, terminal)
    settings = Settings(
        sources=sources,
        store=StoreSettings(db_url),
        timezone=timezone,
        admin_channel=admin_ref,
        scheduler=scheduler,
        digest=digest,
        votes=votes,
        slack=_slack(top, env),
        discord=_discord(top, env),
        terminal=terminal,
        http=http,
        subscriptions=tuple(sub for _, _, sub in subs),
        log_level=top.get("log_level", _log_level, "INFO"),
        log_format="json"
        if top.get("log_format", _choice("text", "json"), "") == "json"
        else "text",
    )
    _check_channels(settings, subs, admin)
    if settings.slack and settings.slack.mode == "http" and not http.enabled:
        msg = "must be true when Slack runs in http mode (events arrive over HTTP)"
        errs.add("http.enabled", msg, hp.line_of("enabled"))
    return settings


def parse_config(
    text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Settings:
    """Validate YAML text into Settings; raises ConfigErrors listing every mistake."""
    environ = os.environ if env is None else env
    errs = _Errors()
    root, composed = _compose(text, source, environ, errs)
    settings = _build(root, environ, errs) if composed else None
    if errs.items or settings is None:
        raise ConfigErrors(sorted(errs.items, key=lambda e: e.line or 0))
    return settings


def load_config(path: str | Path | None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Load a config file. With ``path`` None, ``paperboy.yaml`` in the working directory is
    used if it exists, else the defaults (plus environment fallbacks)."""
    if path is None:
        path = Path(DEFAULT_CONFIG_FILE)
        if not path.is_file():
            return parse_config("", source="<defaults>", env=env)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigErrors([ConfigError("", f"config file {str(path)!r} not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read config file {str(path)!r}: {exc}"
        raise ConfigErrors([ConfigError("", msg)]) from exc
    return parse_config(text, source=str(path), env=env)


# --- describing ------------------------------------------------------------------------------

_SECRET_FIELDS = frozenset({"bot_token", "app_token", "signing_secret", "token"})


def _mask(name: str, value: object) -> str:
    if isinstance(value, str) and name in _SECRET_FIELDS:
        m = re.match(r"[a-z]{3,4}-", value)
        return (m.group(0) if m else "") + "****"
    if isinstance(value, str) and name == "url" and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
            return parts._replace(netloc=netloc).geturl()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if value is None:
        return "(auto)" if name in ("enabled", "color") else "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_settings(settings: Settings) -> str:
    """A readable dump of the settings, secrets masked (for ``paperboy check``)."""
    lines: list[str] = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name == "subscriptions":
            lines.append(f"subscriptions: {len(value) or '(none)'}")
            for sub in value:
                lines.append(f"  - {sub.channel_ref} {sub.kind} at {sub.cron!r} {sub.timezone}")
        elif f.name in ("slack", "discord") and value is None:
            lines.append(f"{f.name}: not configured")
        elif is_dataclass(value) and not isinstance(value, ChannelRef):
            lines.append(f"{f.name}:")
            lines.extend(
                f"  {g.name}: {_mask(g.name, getattr(value, g.name))}" for g in fields(value)
            )
        else:
            lines.append(f"{f.name}: {_mask(f.name, value)}")
    if settings.terminal.enabled is None:
        lines.append(f"(terminal {'on' if settings.terminal_enabled else 'off'})")
    return "\n".join(lines)
