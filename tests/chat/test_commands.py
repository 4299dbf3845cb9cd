"""/papers commands answered once, platform-neutral, against a real catalog and store."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from support.clock import FakeClock

from bot.chat.commands import CommandContext, Commands
from bot.chat.votes import VoteService
from bot.core.errors import StoreError
from bot.core.messages import ChannelRef, Invocation, Link, Reply
from bot.delivery.digest import DigestBuilder
from bot.delivery.engine import DeliveryEngine
from bot.papers.catalog import Catalog
from bot.papers.model import Paper, Week
from bot.storage import Store, open_store
from bot.storage.records import Vote

CHANNEL = ChannelRef("slack", "T1", "C1")
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def _week(start: date, end: date, titles: list[str], base: int) -> Week:
    papers = tuple(
        Paper(
            i + 1,
            t,
            f"A summary of {t.lower()} written for the tests.",
            (),
            (
                Link("Paper", f"https://arxiv.org/abs/2501.{base + i:05d}"),
                Link("Code", f"https://github.com/example/p{base + i}"),
            ),
            "fixture.md",
            i + 3,
        )
        for i, t in enumerate(titles)
    )
    return Week(start, end, "Top ML Papers of the Week", "fixture.md", papers)


WEEK_NEW = _week(
    date(2025, 6, 23),
    date(2025, 6, 29),
    [f"Sparse Attention Study {i}" for i in range(1, 11)],
    100,
)
WEEK_OLD = _week(
    date(2025, 6, 16),
    date(2025, 6, 22),
    ["Diffusion Planner", "Quiet Agents", "Orbit Memory"],
    200,
)


class RecordingPoster:
    platform = "slack"

    def __init__(self) -> None:
        self.posts: list[tuple[ChannelRef, str]] = []

    async def post(self, channel: ChannelRef, message: object, idempotency_key: str) -> str:
        self.posts.append((channel, idempotency_key))
        return f"m{len(self.posts)}"

    async def find_posted(self, channel: ChannelRef, key: str, after: str | None) -> str | None:
        return None

    async def prepare(self, channel: ChannelRef) -> None:
        return None


@pytest.fixture
async def store(tmp_path: object) -> AsyncIterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/c.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.build([WEEK_NEW, WEEK_OLD])


@pytest.fixture
def poster() -> RecordingPoster:
    return RecordingPoster()


@pytest.fixture
def commands(store: Store, catalog: Catalog, poster: RecordingPoster) -> Commands:
    clock = FakeClock(NOW)
    digests = DigestBuilder(lambda: catalog, store)
    engine = DeliveryEngine(store, {"slack": poster}, digests, clock=clock)
    return Commands(
        CommandContext(
            catalog=lambda: catalog,
            store=store,
            clock=clock,
            digests=digests,
            engine=engine,
            default_timezone="Europe/London",
        )
    )


async def ask(commands: Commands, text: str, *, admin: bool = False) -> Reply:
    return await commands.handle(Invocation(CHANNEL, "U1", text, is_admin=admin))


def _all_text(reply: Reply) -> str:
    m = reply.message
    parts = [m.header, m.text, *m.context]
    for s in m.sections:
        parts += [s.title, s.body, *s.bullets]
    for f in m.fields:
        parts += [f.name, f.value]
    return "\n".join(parts)


async def test_search_is_ranked_paged_and_shareable(commands: Commands) -> None:
    reply = await ask(commands, "search sparse attention")
    m = reply.message
    assert m.ephemeral
    assert len(m.sections) == 5
    assert all("Sparse Attention Study" in s.title for s in m.sections)
    labels = [b.label for b in m.buttons]
    assert labels == ["Next ▶", "Share to channel"]
    assert m.buttons[0].value == "search sparse attention page:2"
    assert m.buttons[1].action == "share"
    page2 = await ask(commands, m.buttons[0].value)
    assert len(page2.message.sections) == 5
    assert [b.label for b in page2.message.buttons][0] == "◀ Previous"
    assert not {s.title for s in page2.message.sections} & {s.title for s in m.sections}


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "NEAR(",
        "-",
        '"unclosed',
        "NEAR(a b)",
        "-x",
        "<!channel>",
        "@everyone",
        "a" * 10_000,
    ],
)
async def test_hostile_queries_get_helpful_answers(commands: Commands, query: str) -> None:
    reply = await ask(commands, f"search {query}")
    assert reply.message.header
    assert "something went wrong" not in _all_text(reply).lower()


async def test_empty_and_huge_commands(commands: Commands) -> None:
    empty = await ask(commands, "search")
    assert "What should I look for?" in empty.message.header
    huge = await ask(commands, "search " + "x" * 10_000)
    assert "too long" in huge.message.header
    assert "10,007 characters" in huge.message.text
    assert (await ask(commands, "")).message.header.startswith("Paperboy")


async def test_no_results(commands: Commands) -> None:
    reply = await ask(commands, "search zebra")
    assert reply.message.header == "No results"
    assert "“zebra”" in reply.message.text


async def test_week_lookups(commands: Commands) -> None:
    latest = await ask(commands, "week")
    assert "Jun 23 – Jun 29, 2025" in latest.message.header
    assert [s.rank for s in latest.message.sections] == list(range(1, 11))
    assert len(latest.paper_ids) == 10
    assert [b.label for b in latest.message.buttons] == ["◀ Older", "Share to channel"]
    inside = await ask(commands, "week 2025-06-18")
    assert "Jun 16 – Jun 22, 2025" in inside.message.header
    assert (await ask(commands, "week 2020-01-01")).message.header == "No week there"
    assert (await ask(commands, "week soon")).message.header == "Which week?"


async def test_show_by_id_arxiv_title_and_fuzzy(commands: Commands, catalog: Catalog) -> None:
    quiet = catalog.paper("Quiet Agents")
    assert quiet is not None
    for ref in (quiet.paper_id, "2501.00201", "arxiv:2501.00201v3", "quiet agents", "Quiet Agnts"):
        reply = await ask(commands, f"show {ref}")
        assert reply.paper_ids == (quiet.paper_id,), ref
        assert "Quiet Agents" in reply.message.header
    missing = await ask(commands, "show Sparse Attention")
    assert missing.message.header == "Paper not found"
    assert "Did you mean" in missing.message.text
    assert (await ask(commands, "show")).message.header == "Which paper?"


async def test_top_counts_votes(commands: Commands, store: Store, catalog: Catalog) -> None:
    assert (await ask(commands, "top")).message.header == "No votes yet"
    quiet = catalog.paper("Quiet Agents")
    orbit = catalog.paper("Orbit Memory")
    assert quiet and orbit
    for user in ("U1", "U2"):
        await store.add_vote(Vote(CHANNEL, "m1", user, "two", quiet.paper_id, NOW))
    await store.add_vote(
        Vote(ChannelRef("discord", "G", "c"), "d1", "u9", "3️⃣", orbit.paper_id, NOW)
    )
    reply = await ask(commands, "top all")
    assert [s.title for s in reply.message.sections] == ["Quiet Agents", "Orbit Memory"]
    assert reply.message.sections[0].body == "2 votes"
    here = await ask(commands, "top month here")
    assert [s.title for s in here.message.sections] == ["Quiet Agents"]
    assert (await ask(commands, "top fortnight")).message.header == "Which period?"


async def test_top_windows_and_scopes(commands: Commands, store: Store, catalog: Catalog) -> None:
    quiet, orbit, planner, sparse = (
        catalog.paper(t)
        for t in ("Quiet Agents", "Orbit Memory", "Diffusion Planner", "Sparse Attention Study 1")
    )
    assert quiet and orbit and planner and sparse
    votes = [
        (CHANNEL, "U1", orbit, NOW - timedelta(days=1)),
        (CHANNEL, "U2", quiet, datetime(2025, 6, 21, tzinfo=UTC)),  # that day's midnight
        (CHANNEL, "U3", sparse, datetime(2025, 6, 20, 23, 59, tzinfo=UTC)),
        (ChannelRef("slack", "T1", "C2"), "U4", planner, NOW - timedelta(days=40)),
        (ChannelRef("slack", "T2", "C9"), "U5", planner, NOW - timedelta(days=200)),
        (ChannelRef("discord", "G", "c"), "u6", planner, NOW - timedelta(days=400)),
    ]
    for ch, user, paper, when in votes:
        await store.add_vote(Vote(ch, f"m-{user}", user, "one", paper.paper_id, when))

    async def top(args: str) -> tuple[str, list[str]]:
        reply = await ask(commands, f"top {args}")
        return reply.message.header, [f"{s.title}: {s.body}" for s in reply.message.sections]

    assert await top("week") == ("🏆 Most voted papers, the last 7 days", ["Orbit Memory: 1 vote"])
    header, lines = await top("month")
    assert header.endswith("the last 30 days")
    assert sorted(lines) == [
        "Orbit Memory: 1 vote",
        "Quiet Agents: 1 vote",
        "Sparse Attention Study 1: 1 vote",
    ]
    assert (await top("YEAR"))[1][0] == "Diffusion Planner: 2 votes"  # not the 400-day-old one
    assert (await top("all"))[1][0] == "Diffusion Planner: 3 votes"  # Slack and Discord
    header, lines = await top("year workspace")
    assert header.endswith("the last 365 days in this workspace")
    assert "Diffusion Planner: 1 vote" in lines and len(lines) == 4  # T2's vote is elsewhere
    header, lines = await top("2025-06-21 here")
    assert header.endswith("since 2025-06-21 in this channel")
    assert sorted(lines) == ["Orbit Memory: 1 vote", "Quiet Agents: 1 vote"]
    assert (await top("here all"))[0].endswith("all time in this channel")
    assert (await ask(commands, "top 2025-06-21")).digest_key == "top:2025-06-21"
    none = await ask(commands, "top 2025-07-01 guild")
    assert none.message.header == "No votes yet"
    assert "since 2025-07-01 in this workspace" in none.message.text


async def test_top_asks_the_vote_service_it_is_given(
    store: Store, catalog: Catalog, commands: Commands
) -> None:
    quiet = catalog.paper("Quiet Agents")
    assert quiet
    await store.add_vote(Vote(CHANNEL, "m1", "U1", "two", quiet.paper_id, NOW))
    assert [s.title for s in (await ask(commands, "top week")).message.sections] == ["Quiet Agents"]
    later = VoteService(store, clock=FakeClock(NOW + timedelta(days=8)))
    ctx = dataclasses.replace(commands.ctx, votes=later)
    assert ctx.vote_service is later
    reply = await ask(Commands(ctx), "top week")  # eight days on, the vote is out of the week
    assert reply.message.header == "No votes yet"


def share_ids(reply: Reply) -> list[str]:
    return [b.value for b in reply.message.buttons if b.action == "share"]


async def test_share_button_only_on_private_lookups_with_papers(commands: Commands) -> None:
    assert len(share_ids(await ask(commands, "show  Quiet   Agents"))) == 1
    assert len(share_ids(await ask(commands, "random"))) == 1
    assert share_ids(await ask(commands, "help")) == []  # has fields, but is not a lookup
    assert share_ids(await ask(commands, "search zebra")) == []  # a notice
    assert share_ids(await ask(commands, "preview", admin=True)) == []
    searched = await ask(commands, "search sparse attention")
    assert [b.label for b in searched.message.buttons][-1] == "Share to channel"  # last


async def test_sharing_posts_the_answer_that_was_shown(commands: Commands, store: Store) -> None:
    """``random``, ``top`` and ``search`` change between asking and sharing; a share is the
    answer on the user's screen, kept under the id its button carries."""
    seen = await ask(commands, "random")
    others = {(await ask(commands, "random")).paper_ids for _ in range(20)}
    assert len(others) > 1  # asking again would pick another paper
    shared = await commands.share(CHANNEL, share_ids(seen)[0])
    assert shared.message == seen.message.public()
    assert not shared.message.ephemeral and shared.message.buttons == ()
    assert (shared.paper_ids, shared.digest_key) == (seen.paper_ids, seen.digest_key)

    top = await ask(commands, "top")
    assert top.message.header == "No votes yet"  # a notice: nothing to share
    quiet = WEEK_OLD.papers[1]
    await store.add_vote(Vote(CHANNEL, "m1", "U1", "two", quiet.paper_id, NOW))
    top = await ask(commands, "top")
    await store.add_vote(Vote(CHANNEL, "m1", "U2", "one", WEEK_OLD.papers[0].paper_id, NOW))
    await store.add_vote(Vote(CHANNEL, "m1", "U3", "one", WEEK_OLD.papers[0].paper_id, NOW))
    now_top = await ask(commands, "top")
    assert now_top.message.sections[0].title == "Diffusion Planner"
    shared_top = await commands.share(CHANNEL, share_ids(top)[0])
    assert [s.title for s in shared_top.message.sections] == ["Quiet Agents"]
    assert shared_top.paper_ids == (quiet.paper_id,)


