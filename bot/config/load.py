"""Configuration: YAML with ``${ENV}`` references -> validated, frozen :class:`Settings`.

Every key is optional; an empty or missing file gives a bot that runs in the terminal on SQLite
with the shipped ``digests/``. Secrets come from the environment (``${SLACK_BOT_TOKEN}`` in the
file, or the plain environment variable when the file leaves the key out). All mistakes are
collected and raised together as :class:`ConfigErrors`, each located by key path and line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import timedelta
from pathlib import Path

from bot.config.checks import format_duration
from bot.config.platforms import read_discord, read_slack
from bot.config.read import (
    Section,
    field_names,
    optional,
    to_bool,
    to_choice,
    to_cron,
    to_database_url,
    to_date,
    to_duration,
    to_ident,
    to_int,
    to_log_level,
    to_nonempty,
    to_str_list,
    to_timezone,
    to_url,
    to_url_list,
    token_prefix,
)
from bot.config.settings import (
    DEFAULT_CONFIG_FILE,
    DEFAULT_CRON,
    DEFAULT_DATABASE_URL,
    KEYCAP_EMOJI,
    PLATFORMS,
    ArxivSettings,
    DigestSettings,
    DiscordSettings,
    HttpSettings,
    SchedulerSettings,
    Settings,
    SlackSettings,
    SourcesSettings,
    StoreSettings,
    SubscriptionSettings,
    TerminalSettings,
    VoteSettings,
    WebSettings,
)
from bot.config.yaml import ErrorLog, Node, compose, kind_of
from bot.core.errors import ConfigError
from bot.core.messages import ChannelRef
from bot.core.text import mask_url
from bot.papers.sources.guard import HoldBack
from bot.papers.sources.limits import MB, SourceLimits


class ConfigErrors(ConfigError):
    """Several configuration mistakes at once; ``str()`` gives one line per error."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.key_path, first.message, first.line)
        self.errors = errors
        self.args = ("\n".join(str(e) for e in errors),)


# --- platform and channel sections -----------------------------------------------------------


def _platform_problem(platform: str, settings: Settings) -> str | None:
    if platform == "slack" and settings.slack is None:
        return "'slack' is not configured: set slack.bot_token or SLACK_BOT_TOKEN"
    if platform == "discord" and settings.discord is None:
        return "'discord' is not configured: set discord.token or DISCORD_TOKEN"
    if platform == "terminal" and settings.terminal.enabled is False:
        return "'terminal' is disabled (terminal.enabled is false)"
    return None


def _channel(sec: Section, terminal: TerminalSettings) -> tuple[str, str, str]:
    platform = sec.need("platform", to_choice(*PLATFORMS), "")
    if platform in ("terminal", ""):  # "": already reported; do not pile on more errors
        workspace = sec.get("workspace", to_ident, terminal.workspace)
        channel = sec.get("channel", to_ident, terminal.channel)
    else:
        workspace = sec.need("workspace", to_ident, "")
        channel = sec.need("channel", to_ident, "")
    return platform, workspace, channel


def _subscriptions(
    top: Section, timezone: str, terminal: TerminalSettings
) -> list[tuple[int, Section, SubscriptionSettings]]:
    node = top.items.get("subscriptions")
    if node is None or node.value is None:
        return []
    if not isinstance(node.value, list):
        top.errs.add("subscriptions", f"expected a list, got {kind_of(node.value)}", node.line)
        return []
    out: list[tuple[int, Section, SubscriptionSettings]] = []
    for i, item in enumerate(node.value):
        sec = Section(top.errs, item, f"subscriptions[{i}]", field_names(SubscriptionSettings))
        if not isinstance(item.value, dict):
            continue
        platform, workspace, channel = _channel(sec, terminal)
        cron = sec.get("cron", to_cron, DEFAULT_CRON)
        tz = sec.get("timezone", to_timezone, timezone)
        kind = sec.get("kind", to_choice("curated", "community"), "curated")
        community = kind == "community"
        sub = SubscriptionSettings(
            platform, workspace, channel, cron, tz, "community" if community else "curated"
        )
        out.append((i, sec, sub))
    return out


