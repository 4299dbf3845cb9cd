"""Every vote counts, end to end: ``paperboy run`` as a subprocess on Slack (Socket Mode, the
real slack-bolt) against the fake Slack in this process, which enforces Slack's Tier 3 limit on
``reactions.add`` and ``reactions.get`` (50 calls per workspace per window; the window is cut
from a minute to a second so the test takes seconds, and the bot is told the same limit).

A digest goes to 50 channels. While the bot is adding the ten keycaps under them, people vote
(some take a vote back); the bot is killed with SIGKILL in the middle of seeding; more votes and
removals happen while it is down; it starts again. In the end every digest has all ten keycaps,
no digest was posted twice, and the stored votes are exactly the people's reactions (each once).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.slack import APP_TOKEN, BOT_TOKEN, BOT_USER_ID, TEAM_ID, FakeSlack

from bot.core.messages import ChannelRef
from bot.storage.sqlite import SqliteStore

pytestmark = pytest.mark.slow

CHANNELS = [f"C0SCENE{i:02d}" for i in range(50)]
KEYCAPS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "keycap_ten"]
PEOPLE = [f"U0VOTER{i}" for i in range(8)]
ROOT = Path(__file__).resolve().parents[2]

# A curated week of ten (titles and arXiv ids are facts; the summaries are ours).
WEEKLY = """\
# Picks for the kill test

## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Translation from attention layers alone. | [Paper](https://arxiv.org/abs/1706.03762) |
| 2) **Deep Residual Learning for Image Recognition** - Shortcuts let very deep nets train. | [Paper](https://arxiv.org/abs/1512.03385) |
| 3) **Adam: A Method for Stochastic Optimization** - Step sizes from running moments. | [Paper](https://arxiv.org/abs/1412.6980) |
| 4) **BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding** - Masked words teach a reader both directions. | [Paper](https://arxiv.org/abs/1810.04805) |
| 5) **Denoising Diffusion Probabilistic Models** - Images by undoing noise step by step. | [Paper](https://arxiv.org/abs/2006.11239) |
| 6) **Language Models are Few-Shot Learners** - A large model follows examples in its prompt. | [Paper](https://arxiv.org/abs/2005.14165) |
| 7) **Generative Adversarial Networks** - A generator and a critic train against each other. | [Paper](https://arxiv.org/abs/1406.2661) |
| 8) **Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift** - Normalised layer inputs speed training. | [Paper](https://arxiv.org/abs/1502.03167) |
| 9) **An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale** - Image patches as tokens. | [Paper](https://arxiv.org/abs/2010.11929) |
| 10) **Playing Atari with Deep Reinforcement Learning** - Q-learning from raw pixels. | [Paper](https://arxiv.org/abs/1312.5602) |
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    for user in PEOPLE:
        server.add_user(user)
    server.limit("reactions.add", 50, per=1.0)
    server.limit("reactions.get", 50, per=1.0)
    yield server
    await server.stop()


def write_config(tmp: Path, fake: FakeSlack) -> Path:
    (tmp / "picks.md").write_text(WEEKLY, encoding="utf-8")
    now = datetime.now(UTC)
    # The bot's clock reads 4 s before a whole minute (at least 20 s from now): the cron fires.
    fire = (now + timedelta(seconds=20)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    offset = (fire - timedelta(seconds=4) - now).total_seconds()
    subs = "".join(
        f"  - platform: slack\n    workspace: {TEAM_ID}\n    channel: {c}\n"
        f'    cron: "{fire.minute} {fire.hour} * * *"\n    timezone: UTC\n'
        for c in CHANNELS
    )
    config = tmp / "paperboy.yaml"
    config.write_text(
        f"""\
clock_offset: {offset:.3f}s
sources:
  paths: [picks.md]
  cache_dir: {tmp / "cache"}
store:
  url: sqlite:///{tmp / "bot.db"}
slack:
  mode: socket
  api_base_url: {fake.url}
  reaction_calls: 50
  reaction_period: 1s
terminal:
  enabled: false
arxiv:
  enabled: false
http:
  enabled: false
log_level: INFO
subscriptions:
{subs}""",
        encoding="utf-8",
    )
    return config


class Bot:
    """``paperboy run`` in a subprocess, its output in a file (read when something fails)."""

    def __init__(self, tmp: Path, config: Path, run: int) -> None:
        self.tmp, self.config, self.log = tmp, config, tmp / f"run{run}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        env.pop("DATABASE_URL", None)
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(self.config), "run",
                cwd=self.tmp, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        assert self.proc.returncode == -signal.SIGKILL

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 20)

    def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


def people_votes(fake: FakeSlack, ts_of: dict[str, str]) -> set[tuple[str, str, str, str]]:
    """What the people's reactions say: (channel, ts, user, keycap), the bot's own left out."""
    out = set()
    for channel, ts in ts_of.items():
        for name, users in fake.reactions(channel, ts).items():
            out |= {(channel, ts, u, name) for u in users if u != BOT_USER_ID and name in KEYCAPS}
    return out


async def stored_votes(db: Path, ts_of: dict[str, str]) -> set[tuple[str, str, str, str]]:
    store = SqliteStore(str(db))
    await store.open()
    try:
        out = set()
        for channel, ts in ts_of.items():
            ref = ChannelRef("slack", TEAM_ID, channel)
            out |= {(channel, ts, v.user_id, v.emoji) for v in await store.votes_on(ref, ts)}
        return out
    finally:
        await store.close()


async def until(predicate: object, timeout: float, what: str, bot: Bot) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen; the bot said:\n{bot.output()}")
        await asyncio.sleep(0.05)


async def test_kill_9_during_seeding_every_keycap_and_every_vote_counted_once(
    tmp_path: Path, fake: FakeSlack
) -> None:
    config = write_config(tmp_path, fake)
    first = Bot(tmp_path, config, 1)
    second = Bot(tmp_path, config, 2)
    try:
        await first.start()

        async def posted() -> bool:
            return len(fake.calls("chat.postMessage")) == len(CHANNELS)

        async def seeding(n: int) -> bool:
            return len(fake.calls("reactions.add")) >= n

        await until(posted, 60, "the fan-out", first)
        ts_of = {c: fake.messages(c)[0]["ts"] for c in CHANNELS}
        await until(lambda: seeding(30), 30, "seeding", first)
        # Votes while the keycaps go on: delivered to the bot as they happen.
        for i, channel in enumerate(CHANNELS[:25]):
            voter = PEOPLE[i % len(PEOPLE)]
            await fake.react(channel, ts_of[channel], KEYCAPS[i % 10], voter)
            await fake.react(channel, ts_of[channel], "three", PEOPLE[(i + 3) % len(PEOPLE)])
        await fake.react(CHANNELS[0], ts_of[CHANNELS[0]], "three", PEOPLE[3], added=False)
        await until(lambda: seeding(150), 30, "more seeding", first)
        await first.kill()  # in the middle of seeding
        added = len(fake.calls("reactions.add"))
        assert added < len(CHANNELS) * 10, "seeding was over before the kill"

        # While the bot is down: more votes, and some taken back. Nobody tells the bot.
        for i, channel in enumerate(CHANNELS[20:], start=20):
            await fake.react(
                channel, ts_of[channel], KEYCAPS[(i * 7) % 10], PEOPLE[i % 8], deliver=False
            )
        for channel in CHANNELS[1:6]:
            ts = ts_of[channel]
            for name, users in fake.reactions(channel, ts).items():
                for user in users:
                    if user != BOT_USER_ID:
                        await fake.react(channel, ts, name, user, added=False, deliver=False)

        await second.start()

        async def done() -> bool:
            keycaps = all(fake.bot_reactions(c, ts_of[c]) == KEYCAPS for c in CHANNELS)
            votes = await stored_votes(tmp_path / "bot.db", ts_of)
            return keycaps and votes == people_votes(fake, ts_of)

        await until(done, 90, "all keycaps and votes", second)
        assert await second.stop() == 0, second.output()
    finally:
        first.ensure_dead()
        second.ensure_dead()

    # Every digest once, with all ten keycaps in order; every vote once, as the reactions say.
    assert len(fake.calls("chat.postMessage")) == len(CHANNELS)
    assert all(len(fake.messages(c)) == 1 for c in CHANNELS)
    expected = people_votes(fake, ts_of)
    assert len(expected) > 40 and any(c in CHANNELS[:25] for c, *_ in expected)
    assert await stored_votes(tmp_path / "bot.db", ts_of) == expected
    assert "Traceback" not in second.output()
