"""What passes between the core and a chat platform, platform details stripped: where
(``ChannelRef``), what is said (``Message`` and its parts), and what comes back (``Invocation``,
``Reply``, ``ReactionEvent``). Plain data, no I/O; every layer may use it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal


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
    # Preformatted text (BibTeX, say): shown as a code block, exactly as it is.
    code: str = ""

    def public(self) -> Message:
        """This message as posted to a channel for everyone: only link buttons stay (sharing
        and paging act on a private answer)."""
        links = tuple(b for b in self.buttons if b.url is not None)
        return replace(self, buttons=links, ephemeral=False)

    def fallback_text(self) -> str:
        """A plain-text rendering for notifications, screen readers and logs (unescaped)."""
        lines = [self.header]
        if self.text:
            lines.append(self.text)
        for s in self.sections:
            prefix = f"{s.rank}. " if s.rank is not None else "- "
            lines.append(prefix + s.title)
        if self.code:
            lines.append(self.code)
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


# --- stored messages ---------------------------------------------------------------------------


def message_to_json(msg: Message) -> str:
    """``msg`` as JSON text (to store an answer exactly as it was shown)."""
    return json.dumps(asdict(msg), ensure_ascii=False, separators=(",", ":"))


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _section(d: dict[str, Any]) -> Section:
    return Section(
        title=str(d["title"]),
        url=d.get("url"),
        body=str(d.get("body") or ""),
        rank=d.get("rank"),
        links=tuple(Link(str(x["label"]), str(x["url"])) for x in d.get("links") or ()),
        bullets=_strs(d.get("bullets")),
        paper_id=d.get("paper_id"),
    )


def message_from_json(text: str) -> Message:
    """The ``Message`` that ``message_to_json`` wrote (missing keys take their defaults)."""
    d: dict[str, Any] = json.loads(text)
    return Message(
        header=str(d["header"]),
        url=d.get("url"),
        text=str(d.get("text") or ""),
        sections=tuple(_section(s) for s in d.get("sections") or ()),
        fields=tuple(Field(str(f["name"]), str(f["value"])) for f in d.get("fields") or ()),
        context=_strs(d.get("context")),
        buttons=tuple(
            Button(str(b["label"]), b.get("url"), b.get("action"), str(b.get("value") or ""))
            for b in d.get("buttons") or ()
        ),
        kind=d.get("kind") or "reply",
        ephemeral=bool(d.get("ephemeral", True)),
        code=str(d.get("code") or ""),
    )
