"""Payload shapes and constants for the fake Discord (``tests/fixtures/discord``), and the
checks Discord applies to message bodies."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "discord"

TOKEN = "fake.discord.bot-token"
APP_ID = 1300000000000000001
BOT_ID = APP_ID
GUILD_ID = 1300000000000000100
CHANNEL_ID = 1300000000000000200
READER_ID = 1300000000000000901
OWNER_ID = 1300000000000000900
DISCORD_EPOCH_MS = 1420070400000
MANAGE_GUILD = 1 << 5
MEMBER_PERMISSIONS = 2248473465835073 & ~MANAGE_GUILD & ~(1 << 3)  # no Manage Server/Admin
ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_GUILD
EPHEMERAL = 1 << 6
LOADING = 1 << 7
ERRORS = {
    50001: (403, "Missing Access"),
    50013: (403, "Missing Permissions"),
    50007: (403, "Cannot send messages to this user"),
    10003: (404, "Unknown Channel"),
    10008: (404, "Unknown Message"),
    10062: (404, "Unknown interaction"),
    40060: (400, "Interaction has already been acknowledged."),
}


@functools.cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text(encoding="utf-8")


def fixture(name: str) -> Any:
    """A recorded-shape payload from ``tests/fixtures/discord/<name>.json`` (a fresh copy)."""
    return json.loads(_fixture_text(name))


def u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def embed_problems(embeds: list[dict[str, Any]]) -> list[str]:
    """What Discord would refuse in these embeds (lengths in UTF-16 units, stricter than it)."""
    problems: list[str] = []
    if len(embeds) > 10:
        problems.append("more than 10 embeds")
    total = 0
    for i, e in enumerate(embeds):
        limits = {"title": 256, "description": 4096}
        for key, limit in limits.items():
            n = u16(e.get(key) or "")
            total += n
            if n > limit:
                problems.append(f"embeds.{i}.{key}: {n} > {limit}")
        fields = e.get("fields") or []
        if len(fields) > 25:
            problems.append(f"embeds.{i}.fields: {len(fields)} > 25")
        for j, f in enumerate(fields):
            name, value = f.get("name") or "", f.get("value") or ""
            total += u16(name) + u16(value)
            if not name or u16(name) > 256:
                problems.append(f"embeds.{i}.fields.{j}.name")
            if not value or u16(value) > 1024:
                problems.append(f"embeds.{i}.fields.{j}.value")
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        total += u16(footer) + u16(author)
        if u16(footer) > 2048 or u16(author) > 256:
            problems.append(f"embeds.{i}.footer/author too long")
        url = e.get("url")
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://")) and " " not in url
        ):
            problems.append(f"embeds.{i}.url: not a well formed URL")
    if total > 6000:
        problems.append(f"embeds: {total} characters in total > 6000")
    return problems


@dataclass(frozen=True)
class Recorded:
    route: str
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    at: float


@dataclass(frozen=True)
class Fault:
    status: int
    code: int = 0
    message: str = ""
    retry_after: float | None = None
    is_global: bool = False


@dataclass
class Interaction:
    """One INTERACTION_CREATE the fake sent, and what the bot answered."""

    id: int
    token: str
    payload: dict[str, Any]
    sent_at: float = 0.0
    frame: str | None = None  # the payload serialised, for an interaction built before sending
    responded_at: float | None = None  # the first callback (an answer or a defer)
    answered_at: float | None = None  # the answer itself (callback 4/7/8, or the edit after 5/6)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: dict[str, Any] | None = None  # the response message (or the clicked one)
    followups: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def latency(self) -> float | None:
        return None if self.responded_at is None else self.responded_at - self.sent_at

    @property
    def answer_latency(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.sent_at

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        for cb in self.callbacks:
            if cb.get("type") == 8:
                return list((cb.get("data") or {}).get("choices") or [])
        return None
