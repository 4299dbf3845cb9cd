"""The ``paperboy`` command (also ``python -m bot``).

    paperboy run [--now] [--exit-on-eof]     run the bot (terminal when no Slack/Discord token)
    paperboy check [--source S] [--online]   validate config and sources; exit 1 on errors
    paperboy export [--source S]             every paper appearance as JSON lines or CSV
    paperboy sources accept URL...           take a source's copy that was held back as suspicious
    paperboy search QUERY                    ranked search over the archive
    paperboy week [DATE|latest]              one curated week
    paperboy slack-manifest                  a Slack app manifest to paste into Slack
    paperboy discord-invite                  the Discord invite URL with the permissions needed
    paperboy forget-workspace P W --yes      delete everything kept about one workspace

``--config FILE`` may come before or after the command. Errors print one clear line (with
``--json``, also a JSON object on stdout) and exit non-zero; no tracebacks for expected problems.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.cli.common import config_file, load, settings_of, source_paths, stored_arxiv
from bot.cli.export import run_export
from bot.cli.parser import EXIT_ERRORS, EXIT_OK, EXIT_USAGE
from bot.cli.parser import parser as _parser
from bot.cli.sources import print_remotes, run_sources
from bot.core.errors import ConfigError, PaperboyError
from bot.papers.export import paper_record

HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cmd is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return HANDLERS[args.cmd](args)
    except ConfigError as exc:
        _json_error(args, exc)
        for line in str(exc).splitlines():
            print(f"paperboy: config: {line}", file=sys.stderr)
        return EXIT_ERRORS
    except PaperboyError as exc:
        _json_error(args, exc)
        print(f"paperboy: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _json_error(args: argparse.Namespace, exc: PaperboyError) -> None:
    """With ``--json``, the error as a JSON object on stdout as well (a script reading stdout
    gets an answer, not nothing)."""
    if not getattr(args, "json", False):
        return
    if isinstance(exc, ConfigError):
        items = getattr(exc, "errors", [exc])
        errors = [{"key": e.key_path, "line": e.line, "message": e.message} for e in items]
        kind = "config"
    else:
        errors, kind = [{"message": str(exc)}], "error"
    config = config_file(args)
    body = {"ok": False, "kind": kind, "config": config, "errors": errors}
    json.dump(body, sys.stdout, indent=2, ensure_ascii=False)
    print()


# --- helpers ------------------------------------------------------------------


# --- commands ------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from bot.app import run_app
    from bot.ops.logs import setup_logging

    settings = settings_of(args)
    interactive = settings.terminal_enabled and sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        # Someone is typing at this terminal: keep the screen for digests and answers, and
        # write the structured log, warnings too, to a file.
        log_file = Path(settings.sources.cache_dir).parent / "paperboy.log"
        setup_logging(settings.log_level, settings.log_format, file=log_file)
        print(f"(logging to {log_file})", file=sys.stderr)
    else:
        setup_logging(settings.log_level, settings.log_format)
    paths, _ = source_paths(settings, ())
    if list(settings.sources.paths) != paths:
        import dataclasses

        settings = dataclasses.replace(
            settings, sources=dataclasses.replace(settings.sources, paths=tuple(paths))
        )
    try:
        return asyncio.run(run_app(settings, now=args.now, exit_on_eof=args.exit_on_eof))
    except PaperboyError as exc:
        print(f"paperboy: {exc}", file=sys.stderr)
        return EXIT_ERRORS


def _check(args: argparse.Namespace) -> int:
    from bot.config.load import describe_settings

    settings = settings_of(args)
    archive = load(settings, args.source, fetch=True)
    probes = _online(settings) if args.online else []
    diags = archive.diagnostics
    errors = [d for d in diags if d.severity == "error"]
    failed = [p for p in probes if not p.ok]
    cat = archive.catalog
    config = config_file(args)
    if args.json:
        json.dump(
            {
                "ok": not errors and not failed,
                "config": config,
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
                "online": [{"check": p.name, "ok": p.ok, "detail": p.detail} for p in probes],
                "remote": [
                    {"url": r.url, "status": r.status, "files": list(r.files)}
                    for r in archive.last_fetch.values()
                ],
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        if not args.source:
            print(f"Config OK ({config or 'no config file: defaults and the environment'}):")
            print(describe_settings(settings))
            print()
        for d in diags:
            print(d)
        print_remotes(archive)
        weeks = cat.weeks()
        span = f", {weeks[-1].start} to {weeks[0].end}" if weeks else ""
        print(
            f"{len(cat)} papers in {len(weeks)} curated weeks{span} and "
            f"{len(cat.collections())} collections; {len(errors)} errors, "
            f"{len(diags) - len(errors)} warnings."
        )
        for p in probes:
            print(p)
    return EXIT_ERRORS if errors or failed else EXIT_OK


def _online(settings: Any) -> list[Any]:
    from bot.platforms.online import check_online

    return asyncio.run(check_online(settings))


def _paper_json(p: Any, catalog: Any = None, arxiv: Any = None) -> dict[str, Any]:
    """One paper as ``paper_record`` gives it; a week's own paper takes its weeks from the
    catalog's copy (it carries none itself). ``arxiv``: an ``ArxivIndex`` for the authors."""
    known = catalog.get(p.paper_id) if catalog is not None else None
    return paper_record(known or p, arxiv.get if arxiv is not None else None)


