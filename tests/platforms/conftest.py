"""Every platform test leaves discord.py's process-wide endpoints as it found them.

The Discord tests point discord.py at the local fake through ``bot.platforms.discord.endpoints``,
which changes class attributes for the whole process; a test that forgot to stop its adapter
would send every later test (and any other Discord client here) to a fake that is gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import bot.platforms.discord  # noqa: F401  (imports discord.py quietly, before the lines below)


@pytest.fixture(autouse=True)
def discord_endpoints_restored() -> Iterator[None]:
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    leaked = (base, gateway) != (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway
    if leaked:
        pytest.fail("the test left discord.py pointed at another REST or gateway URL")
