"""What a web request may ask for, read strictly: bounded query strings, page numbers, periods,
week dates and search text. Anything else is a ``BadRequest`` with a message the page or the
JSON error shows as it is."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from bot.core.weblinks import PERIODS

MAX_QUERY_STRING = 1000  # characters of the raw query string
MAX_SEARCH = 300  # characters of search text (a /papers command takes 500 in all)
MAX_REF = 300  # characters of a paper reference in a path
MAX_PAGE = 200

T = TypeVar("T")


class BadRequest(Exception):
    """A request the web archive will not answer; ``str()`` says why, for the reader."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_query_string(raw: str) -> None:
    if len(raw) > MAX_QUERY_STRING:
        raise BadRequest(
            f"The address is too long: its query has {len(raw):,} characters, "
            f"at most {MAX_QUERY_STRING:,} are read.",
            status=414,
        )


def one(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    return None if value is None else value.strip()


def page_number(query: Mapping[str, str], *, last: int = MAX_PAGE) -> int:
    """``page`` (default 1): a whole number from 1 to ``last``."""
    raw = one(query, "page")
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= max(last, 1):
        raise BadRequest(f"page must be a whole number from 1 to {max(last, 1)}.")
    return int(raw)


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    """One page of a list: its items, its number (from 1) and how many pages there are."""

    items: Sequence[T]
    number: int
    pages: int
    total: int


def page_of(items: Sequence[T], per: int, query: Mapping[str, str]) -> Slice[T]:
    """The page of ``items`` (``per`` a page) that ``page`` asks for."""
    pages = max(1, math.ceil(len(items) / per))
    number = page_number(query, last=pages)
    return Slice(items[(number - 1) * per : number * per], number, pages, len(items))


def period(query: Mapping[str, str], default: str = "all") -> str:
    """``period``: week, month, year or all."""
    raw = (one(query, "period") or default).lower()
    if raw not in PERIODS:
        raise BadRequest("period must be one of: " + ", ".join(PERIODS) + ".")
    return raw


def day(text: str | None) -> date | None:
    """A date written ``YYYY-MM-DD``; None for nothing or anything else."""
    if not text or len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def week_day(query: Mapping[str, str]) -> date | None:
    """``week`` (optional): a date inside a calendar week."""
    raw = one(query, "week")
    if not raw:
        return None
    found = day(raw)
    if found is None:
        raise BadRequest("week must be a date written YYYY-MM-DD, e.g. 2025-06-23.")
    return found


def search_text(query: Mapping[str, str]) -> str:
    """``q``: the search words and filters, whitespace collapsed (may be empty)."""
    raw = " ".join((query.get("q") or "").split())
    if len(raw) > MAX_SEARCH:
        raise BadRequest(
            f"That search has {len(raw):,} characters; keep it under {MAX_SEARCH}. "
            "A few distinctive words work best."
        )
    return raw


__all__ = [
    "MAX_PAGE",
    "MAX_QUERY_STRING",
    "MAX_REF",
    "MAX_SEARCH",
    "BadRequest",
    "Slice",
    "check_query_string",
    "day",
    "one",
    "page_number",
    "page_of",
    "period",
    "search_text",
    "week_day",
]
