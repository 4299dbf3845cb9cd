"""The command line's options: every command, its help text, and the checks on option values
(a value that is not allowed is a usage error, exit status 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bot import __version__

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
EXIT_STATUS = """\
exit status:
  0  success
  1  errors: an invalid config, a source or week that cannot be read, problems found by
     check, a database or platform that cannot be reached
  2  usage errors: an unknown command or option, or an option value that is not allowed"""


def _common() -> argparse.ArgumentParser:
    """Options accepted before and after the command (``paperboy check -c FILE`` too)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="config file (default: paperboy.yaml in the current directory, if present)",
    )
    return common


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def conv(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range {low}-{high}")
        return value

    return conv


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type from a validator that raises ValueError with the reason."""

    def conv(text: str) -> str:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return conv


def _source_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="SOURCE",
        help="a markdown file, folder or http(s) URL to read instead of the configured "
        "sources (repeat for several)",
    )


def _json_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def _add_lookups(sub: Any, common: argparse.ArgumentParser) -> None:
    check = sub.add_parser("check", parents=[common], help="validate config and sources")
    _source_option(check)
    _json_option(check, "the result (errors too)")
    check.add_argument(
        "--online",
        action="store_true",
        help="also open the database and ask Slack and Discord whether they accept the tokens",
    )

    export = sub.add_parser("export", parents=[common], help="export paper appearances")
    _source_option(export)
    export.add_argument(
        "--format",
        choices=("jsonl", "csv", "bibtex"),
        default="jsonl",
        help="output format (jsonl); bibtex: one entry per paper",
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    search = sub.add_parser("search", parents=[common], help="search the archive")
    search.add_argument("query", nargs="+", metavar="WORD", help="words and filters to look for")
    search.add_argument(
        "-n", "--limit", type=_int_in(1, 50), default=10, help="results per page, 1-50 (10)"
    )
    search.add_argument(
        "--page", type=_int_in(1, 10_000), default=1, help="which page of results (1)"
    )
    _source_option(search)
    _json_option(search, "the results")

    week = sub.add_parser("week", parents=[common], help="show one curated week")
    week.add_argument(
        "date", nargs="?", default="latest", help="any date inside the week, or latest (default)"
    )
    _source_option(week)
    _json_option(week, "the week")


def _add_setup(sub: Any, common: argparse.ArgumentParser) -> None:
    from bot.platforms.slack.manifest import NAME_MAX, app_name, request_url

    manifest = sub.add_parser("slack-manifest", parents=[common], help="print a Slack app manifest")
    manifest.add_argument(
        "--http",
        metavar="URL",
        type=_checked(request_url),
        help="HTTP mode: the bot's public https address (/slack/events is added to a bare "
        "host); without it, Socket Mode",
    )
    manifest.add_argument(
        "--name",
        default="Paperboy",
        type=_checked(app_name),
        help=f"the app's name in Slack, at most {NAME_MAX} characters (Paperboy)",
    )
    manifest.add_argument(
        "--format", choices=("yaml", "json"), default="yaml", help="output format (yaml)"
    )
    manifest.add_argument(
        "--oauth",
        action="store_true",
        help="for the distribution mode (slack.oauth, needs --http): the OAuth redirect URL "
        "and the uninstall events",
    )

    sources = sub.add_parser("sources", parents=[common], help="manage remote sources")
    sources_sub = sources.add_subparsers(
        dest="sources_cmd", metavar="ACTION", required=True, help="accept: take a held-back copy"
    )
    accept = sources_sub.add_parser(
        "accept",
        parents=[common],
        help="take what a source serves now, even a copy held back as suspicious",
        description="Fetch each URL (one of sources.urls) and make what it serves now its "
        "last good copy, however many weeks that drops. A running bot picks the accepted "
        "copy up at its next refresh.",
    )
    accept.add_argument("urls", nargs="+", metavar="URL", help="a URL from sources.urls")

    forget = sub.add_parser(
        "forget-workspace",
        parents=[common],
        help="delete everything kept about one workspace or server",
        description="Delete the workspace's subscriptions, their delivery ledger, posted "
        "digests, votes, shares, feed links, follows and (Slack) its installation from the "
        "store, on that workspace's request. Remove its subscriptions from the config file "
        "too, or the next start applies them again.",
    )
    forget.add_argument(
        "platform", choices=("slack", "discord", "terminal"), help="the workspace's platform"
    )
    forget.add_argument("workspace", help="the Slack team id (T...) or Discord server id")
    forget.add_argument("--yes", action="store_true", help="really delete (else: refuse)")

    invite = sub.add_parser("discord-invite", parents=[common], help="print the Discord invite URL")
    invite.add_argument(
        "--application-id", metavar="ID", help="defaults to discord.application_id from the config"
    )


def parser() -> argparse.ArgumentParser:
    common = _common()
    p = argparse.ArgumentParser(
        prog="paperboy",
        description="Curated research-paper digests for Slack, Discord and the terminal.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    p.add_argument("--version", action="version", version=f"paperboy {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the bot")
    run.add_argument(
        "--now", action="store_true", help="post the current digest to the terminal at once"
    )
    run.add_argument(
        "--exit-on-eof",
        action="store_true",
        help="stop when piped input ends (scripts: printf '/papers top\\n' | paperboy run "
        "--exit-on-eof); without it the bot keeps running",
    )
    _add_lookups(sub, common)
    _add_setup(sub, common)
    return p


__all__ = ["EXIT_ERRORS", "EXIT_OK", "EXIT_STATUS", "EXIT_USAGE", "parser"]
