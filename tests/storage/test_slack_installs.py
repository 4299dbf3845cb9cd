"""Slack installations and OAuth states on both stores (migration 7), through the slack_sdk
store implementations the OAuth flow uses (``bot.platforms.slack.oauth``); and pausing a
workspace's subscriptions, which an uninstall does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slack_sdk.oauth.installation_store import Installation

from bot.core.messages import ChannelRef
from bot.platforms.slack.oauth import StoreInstallationStore, StoreStateStore
from bot.storage import Store
from bot.storage.records import Person, PostedDigest, Subscription, Vote

T0 = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)


def install(team: str, token: str, *, at: float = 1_750_000_000.0) -> Installation:
    return Installation(
        app_id="A0APP",
        team_id=team,
        team_name=f"Team {team}",
        bot_token=token,
        bot_id=f"B{team}",
        bot_user_id=f"U{team}",
        bot_scopes=["chat:write", "commands"],
        user_id="U0INSTALLER",
        installed_at=at,
    )


async def test_installations_round_trip_per_team_and_replace(store: Store) -> None:
    installs = StoreInstallationStore(store, now=lambda: T0)
    assert await installs.async_find_bot(enterprise_id=None, team_id="T1") is None
    await installs.async_save(install("T1", "xoxb-one"))
    await installs.async_save(install("T2", "xoxb-two"))

    bot = await installs.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-one" and bot.bot_user_id == "UT1"
    found = await installs.async_find_installation(enterprise_id=None, team_id="T2")
    assert found is not None and found.bot_token == "xoxb-two"
    assert found.bot_scopes == ["chat:write", "commands"] and found.team_name == "Team T2"
    assert found.installed_at == 1_750_000_000.0

    # Installing again replaces the workspace's token; the other workspace is untouched.
    await installs.async_save(install("T1", "xoxb-one-again"))
    again = await installs.async_find_bot(enterprise_id=None, team_id="T1")
    assert again is not None and again.bot_token == "xoxb-one-again"

    await installs.async_delete_all(enterprise_id=None, team_id="T1")
    assert await installs.async_find_bot(enterprise_id=None, team_id="T1") is None
    other = await installs.async_find_bot(enterprise_id=None, team_id="T2")
    assert other is not None and other.bot_token == "xoxb-two"


async def test_oauth_state_is_valid_once_and_only_until_it_expires(store: Store) -> None:
    now = [T0]
    states = StoreStateStore(store, ttl=timedelta(minutes=10), now=lambda: now[0])
    first, second = await states.async_issue(), await states.async_issue()
    assert first != second and len(first) >= 24

    assert await states.async_consume("forged-state") is False
    assert await states.async_consume("") is False
    assert await states.async_consume(first) is True
    assert await states.async_consume(first) is False  # replayed

    now[0] = T0 + timedelta(minutes=10, seconds=1)
    assert await states.async_consume(second) is False  # expired


async def test_pausing_a_workspace_leaves_the_others_and_resume_takes_only_its_own(
    store: Store,
) -> None:
    a1 = ChannelRef("slack", "TA", "C1")
    a2 = ChannelRef("slack", "TA", "C2")
    b1 = ChannelRef("slack", "TB", "C1")
    for channel in (a1, a2, b1):
        await store.upsert_subscription(
            Subscription(channel=channel, cron="0 9 * * MON", timezone="UTC")
        )
    sub_a2 = await store.get_subscription(a2)
    assert sub_a2 is not None
    await store.set_paused(sub_a2.id or 0, "channel_not_found")  # paused for its own reason

    assert await store.pause_workspace("slack", "TA", "uninstalled", T0) == 1
    paused = {s.channel: (s.enabled, s.paused_reason) for s in await store.list_subscriptions()}
    assert paused == {
        a1: (False, "uninstalled"),
        a2: (False, "channel_not_found"),
        b1: (True, None),
    }

    assert await store.resume_workspace("slack", "TA", "uninstalled", T0) == 1
    resumed = {s.channel: (s.enabled, s.paused_reason) for s in await store.list_subscriptions()}
    assert resumed[a1] == (True, None) and resumed[a2] == (False, "channel_not_found")


async def test_forget_workspace_deletes_that_workspace_only(store: Store) -> None:
    gone = ChannelRef("slack", "TA", "C1")
    kept = ChannelRef("slack", "TB", "C1")
    for channel in (gone, kept):
        await store.upsert_subscription(
            Subscription(channel=channel, cron="0 9 * * MON", timezone="UTC")
        )
        await store.record_posted(PostedDigest(channel, "1.0", "week:1", ("p1",), T0))
        await store.add_vote(Vote(channel, "1.0", "U1", "one", "p1", T0))
        await store.add_follow(Person("slack", channel.workspace, "U1"), "x", "C1", T0, limit=5)
    installs = StoreInstallationStore(store, now=lambda: T0)
    await installs.async_save(install("TA", "xoxb-a"))
    await installs.async_save(install("TB", "xoxb-b"))

    deleted = await store.forget_workspace("slack", "TA")
    assert {k: v for k, v in deleted.items() if v} == {
        "subscriptions": 1,
        "posted": 1,
        "votes": 1,
        "follows": 1,
        "followers": 1,
        "slack_installations": 1,
    }
    assert [s.channel for s in await store.list_subscriptions()] == [kept]
    assert await store.slack_installation("", "TA") is None
    assert await store.slack_installation("", "TB") is not None
    assert len(await store.list_follows(Person("slack", "TB", "U1"))) == 1
    assert await store.list_follows(Person("slack", "TA", "U1")) == []
