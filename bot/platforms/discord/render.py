"""Neutral ``Message`` -> one Discord embed (``RenderedDiscord``).

Layout: the embed title is the message header, linked to ``msg.url`` (the week's source) when
that is a plain http(s) URL; the description holds ``msg.text`` and the papers as a list (rank
keycap 1️⃣..🔟, bold linked title, a summary cut at a word boundary, bullets, the chosen links);
``msg.fields`` become embed fields; ``msg.context`` (and, for digests, the vote hint and the
delivery reference) go in the footer.

Every piece of text here is untrusted (curated tables, user queries):

* markdown is escaped with ``discord.utils.escape_markdown``, and square brackets are escaped
  on top, so ``[click](https://evil)`` shows as text and never becomes a masked link;
* mentions are broken visibly with a zero-width space (``@​everyone``, ``<​@123>``); the real
  protection is ``AllowedMentions.none()``, which the adapter sets client-wide;
* control and bidi-override characters are removed;
* only plain http(s) URLs become links, with parentheses percent-encoded so a URL cannot close
  the markdown link early; anything else is dropped (never shown as a link).

The result stays inside Discord's limits with margin whatever the input. Lengths are counted
in UTF-16 code units, which is never less than what Discord counts. When the papers do not fit,
summaries, bullets and links shrink step by step, then fewer papers are shown ("…and N more").
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

with warnings.catch_warnings():
    # discord.py imports the stdlib ``audioop`` (voice), deprecated since Python 3.11; Paperboy
    # uses no voice, and the warning must not fail a run with warnings as errors.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
from discord.utils import escape_markdown

from bot.core.messages import Field, Link, Message, Section
from bot.core.text import truncate
from bot.platforms import shared

__all__ = [
    "KEYCAPS",
    "LIMITS",
    "REF_PREFIX",
    "VOTE_FOOTER",
    "RenderedDiscord",
    "break_mentions",
    "discord_len",
    "embed_length",
    "escape",
    "escape_text",
    "rank_emoji",
    "ref_of",
    "render_message",
    "safe_url",
]

KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")
VOTE_FOOTER = "React 1️⃣–🔟 to vote for a paper"
REF_PREFIX = "ref "  # footer "… · ref <idempotency key>": how find_posted recognises a post

# Discord's limits (what breaking them costs: a 400 and no message).
LIMITS = {
    "content": 2000,
    "embeds": 10,
    "total": 6000,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
}
# What we allow ourselves: the same limits with margin.
CONTENT_MAX = 1900
TITLE_MAX = 240
DESCRIPTION_MAX = 3900
TOTAL_MAX = 5600
FIELDS_MAX = 20
FIELD_NAME_MAX = 240
FIELD_VALUE_MAX = 1000
FOOTER_MAX = 1900
URL_MAX = 1000
REF_MAX = 25

DIGEST_COLOUR = 0x5865F2
REPLY_COLOUR = 0x2B2D31
NOTICE_COLOUR = 0xF0B232

_WS = re.compile(r"\s+")
# C0/C1 controls (newline and tab handled separately), bidi embeddings/overrides/isolates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_EVERYONE = re.compile(r"@(everyone|here)", re.IGNORECASE)
# <@123> users, <@!123>, <@&123> roles, <#123> channels, </cmd:123> commands, <:e:123> emoji
_ANGLE = re.compile(r"<(?=[@#/:]|a:|t:)")
_ESCAPED_OR_BRACKET = re.compile(r"\\.|[\[\]]", re.DOTALL)
_REF_OK = re.compile(r"^[A-Za-z0-9_.:-]{1,25}$")
ZWSP = "\u200b"


def discord_len(text: str) -> int:
    """Length in UTF-16 code units (an astral emoji counts 2): never below Discord's count."""
    return len(text.encode("utf-16-le")) // 2


def embed_length(embed: discord.Embed) -> int:
    """What counts toward the 6000 total: title, description, field names and values, footer
    text, author name (in UTF-16 code units)."""
    d: dict[str, Any] = dict(embed.to_dict())
    n = discord_len(d.get("title", "")) + discord_len(d.get("description", ""))
    for f in d.get("fields", []):
        n += discord_len(f.get("name", "")) + discord_len(f.get("value", ""))
    n += discord_len((d.get("footer") or {}).get("text", ""))
    n += discord_len((d.get("author") or {}).get("name", ""))
    return n


