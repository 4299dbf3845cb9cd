"""What passes between the core and a chat platform, platform details stripped: where
(``ChannelRef``), what is said (``Message`` and its parts), and what comes back (``Invocation``,
``Reply``, ``ReactionEvent``). Plain data, no I/O; every layer may use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A channel on a platform: (``slack``|``discord``|``terminal``|..., workspace or guild id,
    channel id)."""

    platform: str
    workspace: str
    channel: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.channel}"


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


# --- neutral messages (rendered per platform in bot.platforms.*.render) -----------------------
# All text fields are plain, untrusted text: renderers escape it for their platform.


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    url: str | None = None
    body: str = ""
    rank: int | None = None
    links: tuple[Link, ...] = ()
    bullets: tuple[str, ...] = ()
    paper_id: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    url: str | None = None
    # An action the bot handles itself (e.g. ``share``, ``page``); ``value`` carries its argument.
    action: str | None = None
    value: str = ""


MessageKind = Literal["digest", "reply", "notice"]


@dataclass(frozen=True, slots=True)
class Message:
    header: str
    url: str | None = None
    text: str = ""
    sections: tuple[Section, ...] = ()
    fields: tuple[Field, ...] = ()
    context: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    kind: MessageKind = "reply"
    ephemeral: bool = True

    def fallback_text(self) -> str:
        """A plain-text rendering for notifications, screen readers and logs (unescaped)."""
        lines = [self.header]
        if self.text:
            lines.append(self.text)
        for s in self.sections:
            prefix = f"{s.rank}. " if s.rank is not None else "- "
            lines.append(prefix + s.title)
        return "\n".join(lines)


# --- what adapters hand to the core ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invocation:
    """A ``/papers ...`` command as typed by a user, platform details stripped."""

    channel: ChannelRef
    user_id: str
    text: str  # everything after ``/papers``, e.g. ``search attention``
    is_admin: bool = False
    user_name: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to an Invocation. ``message.ephemeral`` says whether only the invoking user
    sees it. ``paper_ids`` are the papers it shows by rank (recorded as a PostedDigest if the
    reply is shared to the channel, so reactions on it count as votes)."""

    message: Message
    paper_ids: tuple[str, ...] = ()
    digest_key: str = ""


@dataclass(frozen=True, slots=True)
class ReactionEvent:
    """A reaction added to or removed from a message. ``emoji`` is platform-native: a Slack name
    without colons (``one``, ``keycap_ten``, ``+1``) or a unicode emoji (``1️⃣``, ``🔟``, ``👍``)."""

    channel: ChannelRef
    message_id: str
    user_id: str
    emoji: str
    added: bool
    user_is_bot: bool = False
    event_id: str | None = None
