"""Reactions as votes, on both store backends: emoji mapping, idempotent add/remove, bots,
non-digest messages, retried events, restarts, and leaderboards across platforms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from support.clock import FakeClock
from support.db import vote_count

from bot.chat.votes import VoteService, emoji_to_rank, is_thumbs_up, parse_window
from bot.core.messages import ChannelRef, ReactionEvent
from bot.ops.metrics import Metrics
from bot.storage import Store
from bot.storage.records import PostedDigest

T0 = datetime(2025, 7, 2, 12, tzinfo=UTC)
SLACK = ChannelRef("slack", "T1", "C1")
SLACK_OTHER = ChannelRef("slack", "T1", "C2")
DISCORD = ChannelRef("discord", "G1", "D1")
PAPERS = tuple(f"paper{i:02}" for i in range(1, 11))


@pytest.mark.parametrize(
    ("emoji", "rank"),
    [
        ("one", 1),
        ("nine", 9),
        ("keycap_ten", 10),
        (":three:", 3),
        ("1\ufe0f\u20e3", 1),
        ("7\u20e3", 7),  # without the variation selector
        ("9\ufe0f\u20e3", 9),
        ("\U0001f51f", 10),
        ("0\ufe0f\u20e3", None),
        ("#\ufe0f\u20e3", None),
        ("ten", None),
        ("+1", None),
        ("", None),
        ("11", None),
    ],
)
def test_emoji_to_rank(emoji: str, rank: int | None) -> None:
    assert emoji_to_rank(emoji) == rank


@pytest.mark.parametrize(
    ("emoji", "yes"),
    [
        ("+1", True),
        ("thumbsup", True),
        ("+1::skin-tone-3", True),
        ("\U0001f44d", True),
        ("\U0001f44d\U0001f3fd", True),
        ("\U0001f44d\U0001f3ff", True),
        ("\U0001f44e", False),  # thumbs down
        ("-1", False),
        ("\U0001f44d\U0001f44d", False),
        ("one", False),
    ],
)
def test_is_thumbs_up(emoji: str, yes: bool) -> None:
    assert is_thumbs_up(emoji) is yes


async def post(store: Store, ch: ChannelRef, mid: str, papers: tuple[str, ...] = PAPERS) -> None:
    await store.record_posted(PostedDigest(ch, mid, "week:2025-06-23", papers, T0))


def ev(
    ch: ChannelRef,
    mid: str,
    user: str,
    emoji: str,
    added: bool = True,
    *,
    bot: bool = False,
    event_id: str | None = None,
) -> ReactionEvent:
    return ReactionEvent(ch, mid, user, emoji, added, user_is_bot=bot, event_id=event_id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def votes(store: Store, clock: FakeClock) -> VoteService:
    return VoteService(store, clock=clock, bot_user_ids={"UBOT"}, metrics=Metrics())


async def test_keycap_votes_for_that_rank_and_duplicates_do_nothing(
    store: Store, votes: VoteService
) -> None:
    await post(store, SLACK, "1.1")
    assert await votes.on_reaction(ev(SLACK, "1.1", "U1", "three")) is True
    assert await votes.on_reaction(ev(SLACK, "1.1", "U1", "three")) is False  # duplicate add
    assert await vote_count(store) == 1
    board = await votes.leaderboard("all")
    assert [(e.paper_id, e.votes) for e in board] == [("paper03", 1)]
    assert votes.metrics is not None and votes.metrics.get("votes") == 1


async def test_add_remove_add(store: Store, votes: VoteService) -> None:
    await post(store, DISCORD, "900")
    key = "1\ufe0f\u20e3"
    assert await votes.on_reaction(ev(DISCORD, "900", "u1", key)) is True
    assert await votes.on_reaction(ev(DISCORD, "900", "u1", key, added=False)) is True
    assert await votes.on_reaction(ev(DISCORD, "900", "u1", key, added=False)) is False
    assert await vote_count(store) == 0
    assert await votes.on_reaction(ev(DISCORD, "900", "u1", key)) is True
    assert [e.paper_id for e in await votes.leaderboard("all")] == ["paper01"]


async def test_bots_are_ignored(store: Store, clock: FakeClock) -> None:
    await post(store, SLACK, "1.1")
    bots: set[str] = set()
    svc = VoteService(store, clock=clock, bot_user_ids=lambda: bots)
    assert await svc.on_reaction(ev(SLACK, "1.1", "U9", "one", bot=True)) is False
    bots.add("UBOT")  # learnt after login
    assert await svc.on_reaction(ev(SLACK, "1.1", "UBOT", "one")) is False
    assert await vote_count(store) == 0


async def test_reactions_on_other_messages_and_other_emoji_are_ignored(
    store: Store, votes: VoteService
) -> None:
    await post(store, SLACK, "1.1", PAPERS[:3])
    assert await votes.on_reaction(ev(SLACK, "9.9", "U1", "one")) is False  # not a digest
    assert await votes.on_reaction(ev(SLACK, "1.1", "U1", "tada")) is False
    assert await votes.on_reaction(ev(SLACK, "1.1", "U1", "keycap_ten")) is False  # no rank 10
    assert await votes.on_reaction(ev(SLACK, "1.1", "U1", "+1")) is False  # which paper?
    # The same message id on another platform is a different message.
    assert await votes.on_reaction(ev(DISCORD, "1.1", "U1", "one")) is False
    assert await vote_count(store) == 0


async def test_thumbs_up_on_a_single_paper_message(store: Store, votes: VoteService) -> None:
    await post(store, SLACK, "2.2", ("solo",))
    assert await votes.on_reaction(ev(SLACK, "2.2", "U1", "+1::skin-tone-3")) is True
    assert await votes.on_reaction(ev(SLACK, "2.2", "U2", "thumbsup")) is True
    await post(store, DISCORD, "77", ("solo",))
    assert await votes.on_reaction(ev(DISCORD, "77", "d1", "\U0001f44d\U0001f3fd")) is True
    board = await votes.leaderboard("all")
    assert [(e.paper_id, e.votes) for e in board] == [("solo", 3)]


async def test_event_ids_are_deduplicated(store: Store, votes: VoteService) -> None:
    await post(store, SLACK, "1.1")
    add = ev(SLACK, "1.1", "U1", "two", event_id="Ev1")
    remove = ev(SLACK, "1.1", "U1", "two", added=False, event_id="Ev2")
    assert await votes.on_reaction(add) is True
    assert await votes.on_reaction(remove) is True
    assert await votes.on_reaction(add) is False  # Slack retried the first event: ignored
    assert await vote_count(store) == 0


async def test_votes_on_a_digest_posted_before_a_restart(store_factory, clock: FakeClock) -> None:
    before = await store_factory()
    await post(before, SLACK, "1.1")
    await before.close()
    after = await store_factory()  # a new process on the same database
    svc = VoteService(after, clock=clock)
    assert await svc.on_reaction(ev(SLACK, "1.1", "U1", "five")) is True
    assert [e.paper_id for e in await svc.leaderboard("week")] == ["paper05"]


async def test_leaderboards_by_scope_and_platforms_combined(
    store: Store, votes: VoteService
) -> None:
    await post(store, SLACK, "s1")
    await post(store, SLACK_OTHER, "s2")
    await post(store, DISCORD, "d1")
    for user in ("U1", "U2"):
        await votes.on_reaction(ev(SLACK, "s1", user, "one"))
    await votes.on_reaction(ev(SLACK_OTHER, "s2", "U3", "two"))
    await votes.on_reaction(ev(SLACK_OTHER, "s2", "U1", "one"))  # U1 again: one voter, once
    for user in ("d1", "d2", "d3"):
        await votes.on_reaction(ev(DISCORD, "d1", user, "2\ufe0f\u20e3"))

    def pairs(board: list) -> list[tuple[str, int]]:
        return [(e.paper_id, e.votes) for e in board]

    assert pairs(await votes.leaderboard("week", channel=SLACK)) == [("paper01", 2)]
    assert pairs(await votes.leaderboard("week", channel=SLACK, level="workspace")) == [
        ("paper01", 2),
        ("paper02", 1),
    ]
    assert pairs(await votes.leaderboard("week", channel=DISCORD, level="platform")) == [
        ("paper02", 3)
    ]
    combined = [("paper02", 4), ("paper01", 2)]  # Slack and Discord voters together
    assert pairs(await votes.leaderboard("week")) == combined
    assert pairs(await votes.leaderboard("week", channel=SLACK, level="all")) == combined
    assert pairs(await votes.leaderboard("all", limit=1)) == [("paper02", 4)]


async def test_leaderboard_windows(store: Store, votes: VoteService, clock: FakeClock) -> None:
    await post(store, SLACK, "s1")
    await votes.on_reaction(ev(SLACK, "s1", "U1", "one"))  # at T0
    await clock.advance(timedelta(days=10))
    await votes.on_reaction(ev(SLACK, "s1", "U2", "two"))  # at T0 + 10 days
    assert [e.paper_id for e in await votes.leaderboard("week")] == ["paper02"]
    assert [e.paper_id for e in await votes.leaderboard("month")] == ["paper01", "paper02"]
    assert len(await votes.leaderboard("year")) == 2
    assert [e.paper_id for e in await votes.leaderboard(date(2025, 7, 5))] == ["paper02"]
    assert votes.since("all") is None
    assert votes.since("month") == clock.now() - timedelta(days=30)
    assert votes.since("2025-07-05") == datetime(2025, 7, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        votes.since("fortnight")


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("week", "week"),
        (" Month ", "month"),
        ("YEAR", "year"),
        ("all", "all"),
        ("2025-06-01", date(2025, 6, 1)),
    ],
)
def test_parse_window(text: str, window: str | date) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["fortnight", "", "2025-13-01", "7"])
def test_parse_window_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="use week, month, year, all or a date"):
        parse_window(text)


async def test_a_later_search_page_votes_only_for_the_ranks_it_shows(
    store: Store, votes: VoteService
) -> None:
    """A shared page 2 of a search shows 6-10; its earlier ranks hold no paper."""
    await post(store, SLACK, "2.2", ("", "", "", "", "", "p6", "p7", "p8", "p9", "p10"))
    assert await votes.on_reaction(ev(SLACK, "2.2", "U1", "one")) is False
    assert await votes.on_reaction(ev(SLACK, "2.2", "U1", "six")) is True
    assert [e.paper_id for e in await votes.leaderboard("all")] == ["p6"]
