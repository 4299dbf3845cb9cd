"""The Slack app manifest Paperboy needs (``paperboy slack-manifest`` prints it)."""

from __future__ import annotations

from typing import Any

BOT_SCOPES = (
    "chat:write",
    "chat:write.public",
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


def slack_manifest(
    *, socket_mode: bool, request_url: str | None = None, name: str = "Paperboy"
) -> dict[str, Any]:
    """An app manifest (as a dict, ready for YAML or JSON).

    HTTP mode (``socket_mode=False``) needs ``request_url``, the public address of
    ``/slack/events``; it serves events, the slash command and interactivity alike."""
    if not socket_mode and not request_url:
        raise ValueError("request_url is required when socket_mode is False")
    command: dict[str, Any] = {
        "command": "/papers",
        "description": "Search and browse the weekly top ML papers",
        "usage_hint": "search <words> | week [date] | top | show <id> | help",
        "should_escape": False,
    }
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
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
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
