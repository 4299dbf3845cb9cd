"""Command handling latency at 130,000 papers, and the resident memory of a running bot.

    python bench/commands.py [--weeks 13000] [--n 2000]

1. Builds the catalog from synthetic curated files (bench/synth.py), opens a SQLite store with
   some votes, and times ``Commands.handle`` (parse + catalog + neutral Message) plus rendering
   for Slack, Discord and the terminal, per subcommand: p50 / p99 / max in ms.
   Target: p99 under 10 ms.
2. Starts ``paperboy run`` on those files as a subprocess (terminal adapter, SQLite), waits
   until it is running, and reads its VmRSS / VmHWM from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import write_files

from bot.chat.commands import CommandContext, Commands
from bot.core.clock import SystemClock
from bot.core.messages import ChannelRef, Invocation
from bot.delivery.digest import DigestBuilder
from bot.papers.catalog import Catalog
from bot.papers.sources import load_paths
from bot.platforms.slack.render import render_message as render_slack
from bot.platforms.terminal.render import render_message as render_terminal
from bot.storage import open_store
from bot.storage.records import Vote

try:
    from bot.platforms.discord.render import render_message as render_discord
except ImportError:  # discord.py missing: measure the other two
    render_discord = None  # type: ignore[assignment]

CHANNEL = ChannelRef("slack", "T1", "C1")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def make_commands(catalog: Catalog, rng: random.Random, n: int) -> list[tuple[str, str]]:
    papers = catalog.papers
    weeks = catalog.weeks()
    words = [w for p in rng.sample(list(papers), 400) for w in p.title.lower().split()]
    out: list[tuple[str, str]] = []
    for _ in range(n):
        kind = rng.choice(["search", "search", "search", "week", "show", "show", "top", "random"])
        if kind == "search":
            q = " ".join(rng.sample(words, rng.choice([1, 1, 2, 3])))
            if rng.random() < 0.2:
                q += f" year:{rng.choice(weeks).start.year}"
            out.append((kind, f"search {q}"))
        elif kind == "week":
            out.append((kind, f"week {rng.choice(weeks).start.isoformat()}"))
        elif kind == "show":
            p = rng.choice(papers)
            ref = rng.choice([p.paper_id, p.arxiv_id or p.paper_id, p.title])
            out.append((kind, f"show {ref}"))
        else:
            out.append((kind, kind if kind != "top" else "top all"))
    return out


async def latency(directory: Path, n: int) -> None:
    t0 = time.perf_counter()
    result = load_paths([directory])
    catalog = Catalog.build(result.weeks)
    gc.collect()
    gc.freeze()  # as the running bot does after loading (bot.papers.archive)
    print(
        f"catalog: {len(catalog):,} papers, {len(catalog.weeks()):,} weeks, "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        await store.open()
        rng = random.Random(7)
        now = datetime.now(UTC)
        for i, p in enumerate(rng.sample(list(catalog.papers), 200)):
            for u in range(1 + i % 5):
                await store.add_vote(Vote(CHANNEL, f"m{i}", f"U{u}", "one", p.paper_id, now))
        clock = SystemClock()
        commands = Commands(
            CommandContext(
                catalog=lambda: catalog,
                store=store,
                clock=clock,
                digests=DigestBuilder(lambda: catalog, store),
            )
        )
        cmds = make_commands(catalog, rng, n)
        for _, text in cmds[:50]:  # warm up
            await commands.handle(Invocation(CHANNEL, "U1", text))
        times: dict[str, list[float]] = {}
        render_times: list[float] = []
        for kind, text in cmds:
            t = time.perf_counter()
            reply = await commands.handle(Invocation(CHANNEL, "U1", text))
            t1 = time.perf_counter()
            render_slack(reply.message)
            if render_discord is not None:
                render_discord(reply.message)
            render_terminal(reply.message)
            t2 = time.perf_counter()
            times.setdefault(kind, []).append((t2 - t) * 1000)
            times.setdefault("all", []).append((t2 - t) * 1000)
            render_times.append((t2 - t1) * 1000 / 3)
        await store.close()
    print(f"\ncommand handling (parse + catalog + render for 3 platforms), {n} commands:")
    print(f"{'command':<10}{'count':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind in sorted(times, key=lambda k: (k == "all", k)):
        v = times[kind]
        print(
            f"{kind:<10}{len(v):>7}{statistics.median(v):>10.3f}{pct(v, 0.99):>10.3f}"
            f"{max(v):>10.3f}"
        )
    print(
        f"render alone, per platform: p50 {statistics.median(render_times):.3f} ms, "
        f"p99 {pct(render_times, 0.99):.3f} ms"
    )
    print(f"target: p99 < 10 ms -> {'met' if pct(times['all'], 0.99) < 10 else 'MISSED'}")


def resident_memory(directory: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "paperboy.yaml"
        cfg.write_text(
            f"sources:\n  paths: [{directory}]\nstore:\n  url: sqlite:///{tmp}/run.db\n"
            "http:\n  enabled: false\nlog_level: WARNING\n",
            encoding="utf-8",
        )
        env = dict(os.environ, NO_COLOR="1")
        env.pop("DATABASE_URL", None)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(cfg), "run"],
            cwd=tmp,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None and proc.stdin is not None
        for line in proc.stdout:
            if b"Paperboy is running" in line:
                break
        ready = time.perf_counter() - t0
        proc.stdin.write(b"/papers search attention\n/papers week latest\n")
        proc.stdin.flush()
        time.sleep(1.0)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        fields = {k: v.strip() for k, _, v in (line.partition(":") for line in status.splitlines())}
        proc.terminate()
        proc.wait(15)
    print(
        f"\n`paperboy run` on these files: ready in {ready:.1f} s, "
        f"VmRSS {fields.get('VmRSS')}, peak VmHWM {fields.get('VmHWM')}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=13_000)
    ap.add_argument("--n", type=int, default=2_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "weeks"
        write_files(directory, args.weeks, files=10)
        asyncio.run(latency(directory, args.n))
        if sys.platform.startswith("linux"):
            resident_memory(directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
