"""Neutral Message -> Discord embed: layout, limits whatever the input, inert hostile text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from support.discord import embed_problems, u16

from bot.core.messages import Field, Link, Message, Section
from bot.platforms.discord.render import (
    KEYCAPS,
    VOTE_FOOTER,
    ZWSP,
    break_mentions,
    discord_len,
    escape,
    ref_of,
    render_message,
    safe_url,
)

SUMMARY = (
    "We train a small model to route tokens between experts and show that the routing "
    "learns to specialise by topic without any supervision, which halves the compute "
    "needed per token while keeping quality on every benchmark we tried, including long "
    "context retrieval and multi-step arithmetic."
)


def paper(rank: int, **kw: object) -> Section:
    base: dict[str, object] = {
        "title": f"Routing Experts Study {rank}",
        "url": f"https://arxiv.org/abs/2506.{rank:05d}",
        "body": SUMMARY,
        "rank": rank,
        "links": (
            Link("Paper", f"https://arxiv.org/abs/2506.{rank:05d}"),
            Link("Code", f"https://github.com/example/routing-{rank}"),
            Link("Tweet", f"https://x.com/example/status/{rank}"),
            Link("Dataset", f"https://huggingface.co/datasets/example/{rank}"),
        ),
        "paper_id": f"p{rank}",
    }
    base.update(kw)
    return Section(**base)  # type: ignore[arg-type]


def digest(**kw: object) -> Message:
    fields: dict[str, object] = {
        "header": "Top ML Papers of the Week · Jun 23–29, 2025",
        "url": "https://github.com/example/ml-papers-of-the-week",
        "sections": tuple(paper(i) for i in range(1, 11)),
        "context": (VOTE_FOOTER,),
        "kind": "digest",
        "ephemeral": False,
    }
    fields.update(kw)
    return Message(**fields)  # type: ignore[arg-type]


def unescaped_links(text: str) -> list[str]:
    """Masked links ``[label](https://evil...)`` whose brackets are not escaped."""
    return re.findall(r"(?<!\\)\[(?:[^\]\\]|\\.)*(?<!\\)\]\((?:https?://evil[^)]*)\)", text)


def check_limits(msg: Message, **kw: object) -> dict[str, object]:
    r = render_message(msg, **kw)  # type: ignore[arg-type]
    d = r.to_dict()
    assert r.content is None or u16(r.content) <= 2000
    assert 1 <= len(d["embeds"]) <= 10
    assert embed_problems(d["embeds"]) == []
    e = d["embeds"][0]
    assert u16(e.get("title", "")) <= 256
    assert u16(e.get("description", "")) <= 4096
    assert len(e.get("fields", [])) <= 25
    assert r.length <= 6000
    return e


# --- layout -------------------------------------------------------------------------------------


def test_digest_layout_keycaps_links_summary_and_footer() -> None:
    e = render_message(digest(), ref="pbabcdefghijklmnopqrstuvw").to_dict()["embeds"][0]
    assert e["title"] == "Top ML Papers of the Week · Jun 23–29, 2025"
    assert e["url"] == "https://github.com/example/ml-papers-of-the-week"
    desc = e["description"]
    positions = [desc.index(f"{k} **[Routing Experts Study {i}]") for i, k in enumerate(KEYCAPS, 1)]
    assert positions == sorted(positions)
    assert "[Routing Experts Study 1](https://arxiv.org/abs/2506.00001)" in desc
    assert "[Code](https://github.com/example/routing-1)" in desc
    assert "[Tweet](https://x.com/example/status/1)" in desc
    assert "Dataset" not in desc  # not among show_links
    # The summary is cut at a word boundary with an ellipsis.
    first = desc.split("\n")[1]
    assert first.endswith("…") and len(first) <= 201
    assert SUMMARY.startswith(first[:-1].rstrip())
    footer = e["footer"]["text"]
    assert footer.count(VOTE_FOOTER) == 1  # the context's copy is not repeated
    assert ref_of(footer) == "pbabcdefghijklmnopqrstuvw"
    assert embed_problems([e]) == []


def test_reply_fields_context_and_no_vote_hint() -> None:
    msg = Message(
        header="Paperboy help",
        text="1,234 papers in the archive.",
        fields=(Field("/papers search <words>", "ranked *search*"), Field("/papers top", "votes")),
        context=("Digests are voted on with reactions.",),
    )
    e = render_message(msg).to_dict()["embeds"][0]
    assert e["description"] == "1,234 papers in the archive."
    assert [f["name"] for f in e["fields"]] == ["/papers search <words>", "/papers top"]
    assert e["fields"][0]["value"] == "ranked \\*search\\*"
    assert e["footer"]["text"] == "Digests are voted on with reactions."
    assert "url" not in e and ref_of(e["footer"]["text"]) is None


def test_many_papers_shrink_then_say_how_many_more() -> None:
    msg = digest(sections=tuple(paper(i, body=SUMMARY * 3) for i in range(1, 61)))
    e = check_limits(msg)
    assert re.search(r"…and \d+ more", e["description"])


def test_summary_length_option_and_links_choice() -> None:
    e = render_message(digest(), summary_length=60, show_links=("Code",)).to_dict()["embeds"][0]
    first_summary = e["description"].split("\n")[1]
    assert len(first_summary) <= 60 and first_summary.endswith("…")
    assert "[Code](" in e["description"] and "[Tweet](" not in e["description"]


# --- hostile input ------------------------------------------------------------------------------


def test_hostile_title_is_inert_and_within_limits() -> None:
    hostile = "@everyone [click](https://evil.example/x) <@123456789012345678> <@&987654321098765432> @here "
    msg = digest(
        header=hostile + "H" * 5000,
        sections=(paper(1, title=hostile + "T" * 5000, body=hostile * 40), paper(2)),
        context=(hostile,),
    )
    e = check_limits(msg)
    every = e["title"] + e["description"] + e["footer"]["text"]
    assert unescaped_links(every) == []
    assert "\\[click\\]" in e["description"]
    assert re.search(r"@(everyone|here)", every, re.IGNORECASE) is None
    assert f"@{ZWSP}everyone" in every and f"<{ZWSP}@123456789012345678>" in every
    assert "<@&" not in every and f"<{ZWSP}@&" in every


def test_markdown_in_titles_is_escaped() -> None:
    assert escape("*bold* _it_ ~~s~~ `code` ||spoiler||") == (
        "\\*bold\\* \\_it\\_ \\~\\~s\\~\\~ \\`code\\` \\|\\|spoiler\\|\\|"
    )
    assert escape("# Heading") == "\\# Heading"
    assert escape("a]b[c") == "a\\]b\\[c"
    assert escape("back\\slash [x]") == "back\\\\slash \\[x\\]"
    assert escape("bidi\u202eevil\x1b[2J") == "bidievil\\[2J"
    assert break_mentions("@Everyone hi") == f"@{ZWSP}Everyone hi"


def test_urls_only_http_and_cannot_break_the_link() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://ok.example/a b") is None
    assert safe_url("https://ok.example/<x>") is None
    assert safe_url("ftp://files.example/x") is None
    assert safe_url("https://en.wikipedia.org/wiki/Foo_(bar)") == (
        "https://en.wikipedia.org/wiki/Foo_%28bar%29"
    )
    assert safe_url("https://x.example/" + "a" * 2000) is None
    sec = paper(1, url="javascript:alert(1)", links=(Link("Paper", "javascript:alert(1)"),))
    e = render_message(digest(sections=(sec,), url="data:text/html,hi")).to_dict()["embeds"][0]
    assert "javascript" not in e["description"] and "url" not in e
    assert e["description"].startswith("1️⃣ **Routing Experts Study 1**")


def test_astral_characters_counted_as_discord_does() -> None:
    msg = digest(header="𝐀" * 3000, sections=(paper(1, title="𝐁" * 3000, body="𝐂 " * 3000),))
    e = check_limits(msg)
    assert discord_len(e["title"]) <= 256


def test_ref_is_validated() -> None:
    e = render_message(digest(), ref="bad ref with spaces").to_dict()["embeds"][0]
    assert ref_of(e["footer"]["text"]) is None
    assert ref_of("React · ref pb123") == "pb123"
    assert ref_of(None) is None


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=3000)
_url = st.one_of(st.none(), st.text(max_size=80), st.just("https://arxiv.org/abs/2501.00001"))


