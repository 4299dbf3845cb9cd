"""Block Kit rendering: limits with margin whatever the input, and curated text made inert."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.slack import validate_blocks

from bot.core.messages import Button, Field, Link, Message, Section
from bot.platforms.slack.render import (
    MAX_BLOCKS,
    TEXT_BUDGET,
    VOTE_FOOTER,
    block_text_length,
    escape,
    rank_emoji,
    render_message,
    safe_url,
    truncate,
)

# The only markup we emit: links to validated http(s) URLs.
_OUR_LINK = re.compile(r"<https?://[^\s|<>]+\|[^<>]*>")


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() if k != "type" for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def assert_within_limits(out: dict[str, Any]) -> None:
    """Slack's limits, with our margin."""
    blocks = out["blocks"]
    assert isinstance(out["text"], str) and out["text"].strip()
    assert len(out["text"]) <= 3000
    assert validate_blocks(blocks) is None
    assert len(blocks) <= MAX_BLOCKS
    assert block_text_length(blocks) <= TEXT_BUDGET
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        assert len(block.get("block_id", "")) <= 255


def assert_inert(out: dict[str, Any]) -> None:
    """No mention, no foreign link: every ``<`` left opens one of our validated links."""
    for text in [out["text"], *_texts(out["blocks"])]:
        stripped = _OUR_LINK.sub("", text)
        assert "<" not in stripped and ">" not in stripped, text
        assert "<!" not in text


def paper(rank: int, **kw: Any) -> Section:
    defaults: dict[str, Any] = {
        "title": f"Paper number {rank}",
        "url": f"https://arxiv.org/abs/2301.{rank:05d}",
        "body": "A short summary written for the test.",
        "rank": rank,
        "links": (
            Link("Paper", f"https://arxiv.org/abs/2301.{rank:05d}"),
            Link("Code", f"https://github.com/example/p{rank}"),
            Link("Tweet", f"https://x.com/example/status/{rank}"),
        ),
        "paper_id": f"{rank:010x}",
    }
    defaults.update(kw)
    return Section(**defaults)


def digest(n: int = 10, **kw: Any) -> Message:
    return Message(
        header="Top ML Papers of the Week (Jan 2 - Jan 8, 2023)",
        text="This week's picks.",
        sections=tuple(paper(i + 1, **kw) for i in range(n)),
        kind="digest",
    )


def test_digest_shape() -> None:
    out = render_message(digest())
    blocks = out["blocks"]
    assert_within_limits(out)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": digest().header, "emoji": True},
    }
    assert blocks[1]["text"]["text"] == "This week's picks."
    sections = [b for b in blocks if b.get("block_id", "").startswith("paper:")]
    assert len(sections) == 10
    assert sections[0]["text"]["text"].startswith(
        ":one: *<https://arxiv.org/abs/2301.00001|Paper number 1>*\nA short summary"
    )
    assert sections[9]["text"]["text"].startswith(":keycap_ten: ")
    # Paper / Code / Tweet links under each paper.
    links = blocks[blocks.index(sections[0]) + 1]
    assert links["type"] == "context"
    assert links["elements"][0]["text"] == (
        "<https://arxiv.org/abs/2301.00001|Paper> · <https://github.com/example/p1|Code>"
        " · <https://x.com/example/status/1|Tweet>"
    )
    assert blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": VOTE_FOOTER}]}
    assert out["text"].startswith(digest().header + "\nThis week's picks.\n1. Paper number 1")


def test_rank_emoji() -> None:
    assert [rank_emoji(r) for r in (1, 2, 9, 10)] == [":one:", ":two:", ":nine:", ":keycap_ten:"]
    assert rank_emoji(11) == "*11.*"
    assert rank_emoji(None) == "•"


def test_reply_has_no_vote_footer() -> None:
    out = render_message(Message(header="Search: attention", sections=(paper(1),)))
    assert VOTE_FOOTER not in str(out["blocks"])


def test_escape_exactly_three_characters() -> None:
    assert escape("a & b < c > d \"q\" 'x' &amp;") == "a &amp; b &lt; c &gt; d \"q\" 'x' &amp;amp;"


def test_truncate_at_word_boundary() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("alpha beta gamma delta", 12) == "alpha beta…"
    assert len(truncate("x" * 50, 10)) == 10
    assert truncate("anything", 0) == ""


