"""Discord objects -> neutral requests, and neutral replies -> what to send. No I/O here.

Buttons that re-run a command (``share``, ``page``) carry the command text in their
``custom_id`` (``pb:share:search attention``) so they keep working after a restart; a text
too long for Discord's 100-character ``custom_id`` is kept in a bounded in-memory table and
the id carries its hash instead (``pb:share#<16 hex>``), which lasts until the process ends.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Any

import discord

from bot.core.messages import Button, ChannelRef, Message, ReactionEvent
from bot.core.text import truncate_words
from bot.platforms.discord.render import safe_url
from bot.platforms.shared import PAGE_ACTION, SHARE_ACTION

PLATFORM = "discord"
DM_WORKSPACE = "dm"
ACTIONS = (SHARE_ACTION, PAGE_ACTION)
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
MAX_BUTTONS = 5
CHOICE_MAX = 100
MAX_CHOICES = 25
BUTTON_TEMPLATE = (
    rf"pb:(?P<action>{SHARE_ACTION}|{PAGE_ACTION})(?::(?P<text>.+)|#(?P<key>[0-9a-f]{{16}}))"
)

SORRY = "Sorry, something went wrong while answering that. It has been logged; please try again."
NOT_ADMIN = (
    "Only members with the **Manage Server** permission can use `/papers-admin`. "
    "Nothing was changed. Try `/papers help` for what everyone can do."
)
EXPIRED = "That button has expired. Run the command again to get a fresh one."
POSTED_PUBLICLY = "Posted to the channel."


def channel_ref(guild_id: int | None, channel_id: int | None) -> ChannelRef:
    return ChannelRef(PLATFORM, str(guild_id) if guild_id else DM_WORKSPACE, str(channel_id or ""))


def reaction_event(
    payload: discord.RawReactionActionEvent, *, added: bool, bot_user_id: int | None
) -> ReactionEvent:
    """A raw gateway reaction (fires for uncached messages too) as a neutral event. A remove
    carries no member: only the bot's own id marks it as a bot there (another bot's removal is
    harmless, its adds were ignored)."""
    member = payload.member
    is_bot = (bot_user_id is not None and payload.user_id == bot_user_id) or bool(
        member is not None and member.bot
    )
    return ReactionEvent(
        channel=channel_ref(payload.guild_id, payload.channel_id),
        message_id=str(payload.message_id),
        user_id=str(payload.user_id),
        emoji=str(payload.emoji),
        added=added,
        user_is_bot=is_bot,
    )


def shared_by(user_id: int) -> str:
    """Trusted content line naming who shared (a mention chip; AllowedMentions.none() keeps it
    from pinging)."""
    return f"Shared by <@{int(user_id)}> with /papers"


def choices(pairs: list[tuple[str, str]]) -> list[discord.app_commands.Choice[str]]:
    """Autocomplete pairs -> at most 25 Choices, names and values within 100 characters."""
    out: list[discord.app_commands.Choice[str]] = []
    seen: set[str] = set()
    for label, value in pairs:
        value = str(value)
        if not value or len(value) > CHOICE_MAX or value in seen:
            continue
        seen.add(value)
        name = truncate_words(str(label), CHOICE_MAX) or value
        out.append(discord.app_commands.Choice(name=name, value=value))
        if len(out) >= MAX_CHOICES:
            break
    return out


class ButtonTexts:
    """custom_id <-> (action, command text), with a bounded table for long texts."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._long: OrderedDict[str, str] = OrderedDict()

    def custom_id(self, action: str, text: str) -> str:
        direct = f"pb:{action}:{text}"
        if len(direct) <= CUSTOM_ID_MAX and "\n" not in text:
            return direct
        key = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
        self._long[key] = text
        self._long.move_to_end(key)
        while len(self._long) > self.capacity:
            self._long.popitem(last=False)
        return f"pb:{action}#{key}"

    def text(self, match: re.Match[str]) -> str | None:
        """The command text of a matched custom_id; None when a long one was forgotten."""
        if match["text"] is not None:
            return str(match["text"])
        return self._long.get(str(match["key"]))


def link_buttons(msg: Message) -> list[dict[str, Any]]:
    """(label, url) of the message's URL buttons that are safe to show."""
    out: list[dict[str, Any]] = []
    for b in msg.buttons:
        if b.url is None:
            continue
        url = safe_url(b.url, 512)
        if url is not None:
            out.append({"label": truncate_words(b.label, BUTTON_LABEL_MAX) or "Open", "url": url})
    return out[:MAX_BUTTONS]


def action_buttons(msg: Message) -> list[Button]:
    """The buttons that re-run a command (share, page), with a non-empty command text."""
    return [b for b in msg.buttons if b.action in ACTIONS and b.value.strip()][:MAX_BUTTONS]
