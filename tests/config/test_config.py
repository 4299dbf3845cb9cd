"""Configuration: YAML + ${ENV} -> frozen Settings, and the exact text of every mistake."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from support.paths import FIXTURES as FIXTURES_ROOT
from support.paths import REPO

from bot.config.checks import format_duration, parse_duration, validate_cron, validate_timezone
from bot.config.load import ConfigErrors, describe_settings, load_config, parse_config
from bot.config.settings import DEFAULT_DATABASE_URL, KEYCAP_EMOJI, Settings, WebSettings
from bot.core.errors import ConfigError
from bot.core.messages import ChannelRef
from bot.storage.records import Subscription

FIXTURES = FIXTURES_ROOT / "config"

SLACK_ENV = {"SLACK_BOT_TOKEN": "xoxb-1-test", "SLACK_SIGNING_SECRET": "not-so-secret"}


def cfg(text: str) -> str:
    """Inline YAML with the first line of the literal as line 1."""
    return text.removeprefix("\n")


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(cfg(text), env=env or {})
    return str(info.value)


# --- defaults and loading ----------------------------------------------------------------------


def test_empty_text_gives_the_defaults() -> None:
    settings = parse_config("", env={})
    assert settings == Settings()
    assert settings.sources.paths == ("digests",)
    assert settings.sources.refresh_interval == timedelta(hours=6)
    assert settings.store.url == "sqlite:///.paperboy/paperboy.db"
    assert settings.scheduler.grace == timedelta(hours=12)
    assert settings.votes.emoji == KEYCAP_EMOJI and len(KEYCAP_EMOJI) == 10
    assert settings.slack is None and settings.discord is None
    assert settings.terminal_enabled
    assert settings.http.port == 8080
    assert settings.subscriptions == ()


def test_no_path_and_no_default_file_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(None, env={}) == Settings()


def test_no_path_reads_paperboy_yaml_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paperboy.yaml").write_text("timezone: Asia/Tokyo\n", encoding="utf-8")
    assert load_config(None, env={}).timezone == "Asia/Tokyo"


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="not found"):
        load_config(missing, env={})


def test_defaults_take_secrets_and_urls_from_the_environment() -> None:
    env = {
        **SLACK_ENV,
        "DISCORD_TOKEN": "abc.def.ghi",
        "DATABASE_URL": "postgres://paperboy:pw@db.example.com:5432/papers",
        "PORT": "5005",
    }
    settings = parse_config("", env=env)
    assert settings.slack is not None and settings.slack.bot_token == "xoxb-1-test"
    assert settings.slack.mode == "http"
    assert settings.discord is not None and settings.discord.token == "abc.def.ghi"
    # Heroku's postgres:// scheme is accepted and normalised.
    assert settings.store.url == "postgresql://paperboy:pw@db.example.com:5432/papers"
    assert settings.http.port == 5005
    assert not settings.terminal_enabled


def test_the_file_wins_over_the_environment_fallback() -> None:
    text = "store:\n  url: sqlite:///other.db\nhttp:\n  port: 9000\n"
    settings = parse_config(text, env={"DATABASE_URL": "postgresql://x/y", "PORT": "1"})
    assert settings.store.url == "sqlite:///other.db"
    assert settings.http.port == 9000


def test_a_complete_file() -> None:
    env = {**SLACK_ENV, "DISCORD_TOKEN": "abc.def.ghi", "DATABASE_URL": "sqlite:///t.db"}
    s = load_config(FIXTURES / "full.yaml", env=env)
    assert s.sources.paths == ("digests", "extra/notes.md")
    assert s.sources.refresh_interval == timedelta(hours=1, minutes=30)
    assert s.sources.default_date == date(2023, 1, 16)
    assert s.store.url == "sqlite:///t.db"
    assert s.admin_channel == ChannelRef("slack", "T0001", "C0ADMIN")
    assert s.scheduler.grace == timedelta(hours=2)
    assert (s.scheduler.leader_poll, s.scheduler.lease_ttl) == (
        timedelta(seconds=2),
        timedelta(seconds=20),
    )
    assert s.digest.links == ("Paper", "Code") and s.digest.max_papers == 5
    assert s.slack is not None
    assert s.slack.api_base_url == "http://127.0.0.1:9999/api/"  # slack_sdk wants the slash
    assert s.slack.admin_user_group == "S0ADMINS" and not s.slack.seed_reactions
    assert (s.slack.reaction_calls, s.slack.reaction_period) == (100, timedelta(seconds=30))
    assert (s.votes.window, s.votes.share_ttl) == (timedelta(days=14), timedelta(hours=2))
    assert s.discord is not None
    assert s.discord.application_id == "111111111111111111"
    assert s.discord.api_base_url == "http://127.0.0.1:9998/api/v10"
    assert s.discord.gateway_url == "ws://127.0.0.1:9997/"
    assert s.discord.test_guild == 222222222222222222
    assert s.discord.shards == "auto"
    assert s.terminal.enabled is False and not s.terminal_enabled
    assert (s.http.host, s.http.port) == ("0.0.0.0", 3000)
    assert s.web == WebSettings(True, "https://papers.example.org", 0)  # no trailing slash
    assert s.web_base_url == "https://papers.example.org"
    assert s.log_level == "DEBUG" and s.log_format == "json"
    slack_sub, discord_sub = s.subscriptions
    assert slack_sub.timezone == "Europe/Berlin"  # the top-level default
    assert slack_sub.kind == "curated"
    assert discord_sub.channel_ref == ChannelRef(
        "discord", "222222222222222222", "333333333333333333"
    )
    assert discord_sub.to_subscription() == Subscription(
        discord_sub.channel_ref, "@weekly", "America/New_York", "community"
    )


def test_settings_are_frozen() -> None:
    settings = parse_config("", env=SLACK_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.timezone = "Europe/Paris"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.http.port = 1  # type: ignore[misc]
    assert settings.slack is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.slack.bot_token = "xoxb-other"  # type: ignore[misc]


def test_slack_defaults_to_socket_mode_with_an_app_token() -> None:
    settings = parse_config("", env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert settings.slack is not None and settings.slack.mode == "socket"


def test_terminal_subscriptions_default_to_the_terminal_channel() -> None:
    text = cfg("""
