"""Slack distribution end to end: the whole ``App`` in OAuth mode (``slack.oauth``) on the real
slack-bolt install flow, against the fake Slack's consent page and ``oauth.v2.access``.

Two workspaces install through ``/slack/install`` -> Slack -> ``/slack/oauth_redirect``; each
gets its digest posted (and its keycaps added) with its own bot token, the fake refusing any
call about a channel with another workspace's token. An ``app_uninstalled`` event stops that
workspace only, and installing again resumes it. A forged state, a replayed one and a state
without its browser cookie are refused before any code is exchanged. A workspace that never
installed the app is paused (nothing is tried there) until it does; ``tokens_revoked`` stops a
workspace only when its bot token is among them.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from support.clock import FakeClock
from support.net import free_port
from support.slack import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET, FakeSlack, validate_blocks
from support.slack_app import BEFORE_FIRE, FIRE, WEEKLY
from support.watch import fire_at, running

from bot.app import App
from bot.config.load import parse_config
from bot.config.settings import Settings
from bot.core.messages import ChannelRef, Message
from bot.platforms.slack.manifest import BOT_SCOPES

TEAM_A, CHANNEL_A = "T0AAA", "C0AAA"
TEAM_B, CHANNEL_B = "T0BBB", "C0BBB"
LATER_A, LATER_B = "C0AAALATER", "C0BBBLATER"  # a Tuesday subscription in each workspace
TUESDAY = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
COOKIE = "slack-app-oauth-state"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


def oauth_settings(
    tmp_path: Path, fake: FakeSlack, port: int, store_url: str | None = None
) -> Settings:
    """``paperboy run`` in the distribution mode: no bot token, the app's client id and secret
    from the environment, a weekly subscription in a channel of each workspace; SQLite in
    ``tmp_path`` unless ``store_url`` names another database."""
    if store_url is None:
        store_url = str(tmp_path / "paperboy.db")
    if not store_url.startswith("postgres"):
        store_url = f"sqlite:///{store_url}"
    weekly = tmp_path / "picks.md"
    weekly.write_text(WEEKLY, encoding="utf-8")
    subs = "".join(
        f"  - platform: slack\n    workspace: {team}\n    channel: {channel}\n"
        f'    cron: "0 9 * * {day}"\n    timezone: UTC\n'
        for team, channel, day in (
            (TEAM_A, CHANNEL_A, "MON"),
            (TEAM_B, CHANNEL_B, "MON"),
            (TEAM_A, LATER_A, "TUE"),
            (TEAM_B, LATER_B, "TUE"),
        )
    )
    text = f"""\
sources:
  paths: [{weekly}]
  cache_dir: {tmp_path / "cache"}
store:
  url: {store_url}
timezone: UTC
slack:
  mode: http
  api_base_url: {fake.url}
  oauth:
    redirect_uri: http://127.0.0.1:{port}/slack/oauth_redirect
    authorization_url: {fake.base_url}/oauth/v2/authorize
terminal:
  enabled: false
arxiv:
  enabled: false
http:
  enabled: true
  host: 127.0.0.1
  port: {port}