def test_long_summary_cut_with_ellipsis() -> None:
    words = " ".join(f"word{i}" for i in range(1000))  # ~7,000 chars
    out = render_message(Message(header="h", sections=(paper(1, body=words),), kind="digest"))
    assert_within_limits(out)
    text = out["blocks"][1]["text"]["text"]
    summary = text.split("\n")[1]
    assert summary.endswith("…") and len(summary) <= 280
    assert summary[:-1].split(" ")[-1] in words.split(" ")  # ends on a whole word


def test_summary_length_option() -> None:
    out = render_message(
        Message(header="h", sections=(paper(1, body="lorem ipsum " * 100),), kind="digest"),
        summary_length=40,
    )
    assert len(out["blocks"][1]["text"]["text"].split("\n")[1]) <= 40


def test_summary_length_is_for_digests_not_replies() -> None:
    """/papers show carries a paper's whole summary (the core cut it at 900): the digest's
    summary_length does not cut it again."""
    body = " ".join(f"word{i}" for i in range(130))  # ~880 chars
    out = render_message(Message(header="h", sections=(paper(1, body=body),)), summary_length=200)
    assert_within_limits(out)
    assert out["blocks"][1]["text"]["text"].split("\n")[1] == body


def test_digest_vote_hint_appears_once() -> None:
    """The digest builder puts its vote hint in the context and the renderer adds the footer:
    Slack showed it twice."""
    from bot.delivery.digest import VOTE_HINT

    msg = digest()
    msg = Message(header=msg.header, sections=msg.sections, kind="digest", context=(VOTE_HINT,))
    out = render_message(msg)
    assert str(out["blocks"]).count(VOTE_HINT) == 1
    footer = {"type": "context", "elements": [{"type": "mrkdwn", "text": VOTE_FOOTER}]}
    assert out["blocks"][-1] == footer


def test_long_title_and_header() -> None:
    title = "A Very Long Title " * 23  # ~400 chars
    out = render_message(Message(header=title, sections=(paper(1, title=title),)))
    assert_within_limits(out)
    header = out["blocks"][0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…") and header[-2] != " "
    assert "A Very Long Title" in out["blocks"][1]["text"]["text"]


def test_twenty_five_links_only_the_chosen_labels() -> None:
    labels = ["Paper", "Code", "Tweet", "Blog", "Dataset"]
    links = tuple(Link(labels[i % 5], f"https://example.org/{i}") for i in range(25))
    out = render_message(Message(header="h", sections=(paper(1, links=links),)))
    assert_within_limits(out)
    line = out["blocks"][2]["elements"][0]["text"]
    assert line == (
        "<https://example.org/0|Paper> · <https://example.org/1|Code> · "
        "<https://example.org/2|Tweet>"
    )
    out = render_message(
        Message(header="h", sections=(paper(1, links=links),)), show_links=("Dataset",)
    )
    assert out["blocks"][2]["elements"][0]["text"] == "<https://example.org/4|Dataset>"


def test_ten_papers_with_huge_text_stay_within_limits() -> None:
    huge = "lorem ipsum dolor sit amet " * 400  # ~10,800 chars each
    sections = tuple(
        paper(i + 1, title="T" * 400, body=huge, bullets=(huge,) * 10) for i in range(10)
    )
    msg = Message(
        header=huge,
        text=huge,
        sections=sections,
        fields=tuple(Field(huge, huge) for _ in range(30)),
        context=tuple(huge for _ in range(30)),
        buttons=tuple(Button(f"b{i}", url=f"https://example.org/{i}") for i in range(30)),
        kind="digest",
    )
    out = render_message(msg)
    assert_within_limits(out)
    # All ten papers still there, with as much summary as fits.
    assert sum(1 for b in out["blocks"] if b.get("block_id", "").startswith("paper:")) == 10


def test_many_sections_capped_with_a_note() -> None:
    out = render_message(Message(header="h", sections=tuple(paper(i + 1) for i in range(80))))
    assert_within_limits(out)
    assert out["blocks"][-1]["elements"][0]["text"].startswith("…and ")


def test_hostile_titles_render_inert() -> None:
    hostile = [
        "<!channel> read this",
        "<!here|here> now",
        "<!everyone>",
        "<https://evil.example|click me>",
        "<@U0MEMBER> & <#C0GENERAL>",
        "fine | pipes > and < brackets",
        "<!channel>" * 500,  # 5,000 chars
    ]
    sections = tuple(
        paper(
            i + 1,
            title=t,
            body=t,
            bullets=(t,),
            url="https://arxiv.org/abs/2301.00001",
            links=(Link(t, "https://ok.example/x"), Link("Paper", "javascript:alert(1)")),
        )
        for i, t in enumerate(hostile)
    )
    msg = Message(
        header=hostile[0],
        text=hostile[3],
        url="<!channel>",
        sections=sections,
        fields=(Field(hostile[2], hostile[3]),),
        context=(hostile[1],),
        buttons=(Button(hostile[0], url="https://evil.example/|x>"), Button("ok", action="page")),
        kind="digest",
    )
    out = render_message(msg)
    assert_within_limits(out)
    assert_inert(out)
    flat = str(out)
    assert "&lt;!channel&gt;" in flat and "&lt;https://evil.example|click me&gt;" in flat
    assert "javascript:" not in str([b for b in out["blocks"] if b["type"] == "actions"])


def test_urls_validated() -> None:
    assert safe_url("https://arxiv.org/abs/1706.03762") == "https://arxiv.org/abs/1706.03762"
    assert safe_url("http://example.org/a?b=1&c=2") == "http://example.org/a?b=1&c=2"
    for bad in (
        "javascript:alert(1)",
        "ftp://example.org/x",
        "https://exa mple.org",
        "https://example.org/|x",
        "https://example.org/>",
        "//example.org",
        "",
        None,
        "https://" + "a" * 3000,
    ):
        assert safe_url(bad) is None, bad
    # An ampersand inside a link is escaped too; an invalid URL is shown as text.
    out = render_message(
        Message(header="h", sections=(paper(1, url="http://x.org/?a=1&b=2"),), url="ftp://x")
    )
    assert out["blocks"][1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "ftp://x"}],
    }
    assert "<http://x.org/?a=1&amp;b=2|" in out["blocks"][2]["text"]["text"]


