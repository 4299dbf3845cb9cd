"""What the commands share: the settings, the sources they read and the archive over them."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def settings_of(args: argparse.Namespace) -> Any:
    from bot.config.load import load_config

    return load_config(getattr(args, "config", None))


def config_file(args: argparse.Namespace) -> str | None:
    """The config file this command reads (None: no file, the defaults)."""
    from bot.config.load import config_path

    path = config_path(getattr(args, "config", None))
    return str(path) if path is not None else None


def shipped_digests() -> Path:
    """The ``digests/`` folder: in the working directory, else beside the installed package
    (a clone installed with ``pip install -e .``)."""
    here = Path("digests")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "digests"


def source_paths(settings: Any, explicit: Sequence[str]) -> tuple[list[str], list[str]]:
    if explicit:
        urls = [s for s in explicit if s.startswith(("http://", "https://"))]
        return [s for s in explicit if s not in urls], urls
    paths = [
        p if Path(p).exists() or p != "digests" else str(shipped_digests())
        for p in settings.sources.paths
    ]
    return paths, list(settings.sources.urls)


def archive_for(settings: Any, paths: Sequence[str], urls: Sequence[str]) -> Any:
    """An Archive (not loaded) over these sources, with the configured limits. The commands
    print the diagnostics themselves, so the archive does not log them (each is shown once).
    Parsed sources and the search index kept by ``paperboy run`` are used (and what is parsed
    or indexed here is kept for it), but built only when a command needs them: ``export`` and
    ``week`` never index, ``search`` builds no typo index."""
    from bot.papers.archive import Archive

    return Archive(
        paths,
        urls,
        cache_dir=settings.sources.cache_dir,
        default_date=settings.sources.default_date,
        limits=settings.sources.limits,
        hold_back=settings.sources.hold_back,
        log_diagnostics=False,
        index_dir=settings.sources.index_dir,
        warm=False,
        prune=False,
    )


def load(settings: Any, explicit: Sequence[str], *, fetch: bool = False) -> Any:
    """An Archive over the given sources (or the configured ones), loaded."""
    paths, urls = source_paths(settings, explicit)
    archive = archive_for(settings, paths, urls)

    async def go() -> Any:
        await archive.load()
        if fetch and urls:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                await archive.refresh(session)
        return archive

    return asyncio.run(go())


def stored_arxiv(settings: Any) -> Any:
    """The arXiv metadata the bot keeps in its database (an ``ArxivIndex``), read without
    creating anything: an empty index when the database does not exist or cannot be read
    (``paperboy run`` fills it; commands work without it)."""
    from bot.papers.arxiv import ArxivIndex
    from bot.storage import open_store

    url: str = settings.store.url
    if not url.startswith(("postgres://", "postgresql://")):
        path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
        if not path or not Path(path).is_file():
            return ArxivIndex()

    async def read() -> Any:
        store = open_store(url)
        try:
            await store.open()
            return ArxivIndex(await store.arxiv_meta())
        finally:
            await store.close()

    try:
        return asyncio.run(read())
    except Exception as exc:
        import sys

        print(
            f"paperboy: no arXiv metadata (the database could not be read: {exc})", file=sys.stderr
        )
        return ArxivIndex()
