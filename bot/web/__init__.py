"""The web archive: server-rendered pages (every curated week, each paper, search, the
leaderboard), Atom and RSS feeds and a read-only JSON API, added to the bot's aiohttp server
when ``web.enabled``. Public: curated weeks, papers and the all-platform leaderboard. A
channel's own feed and leaderboard only behind its unguessable link (``/papers feed``)."""

from bot.web.site import WebOptions, WebSite

__all__ = ["WebOptions", "WebSite"]
