"""The whole bot (``App``) wired to the real ``DiscordAdapter`` on discord.py against the local
fake Discord (REST + gateway), on a ``FakeClock``: the settings, start and stop, cron fires,
commands and vote bookkeeping the Discord app tests share."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config.load import parse_config
from bot.config.settings import Settings
from bot.core.messages import ChannelRef
from bot.papers.model import make_paper_id
from support.discord import (
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    EPHEMERAL,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    READER_ID,
    TOKEN,
    FakeDiscord,
    Interaction,
    embed_problems,
)

CHANNEL = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
OTHER_CHANNEL_ID = CHANNEL_ID + 1
OTHER_READER = READER_ID + 1
WEEK_KEY = "week:2025-06-23"
BEFORE_FIRE = datetime(2025, 6, 30, 8, 0, tzinfo=UTC)  # a Monday, an hour before the cron
FIRE = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)
NEXT_FIRE = datetime(2025, 7, 7, 9, 0, tzinfo=UTC)

# Our own small archive: two curated weeks of real papers (titles and arXiv ids are facts, the
# summaries are ours), and three older weeks of made-up "Attention Routing" studies so that
# autocomplete has more candidates than Discord's 25 choices.
WEEKLY = """\
# Picks for the Discord tests

## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Sequence transduction built from attention alone, no recurrent steps. | [Paper](https://arxiv.org/abs/1706.03762) |
| 2) **Deep Residual Learning for Image Recognition** - Skip connections let image networks grow very deep and still train. | [Paper](https://arxiv.org/abs/1512.03385) |
| 3) **Adam: A Method for Stochastic Optimization** - Adaptive step sizes from running averages of gradients and their squares. | [Paper](https://arxiv.org/abs/1412.6980) |

## Top ML Papers of the Week (June 16 - June 22) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Denoising Diffusion Probabilistic Models** - A generator trained to reverse a slow noising process, step by step. | [Paper](https://arxiv.org/abs/2006.11239) |
| 2) **Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift** - Normalising layer inputs per mini-batch speeds training up. | [Paper](https://arxiv.org/abs/1502.03167) |
"""

SYNTHETIC_WEEKS = [
    ("March 3 - March 9", 0),
    ("March 10 - March 16", 10),
    ("March 17 - March 23", 20),
]

ATTENTION = make_paper_id("arxiv:1706.03762")
RESIDUAL = make_paper_id("arxiv:1512.03385")
ADAM = make_paper_id("arxiv:1412.6980")


def archive_text() -> str:
    parts = [WEEKLY]
    for label, first in SYNTHETIC_WEEKS:
        rows = [
            f"| {r}) **Attention Routing Study {first + r}** - A made-up study for the tests, "
            f"number {first + r}. | [Paper](https://example.org/papers/{first + r}) |"
            for r in range(1, 11)
        ]
        parts.append(
            f"\n## Top ML Papers of the Week ({label}) - 2024\n"
            "| **Paper**  | **Links** |\n| ------------- | ------------- |\n"
            + "\n".join(rows)
            + "\n"
        )
    return "".join(parts)


def settings_for(
    tmp_path: Path, fake: FakeDiscord, *, channels: Sequence[int] = (CHANNEL_ID,)
) -> Settings:
    """Settings as ``paperboy run`` would read them: YAML, the token from the environment; a
    weekly subscription for each of ``channels``."""
    weekly = tmp_path / "picks.md"
    if not weekly.exists():
        weekly.write_text(archive_text(), encoding="utf-8")
    subs = "".join(
        f'  - platform: discord\n    workspace: "{GUILD_ID}"\n    channel: "{channel}"\n'
        '    cron: "0 9 * * MON"\n    timezone: UTC\n'
        for channel in channels
    )
    text = f"""\
sources:
  paths: [{weekly}]
  cache_dir: {tmp_path / "cache"}
store:
  url: sqlite:///{tmp_path / "paperboy.db"}
timezone: UTC
discord:
  application_id: "{APP_ID}"
  test_guild: "{GUILD_ID}"
  api_base_url: {fake.api_url}
  gateway_url: {fake.gateway_url}
terminal:
  enabled: false
arxiv:
  enabled: false
http:
  enabled: false
subscriptions:
{subs}"""
    return parse_config(text, source="test.yaml", env={"DISCORD_TOKEN": TOKEN})


async def command(
    fake: FakeDiscord,
    sub: str,
    options: dict[str, Any] | None = None,
    *,
    group: str = "papers",
    user: int = READER_ID,
    permissions: int = MEMBER_PERMISSIONS,
) -> tuple[Interaction, dict[str, Any]]:
    """``/<group> <sub>`` as a member would type it; returns the interaction and what the user
    finally sees (the edit replacing the "thinking" placeholder, or a direct answer)."""
    it = await fake.slash(sub, options or {}, command=group, user=user, permissions=permissions)
    await fake.wait_for(lambda: it.answered_at is not None)
    first = it.callbacks[0]
    assert it.latency is not None  # answered (timing is measured in bench/discord_bench.py)
    if first["type"] == 4:
        return it, dict(first["data"])
    assert first["type"] == 5 and first["data"]["flags"] & EPHEMERAL  # private "thinking"
    [edit] = it.edits
    assert embed_problems(edit["embeds"]) == []
    assert edit["allowed_mentions"] == {"parse": []}
    return it, edit


def bot_messages(fake: FakeDiscord) -> list[dict[str, Any]]:
    """What the bot has in the digest channel (ephemeral answers are not stored there)."""
    return [m for m in fake.stored(CHANNEL_ID) if m["author"]["id"] == str(BOT_ID)]


def text_of(data: dict[str, Any]) -> str:
    return json.dumps(data.get("embeds") or [], ensure_ascii=False)