terminal:
  workspace: desk
subscriptions:
  - platform: terminal
    cron: "0 9 * * 1"
""")
    (sub,) = parse_config(text, env={}).subscriptions
    assert (sub.workspace, sub.channel, sub.timezone) == ("desk", "terminal", "UTC")


def test_loading_does_not_touch_the_global_safe_loader() -> None:
    constructors = dict(yaml.SafeLoader.yaml_constructors)
    resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    parse_config(cfg("timezone: ${TZ_NAME:-UTC}\nsources:\n  urls: []\n"), env={})
    assert yaml.SafeLoader.yaml_constructors == constructors
    assert {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()} == resolvers


# --- environment expansion ---------------------------------------------------------------------


def test_env_expansion_with_defaults_and_escapes() -> None:
    text = cfg("""
timezone: ${TZ_NAME:-Europe/Paris}
terminal:
  workspace: ${DESK}
  channel: "price-$$5-${SUFFIX:-x}"
http:
  port: ${APP_PORT}
  enabled: ${HTTP_ON:-false}
""")
    settings = parse_config(text, env={"DESK": "my-desk", "APP_PORT": "7000", "SUFFIX": ""})
    assert settings.timezone == "Europe/Paris"
    assert settings.terminal.workspace == "my-desk"
    assert settings.terminal.channel == "price-$5-x"  # ':-' also covers a variable set to ''
    assert settings.http.port == 7000  # a plain scalar takes the type of its expanded text
    assert settings.http.enabled is False


def test_env_values_that_look_like_numbers_stay_strings_in_string_fields() -> None:
    settings = parse_config("terminal:\n  channel: ${CH}\n", env={"CH": "0123"})
    assert settings.terminal.channel == "0123"


def test_missing_env_var() -> None:
    text = """
slack:
  bot_token: ${SLACK_BOT_TOKEN}
"""
    assert error_of(text) == (
        "slack.bot_token: environment variable SLACK_BOT_TOKEN is not set "
        "(set it, or give a default with ${SLACK_BOT_TOKEN:-default}) (line 2)"
    )


def test_malformed_env_reference() -> None:
    assert error_of("timezone: ${TZ\n") == (
        "timezone: malformed ${...} reference; write ${NAME} or ${NAME:-default} (line 1)"
    )


# --- one test per kind of mistake --------------------------------------------------------------


def test_bad_timezone_names_key_path_and_line() -> None:
    text = """
