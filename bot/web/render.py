"""HTML from jinja2 templates (``bot/web/templates``), autoescaped: curated text is always data,
never markup. Links are only ever made from http(s) URLs (``safe_href``); anything else, such
as ``javascript:`` or ``data:``, is shown as plain text or left out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.core.messages import Link
from bot.core.text import plural, safe_url
from bot.core.weblinks import channel_path, paper_path, top_path, week_path
from bot.papers.catalog import week_range_label

URL_MAX = 2000


@lru_cache(maxsize=1 << 16)
def safe_href(url: str | None) -> str | None:
    """``url`` if it may be a link on a page: the chat platforms' rule (``safe_url``: http(s)
    with a host, nothing that could break out of an attribute), at most ``URL_MAX`` long.
    Memoised: a page or feed asks about the same few thousand URLs again and again."""
    return safe_url(url, limit=URL_MAX)


def http_links(links: Sequence[Link]) -> list[Link]:
    """The links that may be linked (``safe_href``), in order."""
    return [link for link in links if safe_href(link.url)]


def iso_day(value: date | datetime) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(["html"], default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        safe_href=safe_href,
        http_links=http_links,
        week_label=week_range_label,
        iso_day=iso_day,
        plural=plural,
    )
    env.globals.update(
        week_path=week_path, paper_path=paper_path, top_path=top_path, channel_path=channel_path
    )
    return env


ENV = _environment()


def render(template: str, **context: Any) -> str:
    """The named template rendered with ``context``."""
    return ENV.get_template(template).render(**context)


__all__ = ["ENV", "URL_MAX", "http_links", "iso_day", "render", "safe_href"]
