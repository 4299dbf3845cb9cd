"""Pointing discord.py at other REST and gateway URLs: a REST proxy in production, a local fake
Discord in tests.

``discord.api_base_url`` / ``discord.gateway_url`` are real configuration: a deployment may send
its REST calls through a proxy (one that shares Discord's rate limits between processes, or
the only way out of a locked-down network). The tests use the same keys to reach the fake
Discord in ``tests/support``; nothing here exists only for them.

discord.py reads its REST base from the class attribute ``discord.http.Route.BASE`` (every
Route, including interaction callbacks and webhooks, is built from it) and its gateway from
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. Both are process-wide. This module is the
one place that changes them: only when a URL other than Discord's own is configured, and the
``release()`` that ``acquire`` returns puts the originals back when the last adapter that asked
stops (``DiscordAdapter.stop`` calls it, also after a failed start). Two adapters in one
process that want *different* URLs are refused (a ConfigError) rather than silently sharing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.core.errors import ConfigError

DISCORD_API = "https://discord.com/api/v10"

_lock = threading.Lock()
_users = 0
_active: tuple[str | None, str | None] = (None, None)
_saved: tuple[str, yarl.URL] | None = None


def _normalise(api: str | None, gateway: str | None) -> tuple[str | None, str | None]:
    api = api.rstrip("/") if api else None
    if api == DISCORD_API:
        api = None
    return api, (gateway or None)


def acquire(api_base_url: str | None, gateway_url: str | None) -> Callable[[], None]:
    """Apply the override (if any URL differs from Discord's) and return its release."""
    global _users, _active, _saved
    api, gateway = _normalise(api_base_url, gateway_url)
    if api is None and gateway is None:
        return lambda: None
    with _lock:
        if _users and _active != (api, gateway):
            raise ConfigError(
                "discord.api_base_url",
                "another Discord adapter in this process uses different API/gateway URLs",
            )
        if _users == 0:
            _saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
            if api is not None:
                Route.BASE = api
            if gateway is not None:
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
            _active = (api, gateway)
        _users += 1
    released = False

    def release() -> None:
        global _users, _active, _saved
        nonlocal released
        with _lock:
            if released:
                return
            released = True
            _users -= 1
            if _users == 0 and _saved is not None:
                Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = _saved
                _saved = None
                _active = (None, None)

    return release
