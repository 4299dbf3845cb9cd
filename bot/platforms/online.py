"""``paperboy check --online``: what otherwise only fails at ``paperboy run``. The database is
opened (and migrated, as ``run`` would), and each configured platform is asked whether it
accepts the tokens: Slack ``auth.test`` with the bot token and ``apps.connections.open`` with the
app-level token (Socket Mode), Discord's login with the bot token. Nothing is posted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from bot.config.settings import DEFAULT_DATABASE_URL, DiscordSettings, Settings, SlackSettings
from bot.core.errors import ConfigError, PaperboyError
from bot.core.text import mask_url
from bot.platforms.shared import network_problem
from bot.storage import open_store

TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class Probe:
    name: str  # "store", "slack bot token", "slack app token", "discord token"
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {'OK' if self.ok else 'error'}: {self.detail}"


async def check_online(settings: Settings) -> list[Probe]:
    """One probe per thing checked, in a fixed order."""
    probes = [await _store(settings.store.url)]
    if settings.slack is not None:
        probes += await _slack(settings.slack)
    if settings.discord is not None:
        probes.append(await _discord(settings.discord))
    return probes


async def _store(url: str) -> Probe:
    try:
        store = open_store(url, create_dir=url == DEFAULT_DATABASE_URL)
    except PaperboyError as exc:
        return Probe("store", False, str(exc))
    try:
        await asyncio.wait_for(store.open(), TIMEOUT)
    except PaperboyError as exc:
        return Probe("store", False, str(exc))
    except TimeoutError:
        return Probe("store", False, f"no answer from {mask_url(url)} in {TIMEOUT:.0f} s")
    finally:
        await store.close()
    return Probe("store", True, f"opened {mask_url(url)}")


async def _slack_call(name: str, call: str, token: str, api: str) -> tuple[Probe, dict[str, str]]:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=token, base_url=api, timeout=int(TIMEOUT), retry_handlers=[])
    try:
        resp = await client.api_call(call)
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown error")
        return Probe(name, False, f"Slack refused it ({error})"), {}
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Probe(name, False, f"cannot reach Slack at {api}: {network_problem(exc)}"), {}
    data = {k: str(v) for k, v in resp.data.items()} if isinstance(resp.data, dict) else {}
    return Probe(name, True, "accepted"), data


async def _slack(slack: SlackSettings) -> list[Probe]:
    api = slack.api_base_url
    if slack.bot_token is None:  # distribution mode: a token per installed workspace
        return [Probe("slack bot token", True, "none: OAuth mode, each workspace has its own")]
    bot, info = await _slack_call("slack bot token", "auth.test", slack.bot_token, api)
    if bot.ok:
        team = f"{info.get('team', '?')} ({info.get('team_id', '?')})"
        bot = Probe(bot.name, True, f"accepted: workspace {team}, bot user {info.get('user')}")
    probes = [bot]
    if slack.mode == "socket" and slack.app_token:
        app, _ = await _slack_call("slack app token", "apps.connections.open", slack.app_token, api)
        probes.append(app)
    return probes


async def _discord(settings: DiscordSettings) -> Probe:
    from bot.platforms.discord import endpoints
    from bot.platforms.discord.client import whoami

    name = "discord token"
    release = endpoints.acquire(settings.api_base_url, settings.gateway_url)
    try:
        user = await asyncio.wait_for(whoami(settings.token), TIMEOUT)
    except ConfigError as exc:
        return Probe(name, False, exc.message)
    except TimeoutError:
        return Probe(name, False, f"no answer from Discord in {TIMEOUT:.0f} s")
    except PaperboyError as exc:
        return Probe(name, False, str(exc))
    finally:
        release()
    return Probe(name, True, f"accepted: logged in as {user}")


__all__ = ["Probe", "check_online"]
