"""``paperboy sources accept URL...``: take what a configured source serves now, even a copy
held back as suspicious."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.cli.common import archive_for, settings_of
from bot.cli.parser import EXIT_ERRORS, EXIT_OK, EXIT_USAGE


def run_sources(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    configured = set(settings.sources.urls)
    unknown = [u for u in args.urls if u not in configured]
    if unknown:
        for url in unknown:
            print(f"paperboy: {url} is not one of the configured sources.urls", file=sys.stderr)
        return EXIT_USAGE
    archive = archive_for(settings, (), args.urls)

    async def go() -> list[Any]:
        import aiohttp

        await archive.load()
        async with aiohttp.ClientSession() as session:
            return [await archive.accept(url, session) for url in args.urls]

    code = EXIT_OK
    for res in asyncio.run(go()):
        if res.status == "new":
            print(f"{res.url}: accepted: {len(res.result.weeks)} weeks")
        elif res.status == "not_modified":
            print(f"{res.url}: nothing to accept: it serves the copy in use")
        else:
            print(f"paperboy: {res.url}: not accepted: {res.error}", file=sys.stderr)
            code = EXIT_ERRORS
    return code


def print_remotes(archive: Any) -> None:
    """What each fetched URL came to: for an index, the files it followed."""
    for res in archive.last_fetch.values():
        if res.files:
            print(f"{res.url}: an index; read {len(res.files)} file(s) it links to:")
            weeks: dict[str, int] = {}
            for week in res.result.weeks:
                weeks[week.source] = weeks.get(week.source, 0) + 1
            for url in res.files:
                print(f"  {url} ({weeks.get(url, 0)} weeks)")
        if res.held is not None:
            print(f"{res.url}: held back; run `paperboy sources accept {res.url}` to take it")
