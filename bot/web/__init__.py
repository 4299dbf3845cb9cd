"""The web archive: server-rendered pages (every curated week, each paper, search, the
leaderboard), Atom and RSS feeds and a read-only JSON API, added to the bot's aiohttp server
when ``web.enabled``. Public: curated weeks, papers and the all-platform leaderboard. A
channel's own feed and leaderboard only behind its unguessable link (``/papers feed``).

``site`` routes every request (cache, conditional requests, headers, errors) to ``pages``,
``feeds`` or ``api``, which read through ``data`` and render with ``render`` (jinja2) or
feedgen. May import ``bot.core``, ``bot.storage``, ``bot.papers``, ``bot.delivery`` and
``bot.chat`` (for the leaderboard's windows)."""

from bot.web.data import WebContext, WebOptions
from bot.web.site import WebSite

__all__ = ["WebContext", "WebOptions", "WebSite"]
