"""One builder per platform: the adapter ``paperboy run`` connects, from its config section."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from bot.chat.commands import Commands
from bot.chat.votes import VoteService
from bot.config.settings import Settings
from bot.delivery.leadership import Leadership
from bot.platforms.base import Adapter
from bot.storage import Store


def terminal_adapter(
    s: Settings,
    commands: Commands,
    votes: VoteService,
    store: Store,
    *,
    on_quit: Callable[[], None],
    exit_on_eof: bool,
) -> Adapter:
    from bot.platforms.terminal import TerminalAdapter

    return TerminalAdapter(
        commands=commands,
        reactions=votes,
        store=store,
        workspace=s.terminal.workspace,
        channel=s.terminal.channel,
        color=s.terminal.color,
        on_quit=on_quit,
        summary_length=s.digest.summary_length,
        history_file=Path(s.sources.cache_dir).parent / "history",
        exit_on_eof=exit_on_eof,
    )


def slack_adapter(
    s: Settings,
    commands: Commands,
    votes: VoteService,
    store: Store,
    *,
    http_app: web.Application | None,
) -> Adapter:
    from bot.platforms.slack import SlackAdapter
    from bot.platforms.slack.manifest import BOT_SCOPES
    from bot.platforms.slack.oauth import OAuthOptions

    assert s.slack is not None
    o = s.slack.oauth
    oauth = None
    if o is not None:
        oauth = OAuthOptions(
            client_id=o.client_id,
            client_secret=o.client_secret,
            scopes=o.scopes or BOT_SCOPES,
            redirect_uri=o.redirect_uri,
            authorization_url=o.authorization_url,
        )
    return SlackAdapter(
        bot_token=s.slack.bot_token,
        app_token=s.slack.app_token,
        signing_secret=s.slack.signing_secret,
        mode=s.slack.mode,
        api_base_url=s.slack.api_base_url,
        commands=commands,
        reactions=votes,
        admin_user_group=s.slack.admin_user_group,
        seed_reactions=s.slack.seed_reactions and s.digest.seed_reactions,
        reaction_calls=s.slack.reaction_calls,
        reaction_period=s.slack.reaction_period.total_seconds(),
        http_app=http_app,
        oauth=oauth,
        store=store,
        render_options={
            "summary_length": s.digest.summary_length,
            "show_links": s.digest.links,
        },
    )


def discord_adapter(
    s: Settings,
    commands: Commands,
    votes: VoteService,
    store: Store,
    *,
    leadership: Leadership | None,
) -> Adapter:
    from bot.platforms.discord import DiscordAdapter
    from bot.platforms.discord.shards import ShardLeaser

    assert s.discord is not None
    leaser = None
    if s.discord.lease_shards and leadership is not None:
        ttl = s.scheduler.lease_ttl.total_seconds()
        leaser = ShardLeaser(store, leadership.owner, ttl=ttl)
    return DiscordAdapter(
        token=s.discord.token,
        commands=commands,
        reactions=votes,
        application_id=s.discord.application_id,
        api_base_url=s.discord.api_base_url,
        gateway_url=s.discord.gateway_url,
        test_guild=s.discord.test_guild,
        shards=s.discord.shards,
        ready_timeout=s.discord.ready_timeout.total_seconds(),
        leaser=leaser,
        seed_reactions=s.discord.seed_reactions and s.digest.seed_reactions,
        render_options={
            "summary_length": min(s.digest.summary_length, 200),
            "show_links": s.digest.links,
        },
    )
