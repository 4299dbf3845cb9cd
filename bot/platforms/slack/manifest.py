"""The Slack app manifest Paperboy needs (``paperboy slack-manifest`` prints it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

BOT_SCOPES = (
    "chat:write",
    "chat:write.public",
    "im:write",
    "channels:join",
    "commands",
    "reactions:read",
    "reactions:write",
    "channels:history",
    "groups:history",
    "users:read",
    "usergroups:read",
)
BOT_EVENTS = ("reaction_added", "reaction_removed")
# The distribution mode also hears when a workspace removes the app.
DISTRIBUTION_EVENTS = ("app_uninstalled", "tokens_revoked")
EVENTS_PATH = "/slack/events"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"
NAME_MAX = 35  # display_information.name; the bot user's display_name allows 80
REQUEST_URL_MAX = 3000  # the shortest of Slack's limits on the three request URLs


def request_url(base: str) -> str:
    """The public address Slack should send requests to, from what was typed: an ``https://``
    URL with a public host name; a bare host (``https://bot.example.org``) gets the bot's
    ``/slack/events`` path. Raises ValueError with the reason otherwise."""
    text = base.strip()
    example = "e.g. https://bot.example.org"
    if not text:
        raise ValueError(f"give the bot's public https address, {example}")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{text!r} is not a URL; {example}") from None
    if parts.scheme.lower() != "https":
        raise ValueError(
            f"{text!r} is not an https:// URL: Slack sends requests only to https, {example}"
        )
    if "." not in host.strip(".") or any(c.isspace() for c in text) or parts.fragment:
        raise ValueError(f"{text!r} has no public host name; {example}")
    if parts.path in ("", "/"):
        text = text.rstrip("/") + EVENTS_PATH
    if len(text) > REQUEST_URL_MAX:
        raise ValueError(f"the URL is longer than Slack's limit of {REQUEST_URL_MAX} characters")
    return text


def app_name(name: str) -> str:
    """The app's name, as Slack accepts it (1 to 35 characters); raises ValueError otherwise."""
    text = " ".join(name.split())
    if not text:
        raise ValueError("the app name must not be empty")
    if len(text) > NAME_MAX:
        raise ValueError(f"{len(text)} characters: Slack allows at most {NAME_MAX} in an app name")
    return text


def slack_manifest(
    *,
    socket_mode: bool,
    request_url: str | None = None,
    name: str = "Paperboy",
    distribution: bool = False,
) -> dict[str, Any]:
    """An app manifest (as a dict, ready for YAML or JSON).

    HTTP mode (``socket_mode=False``) needs ``request_url``, the public address of
    ``/slack/events``; it serves events, the slash command and interactivity alike.
    ``distribution`` (HTTP mode only): the OAuth redirect URL on the same host, and the
    uninstall events."""
    if not socket_mode and not request_url:
        raise ValueError("request_url is required when socket_mode is False")
    if distribution and (socket_mode or request_url is None):
        raise ValueError("the distribution mode needs HTTP mode")
    command: dict[str, Any] = {
        "command": "/papers",
        "description": "Search and browse the weekly top ML papers",
        "usage_hint": (
            "search <words> | week [date] | top | show <id> | cite <id> | follow <words> | help"
        ),
        "should_escape": False,
    }
    events: dict[str, Any] = {
        "bot_events": list(BOT_EVENTS) + (list(DISTRIBUTION_EVENTS) if distribution else [])
    }
    oauth: dict[str, Any] = {"scopes": {"bot": list(BOT_SCOPES)}}
    if distribution and request_url is not None:
        parts = urlsplit(request_url)
        oauth["redirect_urls"] = [f"{parts.scheme}://{parts.netloc}{OAUTH_REDIRECT_PATH}"]
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        command["url"] = request_url
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
    return {
        "display_information": {
            "name": name,
            "description": "Weekly top ML papers: digests, /papers lookups and reaction votes",
            "long_description": (
                "Paperboy posts a curated top-ten of machine learning papers every week, answers "
                "/papers search, week and top, and counts reactions 1-10 on its digests as votes "
                "for a community leaderboard. Replies are private until you share them."
            ),
            "background_color": "#1d3557",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": oauth,
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
