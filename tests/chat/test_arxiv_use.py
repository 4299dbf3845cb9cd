"""arXiv metadata where people see it: ``/papers show`` (authors, categories), the search
filters ``author:`` and ``cat:``, ``/papers cite`` (BibTeX, parsed back with bibtexparser), the
web paper page and API, and ``paperboy export`` (an ``authors`` field, ``--format bibtex``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import bibtexparser
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from support.clock import FakeClock

from bot.chat.commands import CommandContext, Commands
from bot.chat.votes import VoteService
from bot.cli import main
from bot.core.arxivmeta import ArxivMeta
from bot.core.messages import ChannelRef, Invocation, Link, Reply
from bot.delivery.digest import DigestBuilder
from bot.papers.arxiv import ArxivIndex
from bot.papers.catalog import Catalog
from bot.papers.export import export_records
from bot.papers.model import Paper, Week
from bot.storage import Store, open_store
from bot.web import WebContext, WebSite

CHANNEL = ChannelRef("slack", "T1", "C1")
NOW = datetime(2025, 7, 1, 12, tzinfo=UTC)


def paper(rank: int, title: str, url: str) -> Paper:
    return Paper(rank, title, f"About {title}.", links=(Link("Paper", url),))


ATTENTION = paper(1, "Attention Is All You Need", "https://arxiv.org/abs/1706.03762")
BERT = paper(2, "BERT: Pre-training of Deep Transformers", "https://arxiv.org/abs/1810.04805")
DIFFUSION = paper(3, "Denoising Diffusion Models", "https://arxiv.org/abs/2006.11239")
BLOG = paper(4, "A Blog Post on 100% {Braces} & Co_", "https://example.org/post_1?a=1&b=2")
WEEK = Week(date(2025, 6, 23), date(2025, 6, 29), "Top", "w.md", (ATTENTION, BERT, DIFFUSION, BLOG))

META = [
    ArxivMeta(
        "1706.03762",
        NOW,
        title="Attention Is All You Need",
        authors=("Ashish Vaswani", "Noam Shazeer", "Łukasz Kaiser"),
        primary_category="cs.CL",
        categories=("cs.CL", "cs.LG"),
        published=datetime(2017, 6, 12, tzinfo=UTC),
        version=7,
    ),
    ArxivMeta(
        "1810.04805",
        NOW,
        title="BERT: Pre-training of Deep Bidirectional Transformers",
        authors=("Jacob Devlin", "Ming-Wei Chang"),
        primary_category="cs.CL",
        categories=("cs.CL",),
        published=datetime(2018, 10, 11, tzinfo=UTC),
    ),
    ArxivMeta(
        "2006.11239",
        NOW,
        title="Denoising Diffusion Probabilistic Models",
        authors=("Jonathan Ho", "Ajay Jain", "Pieter Abbeel"),
        primary_category="cs.LG",
        categories=("cs.LG", "stat.ML"),
        published=datetime(2020, 6, 19, tzinfo=UTC),
    ),
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/c.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.build([WEEK])


def commands(store: Store, catalog: Catalog, index: ArxivIndex) -> Commands:
    return Commands(
        CommandContext(
            catalog=lambda: catalog,
            store=store,
            clock=FakeClock(NOW),
            digests=DigestBuilder(lambda: catalog, store),
            arxiv=index,
        )
    )


async def ask(c: Commands, text: str) -> Reply:
    return await c.handle(Invocation(CHANNEL, "U1", text))


def titles(reply: Reply) -> list[str]:
    return [s.title for s in reply.message.sections]


# --- search filters ------------------------------------------------------------------------------


async def test_author_and_cat_filter_by_arxiv_metadata(store: Store, catalog: Catalog) -> None:
    c = commands(store, catalog, ArxivIndex(META))
    assert titles(await ask(c, "search author:Vaswani")) == [ATTENTION.title]
    assert titles(await ask(c, "search author:lukasz")) == [ATTENTION.title]  # accents folded
    assert titles(await ask(c, "search cat:cs.CL")) == [ATTENTION.title, BERT.title]
    assert titles(await ask(c, "search cat:stat.ml")) == [DIFFUSION.title]
    assert titles(await ask(c, "search cat:stat")) == [DIFFUSION.title]  # a whole archive
    assert titles(await ask(c, "search transformers cat:cs.CL")) == [BERT.title]
    assert titles(await ask(c, "search author:Devlin author:Chang")) == [BERT.title]
    none = await ask(c, "search author:Devlin cat:cs.LG")
    assert none.message.header == "No results"


async def test_without_metadata_the_filters_match_nothing_and_words_still_work(
    store: Store, catalog: Catalog
) -> None:
    c = commands(store, catalog, ArxivIndex())
    assert (await ask(c, "search author:Vaswani")).message.header == "No results"
    assert titles(await ask(c, "search attention")) == [ATTENTION.title]


async def test_metadata_filters_page_like_any_search(store: Store, catalog: Catalog) -> None:
    many = [
        paper(i + 1, f"Graph Study {i}", f"https://arxiv.org/abs/2401.{i:05d}") for i in range(8)
    ]
    cat = Catalog.build([Week(date(2025, 6, 23), date(2025, 6, 29), "T", "w.md", tuple(many))])
    index = ArxivIndex(ArxivMeta(f"2401.{i:05d}", NOW, categories=("cs.AI",)) for i in range(8))
    c = commands(store, cat, index)
    first = await ask(c, "search graph cat:cs.AI")
    assert len(first.message.sections) == 5
    assert [b.label for b in first.message.buttons][0] == "Next ▶"
    second = await ask(c, first.message.buttons[0].value)
    assert len(second.message.sections) == 3
    assert not set(titles(first)) & set(titles(second))


# --- show and cite -------------------------------------------------------------------------------


async def test_show_names_the_authors_categories_and_version(
    store: Store, catalog: Catalog
) -> None:
    c = commands(store, catalog, ArxivIndex(META))
    fields = {f.name: f.value for f in (await ask(c, "show 1706.03762")).message.fields}
    assert fields["Authors"] == "Ashish Vaswani, Noam Shazeer, Łukasz Kaiser"
    assert fields["Categories"] == "cs.CL, cs.LG"
    assert fields["arXiv"] == "1706.03762 (v7)"
    bare = await ask(commands(store, catalog, ArxivIndex()), "show 1706.03762")
    assert "Authors" not in {f.name for f in bare.message.fields}


async def test_cite_gives_arxiv_bibtex_that_parses_back(store: Store, catalog: Catalog) -> None:
    c = commands(store, catalog, ArxivIndex(META))
    reply = await ask(c, "cite Attention Is All You Need")
    m = reply.message
    assert m.ephemeral and m.buttons[-1].label == "Share to channel"
    (entry,) = bibtexparser.loads(m.code).entries
    assert entry["ENTRYTYPE"] == "misc" and entry["ID"] == "vaswani2017attention"
    assert entry["author"] == "Ashish Vaswani and Noam Shazeer and Łukasz Kaiser"
    assert entry["title"] == "Attention Is All You Need"
    assert (entry["eprint"], entry["archiveprefix"]) == ("1706.03762", "arXiv")
    assert (entry["primaryclass"], entry["year"]) == ("cs.CL", "2017")
    assert entry["url"] == "https://arxiv.org/abs/1706.03762"


async def test_cite_a_paper_without_arxiv_id_is_a_plain_misc_with_its_url(
    store: Store, catalog: Catalog
) -> None:
    c = commands(store, catalog, ArxivIndex(META))
    m = (await ask(c, f"cite {BLOG.paper_id}")).message
    (entry,) = bibtexparser.loads(m.code).entries
    assert set(entry) == {"ENTRYTYPE", "ID", "title", "url"}
    # LaTeX's specials escaped, so the braces in the title cannot end the field early.
    assert entry["title"] == r"A Blog Post on 100\% \textbraceleft{}Braces\textbraceright{} \& Co\_"
    assert entry["url"] == "https://example.org/post_1?a=1&b=2"


async def test_cite_an_unknown_paper_is_a_friendly_notice(store: Store, catalog: Catalog) -> None:
    c = commands(store, catalog, ArxivIndex(META))
    for text in ("cite", "cite no such paper anywhere"):
        m = (await ask(c, text)).message
        assert m.kind == "notice" and not m.code and not m.buttons


# --- web and export ------------------------------------------------------------------------------


async def test_the_web_paper_page_and_api_show_authors(store: Store, catalog: Catalog) -> None:
    clock = FakeClock(NOW)
    ctx = WebContext(
        lambda: catalog, store, VoteService(store, clock=clock), clock=clock, arxiv=ArxivIndex(META)
    )
    app = web.Application()
    WebSite(ctx).install(app)
    async with TestClient(TestServer(app)) as client:
        page = await (await client.get(f"/papers/{ATTENTION.paper_id}")).text()
        api = await (await client.get(f"/api/papers/{ATTENTION.paper_id}")).json()
        found = await (await client.get("/api/search?q=author:Shazeer")).json()
    assert "Ashish Vaswani, Noam Shazeer, Łukasz Kaiser" in page and "cs.LG" in page
    assert api["authors"] == list(META[0].authors)
    assert [r["title"] for r in found["results"]] == [ATTENTION.title]


def test_export_records_carry_authors_when_known() -> None:
    rows = export_records([WEEK], ArxivIndex(META).get)
    assert rows[0]["authors"] == list(META[0].authors)
    assert rows[3]["authors"] == []  # no arXiv id
    assert all(r["authors"] == [] for r in export_records([WEEK]))


def test_paperboy_export_reads_authors_from_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bot.db"

    async def seed() -> None:
        s = open_store(f"sqlite:///{db}")
        await s.open()
        await s.save_arxiv_meta(META)
        await s.close()

    asyncio.run(seed())
    source = tmp_path / "week.md"
    source.write_text(
        "## Top ML Papers of the Week (June 23 - June 29) - 2025\n"
        "| **Paper** | **Links** |\n| --- | --- |\n"
        "| 1) **Attention Is All You Need** - Transformers. | [Paper](https://arxiv.org/abs/1706.03762) |\n"
        "| 2) **A Blog Post** - Words. | [Paper](https://example.org/post) |\n",
        encoding="utf-8",
    )
    config = tmp_path / "paperboy.yaml"
    config.write_text(f"store:\n  url: sqlite:///{db}\n", encoding="utf-8")
    assert main(["export", "--config", str(config), "--source", str(source)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["authors"] == list(META[0].authors) and rows[1]["authors"] == []
    assert (
        main(["export", "--config", str(config), "--source", str(source), "--format", "bibtex"])
        == 0
    )
    entries = bibtexparser.loads(capsys.readouterr().out).entries
    assert [e["ID"] for e in entries] == ["vaswani2017attention", "blog"]
    assert entries[0]["author"].startswith("Ashish Vaswani and")
    assert entries[1]["url"] == "https://example.org/post"


def test_paperboy_search_filters_by_stored_authors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bot.db"

    async def seed() -> None:
        s = open_store(f"sqlite:///{db}")
        await s.open()
        await s.save_arxiv_meta(META)
        await s.close()

    asyncio.run(seed())
    config = tmp_path / "paperboy.yaml"
    config.write_text(f"store:\n  url: sqlite:///{db}\n", encoding="utf-8")
    assert main(["search", "author:Vaswani", "--json", "--config", str(config)]) == 0
    found = json.loads(capsys.readouterr().out)["results"]
    assert [r["arxiv_id"] for r in found] == ["1706.03762"]  # the shipped digests have it
    assert found[0]["authors"] == list(META[0].authors)