def _search(args: argparse.Namespace) -> int:
    from bot.platforms.terminal.render import clean

    settings = settings_of(args)
    archive = load(settings, args.source)
    query = " ".join(args.query)
    limit = args.limit
    arxiv = stored_arxiv(settings)
    page = archive.catalog.search(
        query, limit=limit, offset=(args.page - 1) * limit, meta=arxiv.for_paper
    )
    if args.json:
        json.dump(
            {
                "query": query,
                "has_more": page.has_more,
                "relaxed": page.relaxed,
                "results": [
                    _paper_json(h.paper, arxiv=arxiv) | {"score": round(h.score, 4)}
                    for h in page.hits
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
        print(f"More: paperboy search {clean(query)} --page {args.page + 1}")
    return EXIT_OK


def _week(args: argparse.Namespace) -> int:
    from bot.delivery.digest import DigestOptions, week_message
    from bot.platforms.terminal import supports_color
    from bot.platforms.terminal.render import render_message

    settings = settings_of(args)
    archive = load(settings, args.source)
    week = archive.catalog.week(args.date)
    if week is None:
        raise PaperboyError(f"no curated week for {args.date!r}")
    if args.json:
        json.dump(
            {
                "week_start": week.start.isoformat(),
                "week_end": week.end.isoformat(),
                "title": week.title,
                "source": week.source,
                "papers": [_paper_json(p, archive.catalog) | {"rank": p.rank} for p in week.papers],
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

    # --http and --name were checked (and /slack/events added) when the options were parsed.
    if args.oauth and args.http is None:
        print(
            "paperboy: --oauth needs --http (the distribution mode runs over HTTP)", file=sys.stderr
        )
        return EXIT_USAGE
    manifest = slack_manifest(
        socket_mode=args.http is None,
        request_url=args.http,
        name=args.name,
        distribution=args.oauth,
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
        settings = settings_of(args)
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


def _forget_workspace(args: argparse.Namespace) -> int:
    from bot.storage import open_store

    settings = settings_of(args)
    if not args.yes:
        print(
            f"paperboy: this deletes everything kept about {args.platform} workspace "
            f"{args.workspace}; add --yes to do it",
            file=sys.stderr,
        )
        return EXIT_USAGE

    async def go() -> dict[str, int]:
        store = open_store(settings.store.url)
        try:
            await store.open()
            return await store.forget_workspace(args.platform, args.workspace)
        finally:
            await store.close()

    deleted = asyncio.run(go())
    total = sum(deleted.values())
    parts = ", ".join(f"{table} {n}" for table, n in deleted.items() if n)
    print(
        f"{args.platform} {args.workspace}: {total} rows deleted" + (f" ({parts})" if parts else "")
    )
    return EXIT_OK


HANDLERS.update(
    {
        "run": _run,
        "check": _check,
        "export": run_export,
        "sources": run_sources,
        "search": _search,
        "week": _week,
        "slack-manifest": _slack_manifest,
        "discord-invite": _discord_invite,
        "forget-workspace": _forget_workspace,
    }
)
