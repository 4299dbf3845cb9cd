"""Remote sources against a local HTTP server: conditional requests, failures that keep the last
good copy, the on-disk cache for offline start-up, and new-week detection."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.errors import SourceError
from bot.papers.model import ParseResult
from bot.papers.sources.fetch import RemoteSource, cache_paths, load_remote_cached


def arxiv_of(title: str) -> str:
    """A made-up arXiv id of its own for each title (papers with one id are one paper)."""
    return f"2401.{zlib.crc32(title.encode()) % 100000:05d}"


def link_post(day: str, *titles: str) -> bytes:
    items = "\n\n".join(
        f"**{i}:** [{t}](https://arxiv.org/abs/{arxiv_of(t)}) a note we wrote about it."
        for i, t in enumerate(titles, start=1)
    )
    return f"---\ntitle: Roundup\ndate: {day}\n---\n\n{items}\n".encode()


V1 = link_post("2024-01-07", "First Paper", "Second Paper")
V2 = link_post("2024-01-14", "Third Paper")
LAST_MODIFIED = "Mon, 08 Jan 2024 10:00:00 GMT"


@dataclass
class Served:
    body: bytes
    mode: str = "ok"  # ok | no-etag | plain | error | truncated | hang
    requests: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


STATE = web.AppKey("state", Served)


async def serve_file(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    st.requests.append(
        {k: v for k, v in request.headers.items() if k.startswith(("If-", "User-Agent"))}
    )
    if st.mode == "error":
        return web.Response(status=500, text="internal trouble")
    if st.mode == "hang":
        await st.release.wait()
    if st.mode == "truncated":
        resp = web.StreamResponse(headers={"Content-Type": "text/markdown"})
        resp.content_length = len(st.body) + 200  # declares more than it will send
        await resp.prepare(request)
        await resp.write(st.body[: len(st.body) // 2])
        assert request.transport is not None
        request.transport.close()
        return resp
    headers: dict[str, str] = {}
    if st.mode == "ok":
        headers["ETag"] = st.etag
        if request.headers.get("If-None-Match") == st.etag:
            return web.Response(status=304, headers=headers)
    if st.mode == "no-etag":
        headers["Last-Modified"] = LAST_MODIFIED
        if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return web.Response(status=304, headers=headers)
    return web.Response(body=st.body, headers=headers, content_type="text/markdown")


@pytest.fixture
async def served() -> AsyncIterator[tuple[Served, str]]:
    st = Served(V1)
    app = web.Application()
    app[STATE] = st
    app.router.add_get("/papers.md", serve_file)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield st, str(server.make_url("/papers.md"))
    finally:
        st.release.set()
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def starts(result: ParseResult) -> list[date]:
    return [w.start for w in result.weeks]


async def test_new_then_not_modified_then_new_week(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    source = RemoteSource(url, tmp_path / "cache")

    first = await source.fetch(session)
    assert first.status == "new" and first.ok and first.error is None
    assert first.text == V1.decode()
    assert starts(first.result) == [date(2024, 1, 7)]
    assert [p.title for p in first.result.weeks[0].papers] == ["First Paper", "Second Paper"]
    assert first.new_weeks == first.result.weeks  # nothing known before the first fetch
    body_path, meta_path = cache_paths(tmp_path / "cache", url)
    assert body_path.read_bytes() == V1
    assert json.loads(meta_path.read_text(encoding="utf-8"))["etag"] == st.etag
    assert "If-None-Match" not in st.requests[0]
    assert st.requests[0]["User-Agent"].startswith("paperboy")

    second = await source.fetch(session)
    assert st.requests[1]["If-None-Match"] == st.etag
    assert second.status == "not_modified"
    assert second.text == V1.decode()
    assert starts(second.result) == [date(2024, 1, 7)]
    assert second.new_weeks == []

    st.body = V2
    third = await source.fetch(session)
    assert third.status == "new"
    assert [w.start for w in third.new_weeks] == [date(2024, 1, 14)]
    assert [p.title for p in third.new_weeks[0].papers] == ["Third Paper"]
    assert body_path.read_bytes() == V2
    assert not list((tmp_path / "cache").glob("*.tmp"))


async def test_server_error_keeps_the_last_good_copy(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    source = RemoteSource(url, tmp_path)
    await source.fetch(session)

    st.mode, st.body = "error", V2
    failed = await source.fetch(session)
    assert failed.status == "failed" and not failed.ok
    assert failed.error is not None and "500" in failed.error
    assert failed.text == V1.decode()
    assert starts(failed.result) == [date(2024, 1, 7)]
    assert failed.new_weeks == []
    [warning] = failed.result.warnings
    assert "500" in warning.message and "last good copy" in warning.message
    assert cache_paths(tmp_path, url)[0].read_bytes() == V1

    st.mode = "ok"
    recovered = await source.fetch(session)
    assert recovered.status == "new"
    assert starts(recovered.result) == [date(2024, 1, 14)]


async def test_truncated_body_keeps_the_last_good_copy(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    source = RemoteSource(url, tmp_path)
    await source.fetch(session)

    st.mode, st.body = "truncated", V2
    failed = await source.fetch(session)
    assert failed.status == "failed"
    assert failed.error is not None
    assert "incomplete" in failed.error or "truncated" in failed.error
    assert failed.text == V1.decode()
    assert starts(failed.result) == [date(2024, 1, 7)]
    assert cache_paths(tmp_path, url)[0].read_bytes() == V1


async def test_timeout_keeps_the_last_good_copy(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    source = RemoteSource(url, tmp_path, timeout=0.2)
    await source.fetch(session)

    st.mode = "hang"  # the server never answers; the client's own timeout ends the wait
    failed = await source.fetch(session)
    assert failed.status == "failed"
    assert failed.error == "timed out after 0.2 s"
    assert starts(failed.result) == [date(2024, 1, 7)]


async def test_connection_error_without_any_copy(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = RemoteSource(f"http://127.0.0.1:{port}/papers.md", tmp_path)
    failed = await source.fetch(session)
    assert failed.status == "failed"
    assert failed.text is None
    assert failed.result.weeks == []
    [error] = failed.result.errors
    assert "no cached copy" in error.message
    assert not list(tmp_path.iterdir())


async def test_html_page_is_a_failure(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    source = RemoteSource(url, tmp_path)
    await source.fetch(session)

    st.body = b"<!DOCTYPE html>\n<html><body>maintenance page</body></html>\n"
    failed = await source.fetch(session)
    assert failed.status == "failed"
    assert failed.error == "the server sent an HTML page, not a markdown file"
    assert failed.text == V1.decode()
    assert starts(failed.result) == [date(2024, 1, 7)]
    assert any("last good copy" in w.message for w in failed.result.warnings)
    assert cache_paths(tmp_path, url)[0].read_bytes() == V1


async def test_body_without_weeks_is_held_back(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    source = RemoteSource(url, tmp_path)
    await source.fetch(session)

    st.body = b"# Moved\n\nNothing here any more.\n"
    for _ in range(4):  # an emptied copy is never accepted by waiting
        held = await source.fetch(session)
        assert held.status == "held" and not held.ok
        assert held.error is not None and "no weeks" in held.error
        assert held.text == V1.decode()
        assert starts(held.result) == [date(2024, 1, 7)]
        assert cache_paths(tmp_path, url)[0].read_bytes() == V1


async def test_offline_start_from_the_cache(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    await RemoteSource(url, tmp_path).fetch(session)

    # a restart: a new RemoteSource reads the cache without network...
    offline = await RemoteSource(url, tmp_path).load_cached()
    assert offline.status == "offline_cache"
    assert offline.text == V1.decode()
    assert starts(offline.result) == [date(2024, 1, 7)]
    cached = await load_remote_cached(url, tmp_path)
    assert starts(cached) == [date(2024, 1, 7)]

    # ...and its first fetch is conditional on the cached validators
    restarted = RemoteSource(url, tmp_path)
    again = await restarted.fetch(session)
    assert st.requests[-1]["If-None-Match"] == st.etag
    assert again.status == "not_modified"
    assert starts(again.result) == [date(2024, 1, 7)]
    st.body = V2
    assert [w.start for w in (await restarted.fetch(session)).new_weeks] == [date(2024, 1, 14)]


async def test_no_cache_yet_is_a_warning(tmp_path: Path) -> None:
    result = await load_remote_cached("https://example.org/papers.md", tmp_path)
    assert result.weeks == []
    assert [d.severity for d in result.diagnostics] == ["warning"]


async def test_last_modified_validator(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    st.mode = "no-etag"
    source = RemoteSource(url, tmp_path)
    assert (await source.fetch(session)).status == "new"
    second = await source.fetch(session)
    assert st.requests[-1]["If-Modified-Since"] == LAST_MODIFIED
    assert "If-None-Match" not in st.requests[-1]
    assert second.status == "not_modified"


async def test_same_body_without_validators_is_not_modified(
    served: tuple[Served, str], session: aiohttp.ClientSession
) -> None:
    st, url = served
    st.mode = "plain"
    source = RemoteSource(url)  # memory only
    assert (await source.fetch(session)).status == "new"
    again = await source.fetch(session)
    assert again.status == "not_modified"
    assert again.new_weeks == []
    assert starts(again.result) == [date(2024, 1, 7)]


async def test_stale_metadata_is_not_trusted(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    body_path, meta_path = cache_paths(tmp_path, url)
    tmp_path.mkdir(exist_ok=True)
    body_path.write_bytes(V2)  # a body newer than the metadata that claims the V1 etag
    meta_path.write_text(json.dumps({"etag": st.etag, "sha256": "0" * 64}), encoding="utf-8")
    source = RemoteSource(url, tmp_path)
    assert starts((await source.load_cached()).result) == [date(2024, 1, 14)]
    result = await source.fetch(session)
    assert "If-None-Match" not in st.requests[-1]
    assert result.status == "new"
    assert starts(result.result) == [date(2024, 1, 7)]


@pytest.mark.parametrize("url", ["file:///tmp/papers.md", "papers.md", "http://"])
def test_rejects_non_http_urls(url: str) -> None:
    with pytest.raises(SourceError):
        RemoteSource(url)


def weekly_table(*weeks: tuple[str, str]) -> bytes:
    parts = []
    for heading, title in weeks:
        parts.append(
            f"## Top ML Papers of the Week ({heading}) - 2025\n"
            "| **Paper** | **Links** |\n| --- | --- |\n"
            f"| 1) **{title}** - a summary we wrote. "
            f"| [Paper](https://arxiv.org/abs/{arxiv_of(title)}) |\n"
        )
    return ("\n".join(parts)).encode()


async def test_weekly_tables_report_the_new_week(
    served: tuple[Served, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    st, url = served
    st.body = weekly_table(("June 23 - June 29", "Older Paper"))
    source = RemoteSource(url, tmp_path)
    first = await source.fetch(session)
    assert starts(first.result) == [date(2025, 6, 23)]

    st.body = weekly_table(
        ("June 30 - July 6", "Newer Paper"), ("June 23 - June 29", "Older Paper")
    )
    second = await source.fetch(session)
    assert second.status == "new"
    assert [(w.kind, w.start, w.papers[0].title) for w in second.new_weeks] == [
        ("weekly", date(2025, 6, 30), "Newer Paper")
    ]
    assert sorted(starts(second.result)) == [date(2025, 6, 23), date(2025, 6, 30)]
