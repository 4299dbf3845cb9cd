"""Slack end to end through the real core: ``App`` (config, SQLite store, archive, delivery
engine, scheduler, votes, commands) wired to the real ``SlackAdapter`` on slack-bolt, talking to
the local fake Slack. Schedules run on a ``FakeClock``; nothing leaves 127.0.0.1.

Socket Mode: a scheduled digest is posted once with its keycaps, ``/papers`` lookups answer on
the response_url, reactions become votes, ``/papers post`` respects admins and the ledger, and a
restart on the same database neither posts again nor forgets votes. HTTP mode: signed requests
are answered, forged ones refused, and ``/healthz`` reports the adapter.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.clock import FakeClock
from support.net import free_port
from support.slack import BOT_USER_ID, FakeSlack, validate_blocks
from support.slack_app import (
    ADAM,
    ATTENTION,
    BEFORE_FIRE,
    CHANNEL,
    DIGEST_CHANNEL,
    FIRE,
    KEYCAPS,
    NEXT_FIRE,
    RESIDUAL,
    WEEK_KEY,
    command,
    react,
    settings_for,
    top_votes,
)
from support.watch import VoteLog, fire_at, running

from bot.delivery.outcome import idempotency_key


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


# --- Socket Mode ------------------------------------------------------------------------------


async def test_socket_mode_digest_commands_votes_and_restart(
    tmp_path: Path, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_user("U0MEMBER", name="ada")
    fake.add_user("U0OTHER", name="grace")
    fake.add_user("U0ADMIN", name="boss", is_admin=True)
    settings = settings_for(tmp_path, fake, mode="socket")
    clock = FakeClock(BEFORE_FIRE)

    async with running(settings, clock) as app:
        assert app.store is not None
        assert set(app.adapters) == {"slack"} and app.adapters["slack"].healthy()
        assert fake.socket_connections == 1 and fake.calls("chat.postMessage") == []

        # The cron instant comes: exactly one digest, valid Block Kit, keyed, seeded.
        await fire_at(app, clock, FIRE)
        [post] = fake.calls("chat.postMessage")
        args = post.args
        assert args["channel"] == DIGEST_CHANNEL
        assert validate_blocks(args["blocks"]) is None and len(args["text"]) <= 40_000
        assert args["metadata"] == {
            "event_type": "paperboy_digest",
            "event_payload": {"key": idempotency_key(WEEK_KEY, CHANNEL)},
        }
        blocks = json.dumps(args["blocks"], ensure_ascii=False)
        assert "Jun 23 – Jun 29, 2025" in blocks
        assert blocks.index("Attention Is All You Need") < blocks.index("Deep Residual Learning")
        assert "Denoising Diffusion" not in blocks  # only the newest week
        [stored] = fake.messages(DIGEST_CHANNEL)
        ts = stored["ts"]
        # The seeder adds one keycap per paper underneath, in order, after the post.
        assert app.seeder is not None
        await app.seeder.settled()
        reactions = fake.calls("reactions.add")
        assert [r.args["name"] for r in reactions] == KEYCAPS[:3]
        assert {r.args["timestamp"] for r in reactions} == {ts}
        posted = await app.store.get_posted(CHANNEL, ts)
        assert posted is not None
        assert posted.channel == CHANNEL and posted.digest_key == WEEK_KEY
        assert posted.paper_ids == (ATTENTION, RESIDUAL, ADAM)
        sub = await app.store.get_subscription(CHANNEL)
        assert sub is not None and sub.id is not None
        row = await app.store.get_delivery(CHANNEL, WEEK_KEY)
        assert row is not None and row.status == "sent" and row.message_id == ts
        assert sub.last_fire_at == FIRE

        # Lookups through the real Commands.
        found = await command(fake, "search residual")
        assert found["response_type"] == "ephemeral"
        assert "Deep Residual Learning for Image Recognition" in json.dumps(found["blocks"])
        assert "Attention Is All You Need" not in json.dumps(found["blocks"])
        week = await command(fake, "week latest")
        week_blocks = json.dumps(week["blocks"])
        for title in ("Attention Is All You Need", "Adam: A Method for Stochastic Optimization"):
            assert title in week_blocks
        assert "Denoising Diffusion" not in week_blocks
        older = await command(fake, "week 2025-06-18")
        assert "Denoising Diffusion Probabilistic Models" in json.dumps(older["blocks"])
        empty = await command(fake, "top")
        assert "No votes yet" in json.dumps(empty)

        # Reactions become votes: one by ada, two by ada and grace; a retried event, the bot's
        # own seeded reaction and an emoji that is no rank change nothing.
        votes = VoteLog(app, monkeypatch)
        await react(fake, "one", ts, "U0MEMBER", event_id="EvOne")
        await react(fake, "two", ts, "U0MEMBER", event_id="EvTwoA")
        await react(fake, "two", ts, "U0OTHER", event_id="EvTwoB")
        await votes.wait(3)
        await react(fake, "two", ts, "U0OTHER", event_id="EvTwoB", retry=True)  # Slack's retry
        await react(fake, "three", ts, BOT_USER_ID, event_id="EvBot")
        await react(fake, "tada", ts, "U0OTHER", event_id="EvTada")
        await votes.wait(6)
        results = {ev.event_id: changed for ev, changed in votes.seen}
        assert [changed for _, changed in votes.seen[:3]] == [True, True, True]
        assert results["EvBot"] is False and results["EvTada"] is False
        assert [c for ev, c in votes.seen if ev.event_id == "EvTwoB"] == [True, False]
        bot_event = next(ev for ev, _ in votes.seen if ev.event_id == "EvBot")
        assert bot_event.user_is_bot and bot_event.channel == CHANNEL

        top = await command(fake, "top")
        text = top_votes(top)
        assert text.index("Deep Residual Learning") < text.index("Attention Is All You Need")
        assert "2 votes" in text and "1 vote" in text
        assert "Adam: A Method" not in text  # the bot's :three: is not a vote

        # grace takes her :two: back.
        await react(fake, "two", ts, "U0OTHER", added=False, event_id="EvUndo")
        await votes.wait(7)
        assert votes.seen[-1][1] is True
        top = await command(fake, "top")
        text = top_votes(top)
        assert "2 votes" not in text and text.count("1 vote") == 2

        # /papers post: refused politely for members, "already posted" for admins (the ledger).
        refused = await command(fake, "post", user_id="U0MEMBER")
        assert "That one is for admins" in json.dumps(refused)
        admin = await command(fake, "post", user_id="U0ADMIN")
        assert "already posted here" in json.dumps(admin)
        assert len(fake.calls("chat.postMessage")) == 1
        assert fake.calls("usergroups.users.list") == []  # no admin group configured

    assert not fake.connected  # the App closed its socket

    # Restart on the same database and the same fake Slack, a week later.
    later = FakeClock(datetime(2025, 7, 7, 8, 0, tzinfo=UTC))
    async with running(settings, later) as again:
        assert again.store is not None
        assert again.adapters["slack"].healthy() and fake.socket_connections == 2
        # An admin subscribes a second channel from Slack itself.
        subscribed = await command(
            fake, "subscribe 0 9 * * MON UTC", user_id="U0ADMIN", channel_id="C0NEWS"
        )
        assert "Subscribed" in json.dumps(subscribed)
        await fire_at(again, later, NEXT_FIRE)
        # The new channel gets the week; the first one never gets the same week twice.
        assert [c.args["channel"] for c in fake.calls("chat.postMessage")] == [
            DIGEST_CHANNEL,
            "C0NEWS",
        ]
        assert len(fake.messages(DIGEST_CHANNEL)) == 1
        sub = await again.store.get_subscription(CHANNEL)
        assert sub is not None and sub.last_fire_at == NEXT_FIRE
        top = await command(fake, "top")
        text = top_votes(top)
        assert "Deep Residual Learning" in text and "Attention Is All You Need" in text
        assert text.count("1 vote") == 2
        # Votes still land on the digest posted by the previous process.
        again_votes = VoteLog(again, monkeypatch)
        await react(fake, "three", stored["ts"], "U0OTHER", event_id="EvAfterRestart")
        await again_votes.wait(1)
        assert again_votes.seen[0][1] is True


async def test_share_button_from_the_core_posts_the_lookup_and_takes_votes(
    tmp_path: Path, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_user("U0MEMBER", name="ada")
    settings = settings_for(tmp_path, fake, mode="socket")
    async with running(settings, FakeClock(BEFORE_FIRE)) as app:
        assert app.store is not None
        # The real Commands puts "Share to channel" on a private lookup; help gets none.
        found = await command(fake, "search residual")
        [share] = [
            e
            for b in found["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "papers_share"
        ]
        assert share["value"] != "search residual"  # the id the core keeps the answer under
        assert "papers_share" not in json.dumps(await command(fake, "help"))
        # Clicking it posts the answer to the channel, recorded so its reactions are votes.
        click = fake.block_action(share["action_id"], share["value"], channel_id=DIGEST_CHANNEL)
        await fake.wait_ack(await fake.send_envelope("interactive", click))
        await fake.wait_for(lambda: bool(fake.responses_to(click["response_url"])))
        [shared] = fake.messages(DIGEST_CHANNEL)
        assert shared["metadata"]["event_type"] == "paperboy_share"
        assert "Deep Residual Learning" in json.dumps(shared["blocks"])
        assert "papers_share" not in json.dumps(shared["blocks"])
        posted = await app.store.get_posted(CHANNEL, shared["ts"])
        assert posted is not None and posted.paper_ids == (RESIDUAL,)
        votes = VoteLog(app, monkeypatch)
        await react(fake, "one", shared["ts"], "U0MEMBER", event_id="EvShared")
        await votes.wait(1)
        assert votes.seen[0][1] is True


# --- HTTP mode --------------------------------------------------------------------------------


async def test_http_mode_signed_commands_forgeries_and_health(
    tmp_path: Path, fake: FakeSlack
) -> None:
    fake.add_user("U0OTHER", name="grace")
    port = free_port()
    settings = settings_for(tmp_path, fake, mode="http", port=port)
    assert settings.slack is not None and settings.slack.mode == "http"
    clock = FakeClock(BEFORE_FIRE)
    base = f"http://127.0.0.1:{port}"

    async with running(settings, clock) as app, aiohttp.ClientSession() as client:
        assert app.http_port == port
        async with client.get(f"{base}/healthz") as resp:
            assert resp.status == 200
            health = await resp.json()
        assert health["status"] == "ok" and health["adapters"] == {"slack": True}
        assert health["papers"] == 5
        assert fake.calls("apps.connections.open") == []  # no socket in http mode

        payload = fake.slash_command("search attention", user_id="U0OTHER", user_name="grace")
        body = fake.form_body(payload)
        status, text = await fake.post_signed(f"{base}/slack/events", body)
        assert (status, text) == (200, "")
        url = payload["response_url"]
        await fake.wait_for(lambda: bool(fake.responses_to(url)))
        [answer] = fake.responses_to(url)
        assert answer["response_type"] == "ephemeral"
        assert validate_blocks(answer["blocks"]) is None
        assert "Attention Is All You Need" in json.dumps(answer["blocks"])

        forged = fake.slash_command("search residual")
        before = len(fake.requests)
        status, _ = await fake.post_signed(
            f"{base}/slack/events", fake.form_body(forged), secret="not-the-signing-secret"
        )
        assert status == 401
        assert fake.responses_to(forged["response_url"]) == []
        assert fake.requests[before:] == []  # nothing was looked up or answered

        # The scheduled digest goes out in HTTP mode too.
        await fire_at(app, clock, FIRE)
        [post] = fake.calls("chat.postMessage")
        assert validate_blocks(post.args["blocks"]) is None
        assert app.seeder is not None
        await app.seeder.settled()
        assert len(fake.calls("reactions.add")) == 3

    # Stopped: nothing listens on the port any more.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


async def test_metrics_series_exist_from_the_start(tmp_path: Path, fake: FakeSlack) -> None:
    """``/metrics`` on a running app: HELP text, build info, the adapter's connection, vote and
    command series at zero before anything happened, and the fire and refresh timestamps."""
    port = free_port()
    settings = settings_for(tmp_path, fake, mode="http", port=port)
    clock = FakeClock(BEFORE_FIRE)

    async def scrape(client: aiohttp.ClientSession) -> str:
        async with client.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            return await resp.text()

    async with running(settings, clock) as app, aiohttp.ClientSession() as client:
        text = await scrape(client)
        assert "# HELP paperboy_votes_total " in text
        assert 'paperboy_build_info{python="' in text
        assert 'paperboy_adapter_connected{platform="slack"} 1.0' in text
        assert 'paperboy_votes_total{action="add",platform="slack"} 0.0' in text
        assert 'paperboy_votes_total{action="remove",platform="slack"} 0.0' in text
        assert 'paperboy_command_seconds_count{command="search"} 0.0' in text
        assert "paperboy_catalog_papers 5.0" in text
        assert "paperboy_last_successful_fire_timestamp_seconds 0.0" in text
        assert app.archive is not None and app.archive.refreshed_at is not None
        assert "paperboy_sources_last_refresh_timestamp_seconds 0.0" not in text

        await fire_at(app, clock, FIRE)
        text = await scrape(client)
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if not s.labels
        }
        assert samples["paperboy_last_successful_fire_timestamp_seconds"] == FIRE.timestamp()
        assert 'paperboy_posts_sent_total{platform="slack"} 1.0' in text
