"""Slack payloads -> neutral requests, and neutral replies -> Slack response bodies.

Pure functions, no I/O: the adapter calls these and talks to Slack itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.core.messages import ChannelRef, Message, ReactionEvent
from bot.platforms.slack.render import escape, render_message

PLATFORM = "slack"
SORRY = "Sorry, something went wrong while answering that. Please try again in a moment."
CANNOT_POST = (
    "I can't post in this channel. Invite me first (`/invite @Paperboy`), then share again."
)

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_ACTION_ID = re.compile(r"^papers_([a-z0-9_]+?)(?:__\d+)?$")


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """Who asked what, where: the platform-free part of a slash command or button click."""

    channel: ChannelRef
    user_id: str
    user_name: str
    text: str
    response_url: str = ""


def _team(body: dict[str, Any], fallback: str) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    if not team:
        team = (
            (body.get("user") or {}).get("team_id") if isinstance(body.get("user"), dict) else None
        )
    return str(team or fallback)


def team_of(body: dict[str, Any], fallback: str) -> str:
    """The workspace a payload comes from (``fallback`` when it does not say)."""
    return _team(body, fallback)


def command_request(body: dict[str, Any], workspace: str) -> CommandRequest:
    """A ``/papers`` slash command payload."""
    return CommandRequest(
        channel=ChannelRef(PLATFORM, _team(body, workspace), str(body.get("channel_id", ""))),
        user_id=str(body.get("user_id", "")),
        user_name=str(body.get("user_name", "")),
        text=str(body.get("text") or "").strip(),
        response_url=str(body.get("response_url") or ""),
    )


def action_request(body: dict[str, Any], value: str, workspace: str) -> CommandRequest:
    """A ``block_actions`` payload whose button carries a command text in ``value``."""
    user = body.get("user") or {}
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id", ""
    )
    return CommandRequest(
        channel=ChannelRef(PLATFORM, _team(body, workspace), str(channel)),
        user_id=str(user.get("id", "")),
        user_name=str(user.get("username") or user.get("name") or ""),
        text=value.strip(),
        response_url=str(body.get("response_url") or ""),
    )


def action_name(action_id: str) -> str | None:
    """``papers_share`` -> ``share``; ``papers_page__2`` -> ``page``; foreign ids -> None."""
    m = _ACTION_ID.match(action_id)
    return m.group(1) if m else None


def reaction_event(
    body: dict[str, Any], *, user_is_bot: bool, workspace: str
) -> ReactionEvent | None:
    """A ``reaction_added`` / ``reaction_removed`` event callback; None if not on a message."""
    event = body.get("event") or {}
    item = event.get("item") or {}
    if item.get("type") != "message" or not item.get("ts") or not item.get("channel"):
        return None
    # Skin tones do not change the vote: "+1::skin-tone-3" is "+1".
    emoji = str(event.get("reaction", "")).split("::", 1)[0]
    return ReactionEvent(
        channel=ChannelRef(PLATFORM, _team(body, workspace), str(item["channel"])),
        message_id=str(item["ts"]),
        user_id=str(event.get("user", "")),
        emoji=emoji,
        added=event.get("type") == "reaction_added",
        user_is_bot=user_is_bot,
        event_id=body.get("event_id"),
    )


def shared_by(rendered: dict[str, Any], user_id: str) -> dict[str, Any]:
    """Append a trusted "shared by <@user>" context line (only for a well-formed user id)."""
    if not _USER_ID.match(user_id):
        return rendered
    line = f"Shared by <@{user_id}> with /papers"
    blocks = [
        *rendered["blocks"],
        {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]},
    ]
    return {"text": f"{rendered['text']}\n({line})", "blocks": blocks}


def response_body(
    msg: Message, render_options: dict[str, Any], *, replace_original: bool | None = None
) -> dict[str, Any]:
    """The JSON body to POST to a ``response_url`` (what bolt's ``respond()`` would send)."""
    rendered = render_message(msg, **render_options)
    body: dict[str, Any] = {
        "text": rendered["text"],
        "response_type": "ephemeral" if msg.ephemeral else "in_channel",
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if rendered["blocks"]:
        body["blocks"] = rendered["blocks"]
    if replace_original is not None:
        body["replace_original"] = replace_original
    return body


def notice(text: str) -> dict[str, Any]:
    """A short ephemeral text for a ``response_url`` (escaped: it may quote user input)."""
    return {"text": escape(text), "response_type": "ephemeral", "replace_original": False}
