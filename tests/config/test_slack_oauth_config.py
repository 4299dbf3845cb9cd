"""``slack.oauth``: the Slack distribution mode's settings, and each mistake by key path."""

from __future__ import annotations

import pytest

from bot.config.load import ConfigErrors, describe_settings, parse_config
from bot.config.settings import SlackOAuthSettings

ENV = {
    "SLACK_SIGNING_SECRET": "not-so-secret",
    "SLACK_CLIENT_ID": "1111.2222",
    "SLACK_CLIENT_SECRET": "very-secret-client",
}
HTTP = "http:\n  enabled: true\n  port: 8080\n"


def errors_of(text: str, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        parse_config(text, env=env)
    return [str(e) for e in info.value.errors]


def test_oauth_mode_reads_the_secrets_from_the_environment_and_needs_no_bot_token() -> None:
    text = (
        "slack:\n  oauth:\n    scopes: [chat:write, commands]\n"
        "    redirect_uri: https://bot.example.org/slack/oauth_redirect\n" + HTTP
    )
    settings = parse_config(text, env={**ENV, "SLACK_BOT_TOKEN": "xoxb-ignored"})
    slack = settings.slack
    assert slack is not None and slack.mode == "http" and slack.bot_token is None
    assert slack.oauth == SlackOAuthSettings(
        client_id="1111.2222",
        client_secret="very-secret-client",
        scopes=("chat:write", "commands"),
        redirect_uri="https://bot.example.org/slack/oauth_redirect",
    )
    shown = describe_settings(settings)
    assert "very-secret-client" not in shown and "client_id=1111.2222" in shown


def test_oauth_mistakes_are_reported_by_key_path() -> None:
    text = (
        "slack:\n  mode: socket\n  bot_token: xoxb-1-test\n  app_token: xapp-1\n"
        "  oauth:\n    scope: [chat:write]\n    redirect_uri: not a url\n" + HTTP
    )
    assert errors_of(text, {"SLACK_SIGNING_SECRET": "x"}) == [
        "slack.mode: the OAuth install flow needs http mode (Slack sends events over HTTP) "
        "(line 2)",
        "slack.bot_token: not used with slack.oauth (each workspace's token comes from its "
        "install) (line 3)",
        "slack.oauth.scope: unknown key; did you mean 'scopes'? (line 6)",
        "slack.oauth.client_id: the Slack app's client id is required; set it or "
        "SLACK_CLIENT_ID (line 6)",
        "slack.oauth.client_secret: the Slack app's client secret is required; set "
        "SLACK_CLIENT_SECRET (line 6)",
        "slack.oauth.redirect_uri: 'not a url' is not a valid URL: expected https:// or http:// "
        "and a host (line 7)",
    ]


def test_oauth_mode_still_needs_the_signing_secret_and_the_http_server() -> None:
    env = {k: v for k, v in ENV.items() if k != "SLACK_SIGNING_SECRET"}
    [error] = errors_of("slack:\n  oauth: {}\n" + HTTP, env)
    assert error.startswith("slack.signing_secret: http mode needs the app's signing secret")
    [error] = errors_of("slack:\n  oauth: {}\nhttp:\n  enabled: false\n", ENV)
    assert error.startswith("http.enabled: must be true when Slack runs in http mode")


def test_client_id_and_secret_in_the_environment_without_slack_oauth_is_an_error() -> None:
    # slack-bolt would switch to its own install flow and drop the bot token without a word.
    env = {**ENV, "SLACK_BOT_TOKEN": "xoxb-1-test"}
    [error] = errors_of("slack:\n  mode: http\n" + HTTP, env)
    assert error.startswith(
        "slack.oauth: not set, but SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are, which makes "
        "slack-bolt ignore the bot token"
    )
    single = {k: v for k, v in env.items() if k != "SLACK_CLIENT_SECRET"}
    assert parse_config("slack:\n  mode: http\n" + HTTP, env=single).slack is not None