subscriptions:
  - platform: terminal
    channel: a
    cron: "0 9 * * 1"
  - platform: terminal
    channel: b
    cron: "0 9 * * 1"
    timezone: Europe/Londn
"""
    assert error_of(text) == (
        "subscriptions[1].timezone: 'Europe/Londn' is not a known IANA timezone (line 8)"
    )


def test_bad_cron() -> None:
    text = """
subscriptions:
  - platform: terminal
    cron: "61 * * * *"
"""
    assert error_of(text) == (
        "subscriptions[0].cron: '61 * * * *' is not a valid cron expression: "
        "minute 61 is out of range 0-59 (line 3)"
    )


def test_six_field_cron() -> None:
    text = """
subscriptions:
  - platform: terminal
    cron: "0 0 9 * * 1"
"""
    assert error_of(text) == (
        "subscriptions[0].cron: '0 0 9 * * 1' is not a valid cron expression: expected 5 fields "
        "(minute hour day-of-month month day-of-week), got 6; seconds and year fields are not "
        "supported (line 3)"
    )


def test_step_from_the_field_maximum() -> None:
    text = """
subscriptions:
  - platform: terminal
    cron: "59/15 * * * *"
"""
    assert error_of(text) == (
        "subscriptions[0].cron: '59/15 * * * *' is not a valid cron expression: minute '59/15' "
        "steps from a single value, which cron versions read differently; write '59' or '*/15' "
        "(line 3)"
    )


def test_unknown_key_suggests_the_closest() -> None:
    text = """
slack:
  bot_tokn: xoxb-1
"""
    assert error_of(text) == "slack.bot_tokn: unknown key; did you mean 'bot_token'? (line 2)"


def test_unknown_key_without_a_close_match_lists_the_known_ones() -> None:
    assert error_of("http:\n  banana: 1\n") == (
        "http.banana: unknown key; known keys: host, port, enabled (line 2)"
    )


def test_wrong_type() -> None:
    text = """
sources:
  paths: 42
"""
    assert error_of(text) == "sources.paths: expected a list of strings, got a number (line 2)"


def test_wrong_type_inside_a_list_and_for_a_bool() -> None:
    assert error_of("digest:\n  links: [Paper, 3]\n") == (
        "digest.links: expected a list of strings, got a list containing a number (line 2)"
    )
    assert error_of("digest:\n  bullets: maybe\n") == (
        "digest.bullets: expected true or false, got a string (line 2)"
    )


def test_bad_url() -> None:
    text = """
sources:
  urls:
    - ftp://example.com/papers.md
"""
    assert error_of(text) == (
        "sources.urls: 'ftp://example.com/papers.md' is not a valid URL: "
        "expected http:// or https:// and a host (line 3)"
    )


def test_bad_duration() -> None:
    text = """
scheduler:
  grace: half a day
"""
    assert error_of(text) == (
        "scheduler.grace: 'half a day' is not a valid duration: use seconds or units like "
        "'90s', '30m', '12h', '2d', '1h30m' (line 2)"
    )


def test_a_lease_must_outlast_two_polls() -> None:
    text = """
scheduler:
  leader_poll: 10s
  lease_ttl: 15s
"""
    assert error_of(text) == (
        "scheduler.lease_ttl: must be at least twice scheduler.leader_poll, so the leader "
        "renews it in time (line 3)"
    )
    defaults = parse_config("", source="t.yaml", env={}).scheduler
    assert (defaults.leader_poll, defaults.lease_ttl) == (
        timedelta(seconds=5),
        timedelta(seconds=30),
    )


def test_bad_token_prefix_does_not_echo_the_secret() -> None:
    env = {**SLACK_ENV, "SLACK_BOT_TOKEN": "xoxp-user-secret-123"}
    message = error_of("", env=env)
    assert message == (
        "slack.bot_token: expected a Slack bot token starting with 'xoxb-', got one starting "
        "with 'xoxp-' (from the SLACK_BOT_TOKEN environment variable)"
    )
    assert "secret-123" not in message
    text = """
