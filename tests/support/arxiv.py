"""A local stand-in for the arXiv API's Atom endpoint (``/api/query?id_list=...``): an aiohttp
server on 127.0.0.1 answering from a mutable set of papers, shaped like arXiv's answers (Atom
with the ``arxiv:`` namespace, ``<id>http://arxiv.org/abs/IDvN</id>``, one ``<author>`` per
author, ``arxiv:primary_category`` and ``category`` terms). Faults on demand: a slow answer, 503
with Retry-After, malformed XML. Unknown ids are simply left out, as arXiv does.

Every request is logged with the time on the test's clock when it arrived (``times``), the ids it
asked for and its User-Agent, so tests can measure the client's pacing without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.clock import Clock


@dataclass
class FakePaper:
    arxiv_id: str
    title: str
    authors: tuple[str, ...]
    primary: str = "cs.CL"
    categories: tuple[str, ...] = ()
    published: str = "2017-06-12T17:57:34Z"
    updated: str = "2023-08-02T00:41:18Z"
    version: int = 1
    abstract: str = "An abstract."


@dataclass
class FakeArxiv:
    clock: Clock | None = None
    base: str = ""
    papers: dict[str, FakePaper] = field(default_factory=dict)
    times: list[datetime] = field(default_factory=list)  # clock time of each request
    asked: list[list[str]] = field(default_factory=list)  # ids of each request
    agents: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)  # Retry-After values for the next 503s
    malformed: int = 0  # the next N answers are broken XML
    delay: float = 0.0  # real seconds before answering (slow responses)

    @property
    def url(self) -> str:
        return self.base + "/api/query"

    def add(self, paper: FakePaper) -> None:
        self.papers[paper.arxiv_id] = paper


STATE = web.AppKey("state", FakeArxiv)


def _entry(p: FakePaper) -> str:
    authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in p.authors)
    cats = "".join(
        f'<category term="{escape(c)}" scheme="http://arxiv.org/schemas/atom"/>'
        for c in (p.primary, *p.categories)
    )
    return (
        f"<entry><id>http://arxiv.org/abs/{p.arxiv_id}v{p.version}</id>"
        f"<updated>{p.updated}</updated><published>{p.published}</published>"
        f"<title>{escape(p.title)}</title><summary>{escape(p.abstract)}</summary>{authors}"
        f'<link href="http://arxiv.org/abs/{p.arxiv_id}v{p.version}" rel="alternate" '
        'type="text/html"/>'
        f'<arxiv:primary_category term="{escape(p.primary)}" '
        'scheme="http://arxiv.org/schemas/atom"/>'
        f"{cats}</entry>"
    )


def feed(entries: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom">'
        "<id>https://arxiv.org/api/query</id><title>arXiv Query</title>"
        "<updated>2025-01-01T00:00:00Z</updated>"
        f"<opensearch:totalResults>{len(entries)}</opensearch:totalResults>"
        + "".join(entries)
        + "</feed>"
    ).encode()


async def _query(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    ids = [i for i in request.query.get("id_list", "").split(",") if i]
    if st.clock is not None:
        st.times.append(st.clock.now())
    st.asked.append(ids)
    st.agents.append(request.headers.get("User-Agent", ""))
    if st.delay:
        await asyncio.sleep(st.delay)
    if st.unavailable:
        retry = st.unavailable.pop(0)
        return web.Response(status=503, text="busy", headers={"Retry-After": retry})
    if st.malformed:
        st.malformed -= 1
        return web.Response(body=feed([])[:-20] + b"<entry><id>", content_type="application/xml")
    entries = [_entry(st.papers[i]) for i in ids if i in st.papers]
    return web.Response(body=feed(entries), content_type="application/atom+xml")


@asynccontextmanager
async def fake_arxiv(clock: Clock | None = None) -> AsyncIterator[FakeArxiv]:
    st = FakeArxiv(clock)
    app = web.Application()
    app[STATE] = st
    app.router.add_get("/api/query", _query)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    st.base = str(server.make_url("")).rstrip("/")
    try:
        yield st
    finally:
        await server.close()
