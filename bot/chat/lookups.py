"""``/papers search|week|show|random|cite``: read-only answers from the catalog, and the replies
that show its papers. Every answer is private to the user; ``commands`` adds the Share button."""

from __future__ import annotations

import asyncio
from datetime import date

from bot.chat.context import CommandContext, notice
from bot.core.arxivmeta import ArxivMeta
from bot.core.messages import Button, Field, Invocation, Message, Reply, Section
from bot.core.text import truncate_words
from bot.delivery.digest import DigestOptions, paper_section, week_message
from bot.papers.bibtex import bibtex
from bot.papers.catalog import Catalog
from bot.papers.model import CatalogPaper, Week, normalize_title
from bot.papers.search import SearchPage

PAGE_SIZE = 5
MAX_PAGE = 200  # 1,000 results: far past anything useful
MAX_RANK = 10  # the highest rank a keycap reaction can vote for
LATEST = ("latest", "last", "this", "current")


# -- search ----------------------------------------------------------------------------------------


async def search(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    words, page, problem = take_page(rest)
    if problem:
        return notice("Which page?", problem)
    if not words.strip():
        return notice(
            "What should I look for?",
            "Give a few words, e.g. `/papers search diffusion language models`. "
            "Filters: year:2024, week:2025-06-23, has:code, arxiv:2301.04104, "
            "author:Vaswani, cat:cs.CL.",
        )
    offset = (page - 1) * PAGE_SIZE
    # Off the event loop: a search is a few ms of SQLite work, and acks must stay fast.
    result = await asyncio.to_thread(
        ctx.catalog().search, words, limit=PAGE_SIZE, offset=offset, meta=ctx.arxiv.for_paper
    )
    return search_reply(ctx, words, page, result)


def search_reply(ctx: CommandContext, words: str, page: int, result: SearchPage) -> Reply:
    shown = truncate_words(words, 80)
    notes = []
    if result.query.ignored:
        notes.append(f"Ignored: {', '.join(result.query.ignored)}.")
    if result.relaxed:
        notes.append("No paper matched every word; these match some of them.")
    if not result.hits:
        text = (
            f"No papers match “{shown}”."
            if page == 1
            else f"No more results for “{shown}” (page {page})."
        )
        return notice("No results", " ".join([text, *notes, "Try fewer or other words."]))
    # Numbers run on across pages (page 2 shows 6-10); a shared page is voted on with the
    # keycaps of the numbers shown (6️⃣-🔟 on page 2; later pages have no keycaps).
    first = result.offset + 1
    sections = tuple(paper_hit(ctx, h.paper, i) for i, h in enumerate(result.hits, start=first))
    ids = tuple(h.paper.paper_id for h in result.hits)
    last = result.offset + len(result.hits)
    paper_ids = ("",) * result.offset + ids if last <= MAX_RANK else ()
    buttons: list[Button] = []
    if page > 1:
        buttons.append(Button("◀ Previous", action="page", value=f"search {words} page:{page - 1}"))
    if result.has_more:
        buttons.append(Button("Next ▶", action="page", value=f"search {words} page:{page + 1}"))
    return Reply(
        Message(
            header=f"🔎 Papers matching “{shown}”",
            text=" ".join(notes),
            sections=sections,
            context=(f"Results {first}–{last} · page {page}",),
            buttons=tuple(buttons),
        ),
        paper_ids=paper_ids,
        digest_key=f"search:{words}",
    )


def paper_hit(ctx: CommandContext, paper: CatalogPaper, n: int) -> Section:
    """One search result: a short summary, the digest's links and where the paper last ranked."""
    opts = DigestOptions(summary_length=200, bullets=False, links=ctx.digests.opts.links)
    s = paper_section(paper, None, opts)
    newest = max(paper.appearances, key=lambda a: a.week_start, default=None)
    where = f" · week of {newest.week_start.isoformat()} #{newest.rank}" if newest else ""
    return Section(
        title=s.title,
        url=s.url,
        body=s.body,
        rank=n,
        links=s.links,
        paper_id=paper.paper_id,
        bullets=(f"id {paper.paper_id}{where}",),
    )


def take_page(rest: str) -> tuple[str, int, str | None]:
    """The search words, the page asked for (``page:2``, ``--page 2``, ``-p 2``) and, for a page
    that is not 1 to ``MAX_PAGE`` (``page:0``, ``page:-1``, ``page:999``, ``page:x``), what is
    wrong with it."""
    words: list[str] = []
    asked: str | None = None
    tokens = rest.split()
    i = 0
    while i < len(tokens):
        t = tokens[i]
        low = t.lower()
        if low.startswith("page:"):
            asked = t[5:]
        elif low in ("--page", "-p") and i + 1 < len(tokens):
            asked = tokens[i + 1]
            i += 1
        else:
            words.append(t)
        i += 1
    if asked is None:
        return " ".join(words), 1, None
    page = int(asked) if asked.lstrip("-").isdigit() else None
    if page is None or not 1 <= page <= MAX_PAGE:
        shown = truncate_words(asked, 20)
        return (
            " ".join(words),
            1,
            f"“{shown}” is not a page: pages are numbered 1 to {MAX_PAGE}, e.g. "
            "`/papers search attention page:2`.",
        )
    return " ".join(words), page, None


# -- week ------------------------------------------------------------------------------------------


async def week(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    cat = ctx.catalog()
    found = find_week(cat, rest.strip() or "latest")
    if isinstance(found, Reply):
        return found
    msg = week_message(found, ctx.digests.opts, kind="reply")
    older, newer = cat.neighbours(found)
    buttons = []
    if older is not None:
        buttons.append(Button("◀ Older", action="page", value=f"week {older.start.isoformat()}"))
    if newer is not None:
        buttons.append(Button("Newer ▶", action="page", value=f"week {newer.start.isoformat()}"))
    msg = Message(
        header=msg.header,
        url=msg.url,
        sections=msg.sections,
        context=("React 1️⃣–🔟 on a shared week to vote.",),
        buttons=tuple(buttons),
    )
    return Reply(
        msg,
        paper_ids=tuple(p.paper_id for p in found.papers[: ctx.digests.opts.max_papers]),
        digest_key=found.key,
    )


def find_week(cat: Catalog, spec: str) -> Week | Reply:
    """The week ``spec`` names (``latest`` or any date inside it), or a notice saying why not."""
    if spec.lower() in LATEST:
        latest = cat.latest_week()
        if latest is None:
            return notice("No weeks yet", "The archive has no curated weeks loaded yet.")
        return latest
    try:
        day = date.fromisoformat(spec)
    except ValueError:
        return notice(
            "Which week?",
            f"“{truncate_words(spec, 40)}” is not a date. Use `/papers week latest` or a "
            "date like `/papers week 2025-06-23` (any day inside the week).",
        )
    found = cat.week(day)
    if found is not None:
        return found
    weeks = cat.weeks()
    span = (
        f" The archive covers {weeks[-1].start.isoformat()} to {weeks[0].end.isoformat()}."
        if weeks
        else ""
    )
    return notice("No week there", f"No curated week covers {day.isoformat()}.{span}")


# -- show and random -------------------------------------------------------------------------------


def find_paper(ctx: CommandContext, rest: str, command: str) -> CatalogPaper | Reply:
    """The paper ``rest`` names (an id, an arXiv id, a title or a close enough one), or the
    reply that asks which one: none named, or candidates to choose from."""
    ref = rest.strip()
    if not ref:
        return notice(
            "Which paper?",
            f"Give a paper id, an arXiv id or a title, e.g. `/papers {command} 1706.03762`.",
        )
    cat = ctx.catalog()
    paper = cat.paper(ref)
    if paper is not None:
        return paper
    close = cat.suggest(ref, limit=5)
    if len(close) == 1 or (close and normalize_title(close[0].title) == normalize_title(ref)):
        return close[0]
    text = f"No paper matches “{truncate_words(ref, 60)}”."
    text += " Did you mean one of these?" if close else " Try `/papers search` to find its id."
    return Reply(
        Message(
            header="Paper not found",
            text=text,
            sections=tuple(
                Section(title=p.title, url=p.url, bullets=(f"id {p.paper_id}",)) for p in close
            ),
            kind="notice",
        )
    )


async def show(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    paper = find_paper(ctx, rest, "show")
    if isinstance(paper, Reply):
        return paper
    return paper_reply(paper, meta=ctx.arxiv.for_paper(paper))


async def random_paper(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    paper = ctx.catalog().random_paper(ctx.rng)
    if paper is None:
        return notice("The archive is empty", "No papers are loaded yet.")
    return paper_reply(
        paper, header="🎲 " + truncate_words(paper.title, 140), meta=ctx.arxiv.for_paper(paper)
    )


MAX_AUTHORS = 12  # named in full; more are "and N more"


def authors_text(authors: tuple[str, ...], limit: int = MAX_AUTHORS) -> str:
    shown = ", ".join(authors[:limit])
    return shown + (f" and {len(authors) - limit} more" if len(authors) > limit else "")


def paper_reply(paper: CatalogPaper, header: str = "", *, meta: ArxivMeta | None = None) -> Reply:
    """One paper in full: its summary, ids, authors and categories (when arXiv metadata is
    known) and the weeks it ranked in (newest six)."""
    s = paper_section(paper, None, DigestOptions(summary_length=900, bullets=True, links=()))
    weeks = sorted(paper.appearances, key=lambda a: a.week_start, reverse=True)
    seen = ", ".join(f"{a.week_start.isoformat()} (#{a.rank})" for a in weeks[:6]) + (
        f" and {len(weeks) - 6} more" if len(weeks) > 6 else ""
    )
    fields = [Field("Paper id", paper.paper_id)]
    if meta is not None and meta.authors:
        fields.append(Field("Authors", authors_text(meta.authors)))
    if paper.arxiv_id:
        version = f" (v{meta.version})" if meta is not None and meta.version else ""
        fields.append(Field("arXiv", paper.arxiv_id + version))
    if meta is not None and meta.primary_category:
        others = [c for c in meta.categories if c != meta.primary_category]
        fields.append(Field("Categories", ", ".join([meta.primary_category, *others])))
    if seen:
        fields.append(Field("In the weekly top ten", seen))
    return Reply(
        Message(
            header=header or "📄 " + truncate_words(paper.title, 140),
            sections=(s,),
            fields=tuple(fields),
            context=("React 👍 on a shared paper to vote for it.",),
        ),
        paper_ids=(paper.paper_id,),
        digest_key=f"paper:{paper.paper_id}",
    )


# -- cite ------------------------------------------------------------------------------------------


async def cite(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    """BibTeX for one paper, in a code block (arXiv-style with authors once metadata is in)."""
    paper = find_paper(ctx, rest, "cite")
    if isinstance(paper, Reply):
        return paper
    meta = ctx.arxiv.for_paper(paper)
    note = (
        ()
        if meta is not None or not paper.arxiv_id
        else ("Authors follow once the bot has read this paper's arXiv record.",)
    )
    return Reply(
        Message(
            header="📚 BibTeX: " + truncate_words(paper.title, 120),
            sections=(Section(title=paper.title, url=paper.url, paper_id=paper.paper_id),),
            code=bibtex([paper], lambda p: meta),
            context=note,
        ),
        paper_ids=(paper.paper_id,),
        digest_key=f"cite:{paper.paper_id}",
    )
