"""Synthetic curated weekly-table files for benchmarks, in every shape the real lists drifted to.

    python bench/synth.py --weeks 13000 --out DIR [--files K] [--seed S]

Everything is made up: titles are word salad from a small vocabulary, summaries are word salad
with a long tail of invented rare words, ids look like arXiv ids (``YYMM.NNNNN`` from the week's
start month) and other URLs point at example.org. Each week has ten papers and every paper is
distinct (unique normalised title, unique id or URL), so the catalog's dedupe keeps them all:
``N`` weeks load as exactly ``10 * N`` papers.

Weeks are consecutive Monday..Sunday weeks running back in time from ``NEWEST_MONDAY``, newest
first, split into ``K`` files of contiguous weeks (file 1 holds the newest). The text of a week
depends only on the seed and the week, not on ``K``.

Row shapes mixed in: ``**Title** - summary`` (also ``--``), ``Title - summary``, ``Title  Summary``
with a ``Key findings:`` lead-in and ``<br>●`` bullets, a title run straight into a verb-led
summary, a mistyped bold marker (``*8Title**``), a markdown escape (``\\&``), links with and
without commas and with padding, a row without a links cell, and the primary link in the body
cell. Heading shapes: with the year (full or abbreviated month names), and without it (only for
weeks whose arXiv-like ids let the parser infer the year, 1991..2090), including weeks that cross
a month or New Year.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

NEWEST_MONDAY = date(2025, 6, 30)
PAPERS_PER_WEEK = 10
SUMMARY_MIN, SUMMARY_MAX = 500, 1500  # characters of a summary, as in the real list


def _wordlist(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))


# Capitalised title words. None of them is a verb the parser splits a plain title at, nor a
# sentence starter ("A", "The", "This", "New", ...).
TITLE_WORDS: tuple[str, ...] = _wordlist(
    """
    Sparse Dense Latent Neural Recurrent Graph Diffusion Attention Transformer Transformers
    Agents Agent Memory Retrieval Reasoning Planning Language Vision Speech Audio Video Token
    Tokens Mixture Experts Scaling Laws Efficient Robust Adaptive Contrastive Generative
    Causal Bayesian Variational Stochastic Deterministic Linear Nonlinear Spectral Lattice
    Orbit Quantum Tiny Large Small Deep Shallow Hierarchical Modular Recursive Parallel
    Distributed Federated Private Secure Aligned Calibrated Grounded Multimodal Multilingual
    Long Short Context Window Cache Kernel Kernels Flow Flows Field Fields Policy Policies
    Reward Rewards Preference Feedback Critic Actor World Models Model Networks Network
    Embeddings Encoders Decoders Autoencoders Adapters Prompts Prompting Tuning Distillation
    Pruning Quantization Compression Routing Search Benchmarks Benchmark Evaluation Datasets
    Synthetic Curriculum Tools Code Math Proofs Theorem Chemistry Protein Molecules Weather
    Robotics Control Navigation Segmentation Detection Tracking Captioning Translation
    Summarization Dialogue Chat Assistants Safety Alignment Interpretability Circuits Probing
    Steering Editing Unlearning Watermarks Hallucination Uncertainty Optimization Optimizers
    Gradients Momentum Normalization Residual Convolutional Spiking Energy Hopfield Manifold
    Geometric Equivariant Symbolic Program Synthesis Compiler Hardware Inference Serving
    Decoding Speculative Streaming Online Offline Continual Lifelong Meta Few Zero Shot
    """
)
CONNECTORS: tuple[str, ...] = ("for", "with", "via", "of", "in", "on", "at", "through")

# Ordinary summary words (frequent, Zipf-weighted by position) ...
COMMON_WORDS: tuple[str, ...] = _wordlist(
    """
    model models the a of and to in for with on that this we results data training learning
    large language performance tasks method approach show new using based benchmark proposed
    attention transformer network neural agents reasoning memory retrieval evaluation efficient
    improves outperforms baseline baselines accuracy inference scale scaling parameters tokens
    context long sparse dense latent diffusion generation image images video text speech code
    reward policy preference feedback alignment safety robust robustness uncertainty sampling
    optimizer gradient loss objective pretraining finetuning fine tuning instruction prompts
    prompting tools planning search graph graphs layers heads embedding embeddings encoder
    decoder experts routing mixture compression quantization pruning distillation kernel cache
    throughput latency memory compute budget dataset datasets synthetic curriculum human humans
    annotators labels supervision unsupervised contrastive generative causal bayesian variational
    theory analysis empirical study survey open source release released strong simple fast
    faster cheaper smaller larger multimodal multilingual vision audio robotics control world
    physics chemistry biology protein molecules weather climate medical legal finance math proofs
    theorem program synthesis compiler hardware gpu gpus tpu serving decoding speculative online
    offline continual interpretability circuits probing steering editing unlearning watermark
    hallucination calibration benchmarks leaderboard arena agentic workflow environment
    """
)
# ... and a long tail of invented rare words, from syllables.
_SYLLABLES = ("zor", "bla", "qui", "vex", "tam", "lur", "pho", "kri", "dex", "mon", "sil", "ra")
RARE_WORDS: tuple[str, ...] = tuple(
    a + b + c for a, b, c in itertools.product(_SYLLABLES, _SYLLABLES, _SYLLABLES)
)
SUMMARY_VOCAB: tuple[str, ...] = COMMON_WORDS + RARE_WORDS
# Zipf-like weights: the k-th word is drawn with weight 1/(k+4).
_SUMMARY_CUM: list[float] = list(
    itertools.accumulate(1.0 / (k + 4) for k in range(len(SUMMARY_VOCAB)))
)
# Very rare words (a handful of papers each): four syllables, drawn uniformly.
_RARE_SHARE = 0.3  # share of sentences that carry one of them


def very_rare_word(n: int) -> str:
    """One of 12**4 four-syllable words, by number (taken modulo 12**4)."""
    s = len(_SYLLABLES)
    n %= s**4
    return "".join(_SYLLABLES[(n // s**i) % s] for i in range(4))


_LEAD_VERBS = ("Introduces", "Proposes", "Presents", "Shows", "Develops", "Describes", "Studies")

_FULL = ("January", "February", "March", "April", "May", "June", "July", "August",
         "September", "October", "November", "December")  # fmt: skip
_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

ROW_SHAPES = (
    "bold",  # **T** - s
    "bold_ddash",  # **T** -- s
    "plain",  # T - s
    "two_space",  # T  S  Key findings:  <br>● b <br>● b
    "verb_led",  # T Introduces s
    "mistyped_bold",  # *8T** - s
    "escaped",  # **T1 \& T2** - s
    "body_link",  # T  S  [Report](url)   | [Tweet](url)
    "no_links_cell",  # **T** - s   (no links cell, no closing pipe)
)
_ROW_WEIGHTS = (30, 8, 12, 12, 8, 3, 4, 4, 3)
_ROW_CUM = list(itertools.accumulate(_ROW_WEIGHTS))

HEADING_SHAPES_WITH_YEAR = ("full", "abbr")
HEADING_SHAPES_NO_YEAR = ("full_noyear", "abbr_tight", "month_once", "mixed")


@dataclass(frozen=True, slots=True)
class SynthWeek:
    start: date
    end: date
    heading: str
    lines: tuple[str, ...]
    titles: tuple[str, ...]  # as a reader sees them, by rank


class _Ids:
    """Unique arXiv-like ids: ``YYMM`` of the week's start month and a per-``YYMM`` counter (so
    the same month of different centuries never collides), plus unique serials for URLs."""

    def __init__(self) -> None:
        self._per_month: dict[str, int] = {}
        self._serial = itertools.count(1)

    def arxiv(self, day: date) -> str:
        yymm = f"{day.year % 100:02d}{day.month:02d}"
        n = self._per_month.get(yymm, 0) + 1
        self._per_month[yymm] = n
        return f"{yymm}.{n:05d}"

    def serial(self) -> int:
        return next(self._serial)


class Generator:
    """Deterministic for a seed: the same seed gives the same weeks, byte for byte."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.ids = _Ids()
        self._titles: set[str] = set()

    # -- words -----------------------------------------------------------------------------

    def _words(self, k: int) -> list[str]:
        return self.rng.choices(SUMMARY_VOCAB, cum_weights=_SUMMARY_CUM, k=k)

    def sentence(self, lo: int = 8, hi: int = 18) -> str:
        rng = self.rng
        words = self._words(rng.randint(lo, hi))
        if rng.random() < _RARE_SHARE:
            words.insert(rng.randint(1, len(words)), very_rare_word(rng.getrandbits(16)))
        return words[0].capitalize() + " " + " ".join(words[1:]) + "."

    def summary(self) -> str:
        """Sentences up to a target length: 500-1,500 characters, most of them short (the
        real list's summaries: a median near 600, a tail to 1,500)."""
        rng = self.rng
        target = int(min(SUMMARY_MAX, SUMMARY_MIN + rng.expovariate(1 / 180)))
        parts: list[str] = []
        size = 0
        while size < target:
            parts.append(self.sentence(10, 24))
            size += len(parts[-1]) + 1
        text = " ".join(parts)
        if len(text) > SUMMARY_MAX:
            text = text[:SUMMARY_MAX].rsplit(" ", 1)[0] + "."
        return text

    def title(self, escaped: bool = False) -> tuple[str, str]:
        """(markdown title, the title a reader sees); unique after normalisation."""
        rng = self.rng
        while True:
            words = rng.sample(TITLE_WORDS, rng.randint(2, 5))
            if rng.random() < 0.35:
                words.insert(rng.randint(1, len(words) - 1), rng.choice(CONNECTORS))
            if escaped:
                at = rng.randint(1, len(words) - 1)
                shown = " ".join(words[:at]) + " & " + " ".join(words[at:])
                markdown = shown.replace("&", "\\&")
            else:
                shown = markdown = " ".join(words)
            key = " ".join(w.casefold() for w in words)
            if key not in self._titles:
                self._titles.add(key)
                return markdown, shown

    # -- rows ------------------------------------------------------------------------------

    def _links(self, aid: str, n: int, *, primary: bool = True) -> str:
        rng = self.rng
        links: list[str] = []
        if primary:
            if rng.random() < 0.05:
                links.append(f"[Project](https://example.org/project/{n})")
            else:
                links.append(f"[Paper](https://arxiv.org/abs/{aid})")
        if rng.random() < 0.3:
            links.append(f"[Code](https://example.org/code/{n})")
        if rng.random() < 0.1:
            links.append(f"[Blog](https://example.org/blog/{n})")
        links.append(f"[Tweet](https://example.org/status/{n})")
        style = rng.random()
        if style < 0.75:
            return ", ".join(links)
        if style < 0.9:
            return " ".join(links)  # no commas
        return " , ".join(links) + " " * rng.randint(2, 30)  # padded, space before comma

    def row(self, rank: int, day: date) -> tuple[str, str]:
        """(markdown row, the title a reader sees)."""
        rng = self.rng
        shape = ROW_SHAPES[bisect.bisect_right(_ROW_CUM, rng.random() * _ROW_CUM[-1])]
        aid = self.ids.arxiv(day)
        n = self.ids.serial()
        title, shown = self.title(escaped=shape == "escaped")
        summary = self.summary()
        if shape in ("bold", "escaped", "no_links_cell"):
            body = f"**{title}** - {summary}"
        elif shape == "bold_ddash":
            body = f"**{title}** -- {summary}"
        elif shape == "plain":
            body = f"{title} - {summary[0].lower()}{summary[1:]}"
        elif shape == "two_space":
            # Real rows of this shape run a shorter summary into two to four bullets.
            summary = summary[: max(200, len(summary) // 2)].rsplit(" ", 1)[0] + "."
            bullets = " ".join(f"<br>● {self.sentence(8, 18)}" for _ in range(rng.randint(2, 4)))
            body = f"{title}  {summary}  Key findings:  {bullets}"
        elif shape == "verb_led":
            body = f"{title} {rng.choice(_LEAD_VERBS)} {summary[0].lower()}{summary[1:]}"
        elif shape == "mistyped_bold":
            body = f"*8{title}** - {summary}"
        else:  # body_link: the paper's own link sits in the body; the links cell has the rest
            if rng.random() < 0.5:
                own = f"[Paper](https://arxiv.org/abs/{aid})"
            else:
                own = f"[Report](https://example.org/report/{n})"
            body = f"{title}  {summary}  {own}"
            return f"| {rank}) {body} | [Tweet](https://example.org/status/{n}) |", shown
        if shape == "no_links_cell":
            return f"| {rank}) {body}", shown
        return f"| {rank}) {body} | {self._links(aid, n)} |", shown

    # -- weeks -----------------------------------------------------------------------------

    def heading(self, start: date, end: date) -> str:
        rng = self.rng
        # A yearless heading is dated from its papers' arXiv-like ids, which can only name
        # 1991..2090; older weeks always carry their year.
        if 1991 <= end.year <= 2090 and rng.random() < 0.35:
            shape = rng.choice(HEADING_SHAPES_NO_YEAR)
        else:
            shape = rng.choice(HEADING_SHAPES_WITH_YEAR)
        fs, fe = _FULL[start.month - 1], _FULL[end.month - 1]
        a_s, a_e = _ABBR[start.month - 1], _ABBR[end.month - 1]
        if shape == "full":
            span = f"({fs} {start.day} - {fe} {end.day}) - {end.year}"
        elif shape == "abbr":
            span = f"({a_s} {start.day} - {a_e} {end.day}) - {end.year}"
        elif shape == "full_noyear":
            span = f"({fs} {start.day} - {fe} {end.day})"
        elif shape == "abbr_tight":
            span = f"({a_s} {start.day}-{a_e} {end.day})"
        elif shape == "month_once":
            span = (
                f"({a_s} {start.day}-{end.day})"
                if rng.random() < 0.5
                else (f"({a_s} {start.day} - {end.day})")
            )
        else:  # mixed: abbreviated start, full end
            span = f"({a_s} {start.day}-{fe} {end.day})"
        return f"## Top ML Papers of the Week {span}"

    def week(self, start: date) -> SynthWeek:
        end = start + timedelta(days=6)
        heading = self.heading(start, end)
        header = "| **Paper**  | **Links** |" + (" " if self.rng.random() < 0.3 else "")
        lines = [heading, header, "| ------------- | ------------- |"]
        rows = [self.row(rank, start) for rank in range(1, PAPERS_PER_WEEK + 1)]
        lines.extend(line for line, _ in rows)
        trailer = self.rng.random()
        if trailer < 0.3:
            lines += ["", "---", "[Subscribe to the newsletter](https://example.org/newsletter)"]
        elif trailer < 0.4:
            lines += ["", f"![Week image](pics/week-{start.isoformat()}.png)"]
        return SynthWeek(start, end, heading, tuple(lines), tuple(title for _, title in rows))

    def weeks(self, n: int, newest: date = NEWEST_MONDAY) -> Iterator[SynthWeek]:
        for i in range(n):
            yield self.week(newest - timedelta(weeks=i))


def _preamble(part: int, parts: int, weeks: Sequence[SynthWeek]) -> list[str]:
    lines = [
        f"# Synthetic ML Papers of the Week ({part} of {parts})",
        "",
        "Made-up papers for benchmarks: nothing below is real.",
        "",
        "[Subscribe to our newsletter](https://example.org/newsletter) to get the weekly list.",
        "",
        "Here is the weekly series:",
        "",
    ]
    lines.extend(f"- [{w.heading.lstrip('# ')}](./#week-{w.start.isoformat()})" for w in weeks[:5])
    lines.append("")
    return lines


def render_files(
    n_weeks: int, *, files: int = 1, seed: int = 0, newest: date = NEWEST_MONDAY
) -> list[tuple[str, str]]:
    """``(file name, markdown)`` for ``n_weeks`` weeks split into ``files`` files."""
    files = max(1, min(files, max(n_weeks, 1)))
    weeks = list(Generator(seed).weeks(n_weeks, newest))
    per, extra = divmod(len(weeks), files)
    out: list[tuple[str, str]] = []
    at = 0
    for part in range(files):
        chunk = weeks[at : at + per + (1 if part < extra else 0)]
        at += len(chunk)
        lines = _preamble(part + 1, files, chunk)
        for w in chunk:
            lines.extend(w.lines)
            lines.append("")
        out.append((f"synth-{part + 1:04d}.md", "\n".join(lines)))
    return out


QUERY_WORDS: tuple[str, ...] = tuple(w.lower() for w in TITLE_WORDS)


def parsed_weeks(n_weeks: int, *, seed: int = 0) -> list[Any]:
    """The synthetic weeks as the bot reads them: rendered and parsed by ``bot.papers.sources``."""
    from bot.papers.sources import parse_text

    weeks: list[Any] = []
    for name, text in render_files(n_weeks, files=1, seed=seed):
        weeks.extend(parse_text(text, name).weeks)
    return weeks


def write_files(out_dir: str | Path, n_weeks: int, *, files: int = 1, seed: int = 0) -> list[Path]:
    """Write the files into ``out_dir`` (created if needed); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, text in render_files(n_weeks, files=files, seed=seed):
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--weeks", type=int, default=130, help="number of weeks (10 papers each)")
    ap.add_argument("--out", required=True, help="directory to write the files into")
    ap.add_argument("--files", type=int, default=1, help="split the weeks over this many files")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.weeks < 1:
        ap.error("--weeks must be at least 1")
    paths = write_files(args.out, args.weeks, files=args.files, seed=args.seed)
    size = sum(p.stat().st_size for p in paths)
    print(
        f"wrote {args.weeks} weeks ({args.weeks * PAPERS_PER_WEEK} papers) in {len(paths)} "
        f"file(s), {size / 1e6:.1f} MB, to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
