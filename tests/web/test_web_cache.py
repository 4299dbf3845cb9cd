"""The response cache and conditional requests, without a server: what stays cached and for
how long, and when a request may be answered 304."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

from bot.web.cache import Rendered, ResponseCache, http_date, not_modified

T0 = datetime(2025, 7, 16, 12, 0, tzinfo=UTC)


class Catalog:
    """Anything a weak reference can point at stands in for a catalog."""


def page(body: bytes = b"<p>hi</p>", *, votes: bool = False, status: int = 200) -> Rendered:
    return Rendered(body, "text/html; charset=utf-8", status=status, votes=votes, last_modified=T0)


def test_an_entry_lives_while_its_catalog_is_current() -> None:
    cache, old, new = ResponseCache(timedelta(seconds=10)), Catalog(), Catalog()
    cache.put("k", old, T0, page())
    assert cache.get("k", old, T0 + timedelta(days=30)) == page()  # no votes: no expiry
    assert cache.get("k", new, T0) is None  # a refreshed catalog renders again
    assert len(cache) == 0


def test_an_entry_of_a_dropped_catalog_is_never_served_to_a_new_one() -> None:
    cache, old = ResponseCache(timedelta(seconds=10)), Catalog()
    cache.put("k", old, T0, page())
    del old
    gc.collect()
    assert cache.get("k", Catalog(), T0) is None  # even if the new one reuses the old address


def test_pages_with_votes_expire_after_the_ttl_and_are_not_kept_with_ttl_zero() -> None:
    cat = Catalog()
    cache = ResponseCache(timedelta(seconds=10))
    cache.put("k", cat, T0, page(votes=True))
    assert cache.get("k", cat, T0 + timedelta(seconds=9)) is not None
    assert cache.get("k", cat, T0 + timedelta(seconds=10)) is None
    never = ResponseCache(timedelta(0))
    never.put("k", cat, T0, page(votes=True))
    assert never.get("k", cat, T0) is None


def test_least_recently_used_entries_go_first_and_errors_are_not_kept() -> None:
    cat = Catalog()
    cache = ResponseCache(timedelta(seconds=10), max_entries=2)
    cache.put("a", cat, T0, page(b"a"))
    cache.put("b", cat, T0, page(b"b"))
    assert cache.get("a", cat, T0) is not None  # "a" is now the most recent
    cache.put("c", cat, T0, page(b"c"))
    assert cache.get("b", cat, T0) is None and cache.get("a", cat, T0) is not None
    cache.put("e", cat, T0, page(b"oops", status=500))
    assert cache.get("e", cat, T0) is None


def test_the_etag_is_the_bodys() -> None:
    assert page(b"x").etag == page(b"x").etag != page(b"y").etag
    assert page().etag.startswith('"') and page().etag.endswith('"')


def test_conditional_requests() -> None:
    p = page()
    assert not_modified(p, p.etag, None)
    assert not_modified(p, f'"other", W/{p.etag}', None)  # in a list, weak
    assert not_modified(p, "*", None)
    assert not not_modified(p, '"other"', http_date(T0))  # If-None-Match wins
    assert not_modified(p, None, http_date(T0))
    assert not_modified(p, None, http_date(T0 + timedelta(hours=1)))
    assert not not_modified(p, None, http_date(T0 - timedelta(seconds=1)))
    assert not not_modified(p, None, "not a date")
    assert not not_modified(p, None, None)
    assert not not_modified(page(status=404), p.etag, None)
