"""``WebSite``: the web archive's routes on the bot's aiohttp application, and the one path
every request takes through them.

Each route names a handler (``pages``, ``feeds``, ``api``) that turns an ``Ask`` into a
``Rendered`` response. On the way in: the query string is bounded, a private link's token is
looked up (every time, never cached, so a rotated link is dead at once), and a cached
rendering is reused when still good. On the way out: security headers on everything (a strict
Content-Security-Policy, no referrer, no framing, no sniffing), ``ETag`` / ``Last-Modified`` and
a 304 for a matching conditional request. Bad input is a ``BadRequest`` shown as an error page
(or JSON, or text for feeds); an unexpected error is logged and shown as an apology.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources
from typing import Literal

from aiohttp import web

from bot.core.weblinks import CHANNEL_PREFIX, is_token
from bot.web import api, feeds, pages
from bot.web.cache import Rendered, ResponseCache, http_date, not_modified
from bot.web.data import Ask, WebContext
from bot.web.params import BadRequest, check_query_string

log = logging.getLogger("paperboy.web")

Handler = Callable[[WebContext, Ask], Awaitable[Rendered]]
Kind = Literal["page", "feed", "api"]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")
STYLE = resources.files("bot.web").joinpath("static", "style.css").read_bytes()


class WebSite:
    """The routes of the web archive over what ``ctx`` reads; ``install(app)`` adds them to an
    aiohttp application."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.cache = ResponseCache(timedelta(seconds=ctx.options.cache_seconds))

    def install(self, app: web.Application) -> None:
        private = CHANNEL_PREFIX + "{token}"
        routes: list[tuple[str, Handler, Kind]] = [
            ("/", pages.home, "page"),
            ("/weeks", pages.weeks, "page"),
            ("/weeks/{day}", pages.week, "page"),
            ("/papers/{ref}", pages.paper, "page"),
            ("/search", pages.search, "page"),
            ("/top", pages.top, "page"),
            (private, pages.channel, "page"),
            ("/feeds/weeks.{fmt}", feeds.weeks, "feed"),
            ("/feeds/top.{fmt}", feeds.top, "feed"),
            (private + "/feed.{fmt}", feeds.channel, "feed"),
            ("/api/weeks", api.weeks, "api"),
            ("/api/weeks/{day}", api.week, "api"),
            ("/api/papers/{ref}", api.paper, "api"),
            ("/api/search", api.search, "api"),
            ("/api/top", api.top, "api"),
        ]
        for path, handler, kind in routes:
            app.router.add_get(path, self._endpoint(handler, kind))
        app.router.add_get("/static/style.css", self._style)

    # -- the request path ---------------------------------------------------------------------

    def _endpoint(
        self, handler: Handler, kind: Kind
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            token = request.match_info.get("token", "")
            try:
                rendered = await self._answer(request, handler, kind, token)
            except BadRequest as exc:
                rendered = error(kind, exc.status, str(exc))
            except Exception:
                log.exception("web request failed", extra={"route": handler.__name__})
                rendered = error(kind, 500, "Something went wrong on our side; it has been logged.")
            return self._response(request, rendered, kind, private=bool(token))

        return endpoint

    async def _answer(
        self, request: web.Request, handler: Handler, kind: Kind, token: str
    ) -> Rendered:
        check_query_string(request.query_string)
        if not self.ctx.ready():
            # At start the archive loads for a few seconds: say so rather than show it empty.
            raise BadRequest("The archive is still loading; try again in a few seconds.", 503)
        channel = None
        if "token" in request.match_info:
            # Unknown, malformed and rotated-away tokens all look the same: not found.
            channel = await self.ctx.store.feed_channel(token) if is_token(token) else None
            if channel is None:
                raise BadRequest("There is no page at this address.", status=404)
        catalog = self.ctx.catalog()
        origin = self._origin(request)
        key = (request.path, request.query_string, origin if kind == "feed" else "")
        now = self.ctx.clock.now()
        cached = self.cache.get(key, catalog, now)
        if cached is not None:
            return cached
        ask = Ask(request.query, request.match_info, catalog, origin, channel, token)
        rendered = await handler(self.ctx, ask)
        self.cache.put(key, catalog, now, rendered)
        return rendered

    def _origin(self, request: web.Request) -> str:
        """Where absolute links point: ``web.base_url``, else this request's own address (its
        Host header, when it looks like a host name)."""
        if self.ctx.options.base_url:
            return self.ctx.options.base_url.rstrip("/")
        host = request.host if _HOST_RE.match(request.host or "") else "localhost"
        return f"{request.scheme}://{host}"

    def _response(
        self, request: web.Request, rendered: Rendered, kind: Kind, *, private: bool
    ) -> web.StreamResponse:
        headers = dict(SECURITY_HEADERS)
        headers["ETag"] = rendered.etag
        if rendered.last_modified is not None:
            headers["Last-Modified"] = http_date(rendered.last_modified)
        if private:
            headers["Cache-Control"] = "private, no-cache"
            headers["X-Robots-Tag"] = "noindex, nofollow"
        else:
            headers["Cache-Control"] = f"public, max-age={self.ctx.options.cache_seconds}"
            if kind != "page":
                headers["Access-Control-Allow-Origin"] = "*"
        if rendered.location is not None:
            headers["Location"] = rendered.location
            return web.Response(status=rendered.status, headers=headers)
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if not_modified(rendered, inm, ims):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = rendered.content_type
        return web.Response(body=rendered.body, status=rendered.status, headers=headers)

    async def _style(self, request: web.Request) -> web.Response:
        headers = dict(SECURITY_HEADERS)
        headers["Cache-Control"] = "public, max-age=3600"
        return web.Response(body=STYLE, content_type="text/css", charset="utf-8", headers=headers)


def error(kind: Kind, status: int, message: str) -> Rendered:
    """An error as the route's kind shows it: a page, JSON, or text (feed readers)."""
    if kind == "api":
        return Rendered(api.as_json({"error": message}), api.JSON, status=status)
    if kind == "feed":
        return Rendered(message.encode(), "text/plain; charset=utf-8", status=status)
    return pages.error_page(status, message)


__all__ = ["CSP", "SECURITY_HEADERS", "WebSite", "error"]
