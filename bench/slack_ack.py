"""Slash-command ack latency through the real slack-bolt AsyncApp over HTTP.

    python bench/slack_ack.py [--requests 1000] [--concurrency 50] [--papers 130000]

Two processes, so the bot is measured alone:

* the bot (this process): ``SlackAdapter`` in HTTP mode on a local aiohttp server, answering
  ``/papers search|week|top`` from a ``bot.papers.catalog.Catalog`` of ``--papers`` synthetic papers
  (the real ``bot.chat.commands.Commands`` by default; ``--handler`` picks a lean comparison
  handler, see ``CatalogCommands``);
* the load (a child process): a fake Slack (Web API + response_url, from ``tests/support``) and a
  client that sends signed slash commands, ``--concurrency`` in flight, and times each ack (the
  HTTP 200 of the request) and each answer (the POST that reaches the response_url).

Target: ack p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from support.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack  # noqa: E402
from synth import QUERY_WORDS, parsed_weeks  # noqa: E402

from bot.core.messages import ChannelRef, Invocation, Message, Reply, Section  # noqa: E402

# --- the bot side -----------------------------------------------------------------------------


class CatalogCommands:
    """A lean CommandHandler over the real catalog: search, week and top.

    ``mode="inline"`` does the catalog work on the event loop (as ``bot.chat.commands.Commands``
    does today); ``"thread"`` runs it in a worker thread; ``"none"`` skips the catalog."""

    def __init__(self, catalog: Any, mode: str = "inline") -> None:
        self.catalog = catalog
        self.mode = mode

    async def handle(self, inv: Invocation) -> Reply:
        if self.mode == "none":
            return Reply(Message(header=f"/papers {inv.text}", text="ok"))
        if self.mode == "thread":
            return await asyncio.to_thread(self._answer, inv)
        return self._answer(inv)

    def _answer(self, inv: Invocation) -> Reply:
        sub, _, rest = inv.text.partition(" ")
        if sub == "search":
            page = self.catalog.search(rest, limit=5)
            papers = [h.paper for h in page.hits]
        elif sub == "week":
            week = self.catalog.week(rest or "latest")
            papers = [self.catalog.get(p.paper_id) for p in week.papers] if week else []
        else:
            papers = list(self.catalog.papers[:10])
        sections = tuple(
            Section(title=p.title, url=p.url, body=p.summary, rank=i + 1, paper_id=p.paper_id)
            for i, p in enumerate(papers)
            if p is not None
        )
        return Reply(Message(header=f"/papers {inv.text}", sections=sections))

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return []

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        return None


class NoVotes:
    async def on_reaction(self, ev: Any) -> bool:
        return False


async def run_bot(args: argparse.Namespace) -> None:
    from bot.papers.catalog import Catalog
    from bot.platforms.slack import SlackAdapter

    t0 = time.perf_counter()
    catalog = Catalog.build(parsed_weeks(max(1, args.papers // 10)))
    print(f"catalog: {len(catalog):,} papers built in {time.perf_counter() - t0:.1f} s")
    if args.gc_freeze:
        # Long-lived objects (the catalog) out of the collector's way: no long gen-2 pauses.
        gc.collect()
        gc.freeze()

    client = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role",
        "load",
        "--requests",
        str(args.requests),
        "--concurrency",
        str(args.concurrency),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 24,
    )
    assert client.stdin is not None and client.stdout is not None
    hello = json.loads(await client.stdout.readline())

    store = None
    handler: Any
    if args.handler == "real":
        import tempfile

        from bot.chat.commands import CommandContext, Commands
        from bot.core.clock import SystemClock
        from bot.delivery.digest import DigestBuilder
        from bot.storage import open_store

        tmp = tempfile.mkdtemp()
        store = open_store(f"sqlite:///{tmp}/bench.db")
        await store.open()
        handler = Commands(
            CommandContext(
                catalog=lambda: catalog,
                store=store,
                clock=SystemClock(),
                digests=DigestBuilder(lambda: catalog, store),
            )
        )
    else:
        handler = CatalogCommands(catalog, args.handler)

    app = web.Application()
    adapter = SlackAdapter(
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        signing_secret=SIGNING_SECRET,
        mode="http",
        api_base_url=hello["api"],
        commands=handler,
        reactions=NoVotes(),
        http_app=app,
    )
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await adapter.start()
    try:
        client.stdin.write(
            (json.dumps({"url": f"http://127.0.0.1:{port}/slack/events"}) + "\n").encode()
        )
        await client.stdin.drain()
        result = json.loads(await client.stdout.readline())
        await client.wait()
    finally:
        await adapter.stop()
        await runner.cleanup()
        if store is not None:
            await store.close()
        catalog.close()
    report(args, result)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] if s else float("nan")


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    acks = [x * 1000 for x in r["acks"]]
    answers = [x * 1000 for x in r["answers"]]
    print(
        f"\n/papers over HTTP: {args.requests} requests, {args.concurrency} in flight, "
        f"catalog {args.papers:,} papers, handler {args.handler}"
        f"{', gc frozen' if args.gc_freeze else ''}; non-200: {r['errors']}, "
        f"answers received: {len(answers)}/{args.requests}, wall {r['wall']:.2f} s "
        f"({args.requests / r['wall']:.0f} req/s)\n"
    )
    print(f"{'':10} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'mean':>8}  (ms)")
    for name, xs in (("ack", acks), ("answer", answers)):
        if xs:
            print(
                f"{name:10} {pct(xs, 50):8.1f} {pct(xs, 90):8.1f} {pct(xs, 99):8.1f} "
                f"{max(xs):8.1f} {statistics.fmean(xs):8.1f}"
            )
    verdict = "OK" if acks and pct(acks, 99) < 50 else "OVER TARGET"
    print(f"\nack p99 target < 50 ms: {verdict}")


# --- the load side (child process) ------------------------------------------------------------


async def run_load(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    fake = FakeSlack()
    await fake.start()
    for i in range(200):
        fake.add_user(f"U{i:04d}", is_admin=i % 50 == 0)
    print(json.dumps({"api": fake.url}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    url = json.loads(await reader.readline())["url"]

    rng = random.Random(11)
    texts = []
    for i in range(args.requests):
        kind = i % 3
        if kind == 0:
            texts.append("search " + " ".join(rng.sample(QUERY_WORDS, rng.randint(1, 3))))
        elif kind == 1:
            texts.append(
                "week " + (date(2025, 6, 30) - timedelta(days=rng.randint(0, 90_000))).isoformat()
            )
        else:
            texts.append("top")

    def prepare(i: int) -> tuple[str, bytes, dict[str, str]]:
        """Signed request bodies are built before the clock starts, so the client's own
        work does not count as the bot's latency."""
        payload = fake.slash_command(texts[i], user_id=f"U{i % 200:04d}")
        body = fake.form_body(payload)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **fake.sign(body)}
        return payload["response_url"].rsplit("/", 1)[1], body.encode(), headers

    warm = [prepare(i) for i in range(args.concurrency + 1)]
    load = [prepare(i) for i in range(args.requests)]
    acks: list[float] = []
    sent_at: dict[str, float] = {}
    errors = 0
    sem = asyncio.Semaphore(args.concurrency)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(req: tuple[str, bytes, dict[str, str]]) -> None:
            nonlocal errors
            key, body, headers = req
            async with sem:
                start = time.perf_counter()
                sent_at[key] = start
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    acks.append(time.perf_counter() - start)
                    if resp.status != 200:
                        errors += 1

        # Warm up: the first dispatch runs auth.test, and each client connection is opened once.
        await one(warm[0])
        await asyncio.gather(*(one(r) for r in warm[1:]))
        acks.clear()
        sent_at.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(one(r) for r in load))
        with contextlib.suppress(TimeoutError):
            await fake.wait_for(
                lambda: len(fake.responses) >= args.requests + args.concurrency + 1, timeout=120
            )
        wall = time.perf_counter() - t0
    answers = []
    arrived = fake.response_times
    for key, start in sent_at.items():
        if key in arrived:
            answers.append(arrived[key] - start)
    await fake.stop()
    print(
        json.dumps({"acks": acks, "answers": answers, "errors": errors, "wall": wall}), flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--papers", type=int, default=130_000)
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() after building the catalog"
    )
    parser.add_argument(
        "--handler",
        choices=("real", "inline", "thread", "none"),
        default="real",
        help="the real bot.chat.commands.Commands (default), or a lean handler doing the catalog "
        "work on the event loop (inline), in a thread, or none",
    )
    parser.add_argument("--role", choices=("bot", "load"), default="bot", help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(run_load(args) if args.role == "load" else run_bot(args))


if __name__ == "__main__":
    main()
