"""The ``paperboy`` command (also ``python -m bot``).

    paperboy run [--now]                 run the bot (terminal when no Slack/Discord token)
    paperboy check [SOURCE...]           validate config and sources; exit 1 on errors
    paperboy export [SOURCE...]          every paper appearance as JSON lines or CSV
    paperboy search QUERY                ranked search over the archive
    paperboy week [DATE|latest]          one curated week
    paperboy slack-manifest              a Slack app manifest to paste into Slack
    paperboy discord-invite              the Discord invite URL with the permissions needed

Errors print one clear line and exit non-zero; no tracebacks for expected problems.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot import __version__
from bot.core.errors import ConfigError, PaperboyError
from bot.papers.export import EXPORT_FIELDS, export_records, paper_record

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="paperboy",
        description="Curated research-paper digests for Slack, Discord and the terminal.",
    )
    p.add_argument("--version", action="version", version=f"paperboy {__version__}")
    p.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="config file (default: paperboy.yaml in the current directory, if present)",
    )
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    run = sub.add_parser("run", help="run the bot")
    run.add_argument(
        "--now", action="store_true", help="post the current digest to the terminal at once"
    )

    check = sub.add_parser("check", help="validate config and sources")
    check.add_argument("sources", nargs="*", metavar="SOURCE")
    check.add_argument("--json", action="store_true", help="machine-readable output")

    export = sub.add_parser("export", help="export paper appearances")
    export.add_argument("sources", nargs="*", metavar="SOURCE")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    search = sub.add_parser("search", help="search the archive")
    search.add_argument("query", nargs="+")
    search.add_argument("-n", "--limit", type=int, default=10)
    search.add_argument("--page", type=int, default=1)
    search.add_argument("--source", action="append", default=[], metavar="SOURCE")
    search.add_argument("--json", action="store_true")

    week = sub.add_parser("week", help="show one curated week")
    week.add_argument("date", nargs="?", default="latest")
    week.add_argument("--source", action="append", default=[], metavar="SOURCE")
    week.add_argument("--json", action="store_true")

    manifest = sub.add_parser("slack-manifest", help="print a Slack app manifest")
    manifest.add_argument(
        "--http",
        metavar="URL",
        help="use HTTP mode with this public base URL instead of Socket Mode",
    )
    manifest.add_argument("--name", default="Paperboy")
    manifest.add_argument("--format", choices=("yaml", "json"), default="yaml")

    invite = sub.add_parser("discord-invite", help="print the Discord invite URL")
    invite.add_argument(
        "--application-id", metavar="ID", help="defaults to discord.application_id from the config"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd is None:
        _parser().print_help()
        return EXIT_USAGE
    try:
        handler = {
            "run": _run,
            "check": _check,
            "export": _export,
            "search": _search,
            "week": _week,
            "slack-manifest": _slack_manifest,
            "discord-invite": _discord_invite,
        }[args.cmd]
        return handler(args)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"paperboy: config: {line}", file=sys.stderr)
        return EXIT_USAGE
    except PaperboyError as exc:
        print(f"paperboy: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


# --- helpers ------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Any:
    from bot.config.load import load_config

    return load_config(args.config)


def shipped_digests() -> Path:
    """The ``digests/`` folder: in the working directory, else beside the installed package
    (a clone installed with ``pip install -e .``)."""
    here = Path("digests")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "digests"


def _source_paths(settings: Any, explicit: Sequence[str]) -> tuple[list[str], list[str]]:
    if explicit:
        urls = [s for s in explicit if s.startswith(("http://", "https://"))]
        return [s for s in explicit if s not in urls], urls
    paths = [
        p if Path(p).exists() or p != "digests" else str(shipped_digests())
        for p in settings.sources.paths
    ]
    return paths, list(settings.sources.urls)


def _load(settings: Any, explicit: Sequence[str], *, fetch: bool = False) -> Any:
    """An Archive over the given sources (or the configured ones), loaded."""
    from bot.papers.archive import Archive

    paths, urls = _source_paths(settings, explicit)
    archive = Archive(
        paths,
        urls,
        cache_dir=settings.sources.cache_dir,
        default_date=settings.sources.default_date,
    )

    async def go() -> Any:
        await archive.load()
        if fetch and urls:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                await archive.refresh(session)
        return archive

    return asyncio.run(go())


# --- commands ------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from bot.app import run_app
    from bot.ops.logs import setup_logging

    settings = _settings(args)
    interactive = settings.terminal_enabled and sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        # Someone is typing at this terminal: keep the screen for digests and answers, and
        # write the structured log to a file (warnings and errors still show).
        log_file = Path(settings.sources.cache_dir).parent / "paperboy.log"
        setup_logging(settings.log_level, settings.log_format, file=log_file)
        print(f"(logging to {log_file})", file=sys.stderr)
    else:
        setup_logging(settings.log_level, settings.log_format)
    paths, _ = _source_paths(settings, ())
    if list(settings.sources.paths) != paths:
        import dataclasses

        settings = dataclasses.replace(
            settings, sources=dataclasses.replace(settings.sources, paths=tuple(paths))
        )
    try:
        return asyncio.run(run_app(settings, now=args.now))
    except PaperboyError as exc:
        print(f"paperboy: {exc}", file=sys.stderr)
        return EXIT_ERRORS


def _check(args: argparse.Namespace) -> int:
    from bot.config.load import describe_settings

    settings = _settings(args)
    archive = _load(settings, args.sources, fetch=True)
    diags = archive.diagnostics
    errors = [d for d in diags if d.severity == "error"]
    cat = archive.catalog
    if args.json:
        json.dump(
            {
                "ok": not errors,
                "papers": len(cat),
                "weeks": len(cat.weeks()),
                "collections": len(cat.collections()),
                "diagnostics": [
                    {
                        "severity": d.severity,
                        "source": d.source,
                        "line": d.line,
                        "message": d.message,
                    }
                    for d in diags
                ],
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        if not args.sources:
            print("Config OK:")
            print(describe_settings(settings))
            print()
        for d in diags:
            print(d)
        weeks = cat.weeks()
        span = f", {weeks[-1].start} to {weeks[0].end}" if weeks else ""
        print(
            f"{len(cat)} papers in {len(weeks)} curated weeks{span} and "
            f"{len(cat.collections())} collections; {len(errors)} errors, "
            f"{len(diags) - len(errors)} warnings."
        )
    return EXIT_ERRORS if errors else EXIT_OK


def _export(args: argparse.Namespace) -> int:
    settings = _settings(args)
    archive = _load(settings, args.sources)
    for d in archive.diagnostics:
        print(d, file=sys.stderr)
    cat = archive.catalog
    rows = export_records([*cat.weeks(), *cat.collections()])
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.format == "jsonl":
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            for row in rows:
                flat = dict(row)
                flat["links"] = " ".join(f"{x['label']}={x['url']}" for x in row["links"])
                writer.writerow(flat)
    finally:
        if out is not sys.stdout:
            out.close()
    return EXIT_OK


def _search(args: argparse.Namespace) -> int:
    from bot.platforms.terminal.render import clean

    settings = _settings(args)
    archive = _load(settings, args.source)
    query = " ".join(args.query)
    limit = max(1, min(args.limit, 50))
    page = archive.catalog.search(query, limit=limit, offset=(max(1, args.page) - 1) * limit)
    if args.json:
        json.dump(
            {
                "query": query,
                "has_more": page.has_more,
                "relaxed": page.relaxed,
                "results": [
                    paper_record(h.paper) | {"score": round(h.score, 4)} for h in page.hits
                ],
            },
            sys.stdout,
            indent=2,
            ensure_ascii=False,
        )
        print()
        return EXIT_OK
    if not page.hits:
        print(f"No papers match “{clean(query)}”.")
        return EXIT_OK
    if page.relaxed:
        print("No paper matched every word; these match some of them.")
    for i, h in enumerate(page.hits, start=page.offset + 1):
        p = h.paper
        newest = max(p.appearances, key=lambda a: a.week_start)
        print(f"{i:>3}. {clean(p.title)}")
        print(
            f"     {p.url or '(no link)'}  ·  week of {newest.week_start} #{newest.rank}"
            f"  ·  id {p.paper_id}"
        )
    if page.has_more:
        print(f"More: paperboy search {clean(query)} --page {max(1, args.page) + 1}")
    return EXIT_OK


def _week(args: argparse.Namespace) -> int:
    from bot.delivery.digest import DigestOptions, week_message
    from bot.platforms.terminal import supports_color
    from bot.platforms.terminal.render import render_message

    settings = _settings(args)
    archive = _load(settings, args.source)
    week = archive.catalog.week(args.date)
    if week is None:
        print(f"paperboy: no curated week for {args.date!r}", file=sys.stderr)
        return EXIT_ERRORS
    if args.json:
        json.dump(
            {
                "week_start": week.start.isoformat(),
                "week_end": week.end.isoformat(),
                "title": week.title,
                "source": week.source,
                "papers": [paper_record(p) | {"rank": p.rank} for p in week.papers],
            },
            sys.stdout,
            indent=2,
            ensure_ascii=False,
        )
        print()
        return EXIT_OK
    opts = DigestOptions(
        summary_length=settings.digest.summary_length,
        bullets=settings.digest.bullets,
        links=settings.digest.links,
    )
    print(render_message(week_message(week, opts, kind="reply"), color=supports_color(sys.stdout)))
    return EXIT_OK


def _slack_manifest(args: argparse.Namespace) -> int:
    from bot.platforms.slack import slack_manifest

    request_url = args.http
    if request_url is not None and urlsplit(request_url).path in ("", "/"):
        request_url = request_url.rstrip("/") + "/slack/events"  # where the bot listens
    manifest = slack_manifest(
        socket_mode=request_url is None, request_url=request_url, name=args.name
    )
    if args.format == "json":
        print(json.dumps(manifest, indent=2))
    else:
        import yaml

        print(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), end="")
    return EXIT_OK


def _discord_invite(args: argparse.Namespace) -> int:
    from bot.platforms.discord import discord_invite_url

    app_id = args.application_id
    if not app_id:
        settings = _settings(args)
        app_id = settings.discord.application_id if settings.discord else None
    if not app_id:
        print(
            "paperboy: give --application-id (from the Discord developer portal) or set "
            "discord.application_id in the config",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(discord_invite_url(str(app_id)))
    return EXIT_OK
