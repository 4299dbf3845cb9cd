"""A message's preformatted text (``Message.code``: BibTeX from ``/papers cite``) is a code
block on every platform, shown line for line, and cannot ping anyone or end its block early."""

from __future__ import annotations

from support.slack import validate_blocks

from bot.core.messages import Message, Section, message_from_json, message_to_json
from bot.platforms.discord.render import render_message as discord_render
from bot.platforms.slack.render import render_message as slack_render
from bot.platforms.terminal.render import render_message as terminal_render

CODE = "@misc{key,\n  title = {A <!channel> @everyone ``` fence},\n  url = {https://x.org/a_b}\n}\n"
MSG = Message(header="BibTeX", sections=(Section(title="A paper"),), code=CODE)


def test_slack_shows_a_code_block_with_markup_escaped() -> None:
    blocks = slack_render(MSG)["blocks"]
    assert validate_blocks(blocks) is None
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    (code,) = [t for t in texts if t.startswith("```")]
    assert code.endswith("```") and code.count("```") == 2
    assert "&lt;!channel&gt;" in code and "<!channel>" not in code
    assert "  title = {A" in code and "\n  url = {https://x.org/a_b}\n}" in code


def test_discord_shows_a_code_block_with_mentions_broken() -> None:
    description = discord_render(MSG).embeds[0].description or ""
    start = description.index("```\n")
    block = description[start:]
    assert block.count("```") == 2
    assert "@everyone" not in block and "@\u200beveryone" in block
    assert "\n  url = {https://x.org/a_b}\n}\n```" in block


def test_the_terminal_prints_the_lines_as_they_are() -> None:
    out = terminal_render(MSG, width=60)
    assert "      title = {A <!channel> @everyone ``` fence}," in out.splitlines()


def test_code_survives_being_kept_for_sharing() -> None:
    assert message_from_json(message_to_json(MSG)) == MSG
