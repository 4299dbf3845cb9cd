"""The rules every platform shares (``bot.platforms.shared``), and that both renderers and both
error mappers follow them."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable

import aiohttp
import pytest

from bot.core.errors import ConfigError, DeliveryError, PermanentError, TransientError
from bot.core.messages import Button, Link, Message, Section
from bot.platforms import shared
from bot.platforms.discord import errors as discord_errors
from bot.platforms.discord import render as discord_render
from bot.platforms.slack import errors as slack_errors
from bot.platforms.slack import render as slack_render

# --- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://files.example/x",
        "//example.org/x",
        "https://",
        "https://:443/x",  # a port but no host
        "https://exa mple.org",
        "https://example.org/<x>",
        'https://example.org/"x',
        "https://example.org/`x",
        "https://example.org/\x7f",
        "https://example.org/\x00",
        "https://[::1",  # not even parseable
        "",
        None,
    ],
)
def test_urls_that_no_platform_links(url: str | None) -> None:
    assert shared.safe_url(url, limit=2000) is None
    assert slack_render.safe_url(url) is None
    assert discord_render.safe_url(url) is None


def test_each_platform_adds_what_its_link_markup_needs() -> None:
    assert shared.safe_url("  https://arxiv.org/abs/1706.03762 ", limit=100) == (
        "https://arxiv.org/abs/1706.03762"
    )
    assert shared.safe_url("https://x.example/" + "a" * 100, limit=100) is None
    # Slack: "|" would end the link target.
    assert slack_render.safe_url("https://x.example/a|b") is None
    assert discord_render.safe_url("https://x.example/a|b") == "https://x.example/a|b"
    # Discord: parentheses would end [text](url) early; a backslash is refused.
    wiki = "https://en.wikipedia.org/wiki/Foo_(bar)"
    assert discord_render.safe_url(wiki) == "https://en.wikipedia.org/wiki/Foo_%28bar%29"
    assert slack_render.safe_url(wiki) == wiki
    assert discord_render.safe_url("https://x.example/a\\b") is None


def test_paper_url_is_its_own_or_its_primary_link() -> None:
    links = (Link("Code", "https://github.com/x/y"), Link("Paper", "https://arxiv.org/abs/1"))
    assert shared.paper_url(Section("t", url="https://own.example", links=links)) == (
        "https://own.example"
    )
    assert shared.paper_url(Section("t", links=links)) == "https://arxiv.org/abs/1"
    assert shared.paper_url(Section("t", links=(Link("Code", "https://github.com/x"),))) is None


def test_chosen_links_first_usable_of_each_label() -> None:
    links = (
        Link("Tweet", "https://x.com/1"),
        Link("paper", "bad"),
        Link(" Paper ", "https://arxiv.org/abs/1"),
        Link("Paper", "https://arxiv.org/abs/2"),
        Link("Blog", "https://blog.example"),
    )

    def shown(link: Link) -> str | None:
        return link.url if link.url.startswith("https://") else None

    assert shared.chosen_links(links, ["Paper", " tweet"], shown) == [
        "https://x.com/1",
        "https://arxiv.org/abs/1",  # "bad" was turned down: the label stayed free
    ]
    assert shared.chosen_links(links, [], shown) == []


def test_detail_lines_summary_then_bullets() -> None:
    def fit(text: str, limit: int) -> str:
        return text[:limit]

    lines = shared.detail_lines(
        "A  summary\nover lines.",
        ("first   point", "  ", "second", "third"),
        summary=9,
        max_bullets=3,
        bullet_len=5,
        fit=fit,
    )
    assert lines == ["A summary", "• first", "• secon"]  # the blank bullet is dropped
    assert (
        shared.detail_lines("text", ("b",), summary=0, max_bullets=0, bullet_len=9, fit=fit) == []
    )


# --- buttons ----------------------------------------------------------------------------------


def test_public_version_keeps_only_link_buttons() -> None:
    msg = Message(
        header="h",
        buttons=(
            Button("Next", action=shared.PAGE_ACTION, value="search x page:2"),
            Button("Open", url="https://arxiv.org/abs/1"),
            Button("Share to channel", action=shared.SHARE_ACTION, value="search x"),
        ),
    )
    public = shared.public_version(msg)
    assert public.buttons == (Button("Open", url="https://arxiv.org/abs/1"),)
    assert not public.ephemeral and public.header == "h"


# --- errors and options -----------------------------------------------------------------------


def _connector_error() -> aiohttp.ClientConnectorError:
    key = aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError("refused"))


@pytest.mark.parametrize(
    "to_error", [slack_errors.to_delivery_error, discord_errors.to_delivery_error]
)
@pytest.mark.parametrize("may_have_sent", [True, False])
def test_what_the_api_did_not_answer_is_classified_alike(
    to_error: Callable[..., DeliveryError], may_have_sent: bool
) -> None:
    never_connected = to_error(_connector_error(), may_have_sent=may_have_sent)
    assert isinstance(never_connected, TransientError) and not never_connected.outcome_unknown
    for exc in (TimeoutError(), aiohttp.ServerDisconnectedError(), ConnectionResetError()):
        err = to_error(exc, may_have_sent=may_have_sent)
        assert type(err) is TransientError and err.outcome_unknown is may_have_sent
    odd = to_error(RuntimeError("surprise"), may_have_sent=may_have_sent)
    assert type(odd) is TransientError and "call failed" in str(odd)
    already = PermanentError("gone")
    assert to_error(already, may_have_sent=may_have_sent) is already


def test_render_options_are_checked() -> None:
    options = {"summary_length": 100}
    checked = shared.check_render_options("slack", options)
    assert checked == options and checked is not options
    assert shared.check_render_options("discord", None) == {}
    with pytest.raises(ConfigError) as info:
        shared.check_render_options("discord", {"colour": 1, "show_links": ()})
    assert info.value.key_path == "discord.render" and "colour" in info.value.message


# --- background work --------------------------------------------------------------------------


async def test_background_limits_concurrency_and_finishes_within_grace() -> None:
    work = shared.Background(limit=2)
    running, peak, done = 0, 0, 0
    release = asyncio.Event()

    async def job() -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        done += 1

    for _ in range(5):
        work.spawn(job())
    for _ in range(5):
        await asyncio.sleep(0)
    assert (running, peak) == (2, 2)
    release.set()
    await work.close(grace=5.0)
    assert done == 5 and peak == 2


async def test_background_close_cancels_what_is_left_without_warnings() -> None:
    work = shared.Background(limit=1)
    started: list[int] = []

    async def forever(n: int) -> None:
        started.append(n)
        await asyncio.Event().wait()

    for n in range(3):
        work.spawn(forever(n))
    await asyncio.sleep(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a job that never had its turn is not "never awaited"
        await work.close()
        gc.collect()
    assert started == [0]
    await work.close()  # nothing left: a no-op
