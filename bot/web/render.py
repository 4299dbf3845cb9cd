"""HTML from jinja2 templates (``bot/web/templates``), autoescaped: curated text is always data,
never markup. Links are only ever made from http(s) URLs (``safe_href``); anything else, such
as ``javascript:`` or ``data:``, is shown as plain text or left out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.core.messages import Link
from bot.core.text import plural
from bot.core.weblinks import channel_path, paper_path, top_path, week_path
from bot.papers.catalog import week_range_label

URL_MAX = 2000
# Never in a real link, and a sign of markup hidden in one: whitespace, controls, <>"`.
_UNSAFE = re.compile(r'[\s\x00-\x1f\x7f<>"`]')


@lru_cache(maxsize=1 << 16)
def safe_href(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host and no whitespace, control
    characters, ``<>"`` or backtick (at most ``URL_MAX`` long); else None."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_MAX or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


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