slack:
  bot_token: ${BOT}
  app_token: ${APP}
  mode: socket
"""
    message = error_of(text, env={"BOT": "xoxb-1", "APP": "hunter2-app-token"})
    assert message == (
        "slack.app_token: expected a Slack app-level token starting with 'xapp-', "
        "got a value that is not a Slack token (line 3)"
    )
    assert "hunter2" not in message


def test_http_mode_needs_a_signing_secret() -> None:
    text = """
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  mode: http
"""
    assert error_of(text, env={"SLACK_BOT_TOKEN": "xoxb-1"}) == (
        "slack.signing_secret: http mode needs the app's signing secret; "
        "set it or SLACK_SIGNING_SECRET (line 3)"
    )


def test_subscription_for_an_unconfigured_platform() -> None:
    text = """
subscriptions:
  - platform: slack
    workspace: T0001
    channel: C0001
    cron: "0 9 * * 1"
"""
    assert error_of(text) == (
        "subscriptions[0].platform: 'slack' is not configured: "
        "set slack.bot_token or SLACK_BOT_TOKEN (line 2)"
    )


def test_duplicate_subscription() -> None:
    text = """
subscriptions:
  - platform: slack
    workspace: T0001
    channel: C0001
    cron: "0 9 * * 1"
  - platform: slack
    workspace: T0001
    channel: C0001
    cron: "0 17 * * 5"
    kind: community
"""
    assert error_of(text, env=SLACK_ENV) == (
        "subscriptions[1]: duplicate of subscriptions[0] (slack:T0001:C0001): "
        "one subscription per channel (line 6)"
    )


def test_missing_required_subscription_key() -> None:
    text = """
subscriptions:
  - platform: discord
    workspace: "1"
    cron: "0 9 * * 1"
"""
    assert error_of(text, env={"DISCORD_TOKEN": "t"}) == (
        "subscriptions[0]: missing required key 'channel' (line 2)"
    )


def test_invalid_yaml_syntax_reports_the_line() -> None:
    text = """
