"""The platform sections of the config file: ``slack`` (with ``slack.oauth``) and ``discord``.
Each returns None when the platform is not configured; mistakes go to the section's error log."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from bot.config.read import (
    Section,
    optional,
    to_bool,
    to_choice,
    to_duration,
    to_int,
    to_nonempty,
    to_shards,
    to_snowflake,
    to_str,
    to_str_list,
    to_url,
    token_problem,
)
from bot.config.settings import DiscordSettings, SlackOAuthSettings, SlackSettings


def read_slack(s: Section, env: Mapping[str, str]) -> SlackSettings | None:
    bot = s.env_or_file("bot_token", "SLACK_BOT_TOKEN", env, to_str)
    app = s.env_or_file("app_token", "SLACK_APP_TOKEN", env, to_str)
    signing = s.env_or_file("signing_secret", "SLACK_SIGNING_SECRET", env, to_str)
    mode = s.get("mode", optional(to_choice("socket", "http")), None)
    api = s.get("api_base_url", to_url("http", "https"), "https://slack.com/api/")
    group = s.get("admin_user_group", optional(to_nonempty), None)
    seed = s.get("seed_reactions", to_bool, True)
    calls = s.get("reaction_calls", to_int(1, 10_000), 50)
    period = s.get("reaction_period", to_duration(), timedelta(seconds=60))
    oauth = _slack_oauth(s.section("oauth", SlackOAuthSettings), env) if s.has("oauth") else None
    if oauth is not None or s.failed("oauth"):
        bot, mode = None, _oauth_mode(s, mode)
    elif bot is not None:
        _check_bolt_oauth_env(s, env)
    if oauth is None and bot is None:
        if s.failed("bot_token"):
            s.errs.broken.add("slack")
        elif app or signing:
            s.errs.add(
                s.sub("bot_token"),
                "not set, but other Slack secrets are; set SLACK_BOT_TOKEN or slack.bot_token",
                s.line,
            )
        return None
    mode = _check_slack_secrets(s, bot, app, signing, mode)
    return SlackSettings(
        bot_token=bot,
        app_token=app,
        signing_secret=signing,
        mode="socket" if mode == "socket" else "http",
        api_base_url=api if api.endswith("/") else api + "/",
        admin_user_group=group,
        seed_reactions=seed,
        reaction_calls=calls,
        reaction_period=period,
        oauth=oauth,
    )


def _oauth_mode(s: Section, mode: str | None) -> str:
    """With ``slack.oauth`` there is no bot token (each install brings one) and only http mode."""
    if s.has("bot_token"):
        msg = "not used with slack.oauth (each workspace's token comes from its install)"
        s.errs.add(s.sub("bot_token"), msg, s.line_of("bot_token"))
    if (mode or "http") != "http":
        msg = "the OAuth install flow needs http mode (Slack sends events over HTTP)"
        s.errs.add(s.sub("mode"), msg, s.line_of("mode"))
    return "http"


def _check_bolt_oauth_env(s: Section, env: Mapping[str, str]) -> None:
    # slack-bolt reads these two itself and, when both are set, swaps the bot token for an
    # install flow of its own (installations in local files): say so rather than break.
    if env.get("SLACK_CLIENT_ID") and env.get("SLACK_CLIENT_SECRET"):
        msg = (
            "not set, but SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are, which makes slack-bolt "
            "ignore the bot token; add slack.oauth to serve many workspaces, or unset them"
        )
        s.errs.add(s.sub("oauth"), msg, s.line)


def _check_slack_secrets(
    s: Section, bot: str | None, app: str | None, signing: str | None, mode: str | None
) -> str:
    """Token prefixes, and the secret each mode needs; the mode, defaulted from the tokens."""
    for key, var, value, prefix, what in (
        ("bot_token", "SLACK_BOT_TOKEN", bot or "", "xoxb-", "Slack bot token"),
        ("app_token", "SLACK_APP_TOKEN", app, "xapp-", "Slack app-level token"),
    ):
        problem = token_problem(prefix, what, value) if value else None
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
    return mode


def _slack_oauth(o: Section, env: Mapping[str, str]) -> SlackOAuthSettings | None:
    """``slack.oauth``: the app's client id and secret (``SLACK_CLIENT_ID``,
    ``SLACK_CLIENT_SECRET``), the scopes and the redirect URL."""
    client_id = o.env_or_file("client_id", "SLACK_CLIENT_ID", env, to_str)
    secret = o.env_or_file("client_secret", "SLACK_CLIENT_SECRET", env, to_str)
    scopes: tuple[str, ...] = o.get("scopes", to_str_list, ())
    redirect = o.get("redirect_uri", optional(to_url("https", "http")), None)
    authorize = o.get("authorization_url", optional(to_url("https", "http")), None)
    if client_id is None and not o.failed("client_id"):
        msg = "the Slack app's client id is required; set it or SLACK_CLIENT_ID"
        o.errs.add(o.sub("client_id"), msg, o.line)
    if secret is None and not o.failed("client_secret"):
        msg = "the Slack app's client secret is required; set SLACK_CLIENT_SECRET"
        o.errs.add(o.sub("client_secret"), msg, o.line)
    if any(not scope.strip() for scope in scopes):
        o.errs.add(o.sub("scopes"), "a scope cannot be empty", o.line_of("scopes"))
    return SlackOAuthSettings(
        client_id=client_id or "",
        client_secret=secret or "",
        scopes=tuple(scope.strip() for scope in scopes),
        redirect_uri=redirect,
        authorization_url=authorize,
    )


def read_discord(d: Section, env: Mapping[str, str]) -> DiscordSettings | None:
    token = d.env_or_file("token", "DISCORD_TOKEN", env, to_str)
    app_id = d.get("application_id", optional(to_snowflake), None)
    api = d.get("api_base_url", to_url("http", "https"), "https://discord.com/api/v10")
    gateway = d.get("gateway_url", optional(to_url("ws", "wss")), None)
    guild = d.get("test_guild", optional(to_snowflake), None)
    shards = d.get("shards", optional(to_shards), None)
    seed = d.get("seed_reactions", to_bool, True)
    ready = d.get("ready_timeout", to_duration(), timedelta(seconds=30))
    lease = d.get("lease_shards", to_bool, False)
    if lease and shards is None:
        msg = "needs discord.shards (a count or 'auto'): the shards are what replicas share"
        d.errs.add(d.sub("lease_shards"), msg, d.line_of("lease_shards"))
    if token is None:
        if d.failed("token"):
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
        ready_timeout=ready,
        lease_shards=lease,
    )
