"""Neutral ``Message`` -> Slack Block Kit (``{"text": fallback, "blocks": [...]}``).

Every piece of text that reaches Slack here is untrusted (curated tables, user queries) and is
escaped for mrkdwn: exactly ``&`` ``<`` ``>``, so ``<!channel>`` or ``<https://evil|click>`` in
a title shows as text and never pings or links. URLs become links only when they are plain
http(s) URLs; anything else is shown as escaped text.

The output stays inside Slack's limits with margin whatever the input: at most
``MAX_BLOCKS`` blocks, per-block text limits, and ``TEXT_BUDGET`` characters of text across all
blocks (summaries, bullets and links shrink step by step until it fits).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.messages import Button, Link, Message, Section
from bot.core.text import truncate
from bot.platforms import shared

__all__ = [
    "MAX_BLOCKS",
    "TEXT_BUDGET",
    "block_text_length",
    "escape",
    "rank_emoji",
    "render_message",
    "safe_url",
    "truncate",
]

Block = dict[str, Any]

# Slack's limits, with margin.
MAX_BLOCKS = 45  # Slack: 50
SECTION_TEXT = 2900  # Slack: 3000
FIELD_TEXT = 1900  # Slack: 2000 per field, 10 fields per section
MAX_FIELDS = 10
HEADER_TEXT = 150  # Slack: 150 (plain_text)
CONTEXT_ELEMENTS = 10  # Slack: 10
CONTEXT_TEXT = 1000
BUTTON_TEXT = 75  # Slack: 75
BUTTON_VALUE = 2000  # Slack: 2000
MAX_BUTTONS = 5  # Slack: 25 per actions block
URL_MAX = 2000  # Slack: 3000 for button urls
FALLBACK_TEXT = 3000  # Slack truncates past 40,000
TEXT_BUDGET = 10_000  # reported total-text failures start near 13,000
BLOCK_ID_MAX = 255

VOTE_FOOTER = "React 1️⃣–🔟 to vote for a paper"

_RANK_NAMES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_WS = re.compile(r"\s+")


CODE_TEXT = 2900  # a code block's text, within a section's 3,000


def escape(text: str) -> str:
    """Escape the three characters Slack treats as markup: ``&``, ``<``, ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rank_emoji(rank: int | None) -> str:
    """``:one:``..``:nine:``, ``:keycap_ten:`` for ranks 1-10; ``*N.*`` otherwise."""
    if rank is None:
        return "•"
    if 1 <= rank <= 9:
        return f":{_RANK_NAMES[rank - 1]}:"
    if rank == 10:
        return ":keycap_ten:"
    return f"*{rank}.*"


def safe_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) URL Slack can link safely, else None: the shared rule
    (``bot.platforms.shared.safe_url``), and no ``|`` (it ends the link target) or ``'``."""
    return shared.safe_url(url, limit=URL_MAX, forbidden="|'")


def _fit(text: str, limit: int) -> str:
    """Escaped ``text``, cut so the *escaped* form is at most ``limit`` chars."""
    n = limit
    while True:
        out = escape(truncate(text, n))
        if len(out) <= limit or n <= 0:
            return out if len(out) <= limit else ""
        n -= max(1, len(out) - limit)


def _plain(text: str, limit: int) -> str:
    """One line of plain text: whitespace collapsed, escaped, fitted."""
    return _fit(_WS.sub(" ", text).strip(), limit)


def _link_label(text: str, limit: int) -> str:
    """Escaped link text; ``|`` would end the label early, so it becomes ``¦``."""
    return _plain(text.replace("|", "¦"), limit)