def test_fields_context_and_buttons() -> None:
    msg = Message(
        header="Leaderboard",
        fields=tuple(Field(f"name {i}", "v" * 5000) for i in range(14)),
        context=tuple(f"note {i}" for i in range(14)),
        buttons=(
            Button("Open", url="https://example.org"),
            Button("Next", action="page", value="top 2"),
            Button("Prev", action="page", value="top 0"),
            Button("Share", action="share", value="top"),
            Button("Bad", url="javascript:void(0)"),
        ),
    )
    out = render_message(msg)
    assert_within_limits(out)
    fields = [b for b in out["blocks"] if "fields" in b][0]["fields"]
    assert len(fields) == 10 and fields[0]["text"].startswith("*name 0*\nvvv")
    actions = [b for b in out["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [(e["action_id"], e.get("value"), e.get("url")) for e in actions] == [
        ("papers_link", None, "https://example.org"),
        ("papers_page", "top 2", None),
        ("papers_page__2", "top 0", None),
        ("papers_share", "top", None),
    ]
    context = [b for b in out["blocks"] if b["type"] == "context"][0]["elements"]
    assert len(context) == 10
    assert "Bad: javascript:void(0)" not in str(context)  # 10 notes already fill the block


def test_empty_message_has_text_fallback() -> None:
    out = render_message(Message(header=""))
    assert out["text"].strip()
    assert validate_blocks(out["blocks"]) is None
    out = render_message(Message(header="   ", sections=(Section(title=""),)))
    assert_within_limits(out)


_text = st.lists(
    st.sampled_from([*"ab <>&|!@#*_~:/.", "<!channel>", "https://x.org", "\n", "word "]),
    max_size=120,
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=_text,
    titles=st.lists(_text, max_size=14),
    body=_text,
    url=st.sampled_from([None, "https://ok.org/a", "javascript:x", "https://a.org/<x>"]),
)
def test_any_input_within_limits_and_inert(
    header: str, titles: list[str], body: str, url: str | None
) -> None:
    msg = Message(
        header=header,
        text=body,
        sections=tuple(
            Section(title=t, url=url, body=body * 20, rank=i + 1, bullets=(t,))
            for i, t in enumerate(titles)
        ),
        fields=(Field(header, body),),
        context=(body,),
        kind="digest",
    )
    out = render_message(msg)
    assert_within_limits(out)
    assert_inert(out)