subscriptions:
{subs}"""
    env = {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
    }
    return parse_config(text, source="test.yaml", env=env)


async def start_install(client: aiohttp.ClientSession, base: str, team: str) -> tuple[str, str]:
    """``/slack/install`` and Slack's consent page: (the redirect back to the bot with its
    code and state, the state cookie the browser holds)."""
    async with client.get(f"{base}/slack/install?team={team}", allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        to_slack = resp.headers["Location"]
        cookie = resp.cookies[COOKIE].value
    async with client.get(to_slack, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        back = resp.headers["Location"]
    return back, cookie


async def finish_install(
    client: aiohttp.ClientSession, back: str, cookie: str | None
) -> tuple[int, str]:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}
    async with client.get(back, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def install(client: aiohttp.ClientSession, base: str, team: str) -> None:
    back, cookie = await start_install(client, base, team)
    status, text = await finish_install(client, back, cookie)
    assert status == 200, text


def tokens(fake: FakeSlack, method: str, channel: str) -> set[str]:
    return {
        c.headers["Authorization"].removeprefix("Bearer ")
        for c in fake.calls(method)
        if c.args.get("channel") == channel
    }


async def send_event(fake: FakeSlack, base: str, team: str, event: dict[str, object]) -> None:
    body = json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "api_app_id": "A0APP",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
    )
    status, text = await fake.post_signed(
        f"{base}/slack/events", body, content_type="application/json"
    )
    assert status == 200, text


async def uninstall(fake: FakeSlack, base: str, team: str) -> None:
    """The workspace removes the app: Slack revokes its tokens and sends ``app_uninstalled``."""
    fake.revoke(team)
    await send_event(fake, base, team, {"type": "app_uninstalled"})


async def subscription_state(app: App, team: str, channel: str) -> tuple[bool, str | None]:
    assert app.store is not None
    sub = await app.store.get_subscription(ChannelRef("slack", team, channel))
    assert sub is not None
    return sub.enabled, sub.paused_reason


async def test_two_workspaces_post_with_their_own_tokens_and_an_uninstall_stops_one(
    tmp_path: Path, fake: FakeSlack
) -> None:
    for channel, team in ((CHANNEL_A, TEAM_A), (CHANNEL_B, TEAM_B)):
        fake.add_channel(channel, team=team)
        fake.add_channel(channel + "LATER", team=team)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clock = FakeClock(BEFORE_FIRE)
    async with (
        running(oauth_settings(tmp_path, fake, port), clock) as app,
        aiohttp.ClientSession() as client,
    ):
        assert fake.calls("auth.test") == []  # no token of its own to check
        await install(client, base, TEAM_A)
        await install(client, base, TEAM_B)
        token_a, token_b = fake.token_of(TEAM_A), fake.token_of(TEAM_B)
        assert token_a and token_b and token_a != token_b
        asked = urllib.parse.parse_qs(urllib.parse.urlencode(fake.authorize_requests[0]))
        assert set(asked["scope"][0].split(",")) == set(BOT_SCOPES)
        assert len(fake.calls("oauth.v2.access")) == 2

        # Each workspace's digest goes out with that workspace's token (a wrong one would be
        # answered channel_not_found), and so do the vote keycaps under it.
        await fire_at(app, clock, FIRE)
        assert app.seeder is not None
        await app.seeder.settled()
        for channel, token in ((CHANNEL_A, token_a), (CHANNEL_B, token_b)):
            [digest] = fake.messages(channel)
            assert validate_blocks(digest["blocks"]) is None
            assert tokens(fake, "chat.postMessage", channel) == {token}
            assert tokens(fake, "reactions.add", channel) == {token}
            assert len(fake.bot_reactions(channel, digest["ts"])) == 3

        # A command from workspace B is authorized by its installation and answered.
        payload = fake.slash_command("search attention", channel_id=CHANNEL_B)
        payload["team_id"] = TEAM_B
        status, _ = await fake.post_signed(f"{base}/slack/events", fake.form_body(payload))
        assert status == 200
        await fake.wait_for(lambda: bool(fake.responses_to(payload["response_url"])))
        [answer] = fake.responses_to(payload["response_url"])
        assert "Attention Is All You Need" in json.dumps(answer)

        # Workspace A uninstalls: its installation is gone, its subscriptions paused, B's not.
        await uninstall(fake, base, TEAM_A)
        assert app.store is not None
        assert await app.store.slack_installation("", TEAM_A) is None
        assert await app.store.slack_installation("", TEAM_B) is not None
        for channel in (CHANNEL_A, LATER_A):
            enabled, reason = await subscription_state(app, TEAM_A, channel)
            assert not enabled and reason is not None and "uninstalled" in reason
        for channel in (CHANNEL_B, LATER_B):
            assert await subscription_state(app, TEAM_B, channel) == (True, None)

        # Tuesday: B's second subscription gets its digest; A's gets nothing, and no call is
        # even tried with A's revoked token.
        posts_before = len(fake.calls("chat.postMessage"))
        await fire_at(app, clock, TUESDAY)
        new_posts = fake.calls("chat.postMessage")[posts_before:]
        assert [c.args.get("channel") for c in new_posts] == [LATER_B]
        assert tokens(fake, "chat.postMessage", LATER_B) == {token_b}
        assert fake.messages(LATER_A) == []
        assert not any(c.headers.get("Authorization") == f"Bearer {token_a}" for c in new_posts)

        # Installed again: a new token, and A's subscriptions run again.
        await install(client, base, TEAM_A)
        for channel in (CHANNEL_A, LATER_A):
            assert await subscription_state(app, TEAM_A, channel) == (True, None)
        assert fake.token_of(TEAM_A) not in (None, token_a)


async def test_forged_replayed_and_cookieless_states_are_refused(
    tmp_path: Path, fake: FakeSlack, store_url: str
) -> None:
    """On SQLite and on PostgreSQL (where replicas share the states)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clock = FakeClock(BEFORE_FIRE)
    async with (
        running(oauth_settings(tmp_path, fake, port, store_url), clock) as app,
        aiohttp.ClientSession() as client,
    ):
        assert app.store is not None
        back, cookie = await start_install(client, base, TEAM_A)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)
        code, state = query["code"][0], query["state"][0]
        assert state == cookie

        # A state the bot never issued, with a cookie to match it: refused.
        forged = f"{base}/slack/oauth_redirect?code={code}&state=forged-state"
        status, _ = await finish_install(client, forged, "forged-state")
        assert status == 401
        # The real state without the browser's cookie (another browser): refused.
        status, _ = await finish_install(client, back, None)
        assert status == 400
        assert fake.calls("oauth.v2.access") == []
        assert await app.store.slack_installation("", TEAM_A) is None

        # The real one works once...
        status, text = await finish_install(client, back, cookie)
        assert status == 200, text
        assert len(fake.calls("oauth.v2.access")) == 1
        first = await app.store.slack_installation("", TEAM_A)
        assert first is not None

        # ...and replaying it (same state, same cookie) is refused before any exchange.
        status, _ = await finish_install(client, back, cookie)
        assert status == 401
        assert len(fake.calls("oauth.v2.access")) == 1
        assert await app.store.slack_installation("", TEAM_A) == first


