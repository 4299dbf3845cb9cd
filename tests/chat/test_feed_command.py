"""``/papers feed [rotate]``: a channel's private web link, for admins, only when the web
archive is served; rotating replaces the token so the old link stops resolving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from support.clock import FakeClock

from bot.chat.commands import CommandContext, Commands
from bot.core.messages import ChannelRef, Invocation, Reply
from bot.core.weblinks import is_token
from bot.delivery.digest import DigestBuilder
from bot.papers.catalog import Catalog
from bot.storage import Store, open_store

CHANNEL = ChannelRef("slack", "T1", "C1")
OTHER = ChannelRef("slack", "T1", "C2")
BASE = "https://papers.example.org"


@pytest.fixture
async def store(tmp_path: object) -> AsyncIterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/feed.db")
    await s.open()
    yield s
    await s.close()


def commands(store: Store, base_url: str | None = BASE) -> Commands:
    catalog = Catalog.build([])
    return Commands(
        CommandContext(
            catalog=lambda: catalog,
            store=store,
            clock=FakeClock(datetime(2025, 7, 1, tzinfo=UTC)),
            digests=DigestBuilder(lambda: catalog, store),
            web_base_url=base_url,
        )
    )


async def ask(
    cmds: Commands, text: str, *, channel: ChannelRef = CHANNEL, admin: bool = True
) -> Reply:
    return await cmds.handle(Invocation(channel, "U1", text, is_admin=admin))


def link(reply: Reply) -> str:
    fields = {f.name: f.value for f in reply.message.fields}
    page = fields["Page"]
    assert fields["Atom feed"] == page + "/feed.atom"
    assert fields["RSS feed"] == page + "/feed.rss"
    return page


def token_of(page: str) -> str:
    prefix = BASE + "/c/"
    assert page.startswith(prefix)
    token = page.removeprefix(prefix)
    assert is_token(token)
    return token


async def test_feed_prints_the_same_private_link_until_rotated(store: Store) -> None:
    cmds = commands(store)
    first = await ask(cmds, "feed")
    assert first.message.header == "This channel's private link"
    assert first.message.ephemeral and first.message.kind == "notice"
    assert first.message.buttons == ()  # never a Share button: the link is for the admin
    token = token_of(link(first))
    assert await store.feed_channel(token) == CHANNEL
    assert link(await ask(cmds, "feed")) == link(first)
    assert await store.get_feed_token(OTHER) is None  # one channel's link is its own

    rotated = await ask(cmds, "feed rotate")
    assert rotated.message.header == "New private link for this channel"
    assert rotated.message.text.startswith("The old link no longer works.")
    new = token_of(link(rotated))
    assert new != token
    assert await store.feed_channel(token) is None
    assert await store.feed_channel(new) == CHANNEL


async def test_rotate_before_any_link_just_makes_one(store: Store) -> None:
    reply = await ask(commands(store), "feed rotate")
    assert reply.message.header == "This channel's private link"
    assert await store.feed_channel(token_of(link(reply))) == CHANNEL


async def test_feed_is_for_admins_only(store: Store) -> None:
    reply = await ask(commands(store), "feed", admin=False)
    assert reply.message.header == "That one is for admins"
    assert await store.get_feed_token(CHANNEL) is None


async def test_without_the_web_archive_feed_says_how_to_turn_it_on(store: Store) -> None:
    reply = await ask(commands(store, base_url=None), "feed")
    assert reply.message.header == "The web archive is off"
    assert "web.enabled: true" in reply.message.text and "web.base_url" in reply.message.text
    assert await store.get_feed_token(CHANNEL) is None


async def test_other_words_get_the_usage(store: Store) -> None:
    reply = await ask(commands(store), "feed delete everything")
    assert reply.message.header == "feed takes one word, or none"
    assert "/papers feed rotate" in reply.message.text
    discord = ChannelRef("discord", "1", "2")
    reply = await ask(commands(store), "feed please", channel=discord)
    assert "/papers-admin feed rotate" in reply.message.text


async def test_admin_help_lists_feed(store: Store) -> None:
    reply = await ask(commands(store), "help")
    assert any(f.name == "/papers feed [rotate]" for f in reply.message.fields)
    member = await ask(commands(store), "help", admin=False)
    assert not any("feed" in f.name for f in member.message.fields)
