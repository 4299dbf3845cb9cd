"""``/papers`` and ``/papers-admin``: the discord.py app command tree.

Two top-level command groups, because Discord applies ``default_member_permissions`` only to
top-level commands (it is ignored on subcommand groups): ``/papers`` (search, week, show, cite,
top, follow, unfollow, random, following, help) for everyone, and ``/papers-admin``
(subscribe, unsubscribe, schedule, preview, post, feed), hidden by default from members without
Manage Server *and* checked on every call by the ``Runner`` (``interactions``), which every
subcommand hands its text form to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import discord
from discord import app_commands

from bot.platforms.discord.interactions import Runner

log = logging.getLogger("paperboy.discord")

Window = Literal["week", "month", "year", "all"]
Scope = Literal["here", "server"]
Kind = Literal["curated", "community"]
FeedAction = Literal["show", "rotate"]


def build_groups(runner: Runner) -> tuple[app_commands.Group, app_commands.Group]:
    """``/papers`` (everyone) and ``/papers-admin`` (Manage Server)."""
    return _papers_group(runner), _admin_group(runner)


def _command_text(sub: str, *options: str | None) -> str:
    """The text form of a subcommand: its name, then the options given, in order."""
    return " ".join([sub, *(o for o in options if o)])


def _plain_commands(
    group: app_commands.Group, runner: Runner, commands: dict[str, str], *, admin: bool = False
) -> None:
    """Subcommands without options (name -> description): ``/papers random`` runs ``random``."""
    for name, description in commands.items():
        group.command(name=name, description=description)(_runs(runner, name, admin=admin))


def _runs(
    runner: Runner, text: str, *, admin: bool
) -> Callable[[discord.Interaction[Any]], Coroutine[Any, Any, None]]:
    """A command callback that runs ``text``."""

    async def run(interaction: discord.Interaction[Any]) -> None:
        await runner.run(interaction, text, admin=admin)

    return run


def _papers_group(runner: Runner) -> app_commands.Group:
    papers = app_commands.Group(
        name="papers", description="Curated ML papers: search, weekly top tens, leaderboards"
    )

    _lookup_commands(papers, runner)
    _vote_and_follow_commands(papers, runner)
    _plain_commands(
        papers,
        runner,
        {
            "random": "A random paper from the archive",
            "following": "What you follow (only you see it)",
            "help": "What Paperboy can do",
        },
    )
    return papers


def _lookup_commands(papers: app_commands.Group, runner: Runner) -> None:
    """``search``, ``week``, ``show`` and ``cite`` (with title autocomplete)."""

    @papers.command(name="search", description="Search paper titles and summaries")
    @app_commands.describe(
        query="Words to look for; filters: year:2024 week:2025-06-23 has:code "
        "author:Name cat:cs.CL",
        page="Result page (5 per page)",
    )
    async def search(
        interaction: discord.Interaction[Any],
        query: app_commands.Range[str, 1, 200],
        page: app_commands.Range[int, 1, 200] | None = None,
    ) -> None:
        await runner.run(
            interaction, _command_text("search", query, f"page:{page}" if page else None)
        )

    @papers.command(name="week", description="The curated top ten of a week")
    @app_commands.describe(date="Any day inside the week (2025-06-23), or 'latest'")
    async def week(
        interaction: discord.Interaction[Any], date: app_commands.Range[str, 1, 40] | None = None
    ) -> None:
        await runner.run(interaction, _command_text("week", date))

    @papers.command(name="show", description="One paper with its links, authors and weeks")
    @app_commands.describe(ref="Paper title, paper id or arXiv id")
    async def show(
        interaction: discord.Interaction[Any], ref: app_commands.Range[str, 1, 300]
    ) -> None:
        await runner.run(interaction, f"show {ref}")

    @show.autocomplete("ref")
    async def show_ref(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return runner.suggest(current)

    @papers.command(name="cite", description="BibTeX for a paper")
    @app_commands.describe(ref="Paper title, paper id or arXiv id")
    async def cite(
        interaction: discord.Interaction[Any], ref: app_commands.Range[str, 1, 300]
    ) -> None:
        await runner.run(interaction, f"cite {ref}")

    @cite.autocomplete("ref")
    async def cite_ref(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return runner.suggest(current)


def _vote_and_follow_commands(papers: app_commands.Group, runner: Runner) -> None:
    """``top`` (the leaderboard), ``follow`` and ``unfollow``."""

    @papers.command(name="top", description="The community leaderboard from reaction votes")
    @app_commands.describe(window="Period to count votes in", scope="This channel or the server")
    async def top(
        interaction: discord.Interaction[Any],
        window: Window | None = None,
        scope: Scope | None = None,
    ) -> None:
        await runner.run(interaction, _command_text("top", window, scope))

    @papers.command(name="follow", description="A direct message when a new week matches")
    @app_commands.describe(what="Words, author:Name or cat:cs.CL; -word excludes")
    async def follow(
        interaction: discord.Interaction[Any], what: app_commands.Range[str, 1, 200]
    ) -> None:
        await runner.run(interaction, f"follow {what}")

    @papers.command(name="unfollow", description="Stop following one (its number), or all")
    @app_commands.describe(which="The number from /papers following, or all")
    async def unfollow(
        interaction: discord.Interaction[Any], which: app_commands.Range[str, 1, 10]
    ) -> None:
        await runner.run(interaction, f"unfollow {which}")


def _admin_group(runner: Runner) -> app_commands.Group:
    admin = app_commands.Group(
        name="papers-admin",
        description="Digest subscriptions for this channel (Manage Server)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    @admin.command(name="subscribe", description="Post digests in this channel on a schedule")
    @app_commands.describe(
        cron="Cron schedule, e.g. '0 9 * * MON' (Mondays 09:00)",
        timezone="IANA timezone, e.g. Europe/London",
        kind="Curated weekly top ten, or the community's most-voted",
    )
    async def subscribe(
        interaction: discord.Interaction[Any],
        cron: app_commands.Range[str, 1, 100] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        kind: Kind | None = None,
    ) -> None:
        text = _command_text("subscribe", cron, timezone, kind)
        await runner.run(interaction, text, admin=True)

    @subscribe.autocomplete("timezone")
    async def subscribe_timezone(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return runner.timezones(current)

    _plain_commands(
        admin,
        runner,
        {
            "unsubscribe": "Stop posting digests in this channel",
            "schedule": "This channel's subscription and next run",
            "preview": "The next digest, shown only to you",
            "post": "Post this week's digest here now (never twice)",
        },
        admin=True,
    )

    @admin.command(name="feed", description="This channel's private web page and feed link")
    @app_commands.describe(action="show the link, or rotate: replace it (the old one stops)")
    async def feed(interaction: discord.Interaction[Any], action: FeedAction | None = None) -> None:
        await runner.run(
            interaction, _command_text("feed", "rotate" if action == "rotate" else None), admin=True
        )

    return admin


def install(client: discord.Client, runner: Runner) -> app_commands.CommandTree[Any]:
    """A command tree on ``client`` with both groups, persistent buttons and an error hook."""
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    for group in build_groups(runner):
        tree.add_command(group)
    client.add_dynamic_items(runner.button_cls)

    @tree.error
    async def on_error(
        interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        log.error("app command failed: %r", error, exc_info=error)
        await runner.sorry(interaction)

    return tree