def _mrkdwn_link(url: str, label: str, limit: int = 300) -> str:
    return f"<{escape(url)}|{_link_label(label, limit) or escape(url)[:limit]}>"


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _section(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": _mrkdwn(text)}
    if block_id:
        block["block_id"] = block_id[:BLOCK_ID_MAX]
    return block


def _context(elements: Sequence[str]) -> Block:
    return {"type": "context", "elements": [_mrkdwn(e) for e in elements[:CONTEXT_ELEMENTS]]}


@dataclass(frozen=True, slots=True)
class _Level:
    """How much detail to keep; later levels shrink the message to fit the text budget."""

    summary: int
    bullets: int
    bullet_len: int
    title: int
    text: int
    field: int
    context: int
    links: bool


def _levels(summary_length: int) -> list[_Level]:
    """From full detail down to titles only; extras (text, fields, context) shrink first."""
    s = max(0, summary_length)
    return [
        _Level(s, 5, 200, 300, SECTION_TEXT, FIELD_TEXT, CONTEXT_TEXT, True),
        _Level(s, 3, 120, 300, 2000, 600, 400, True),
        _Level(min(s, 200), 0, 0, 250, 1000, 300, 200, True),
        _Level(min(s, 120), 0, 0, 200, 500, 150, 120, True),
        _Level(min(s, 60), 0, 0, 150, 300, 100, 100, True),
        _Level(0, 0, 0, 120, 300, 100, 100, False),
    ]


def _section_links(sec: Section, show: Sequence[str]) -> list[str]:
    """``<url|Label>`` for the first link of each label in ``show``; bad URLs as plain text."""
    return shared.chosen_links(sec.links, show, _link_text)


def _join_within(parts: Sequence[str], sep: str, limit: int) -> str:
    """Whole ``parts`` joined by ``sep`` while the result stays within ``limit`` chars."""
    out = ""
    for part in parts:
        candidate = f"{out}{sep}{part}" if out else part
        if len(candidate) > limit:
            break
        out = candidate
    return out


def _link_text(link: Link) -> str:
    url = safe_url(link.url)
    if url is None:
        return f"{_plain(link.label, 40)}: {_plain(link.url, 200)}"
    return _mrkdwn_link(url, link.label, 40)


def _paper_blocks(
    sec: Section, index: int, lv: _Level, show: Sequence[str], links_as_context: bool
) -> list[Block]:
    url = safe_url(shared.paper_url(sec))
    title = _link_label(sec.title, lv.title) or "(untitled)"
    head = (
        f"{rank_emoji(sec.rank)} *<{escape(url)}|{title}>*"
        if url
        else f"{rank_emoji(sec.rank)} *{title}*"
    )
    if sec.url and not url:
        head += f"\n{_plain(sec.url, 200)}"
    lines = [head]
    lines += shared.detail_lines(
        sec.body,
        sec.bullets,
        summary=lv.summary,
        max_bullets=lv.bullets,
        bullet_len=lv.bullet_len,
        fit=_fit,
    )
    links = _section_links(sec, show) if lv.links else []
    if links and not links_as_context:
        lines.append(_join_within(links, " · ", CONTEXT_TEXT))
    text = "\n".join(lines)
    if len(text) > SECTION_TEXT:
        text = head[:SECTION_TEXT]
    block_id = f"paper:{index}"
    if sec.paper_id:
        block_id += ":" + re.sub(r"[^\w.:-]", "", sec.paper_id)[:64]
    blocks = [_section(text, block_id)]
    if links and links_as_context:
        blocks.append(_context([_join_within(links, " · ", CONTEXT_TEXT)]))
    return blocks


def _buttons(buttons: Sequence[Button]) -> tuple[list[Block], list[str]]:
    """Slack button elements (unique action_ids) and escaped text for unusable URL buttons."""
    elements: list[Block] = []
    leftovers: list[str] = []
    used: dict[str, int] = {}
    for button in buttons:
        if len(elements) >= MAX_BUTTONS:
            break
        label = _WS.sub(" ", button.label).strip() or "Open"
        if button.url is not None:
            url = safe_url(button.url)
            if url is None:
                leftovers.append(f"{_plain(label, 60)}: {_plain(button.url, 200)}")
                continue
            base = "papers_link"
            extra: Block = {"url": url}
        elif button.action:
            base = "papers_" + re.sub(r"[^a-z0-9_]", "_", button.action.lower())[:40]
            extra = {"value": button.value[:BUTTON_VALUE]}
        else:
            continue
        used[base] = used.get(base, 0) + 1
        action_id = base if used[base] == 1 else f"{base}__{used[base]}"
        elements.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": truncate(label, BUTTON_TEXT), "emoji": True},
                "action_id": action_id,
                **extra,
            }
        )
    return elements, leftovers