@settings(max_examples=60, deadline=None)
@given(
    header=_text,
    text=_text,
    titles=st.lists(_text, min_size=0, max_size=30),
    body=_text,
    url=_url,
    fields=st.lists(st.tuples(_text, _text), max_size=30),
    context=st.lists(_text, max_size=5),
    summary_length=st.integers(min_value=-5, max_value=5000),
)
def test_any_message_fits_every_limit(
    header: str,
    text: str,
    titles: list[str],
    body: str,
    url: str | None,
    fields: list[tuple[str, str]],
    context: list[str],
    summary_length: int,
) -> None:
    sections = tuple(
        Section(title=t, url=url, body=body, rank=i + 1, links=(Link("Paper", url or ""),))
        for i, t in enumerate(titles)
    )
    msg = Message(
        header=header,
        url=url,
        text=text,
        sections=sections,
        fields=tuple(Field(n, v) for n, v in fields),
        context=tuple(context),
        kind="digest",
    )
    e = check_limits(msg, summary_length=summary_length)
    assert "title" in e


def test_summary_length_is_for_digests_not_replies() -> None:
    """/papers show on Discord kept about 190 characters of a paper's summary: the digest cap
    applied to every message."""
    body = " ".join(f"word{i}" for i in range(130))  # ~880 chars, what `show` carries
    reply = Message(header="📄 A paper", sections=(paper(1, body=body),))
    e = render_message(reply, summary_length=200).to_dict()["embeds"][0]
    assert escape(body) in e["description"]
    as_digest = Message(header="Top", sections=(paper(1, body=body),), kind="digest")
    d = render_message(as_digest, summary_length=200).to_dict()["embeds"][0]
    summary = d["description"].split("\n")[1]
    assert summary.endswith("…") and len(summary) <= 201


def test_notices_keep_the_bots_inline_code_and_escape_the_rest() -> None:
    typed = "frob_nicate* @everyone"
    msg = Message(
        header="I don't know that command",
        text=f"`{typed}` is not a /papers command. Did you mean `/papers search`? *Really* [x](https://evil.example)",
        kind="notice",
    )
    desc = render_message(msg).to_dict()["embeds"][0]["description"]
    assert "`frob_nicate* @\u200beveryone`" in desc  # code stays code, its text as typed
    assert "`/papers search`" in desc
    assert "\\`" not in desc  # no escaped backticks: they show as literal backticks
    assert "\\*Really\\*" in desc and "\\[x\\]" in desc  # outside code, still inert