def _check_channels(
    settings: Settings, subs: list[tuple[int, Section, SubscriptionSettings]], admin: Section
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


# --- the other sections, one reader each ---------------------------------------------------


def _sources(s: Section) -> SourcesSettings:
    default = SourcesSettings()
    return SourcesSettings(
        paths=s.get("paths", to_str_list, default.paths),
        urls=s.get("urls", to_url_list, ()),
        refresh_interval=s.get("refresh_interval", to_duration(), default.refresh_interval),
        cache_dir=s.get("cache_dir", to_nonempty, default.cache_dir),
        default_date=s.get("default_date", optional(to_date), None),
        limits=_limits(s),
        hold_back=_hold_back(s.section("hold_back", HoldBack)),
    )


_LIMIT_KEYS = (
    "max_document_mb",
    "max_title_chars",
    "max_links_per_row",
    "max_rows_per_week",
    "min_rows_per_week",
    "max_index_files",
)


def _limits(sources: Section) -> SourceLimits:
    s = Section(sources.errs, sources.items.get("limits"), sources.sub("limits"), _LIMIT_KEYS)
    d = SourceLimits()
    return SourceLimits(
        max_document_bytes=s.get("max_document_mb", to_int(), d.max_document_bytes // MB) * MB,
        max_title_chars=s.get("max_title_chars", to_int(20), d.max_title_chars),
        max_links_per_row=s.get("max_links_per_row", to_int(), d.max_links_per_row),
        max_rows_per_week=s.get("max_rows_per_week", to_int(), d.max_rows_per_week),
        min_rows_per_week=s.get("min_rows_per_week", to_int(0), d.min_rows_per_week),
        max_index_files=s.get("max_index_files", to_int(), d.max_index_files),
    )


def _hold_back(s: Section) -> HoldBack:
    d = HoldBack()
    return HoldBack(
        max_lost_percent=s.get("max_lost_percent", to_int(0, 100), d.max_lost_percent),
        accept_after=s.get("accept_after", to_int(), d.accept_after),
    )


def _store(s: Section, env: Mapping[str, str]) -> StoreSettings:
    url = s.env_or_file("url", "DATABASE_URL", env, to_database_url)
    return StoreSettings(url or DEFAULT_DATABASE_URL)


def _scheduler(s: Section) -> SchedulerSettings:
    default = SchedulerSettings()
    settings = SchedulerSettings(
        grace=s.get("grace", to_duration(positive=False), timedelta(hours=12)),
        stalled_after_weeks=s.get("stalled_after_weeks", to_int(), 2),
        community_window_days=s.get("community_window_days", to_int(), 7),
        leader_poll=s.get("leader_poll", to_duration(), default.leader_poll),
        lease_ttl=s.get("lease_ttl", to_duration(), default.lease_ttl),
    )
    if settings.lease_ttl < 2 * settings.leader_poll:
        msg = "must be at least twice scheduler.leader_poll, so the leader renews it in time"
        s.errs.add("scheduler.lease_ttl", msg, s.line_of("lease_ttl"))
    return settings


def _digest(s: Section) -> DigestSettings:
    return DigestSettings(
        summary_length=s.get("summary_length", to_int(), 280),
        bullets=s.get("bullets", to_bool, True),
        links=s.get("links", to_str_list, DigestSettings().links),
        seed_reactions=s.get("seed_reactions", to_bool, True),
        max_papers=s.get("max_papers", to_int(), 10),
    )


def _votes(s: Section) -> VoteSettings:
    return VoteSettings(
        emoji=s.get("emoji", to_str_list, KEYCAP_EMOJI),
        allow_thumbs_up=s.get("allow_thumbs_up", to_bool, True),
        window=s.get("window", to_duration(), VoteSettings().window),
        share_ttl=s.get("share_ttl", to_duration(), VoteSettings().share_ttl),
    )


def _check_vote_emoji(
    votes: VoteSettings, vs: Section, digest: DigestSettings, dg: Section
) -> None:
    """Distinct vote emoji, at least one for each paper a digest may post. The key the file
    gives is blamed (votes.emoji when both are given: the list is the longer thing to get
    wrong)."""
    if not votes.emoji or len(set(votes.emoji)) != len(votes.emoji):
        vs.errs.add("votes.emoji", "must be a non-empty list without repeats", vs.line_of("emoji"))
        return
    papers, emoji = digest.max_papers, len(votes.emoji)
    if papers <= emoji:
        return
    if vs.has("emoji") or not dg.has("max_papers"):
        msg = (
            f"{emoji} emoji, but a digest posts up to {papers} papers (digest.max_papers): "
            f"give one emoji per rank, or lower digest.max_papers to {emoji}"
        )
        vs.errs.add("votes.emoji", msg, vs.line_of("emoji"))
    else:
        msg = f"{papers} papers, but votes.emoji has only {emoji} emoji: at most {emoji}"
        dg.errs.add("digest.max_papers", msg, dg.line_of("max_papers"))


def _terminal(s: Section) -> TerminalSettings:
    return TerminalSettings(
        enabled=s.get("enabled", optional(to_bool), None),
        workspace=s.get("workspace", to_ident, "local"),
        channel=s.get("channel", to_ident, "terminal"),
        color=s.get("color", optional(to_bool), None),
    )


def _http(s: Section, env: Mapping[str, str]) -> HttpSettings:
    port = s.env_or_file("port", "PORT", env, to_int(0, 65535))
    return HttpSettings(
        host=s.get("host", to_nonempty, "127.0.0.1"),
        port=8080 if port is None else port,  # 0: any free port
        enabled=s.get("enabled", to_bool, True),
    )


def _web(s: Section) -> WebSettings:
    base = s.get("base_url", optional(to_url("http", "https")), None)
    return WebSettings(
        enabled=s.get("enabled", to_bool, False),
        base_url=base.rstrip("/") if base else None,
        cache_seconds=s.get("cache_seconds", to_int(0, 3600), 10),
    )


def _arxiv(s: Section) -> ArxivSettings:
    d = ArxivSettings()
    return ArxivSettings(
        enabled=s.get("enabled", to_bool, d.enabled),
        api_base_url=s.get("api_base_url", to_url("http", "https"), d.api_base_url),
        refresh_after=s.get("refresh_after", to_duration(), d.refresh_after),
    )


def _check_http(settings: Settings, hp: Section) -> None:
    if settings.slack and settings.slack.mode == "http" and not settings.http.enabled:
        msg = "must be true when Slack runs in http mode (events arrive over HTTP)"
        hp.errs.add("http.enabled", msg, hp.line_of("enabled"))
    elif settings.web.enabled and not settings.http.enabled:
        msg = "must be true when web.enabled is (the web pages are served by the HTTP server)"
        hp.errs.add("http.enabled", msg, hp.line_of("enabled"))


# --- building Settings -------------------------------------------------------------------------


def _build(root: Node | None, env: Mapping[str, str], errs: ErrorLog) -> Settings:
    """Read every section in a fixed order (errors on one line keep that order), then check
    what spans sections."""
    top = Section(errs, root, "", field_names(Settings))
    sources = _sources(top.section("sources", SourcesSettings))
    store = _store(top.section("store", StoreSettings), env)
    timezone = top.get("timezone", to_timezone, "UTC")
    scheduler = _scheduler(top.section("scheduler", SchedulerSettings))
    dg = top.section("digest", DigestSettings)
    digest = _digest(dg)
    vs = top.section("votes", VoteSettings)
    votes = _votes(vs)
    _check_vote_emoji(votes, vs, digest, dg)
    terminal = _terminal(top.section("terminal", TerminalSettings))
    hp = top.section("http", HttpSettings)
    http = _http(hp, env)
    web = _web(top.section("web", WebSettings))
    arxiv = _arxiv(top.section("arxiv", ArxivSettings))
    admin = top.section("admin_channel", ChannelRef)
    admin_ref = ChannelRef(*_channel(admin, terminal)) if admin.items else None
    subs = _subscriptions(top, timezone, terminal)
    ds = top.section("discord", DiscordSettings)
    settings = Settings(
        sources=sources,
        store=store,
        timezone=timezone,
        admin_channel=admin_ref,
        scheduler=scheduler,
        digest=digest,
        votes=votes,
        slack=read_slack(top.section("slack", SlackSettings), env),
        discord=read_discord(ds, env),
        terminal=terminal,
        http=http,
        web=web,
        arxiv=arxiv,
        subscriptions=tuple(sub for _, _, sub in subs),
        log_level=top.get("log_level", to_log_level, "INFO"),
        clock_offset=top.get("clock_offset", to_duration(positive=False), timedelta(0)),
        log_format="json"
        if top.get("log_format", to_choice("text", "json"), "") == "json"
        else "text",
    )
    _check_channels(settings, subs, admin)
    _check_http(settings, hp)
    _check_shard_leases(settings, ds)
    return settings


def _check_shard_leases(settings: Settings, ds: Section) -> None:
    """Replicas share shards through one database's leases: SQLite is one process's file."""
    d = settings.discord
    if d is None or not d.lease_shards or settings.store.url.startswith("postgresql://"):
        return
    msg = "replicas share shards through PostgreSQL leases; store.url is not a PostgreSQL URL"
    ds.errs.add(ds.sub("lease_shards"), msg, ds.line_of("lease_shards"))


def parse_config(
    text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Settings:
    """Validate YAML text into Settings; raises ConfigErrors listing every mistake."""
    environ = os.environ if env is None else env
    errs = ErrorLog()
    root, composed = compose(text, source, environ, errs)
    settings = _build(root, environ, errs) if composed else None
    if errs.items or settings is None:
        raise ConfigErrors(sorted(errs.items, key=lambda e: e.line or 0))
    return settings


def config_path(path: str | Path | None) -> Path | None:
    """The file ``load_config(path)`` reads: ``path`` itself, else ``paperboy.yaml`` in the
    working directory when there is one (anything by that name counts, so that a directory is
    reported rather than skipped), else None (the defaults)."""
    if path is not None:
        return Path(path)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def load_config(path: str | Path | None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Load a config file. With ``path`` None, ``paperboy.yaml`` in the working directory is
    used if it exists, else the defaults (plus environment fallbacks)."""
    path = config_path(path)
    if path is None:
        return parse_config("", source="<defaults>", env=env)
    if path.is_dir():
        msg = f"config file {str(path)!r} is a directory; give a YAML file"
        raise ConfigErrors([ConfigError("", msg)])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigErrors([ConfigError("", f"config file {str(path)!r} not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read config file {str(path)!r}: {exc}"
        raise ConfigErrors([ConfigError("", msg)]) from exc
    return parse_config(text, source=str(path), env=env)


# --- describing ------------------------------------------------------------------------------

_SECRET_FIELDS = frozenset({"bot_token", "app_token", "signing_secret", "token", "client_secret"})


def _mask(name: str, value: object) -> str:
    if is_dataclass(value) and not isinstance(value, type):
        inner = (f"{g.name}={_mask(g.name, getattr(value, g.name))}" for g in fields(value))
        return ", ".join(inner)
    if isinstance(value, str) and name in _SECRET_FIELDS:
        return token_prefix(value) + "****"
    if isinstance(value, str) and name == "url" and "://" in value:
        return mask_url(value, "****")
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