timezone: UTC
sources:
  paths: [digests
http:
  port: 1
"""
    with pytest.raises(ConfigError) as info:
        parse_config(cfg(text), source="paperboy.yaml", env={})
    assert info.value.line == 4
    assert str(info.value).startswith("invalid YAML in paperboy.yaml: ")
    assert str(info.value).endswith("(line 4)")


def test_impossible_date() -> None:
    assert error_of("sources:\n  default_date: 2023-13-01\n") == (
        "sources.default_date: '2023-13-01' cannot be read: month must be in 1..12 (line 2)"
    )


def test_duplicate_yaml_key() -> None:
    assert error_of("timezone: UTC\ntimezone: Europe/Oslo\n") == (
        "timezone: duplicate key (first given on line 1) (line 2)"
    )


def test_terminal_subscription_when_the_terminal_is_disabled() -> None:
    text = """
terminal:
  enabled: false
subscriptions:
  - platform: terminal
    cron: "@daily"
"""
    assert error_of(text) == (
        "subscriptions[0].platform: 'terminal' is disabled (terminal.enabled is false) (line 4)"
    )


def test_admin_channel_on_an_unconfigured_platform() -> None:
    text = """
admin_channel:
  workspace: "1"
  platform: discord
  channel: "2"
"""
    assert error_of(text) == (
        "admin_channel.platform: 'discord' is not configured: "
        "set discord.token or DISCORD_TOKEN (line 3)"
    )


def test_structural_mistakes() -> None:
    assert error_of("- a\n- b\n") == "expected a mapping at the top level, got a list (line 1)"
    assert error_of("subscriptions:\n  platform: terminal\n") == (
        "subscriptions: expected a list, got a mapping (line 2)"
    )
    assert error_of("store: sqlite:///x.db\n") == (
        "store: expected a mapping, got a string (line 1)"
    )
    assert error_of("subscriptions:\n  - cron: '@daily'\n") == (
        "subscriptions[0]: missing required key 'platform' (line 2)"
    )


def test_bad_environment_fallback_is_attributed_to_the_variable() -> None:
    assert error_of("", env={"PORT": "eighty"}) == (
        "http.port: expected a whole number, got a string (from the PORT environment variable)"
    )
    assert error_of("", env={"DATABASE_URL": "mysql://u:secret@h/db"}) == (
        "store.url: expected a sqlite:/// or postgresql:// URL, got one starting with "
        "'mysql://' (from the DATABASE_URL environment variable)"
    )


def test_the_web_is_off_by_default_and_needs_the_http_server() -> None:
    s = parse_config("", env={})
    assert not s.web.enabled and s.web_base_url is None
    s = parse_config("web:\n  base_url: https://papers.example.org\n", env={})
    assert s.web_base_url is None  # no links in chat to pages that are not served
    with pytest.raises(ConfigErrors) as info:
        parse_config("http:\n  enabled: false\nweb:\n  enabled: true\n", env={})
    assert str(info.value).startswith("http.enabled: must be true when web.enabled is")
    with pytest.raises(ConfigErrors) as info:
        parse_config("web:\n  base_url: javascript:alert(1)\n  cache_seconds: -1\n", env={})
    assert [e.key_path for e in info.value.errors] == ["web.base_url", "web.cache_seconds"]


def test_more_papers_than_vote_emoji() -> None:
    assert error_of("digest:\n  max_papers: 12\n") == (
        "digest.max_papers: 12 papers, but votes.emoji has only 10 emoji: at most 10 (line 2)"
    )


def test_all_mistakes_are_reported_together() -> None:
    with pytest.raises(ConfigErrors) as info:
        load_config(FIXTURES / "broken.yaml", env={})
    errors = info.value.errors
    assert [(e.key_path, e.line) for e in errors] == [
        ("timezone", 2),
        ("sources.paths", 4),
        ("sources.refresh_interval", 5),
        ("digest.max_paper", 7),
        ("slack.bot_token", 9),
        ("subscriptions[0].cron", 12),
        ("subscriptions[1].platform", 13),
    ]
    assert str(info.value).splitlines() == [str(e) for e in errors]
    assert errors[3].message == "unknown key; did you mean 'max_papers'?"
    assert errors[5].message.endswith("day of week 8 is out of range 0-7")
    assert isinstance(info.value, ConfigError)
    assert (info.value.key_path, info.value.line) == ("timezone", 2)


# --- the shipped example -----------------------------------------------------------------------


def test_the_example_file_loads_with_an_empty_environment() -> None:
    settings = load_config(REPO / "config.example.yaml", env={})
    assert settings.slack is None and settings.discord is None
    assert settings.store.url == DEFAULT_DATABASE_URL
    assert settings.terminal_enabled
    assert [s.platform for s in settings.subscriptions] == ["terminal"]


def test_the_example_file_loads_with_every_referenced_variable_set() -> None:
    env = {
        **SLACK_ENV,
        "SLACK_APP_TOKEN": "xapp-1-test",
        "DISCORD_TOKEN": "abc.def.ghi",
        "DISCORD_APPLICATION_ID": "111111111111111111",
        "DISCORD_TEST_GUILD": "222222222222222222",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
        "PORT": "5000",
    }
    settings = load_config(REPO / "config.example.yaml", env=env)
    assert settings.slack is not None and settings.slack.mode == "socket"
    assert settings.discord is not None and settings.discord.test_guild == 222222222222222222
    assert settings.store.url == env["DATABASE_URL"]
    assert settings.http.port == 5000
    assert settings.terminal_enabled  # a terminal subscription keeps it on


def test_the_example_file_documents_every_key() -> None:
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    for section in dataclasses.fields(Settings):
        assert f"\n{section.name}:" in text or f"\n# {section.name}:" in text, section.name


# --- describe, validators ----------------------------------------------------------------------


def test_describe_settings_masks_secrets() -> None:
    env = {
        **SLACK_ENV,
        "DISCORD_TOKEN": "discord-token-value",
        "DATABASE_URL": "postgresql://bot:topsecret@db:5432/papers",
    }
    text = describe_settings(parse_config("", env=env))
    assert "xoxb-****" in text
    for secret in ("1-test", "not-so-secret", "discord-token-value", "topsecret"):
        assert secret not in text
    assert "postgresql://bot:****@db:5432/papers" in text
    assert "refresh_interval: 6h" in text


@pytest.mark.parametrize(
    "expr",
    [
        "0 9 * * 1",
        "*/15 * * * *",
        "0 8-18/2 * * mon-fri",
        "5-59/15 * * * *",
        "0 0 1 jan *",
        "@daily",
        "@weekly",
        "@hourly",
        "@monthly",
        "@DAILY",
    ],
)
def test_valid_cron_expressions(expr: str) -> None:
    assert validate_cron(expr) is None


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("", "it is empty"),
        ("0 9 * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("0 9 * * 1 2030 x", "got 7; seconds and year fields are not supported"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 31 2 *", "Day(s) [31] can never occur in month(s) [2]"),
        ("5/15 * * * *", "write a range such as '5-59/15' or '*/15'"),
        ("0 9 * * 1/2", "write a range such as '1-6/2' or '*/2'"),
        ("H 9 * * 1", "hashed (H) and random (R) values are not supported"),
        ("R 9 * * 1", "hashed (H) and random (R) values are not supported"),
        ("@reboot", "unknown alias"),
        ("*/0 * * * *", "step '0' in field 0 is not acceptable"),
    ],
)
def test_invalid_cron_expressions(expr: str, reason: str) -> None:
    got = validate_cron(expr)
    assert got is not None and reason in got


def test_validate_timezone() -> None:
    assert validate_timezone("UTC")
    assert validate_timezone("Europe/London")
    assert not validate_timezone("Europe/Londn")
    assert not validate_timezone("")
    assert not validate_timezone("../etc/passwd")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("45", timedelta(seconds=45)),
        (45, timedelta(seconds=45)),
        (0.5, timedelta(milliseconds=500)),
    ],
)
def test_parse_duration(text: str | int | float, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "12 hours", "1x", "-5", "30m1", "1h-1m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_duration_rejects_negative_and_bool() -> None:
    with pytest.raises(ValueError):
        parse_duration(-1)
    with pytest.raises(ValueError):
        parse_duration(True)


def test_format_duration_round_trips() -> None:
    for text in ("6h", "1h30m", "2d", "45s", "1d2h3m4s"):
        assert format_duration(parse_duration(text)) == text
    assert format_duration(timedelta(0)) == "0s"


def test_the_arxiv_section_and_its_mistakes_by_key_path() -> None:
    from bot.config.settings import ArxivSettings

    assert parse_config("", env={}).arxiv == ArxivSettings()
    assert ArxivSettings().api_base_url == "https://export.arxiv.org/api/query"
    s = parse_config(
        "arxiv:\n  enabled: false\n  api_base_url: http://127.0.0.1:9/api/query\n"
        "  refresh_after: 7d\n",
        env={},
    )
    assert s.arxiv == ArxivSettings(False, "http://127.0.0.1:9/api/query", timedelta(days=7))
    with pytest.raises(ConfigErrors) as info:
        parse_config(
            "arxiv:\n  api_base_url: ftp://arxiv.org\n  refresh_after: soon\n  enable: no\n",
            env={},
        )
    text = str(info.value)
    assert "arxiv.api_base_url: 'ftp://arxiv.org' is not a valid URL" in text and "(line 2)" in text
    assert "arxiv.refresh_after:" in text and "(line 3)" in text
    assert "arxiv.enable: unknown key; did you mean 'enabled'? (line 4)" in text


def test_discord_shard_keys() -> None:
    env = {"DISCORD_TOKEN": "abc.def.ghi"}
    s = parse_config("discord:\n  shards: 8\n", env=env)
    assert s.discord is not None
    assert s.discord.ready_timeout == timedelta(seconds=30) and not s.discord.lease_shards
    pg = "store:\n  url: postgres://u@db.example.org/paperboy\n"
    s = parse_config(pg + "discord:\n  shards: auto\n  lease_shards: true\n", env=env)
    assert s.discord is not None and s.discord.lease_shards
    assert error_of(pg + "discord:\n  lease_shards: true\n", env) == (
        "discord.lease_shards: needs discord.shards (a count or 'auto'): the shards are what "
        "replicas share (line 4)"
    )
    assert error_of("discord:\n  shards: 4\n  lease_shards: true\n", env) == (
        "discord.lease_shards: replicas share shards through PostgreSQL leases; store.url is "
        "not a PostgreSQL URL (line 3)"
    )
    assert error_of("discord:\n  ready_timeout: soon\n", env).startswith("discord.ready_timeout: ")