async def test_not_installed_pauses_until_installed_and_only_bot_token_revocation_stops(
    tmp_path: Path, fake: FakeSlack
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clock = FakeClock(BEFORE_FIRE)
    async with (
        running(oauth_settings(tmp_path, fake, port), clock) as app,
        aiohttp.ClientSession() as client,
    ):
        assert app.store is not None
        await install(client, base, TEAM_A)
        # B never installed the app: its digest is not tried, the subscription is paused.
        await fire_at(app, clock, FIRE)
        assert len(fake.messages(CHANNEL_A)) == 1 and fake.messages(CHANNEL_B) == []
        assert await subscription_state(app, TEAM_B, CHANNEL_B) == (False, "not_installed")
        await install(client, base, TEAM_B)
        assert await subscription_state(app, TEAM_B, CHANNEL_B) == (True, None)

        # Only user tokens revoked: Paperboy uses none, nothing changes.
        await send_event(
            fake, base, TEAM_A, {"type": "tokens_revoked", "tokens": {"oauth": ["U0INSTALLER"]}}
        )
        assert await app.store.slack_installation("", TEAM_A) is not None
        assert await subscription_state(app, TEAM_A, CHANNEL_A) == (True, None)
        # The bot token revoked: like an uninstall, for A only.
        fake.revoke(TEAM_A)
        await send_event(
            fake, base, TEAM_A, {"type": "tokens_revoked", "tokens": {"bot": ["U0BOT"]}}
        )
        assert await app.store.slack_installation("", TEAM_A) is None
        enabled, reason = await subscription_state(app, TEAM_A, CHANNEL_A)
        assert not enabled and reason is not None and "uninstalled" in reason
        assert await subscription_state(app, TEAM_B, CHANNEL_B) == (True, None)


async def test_a_lost_reply_is_found_on_one_short_history_page_with_the_workspace_token(
    tmp_path: Path, fake: FakeSlack
) -> None:
    fake.add_channel(CHANNEL_A, team=TEAM_A, member=True)
    fake.drop_next("chat.postMessage")  # stored by Slack, the reply never arrives
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clock = FakeClock(BEFORE_FIRE)
    async with (
        running(oauth_settings(tmp_path, fake, port), clock) as app,
        aiohttp.ClientSession() as client,
    ):
        await install(client, base, TEAM_A)
        await clock.set(FIRE)
        await clock.wait_for_sleepers(2)  # the scheduler, and the send backing off
        await clock.advance(timedelta(seconds=5))
        assert app.scheduler is not None
        await app.scheduler.drain()
        assert len(fake.messages(CHANNEL_A)) == 1  # found by its metadata, not posted again
        assert [c.args["channel"] for c in fake.calls("chat.postMessage")] == [CHANNEL_A]
        # Distributed apps get 15 messages a read: one read, with A's own token.
        [read] = fake.calls("conversations.history")
        assert int(read.args["limit"]) == 15
        assert read.headers["Authorization"] == f"Bearer {fake.token_of(TEAM_A)}"


async def test_an_install_started_on_one_replica_finishes_on_another(
    tmp_path: Path, fake: FakeSlack, store_url: str
) -> None:
    """Two replicas on one database: the state one issued is consumed by the other, once, and
    the installation it saves is the one the first replica posts with."""
    ports = free_port(), free_port()
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    first = oauth_settings(tmp_path, fake, ports[0], store_url)
    second = oauth_settings(tmp_path, fake, ports[1], store_url)
    async with (
        running(first, FakeClock(BEFORE_FIRE)) as app,
        running(second, FakeClock(BEFORE_FIRE)),
        aiohttp.ClientSession() as client,
    ):
        back, cookie = await start_install(client, bases[0], TEAM_A)
        on_second = back.replace(bases[0], bases[1])
        assert on_second != back
        status, text = await finish_install(client, on_second, cookie)
        assert status == 200, text
        status, _ = await finish_install(client, back, cookie)  # and again on the first
        assert status == 401
        assert len(fake.calls("oauth.v2.access")) == 1
        adapter = app.adapters["slack"]
        digest = Message(header="Hello", text="from the first replica", ephemeral=False)
        ts = await adapter.post(ChannelRef("slack", TEAM_A, CHANNEL_A), digest, "key-1")
        [post] = [c for c in fake.calls("chat.postMessage") if c.args.get("channel") == CHANNEL_A]
        assert post.headers["Authorization"] == f"Bearer {fake.token_of(TEAM_A)}"
        assert fake.messages(CHANNEL_A)[0]["ts"] == ts
