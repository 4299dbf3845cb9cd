"""The "Browse the archive" link under posted digests: present when the web archive has a
public address (``web.base_url``), pointing at the week's page (or the leaderboard for a
community digest); absent otherwise, and never on private lookup replies."""

from __future__ import annotations

from datetime import date

from bot.core.messages import Link
from bot.delivery.digest import ARCHIVE_LABEL, DigestOptions, community_message, week_message
from bot.papers.catalog import Catalog
from bot.papers.model import Paper, Week

PAPER = Paper(1, "A Paper", "Summary.", links=(Link("Paper", "https://arxiv.org/abs/2501.00001"),))
WEEK = Week(date(2025, 6, 23), date(2025, 6, 29), "Week", "x.md", (PAPER,))
WITH_WEB = DigestOptions(archive_url="https://papers.example.org/")


def test_a_curated_digest_links_to_its_week_page() -> None:
    msg = week_message(WEEK, WITH_WEB)
    assert [(b.label, b.url, b.action) for b in msg.buttons] == [
        (ARCHIVE_LABEL, "https://papers.example.org/weeks/2025-06-23", None)
    ]


def test_a_community_digest_links_to_the_leaderboard() -> None:
    paper = Catalog.build([WEEK]).get(PAPER.paper_id)
    assert paper is not None
    msg = community_message([(paper, 3)], "Jun 23 – Jun 29, 2025", WITH_WEB)
    assert [b.url for b in msg.buttons] == ["https://papers.example.org/top?period=week"]


def test_no_link_without_a_web_address_or_on_a_private_reply() -> None:
    assert week_message(WEEK, DigestOptions()).buttons == ()
    assert week_message(WEEK, WITH_WEB, kind="reply").buttons == ()


def test_every_platform_shows_the_link_as_a_url_button() -> None:
    from support.slack import validate_blocks

    from bot.platforms.discord.translate import link_buttons
    from bot.platforms.slack.render import render_message as slack
    from bot.platforms.terminal.render import render_message as terminal

    msg = week_message(WEEK, WITH_WEB)
    url = "https://papers.example.org/weeks/2025-06-23"
    blocks = slack(msg)["blocks"]
    assert validate_blocks(blocks) is None
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["url"]) for b in buttons] == [(ARCHIVE_LABEL, url)]
    assert link_buttons(msg) == [{"label": ARCHIVE_LABEL, "url": url}]
    assert f"{ARCHIVE_LABEL}: {url}" in terminal(msg)