async def test_an_unknown_expired_or_foreign_share_gets_a_friendly_note(
    commands: Commands,
) -> None:
    seen = await ask(commands, "show Quiet Agents")
    [share_id] = share_ids(seen)
    for channel, key in (
        (CHANNEL, "search attention"),  # a button from before answers were kept
        (CHANNEL, "nosuchanswer1234"),
        (ChannelRef("slack", "T1", "C2"), share_id),  # another channel
    ):
        note = await commands.share(channel, key)
        assert note.message.ephemeral and note.message.kind == "notice"
        assert note.message.header == "That answer can no longer be shared"
        assert "24 hours" in note.message.text and note.paper_ids == ()
    assert not (await commands.share(CHANNEL, share_id)).message.ephemeral
    clock = commands.ctx.clock
    assert isinstance(clock, FakeClock)
    await clock.advance(timedelta(hours=24))
    expired = await commands.share(CHANNEL, share_id)
    assert expired.message.header == "That answer can no longer be shared"


async def test_an_answer_that_cannot_be_kept_goes_out_without_share(
    commands: Commands, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(share: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(store, "save_share", broken)
    reply = await ask(commands, "show Quiet Agents")
    assert reply.message.sections and share_ids(reply) == []


async def test_random_and_help_and_unknown(commands: Commands) -> None:
    assert (await ask(commands, "random")).paper_ids
    unknown = await ask(commands, "serch attention")
    assert "Did you mean `/papers search`?" in unknown.message.text
    member_help = _all_text(await ask(commands, "help"))
    assert "subscribe" not in member_help
    assert "subscribe" in _all_text(await ask(commands, "help", admin=True))


async def test_admin_commands_need_admin(commands: Commands, store: Store) -> None:
    reply = await ask(commands, "subscribe")
    assert reply.message.header == "That one is for admins"
    assert await store.get_subscription(CHANNEL) is None


async def test_subscribe_schedule_preview_post_unsubscribe(
    commands: Commands, store: Store, poster: RecordingPoster
) -> None:
    bad_cron = await ask(commands, "subscribe 61 * * * *", admin=True)
    assert bad_cron.message.header == "That schedule is not valid"
    bad_tz = await ask(commands, "subscribe 0 9 * * MON Europe/Londn", admin=True)
    assert bad_tz.message.header == "Unknown timezone"
    ok = await ask(commands, "subscribe 0 9 * * MON America/New_York", admin=True)
    assert ok.message.header == "Subscribed"
    assert "Next run: Mon 07 Jul 2025 09:00 EDT" in ok.message.text
    sub = await store.get_subscription(CHANNEL)
    assert sub and sub.cron == "0 9 * * MON" and sub.timezone == "America/New_York"
    schedule = await ask(commands, "schedule", admin=True)
    assert "`0 9 * * MON` in America/New_York, active" in schedule.message.text
    preview = await ask(commands, "preview", admin=True)
    assert preview.message.header.startswith("Preview")
    assert poster.posts == []
    first = await ask(commands, "post", admin=True)
    assert "Posted" in first.message.text
    again = await ask(commands, "post", admin=True)
    assert "already posted" in again.message.text or "Nothing new" in again.message.text
    assert len(poster.posts) == 1
    assert (await ask(commands, "unsubscribe", admin=True)).message.header == "Unsubscribed"
    assert (await ask(commands, "unsubscribe", admin=True)).message.header == "Not subscribed"


async def test_shared_reply_is_votable(commands: Commands, store: Store) -> None:
    reply = await ask(commands, "show Quiet Agents")
    await commands.shared(CHANNEL, "shared-1", reply)
    posted = await store.get_posted(CHANNEL, "shared-1")
    assert posted is not None and posted.paper_ids == reply.paper_ids


def test_suggest_is_bounded(commands: Commands) -> None:
    out = commands.suggest("sparse", 25)
    assert 0 < len(out) <= 25
    assert all(len(label) <= 100 and len(value) <= 100 for label, value in out)


# --- paging and wording ------------------------------------------------------------------------


async def test_search_pages_number_on_and_vote_with_the_numbers_shown(commands: Commands) -> None:
    first = await ask(commands, "search sparse attention")
    second = await ask(commands, "search sparse attention page:2")
    assert [s.rank for s in first.message.sections] == [1, 2, 3, 4, 5]
    assert [s.rank for s in second.message.sections] == [6, 7, 8, 9, 10]
    assert second.message.context == ("Results 6–10 · page 2",)
    # Shared, page 2 takes 6️⃣..🔟: the paper at rank n is at paper_ids[n - 1].
    assert second.paper_ids[:5] == ("",) * 5
    assert second.paper_ids[5:] == tuple(s.paper_id for s in second.message.sections)


@pytest.mark.parametrize("page", ["page:999", "page:-1", "page:0", "page:two", "--page 201"])
async def test_a_page_out_of_range_is_said_not_clamped_or_searched(
    commands: Commands, page: str
) -> None:
    reply = await ask(commands, f"search sparse attention {page}")
    assert reply.message.header == "Which page?"
    assert "pages are numbered 1 to 200" in reply.message.text
    assert not reply.message.sections


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        ("", "Nobody has voted yet."),
        ("all here", "Nobody has voted yet in this channel."),
        ("week", "Nobody has voted in the last 7 days."),
        ("2025-06-01", "Nobody has voted since 2025-06-01."),
    ],
)
async def test_no_votes_reads_well(commands: Commands, args: str, sentence: str) -> None:
    reply = await ask(commands, f"top {args}".strip())
    assert reply.message.header == "No votes yet"
    assert reply.message.text.startswith(sentence + " React")
