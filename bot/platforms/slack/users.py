"""Who is who in a workspace: admins (workspace role or an admin user group) and bots.

Answers are cached for a few minutes so a burst of commands or votes costs a few Web API calls.
A failed lookup counts as "not an admin" / "not a bot" and is retried on the next call.
Every lookup names its workspace: in the distribution mode each has its own token, and the
cache keeps workspaces apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.platforms.slack.errors import error_code

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ClientFor = Callable[[str], Awaitable[AsyncWebClient]]


class _TTLCache:
    def __init__(self, ttl: float, clock: Clock, max_size: int = 10_000) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max = max_size
        self._data: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> tuple[bool, Any]:
        hit = self._data.get(key)
        if hit is None or hit[0] <= self._clock():
            return False, None
        return True, hit[1]

    def put(self, key: str, value: Any) -> None:
        if len(self._data) >= self._max:
            now = self._clock()
            self._data = {k: v for k, v in self._data.items() if v[0] > now}
            if len(self._data) >= self._max:
                self._data.clear()
        self._data[key] = (self._clock() + self._ttl, value)


class UserDirectory:
    """``users.info`` and ``usergroups.users.list``, cached for ``ttl`` seconds."""

    def __init__(
        self,
        client: AsyncWebClient | ClientFor,
        *,
        admin_user_group: str | None = None,
        ttl: float = 300.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if isinstance(client, AsyncWebClient):
            one = client

            async def same(team: str) -> AsyncWebClient:
                return one

            self._client_for: ClientFor = same
        else:
            self._client_for = client
        self._admin_group = admin_user_group or None
        self._users = _TTLCache(ttl, clock)
        self._groups = _TTLCache(ttl, clock)
        self.bot_user_id: str | None = None

    async def _cached(self, cache: _TTLCache, key: str, fetch: Callable[[], Awaitable[Any]]) -> Any:
        hit, value = cache.get(key)
        if hit:
            return value
        try:
            value = await fetch()
        except SlackApiError as exc:
            # A definite "no" (user_not_found, no_such_subteam) is cached like an answer; a 429
            # or 5xx is not, so the next call asks again.
            status = exc.response.status_code
            log.warning("slack lookup %s failed: %s", key, error_code(exc) or status)
            if status == 200:
                cache.put(key, None)
            return None
        except Exception as exc:  # a lookup failure must never break a command or a vote
            log.warning("slack lookup %s failed: %r", key, exc)
            return None
        cache.put(key, value)
        return value

    async def user(self, team: str, user_id: str) -> dict[str, Any] | None:
        async def fetch() -> dict[str, Any]:
            client = await self._client_for(team)
            resp = await client.users_info(user=user_id)
            user: dict[str, Any] = resp.get("user") or {}
            return user

        value: dict[str, Any] | None = await self._cached(self._users, f"{team}/{user_id}", fetch)
        return value

    async def group_members(self, team: str, group_id: str) -> frozenset[str]:
        async def fetch() -> frozenset[str]:
            client = await self._client_for(team)
            resp = await client.usergroups_users_list(usergroup=group_id)
            return frozenset(resp.get("users") or ())

        key = f"{team}/{group_id}"
        value: frozenset[str] | None = await self._cached(self._groups, key, fetch)
        return value or frozenset()

    async def is_admin(self, team: str, user_id: str) -> bool:
        """Workspace admin or owner, or a member of the configured admin user group."""
        user = await self.user(team, user_id)
        if user and any(user.get(k) for k in ("is_admin", "is_owner", "is_primary_owner")):
            return True
        if self._admin_group:
            return user_id in await self.group_members(team, self._admin_group)
        return False

    async def is_bot(self, team: str, user_id: str) -> bool:
        """This bot itself, or any other bot or app user."""
        if self.bot_user_id and user_id == self.bot_user_id:
            return True
        if user_id.startswith("B"):
            return True
        user = await self.user(team, user_id)
        return bool(user and (user.get("is_bot") or user.get("is_app_user")))
