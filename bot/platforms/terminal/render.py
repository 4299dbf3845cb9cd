"""Neutral Message -> readable terminal text, with ANSI colour when asked for.

Curated and typed text is stripped of control characters first, so a title cannot move the
cursor, clear the screen or set the terminal's title.
"""

from __future__ import annotations

import re
import shutil
import textwrap

from bot.core.messages import Message, Section
from bot.core.text import truncate_words
from bot.platforms.shared import PAGE_ACTION, SHARE_ACTION, summary_limit

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")


def clean(text: str) -> str:
    """Printable text: control characters (ESC, BEL, bidi overrides, ...) removed, tabs to
    spaces, whitespace runs kept as typed otherwise."""
    return _CONTROL.sub("", text.replace("\t", " "))


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def accent(self, text: str) -> str:
        return self._wrap("1;36", text)

    def link(self, text: str) -> str:
        return self._wrap("4;34", text)


def _width() -> int:
    return max(40, min(shutil.get_terminal_size((100, 24)).columns, 110))


def _section(s: Section, style: Style, width: int, summary_length: int) -> list[str]:
    indent = "    "
    lead = f"{s.rank:>2}. " if s.rank is not None else " •  "
    lines = [lead + style.bold(clean(truncate_words(s.title, 300)))]
    body = clean(truncate_words(s.body, summary_length)) if s.body else ""
    if body:
        lines += textwrap.wrap(
            body, width - len(indent), initial_indent=indent, subsequent_indent=indent
        )
    for b in s.bullets:
        lines += textwrap.wrap(
            clean(b), width - 6, initial_indent=indent + "· ", subsequent_indent=indent + "  "
        )
    urls = []
    if s.url and not any(link.url == s.url for link in s.links):
        urls.append(style.link(clean(s.url)))
    urls += [f"{clean(link.label)}: {style.link(clean(link.url))}" for link in s.links]
    if urls:
        lines.append(indent + style.dim("  ·  ").join(urls))
    return lines


def render_message(
    msg: Message,
    *,
    color: bool = False,
    message_id: str | None = None,
    summary_length: int = 400,
    width: int | None = None,
) -> str:
    width = width or _width()
    summary_length = summary_limit(msg, summary_length)  # the configured length is for digests
    style = Style(color)
    rule = "━" * 3
    head = f"{rule} {clean(msg.header)} {rule}"
    if message_id:
        head += style.dim(f"  [message {message_id}]")
    out = [style.accent(head) if msg.kind == "digest" else style.bold(head)]
    if msg.url:
        out.append("    " + style.link(clean(msg.url)))
    if msg.text:
        out += textwrap.wrap(clean(msg.text), width, initial_indent="  ", subsequent_indent="  ")
    for s in msg.sections:
        out += _section(s, style, width, summary_length)
    if msg.code.strip():
        out += ["    " + line for line in clean(msg.code).strip("\n").splitlines()]
    for f in msg.fields:
        if len(f.name) + len(f.value) < width - 8:
            out.append(f"  {style.bold(clean(f.name))}: {clean(f.value)}")
            continue
        out.append(f"  {style.bold(clean(f.name))}")
        out += textwrap.wrap(
            clean(f.value), width - 6, initial_indent="      ", subsequent_indent="      "
        )
    hints = [clean(c) for c in msg.context]
    for b in msg.buttons:
        if b.url:
            hints.append(f"{clean(b.label)}: {clean(b.url)}")
        elif b.action == PAGE_ACTION:
            hints.append(f"{clean(b.label)}: /papers {clean(b.value)}")
        elif b.action == SHARE_ACTION:
            hints.append("type `share` to post this to the channel")
    if msg.kind == "digest":
        hints.append("vote with `react <rank>` (e.g. `react 3`), undo with `unreact <rank>`")
    for h in hints:
        out.append(style.dim("  " + h))
    return "\n".join(out)