def clean(text: str) -> str:
    """``text`` without control or bidi-override characters (newlines and tabs kept)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def break_mentions(text: str) -> str:
    """``@everyone``, ``@here``, ``<@id>``, ``<@&id>``, ``<#id>`` ... broken with a zero-width
    space, so they show as text even where mentions would parse."""
    return _ANGLE.sub("<" + ZWSP, _EVERYONE.sub("@" + ZWSP + r"\1", text))


def _escape_brackets(text: str) -> str:
    """Escape every ``[`` and ``]`` not already escaped (walks backslash pairs correctly)."""
    return _ESCAPED_OR_BRACKET.sub(
        lambda m: m.group() if len(m.group()) == 2 else "\\" + m.group(), text
    )


def escape(text: str) -> str:
    """Untrusted text made inert for markdown surfaces (description, title, fields)."""
    return break_mentions(_escape_brackets(escape_markdown(clean(text))))


_CODE = re.compile(r"`([^`\n]+)`")


def escape_text(text: str) -> str:
    """Text the bot wrote, with `inline code` in it (notices, hints) and untrusted words inside
    (what the user typed): the code spans stay code, their content shown as is (Discord formats
    nothing inside a code span; mentions are still broken), and everything else is escaped."""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):
        out.append(escape(text[pos : m.start()]))
        out.append("`" + break_mentions(clean(m.group(1))) + "`")
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


CODE_MAX = 1800  # a code block's text in a description


def code_block(text: str) -> str:
    """Preformatted text as a code block, shown as it is (Discord formats nothing inside);
    mentions broken, a closing fence inside made harmless, cut at a line end to fit."""
    body = break_mentions(clean(text)).strip("\n").replace("```", "ˋˋˋ")
    if len(body) > CODE_MAX:
        cut = body.rfind("\n", 0, CODE_MAX)
        body = body[: cut if cut > 0 else CODE_MAX] + "\n…"
    return "```\n" + body + "\n```"


def plain(text: str) -> str:
    """Untrusted text for plain-text surfaces (footer): Discord renders no markdown there, so
    nothing is escaped (a backslash would show); mentions are broken, and a zero-width space
    between ``](`` keeps even a markdown-rendering surface from making a link of it."""
    return break_mentions(_WS.sub(" ", clean(text)).strip().replace("](", "]" + ZWSP + "("))


def rank_emoji(rank: int | None) -> str:
    if rank is None:
        return "•"
    if 1 <= rank <= len(KEYCAPS):
        return KEYCAPS[rank - 1]
    return f"**{rank}.**"


def safe_url(url: str | None, limit: int = URL_MAX) -> str | None:
    """``url`` if it is a plain http(s) URL that can sit inside ``[text](url)``, else None: the
    shared rule (``bot.platforms.shared.safe_url``), no backslash, and parentheses
    percent-encoded (they would end the link early)."""
    url = shared.safe_url(url, limit=limit, forbidden="\\")
    return url.replace("(", "%28").replace(")", "%29") if url is not None else None


def _fit(text: str, limit: int, esc: Callable[[str], str] = escape) -> str:
    """``text`` cut at a word boundary (with "…") so that its *escaped* form fits ``limit``."""
    n = min(len(text), limit)
    while n > 0:
        out = esc(truncate(text, n))
        over = discord_len(out) - limit
        if over <= 0:
            return out
        n -= max(1, over // 2 if over > 8 else over)
    return ""


def _line(text: str, limit: int) -> str:
    """One line of escaped text: whitespace collapsed, fitted."""
    return _fit(_WS.sub(" ", text).strip(), limit)


def _link(label: str, url: str) -> str:
    return f"[{label}]({url})"


def ref_of(footer_text: str | None) -> str | None:
    """The delivery reference in a footer written by ``render_message(ref=...)``."""
    if not footer_text:
        return None
    tail = footer_text.rsplit(" · ", 1)[-1]
    if not tail.startswith(REF_PREFIX):
        return None
    ref = tail[len(REF_PREFIX) :]
    return ref if _REF_OK.match(ref) else None


@dataclass(frozen=True, slots=True)
class _Level:
    summary: int
    bullets: int
    title: int
    links: bool
    url: int  # longest URL still linked
    text: int
    field: int


def _levels(summary_length: int) -> list[_Level]:
    s = max(0, summary_length)
    return [
        _Level(s, 2, 200, True, URL_MAX, 1500, FIELD_VALUE_MAX),
        _Level(min(s, 160), 0, 200, True, 500, 1000, 600),
        _Level(min(s, 110), 0, 160, True, 300, 600, 300),
        _Level(min(s, 60), 0, 120, True, 200, 400, 200),
        _Level(0, 0, 100, False, 200, 300, 120),
        _Level(0, 0, 80, False, 120, 200, 80),
    ]


def _section_links(sec: Section, show: Sequence[str], max_url: int) -> list[str]:
    """``[Label](url)`` for the first linkable URL of each label in ``show``."""

    def shown(link: Link) -> str | None:
        url = safe_url(link.url, max_url)
        return _link(_line(link.label, 40) or "link", url) if url is not None else None

    return shared.chosen_links(sec.links, show, shown)


def _section_text(sec: Section, lv: _Level, show: Sequence[str]) -> str:
    url = safe_url(shared.paper_url(sec), lv.url)
    title = _line(sec.title, lv.title) or "(untitled)"
    head = f"{rank_emoji(sec.rank)} **{_link(title, url) if url else title}**"
    lines = [head]
    lines += shared.detail_lines(
        clean(sec.body),
        sec.bullets,
        summary=lv.summary,
        max_bullets=lv.bullets,
        bullet_len=150,
        fit=_fit,
    )
    if lv.links:
        links = _section_links(sec, show, lv.url)
        if links:
            lines.append(" · ".join(links))
    return "\n".join(line for line in lines if line)


def _footer(msg: Message, ref: str | None) -> str:
    parts: list[str] = []
    seen: set[str] = set()
    if msg.kind == "digest":
        parts.append(VOTE_FOOTER)
        seen.add(VOTE_FOOTER.casefold())
    for c in msg.context:
        p = plain(c)
        if p and p.casefold() not in seen:
            seen.add(p.casefold())
            parts.append(p)
    tail = f"{REF_PREFIX}{ref}" if ref and _REF_OK.match(ref) else ""
    room = FOOTER_MAX - (discord_len(tail) + 3 if tail else 0)
    text = ""
    for p in parts:
        candidate = f"{text} · {p}" if text else p
        if discord_len(candidate) > room:
            if not text:
                text = _fit(p, room, plain)
            break
        text = candidate
    return f"{text} · {tail}" if text and tail else (text or tail)


def _fields(fields: Sequence[Field], lv: _Level) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for f in fields[:FIELDS_MAX]:
        name = _line(f.name, min(FIELD_NAME_MAX, 200)) or ZWSP
        value = _fit(clean(f.value).strip(), min(lv.field, FIELD_VALUE_MAX), escape_text) or ZWSP
        out.append((name, value))
    return out


def _colour(msg: Message) -> int:
    return {"digest": DIGEST_COLOUR, "notice": NOTICE_COLOUR}.get(msg.kind, REPLY_COLOUR)


def _build(
    msg: Message,
    lv: _Level,
    show: Sequence[str],
    ref: str | None,
    max_sections: int | None = None,
) -> discord.Embed:
    title = _line(msg.header, TITLE_MAX) or "Paperboy"
    embed = discord.Embed(title=title, url=safe_url(msg.url), colour=_colour(msg))
    parts: list[str] = []
    text = clean(msg.text).strip()
    if text:
        parts.append(_fit(text, lv.text, escape_text))
    if msg.code.strip():
        parts.append(code_block(msg.code))
    sections = list(msg.sections)
    shown = sections if max_sections is None else sections[:max_sections]
    parts.extend(_section_text(s, lv, show) for s in shown)
    if len(shown) < len(sections):
        parts.append(f"…and {len(sections) - len(shown)} more")
    description = "\n\n".join(p for p in parts if p)
    if description:
        embed.description = description
    for name, value in _fields(msg.fields, lv):
        embed.add_field(name=name, value=value, inline=False)
    footer = _footer(msg, ref)
    if footer:
        embed.set_footer(text=footer)
    return embed


def _fits(embed: discord.Embed) -> bool:
    return (
        discord_len(embed.description or "") <= DESCRIPTION_MAX and embed_length(embed) <= TOTAL_MAX
    )


@dataclass(slots=True)
class RenderedDiscord:
    """What to send: ``content`` (None: embeds only) and the embeds (one)."""

    content: str | None
    embeds: list[discord.Embed] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The plain JSON form, as it goes into Create Message (for tests and logs)."""
        return {"content": self.content, "embeds": [e.to_dict() for e in self.embeds]}

    @property
    def length(self) -> int:
        """Characters across all embeds, as Discord counts them for the 6000 total."""
        return sum(embed_length(e) for e in self.embeds)


def render_message(
    msg: Message,
    *,
    summary_length: int = 200,
    show_links: Sequence[str] = ("Paper", "Code", "Tweet"),
    ref: str | None = None,
) -> RenderedDiscord:
    """One embed for ``msg`` inside every Discord limit. ``ref`` (at most 25 chars of
    ``[A-Za-z0-9_.:-]``) is written at the end of the footer as ``ref <ref>``.
    ``summary_length`` applies to digests (``shared.summary_limit``)."""
    levels = _levels(shared.summary_limit(msg, summary_length))
    embed = _build(msg, levels[0], show_links, ref)
    for lv in levels[1:]:
        if _fits(embed):
            break
        embed = _build(msg, lv, show_links, ref)
    n = len(msg.sections)
    lv = levels[-1]
    while not _fits(embed) and n > 0:
        n = n * 2 // 3
        embed = _build(msg, lv, show_links, ref, max_sections=n)
    while not _fits(embed) and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    if not _fits(embed):  # cannot happen with the limits above; belt and braces
        embed.description = None
    return RenderedDiscord(content=None, embeds=[embed])
