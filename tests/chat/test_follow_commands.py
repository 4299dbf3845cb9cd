"""``/papers follow|following|unfollow``: private to the person, per workspace, limited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.clock import FakeClock

from bot.chat.commands import CommandContext, Commands
from bot.core.messages import ChannelRef, Invocation, Reply
from bot.delivery.digest import DigestBuilder
from bot.delivery.follows import FOLLOW_LIMIT
from bot.papers.catalog import Catalog
from bot.storage import Store, open_store

HERE = ChannelRef("slack", "T1", "C1")
ELSEWHERE = ChannelRef("slack", "T2", "C1")  # another workspace


@pytest.fixture
async def commands(tmp_path: Path) -> AsyncIterator[Commands]:
    store: Store = open_store(f"sqlite:///{tmp_path}/f.db")
    await store.open()
    cat = Catalog.build([])
    yield Commands(
        CommandContext(
            catalog=lambda: cat,
            store=store,
            clock=FakeClock(datetime(2025, 7, 1, tzinfo=UTC)),
            digests=DigestBuilder(lambda: cat, store),
        )
    )
    await store.close()


async def ask(c: Commands, text: str, user: str = "U1", channel: ChannelRef = HERE) -> Reply:
    reply = await c.handle(Invocation(channel, user, text))
    m = reply.message
    assert m.ephemeral and not m.buttons  # private, and never shareable
    return reply


async def test_follow_list_and_unfollow(commands: Commands) -> None:
    assert (await ask(commands, "follow Diffusion  -Video")).message.header == "Following"
    assert (await ask(commands, "follow diffusion -video")).message.header == "Already following"
    await ask(commands, "follow author:Vaswani")
    listed = (await ask(commands, "following")).message
    assert [(f.name, f.value) for f in listed.fields] == [
        ("Follow 1", "`diffusion -video`"),
        ("Follow 2", "`author:vaswani`"),
    ]
    # Someone else, or the same person in another workspace, sees none of it.
    assert (await ask(commands, "following", user="U2")).message.header == "You follow nothing yet"
    other = await ask(commands, "following", channel=ELSEWHERE)
    assert other.message.header == "You follow nothing yet"
    assert (await ask(commands, "unfollow 1")).message.header == "Unfollowed"
    assert [f.value for f in (await ask(commands, "following")).message.fields] == [
        "`author:vaswani`"
    ]
    assert (await ask(commands, "unfollow all")).message.text == "Deleted 1 follow."
    assert (await ask(commands, "following")).message.header == "You follow nothing yet"


async def test_bad_input_gets_a_friendly_answer(commands: Commands) -> None:
    for text in (
        "follow",
        "follow -video",
        "follow cat:!!",
        "unfollow",
        "unfollow 3",
        "unfollow x",
    ):
        m = (await ask(commands, text)).message
        assert m.kind == "notice" and m.header != "Sorry, something went wrong", text


async def test_at_most_25_follows_each(commands: Commands) -> None:
    for i in range(FOLLOW_LIMIT):
        assert (await ask(commands, f"follow topic{i}")).message.header == "Following"
    full = (await ask(commands, "follow one more")).message
    assert full.header == "You follow the most you can" and "25" in full.text
    assert (await ask(commands, "follow topic0", user="U2")).message.header == "Following"
