"""A local stand-in for a repository's raw file host: an aiohttp server on 127.0.0.1 serving a
mutable set of files, with ETags and 304s like raw.githubusercontent.com, permanent redirects
(a renamed repository) and error pages (HTML served with any status, 200 included)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

ERROR_PAGE = b"<!DOCTYPE html>\n<html><body><h1>Something went wrong</h1></body></html>\n"


@dataclass
class ListServer:
    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # path -> body
    moved: dict[str, str] = field(default_factory=dict)  # path -> path it redirects to (301)
    broken: dict[str, int] = field(default_factory=dict)  # path -> status of an HTML error page
    requests: list[str] = field(default_factory=list)  # paths asked for, in order

    def url(self, path: str) -> str:
        return self.base + path

    def put(self, path: str, text: str) -> None:
        self.files[path] = text.encode("utf-8")

    def asked(self, path: str) -> int:
        return self.requests.count(path)


STATE = web.AppKey("state", ListServer)


async def _serve(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    path = request.path
    st.requests.append(path)
    if path in st.moved:
        raise web.HTTPMovedPermanently(location=st.base + st.moved[path])
    if path in st.broken:
        return web.Response(status=st.broken[path], body=ERROR_PAGE, content_type="text/html")
    body = st.files.get(path)
    if body is None:
        return web.Response(status=404, text="404: Not Found")
    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(body=body, headers={"ETag": etag}, content_type="text/plain")


@asynccontextmanager
async def list_server() -> AsyncIterator[ListServer]:
    st = ListServer()
    app = web.Application()
    app[STATE] = st
    app.router.add_get("/{tail:.*}", _serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    st.base = str(server.make_url("")).rstrip("/")
    try:
        yield st
    finally:
        await server.close()
