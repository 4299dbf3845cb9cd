"""Config edge cases a new user trips over: YAML that expands without bound or nests too deep,
database URLs that would quietly use something else, ``http.port: 0``, the key blamed for too
few vote emoji, what a subscription needs, and the config file kept out of git."""

from __future__ import annotations

import pytest
from support.paths import REPO

from bot.config.load import parse_config
from bot.config.settings import DEFAULT_CONFIG_FILE, DEFAULT_CRON
from bot.core.errors import ConfigError


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="paperboy.yaml", env=env or {})
    return str(info.value)


# --- YAML bounds -------------------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    """Nine short lines whose aliases expand to 9**9 (387 million) values."""
    names = "abcdefghijklmnop"
    lines = [f'{names[0]}: &{names[0]} ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        refs = ", ".join([f"*{names[i - 1]}"] * 9)
        lines.append(f"{names[i]}: &{names[i]} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_with_a_clear_message() -> None:
    text = alias_bomb()
    assert len(text.splitlines()) == 9
    assert error_of(text) == (
        "cannot read paperboy.yaml: more than 100,000 values once aliases are expanded "
        "(aliases of aliases multiply); write the values out instead"
    )


def test_deep_nesting_is_refused_not_mistaken_for_a_recursive_anchor() -> None:
    text = "sources:\n  paths: " + "[" * 5000 + "]" * 5000 + "\n"
    message = error_of(text)
    assert message == "invalid YAML in paperboy.yaml: nested more than 50 levels deep (line 2)"
    assert "anchor" not in message


def test_an_alias_inside_itself_is_named() -> None:
    assert error_of("sources: &s\n  paths: [*s]\n") == (
        "cannot read paperboy.yaml: sources.paths[0] contains itself through an alias (line 1)"
    )


def test_ordinary_aliases_and_merge_keys_still_work() -> None:
    text = """\
timezone: &tz Europe/London
subscriptions:
  - {platform: terminal, channel: one, cron: &when "0 8 * * TUE", timezone: *tz}
  - {platform: terminal, channel: two, cron: *when, timezone: *tz}
"""
    subs = parse_config(text, env={}).subscriptions
    assert [(s.channel, s.cron, s.timezone) for s in subs] == [
        ("one", "0 8 * * TUE", "Europe/London"),
        ("two", "0 8 * * TUE", "Europe/London"),
    ]


# --- database URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://"])
def test_sqlite_url_without_a_path_is_refused(url: str) -> None:
    assert error_of(f"store:\n  url: {url}\n").startswith(
        "store.url: sqlite:/// needs a file path, e.g. sqlite:///.paperboy/paperboy.db"
    )


@pytest.mark.parametrize(
    "url", ["postgresql://postgres@127.0.0.1:5432", "postgres://u:pw@db.example.com/"]
)
def test_postgres_url_without_a_database_is_refused(url: str) -> None:
    assert error_of(f"store:\n  url: {url}\n") == (
        "store.url: the PostgreSQL URL names no database; add it, e.g. "
        "postgresql://user@host:5432/paperboy (line 2)"
    )
    assert "DATABASE_URL environment variable" in error_of("", env={"DATABASE_URL": url})


def test_database_urls_that_name_a_database_are_fine() -> None:
    for url in (
        "postgresql://u@h:5432/papers",
        "postgresql://u@h/?dbname=papers",
        "sqlite:///data/paperboy.db",
        "sqlite:///:memory:",
    ):
        assert parse_config(f"store:\n  url: '{url}'\n", env={}).store.url == url


# --- http.port ---------------------------------------------------------------------------------


def test_port_zero_in_the_file_means_any_free_port() -> None:
    assert parse_config("http:\n  port: 0\n", env={}).http.port == 0
    assert parse_config("http:\n  port: 0\n", env={"PORT": "9000"}).http.port == 0
    assert parse_config("", env={"PORT": "0"}).http.port == 0
    assert parse_config("", env={}).http.port == 8080
    assert parse_config("http:\n  port: 8125\n", env={}).http.port == 8125


# --- votes.emoji and digest.max_papers ---------------------------------------------------------


def test_too_few_vote_emoji_blames_the_emoji_list() -> None:
    assert error_of('votes:\n  emoji: ["👍", "🎉"]\n') == (
        "votes.emoji: 2 emoji, but a digest posts up to 10 papers (digest.max_papers): give one "
        "emoji per rank, or lower digest.max_papers to 2 (line 2)"
    )
    assert parse_config(
        'votes:\n  emoji: ["👍", "🎉"]\ndigest:\n  max_papers: 2\n', env={}
    ).votes.emoji == ("👍", "🎉")


# --- subscriptions -----------------------------------------------------------------------------


def test_a_subscription_without_cron_gets_the_default_schedule() -> None:
    settings = parse_config("subscriptions:\n  - platform: terminal\n", env={})
    [sub] = settings.subscriptions
    assert sub.cron == DEFAULT_CRON == "0 9 * * MON"
    assert sub.timezone == "UTC"


def test_a_slack_subscription_needs_its_channel() -> None:
    text = "subscriptions:\n  - platform: slack\n    workspace: T1\n"
    message = error_of(text, env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert message == "subscriptions[0]: missing required key 'channel' (line 2)"


# --- git -----------------------------------------------------------------------------------------


def test_the_config_file_is_kept_out_of_git() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert DEFAULT_CONFIG_FILE in ignored