def _render(
    msg: Message, lv: _Level, show: Sequence[str], max_sections: int | None = None
) -> list[Block]:
    top: list[Block] = []
    header = _plain(msg.header, HEADER_TEXT)
    if header:
        top.append(
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}
        )
    text = _fit(msg.text.strip(), lv.text)
    url = safe_url(msg.url)
    if text:
        top.append(_section(text))
    if msg.code.strip():
        code = _fit(msg.code.strip("\n"), CODE_TEXT).replace("```", "ˋˋˋ")
        top.append(_section("```" + code + "```"))
    if url:
        top.append(_context([_mrkdwn_link(url, "Source")]))
    elif msg.url:
        top.append(_context([_plain(msg.url, 300)]))

    tail: list[Block] = []
    fields = [
        _mrkdwn(_fit(f"*{_WS.sub(' ', f.name).strip()}*\n{f.value}", lv.field))
        for f in msg.fields[:MAX_FIELDS]
    ]
    if fields:
        tail.append({"type": "section", "fields": fields})
    elements, leftovers = _buttons(msg.buttons)
    # A digest's vote hint is added once, below; the digest's own copy is not repeated.
    hint = VOTE_FOOTER.casefold() if msg.kind == "digest" else None
    context = [
        _plain(c, lv.context) for c in msg.context if c.strip() and c.strip().casefold() != hint
    ]
    context = [c for c in context + leftovers if c][:CONTEXT_ELEMENTS]
    if context:
        tail.append(_context(context))
    if elements:
        tail.append({"type": "actions", "block_id": "papers_actions", "elements": elements})
    if msg.kind == "digest":
        tail.append(_context([VOTE_FOOTER]))

    sections = list(msg.sections)
    room = MAX_BLOCKS - len(top) - len(tail) - 1  # one spare for "…and N more"
    if max_sections is not None:
        room = min(room, max_sections)
    shown = sections[: max(0, room)]
    links_as_context = lv.links and 2 * len(shown) <= room
    middle: list[Block] = []
    for i, sec in enumerate(shown):
        middle.extend(_paper_blocks(sec, i, lv, show, links_as_context))
    if len(sections) > len(shown):
        middle.append(_context([f"…and {len(sections) - len(shown)} more"]))
    return top + middle + tail


def block_text_length(value: Any) -> int:
    """Characters of every string inside a block structure (texts, URLs, values)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(block_text_length(v) for k, v in value.items() if k != "type")
    if isinstance(value, list):
        return sum(block_text_length(v) for v in value)
    return 0


def _fallback(msg: Message) -> str:
    return _fit(msg.fallback_text().strip(), FALLBACK_TEXT) or "Paperboy"


def render_message(
    msg: Message,
    *,
    summary_length: int = 280,
    show_links: Sequence[str] = ("Paper", "Code", "Tweet"),
) -> dict[str, Any]:
    """Block Kit for ``msg``: ``{"text": escaped plain fallback, "blocks": [...]}``."""
    blocks: list[Block] = []
    for lv in _levels(shared.summary_limit(msg, summary_length)):
        blocks = _render(msg, lv, show_links)
        if block_text_length(blocks) <= TEXT_BUDGET:
            break
    else:
        # Still too long at the smallest level: show fewer papers, then drop trailing blocks.
        lv = _levels(0)[-1]
        n = len(msg.sections)
        while n > 0 and block_text_length(blocks) > TEXT_BUDGET:
            n = n * 2 // 3
            blocks = _render(msg, lv, show_links, max_sections=n)
        while len(blocks) > 1 and block_text_length(blocks) > TEXT_BUDGET:
            blocks.pop()
    return {"text": _fallback(msg), "blocks": blocks}
