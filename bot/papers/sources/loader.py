"""The entry point for local sources: one text, or files and directories of markdown.

``parse_text`` picks the parser: a curated weekly table (``bot.papers.sources.weekly``) when
``looks_like_weekly`` says so, else a link collection (``bot.papers.sources.collections``).
``load_paths`` reads files and directories (``*.md`` directly inside, sorted by name) and reports
every problem as a diagnostic, so one bad file never hides the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bot.core.errors import PaperboyError, SourceError
from bot.core.perf import pause_gc
from bot.papers.model import Diagnostic, ParseResult
from bot.papers.sources.collections import parse_collection
from bot.papers.sources.limits import DEFAULT_LIMITS, SourceLimits
from bot.papers.sources.parsecache import ParseCache
from bot.papers.sources.weekly import looks_like_weekly, normalize_newlines, parse_weekly

__all__ = ["decode_text", "load_paths", "parse_text", "too_large"]


def parse_text(
    text: str,
    source: str,
    *,
    default_date: date | None = None,
    default_year: int | None = None,
    limits: SourceLimits = DEFAULT_LIMITS,
) -> ParseResult:
    """Parse one markdown text: a weekly table if it looks like one, else a link collection.

    ``default_year`` (for weekly headings without a year) falls back to ``default_date.year``;
    ``default_date`` dates a link collection that has no date of its own."""
    text = normalize_newlines(text)
    if looks_like_weekly(text):
        if default_year is None and default_date is not None:
            default_year = default_date.year
        return parse_weekly(text, source, default_year=default_year, limits=limits)
    return parse_collection(text, source, default_date=default_date)


def decode_text(data: bytes, source: str) -> tuple[str, list[Diagnostic]]:
    """UTF-8 (a BOM is dropped); undecodable bytes become U+FFFD and one warning says where."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        warning = Diagnostic(
            "warning",
            source,
            line,
            "not valid UTF-8; undecodable bytes were replaced with U+FFFD",
        )
        return data.decode("utf-8-sig", errors="replace"), [warning]


def _expand(path: Path, result: ParseResult) -> list[Path]:
    """The markdown files a path stands for; problems go to ``result``."""
    source = str(path)
    try:
        if path.is_dir():
            # A folder's README describes the folder; it is not a source.
            files = sorted(
                (
                    p
                    for p in path.iterdir()
                    if p.suffix.lower() == ".md" and p.is_file() and p.stem.lower() != "readme"
                ),
                key=lambda p: p.name,
            )
            if not files:
                result.diagnostics.append(
                    Diagnostic("warning", source, None, "directory has no *.md files")
                )
            return files
        if path.exists():
            return [path]
    except OSError as exc:
        result.diagnostics.append(_cannot_read(source, exc))
        return []
    result.diagnostics.append(Diagnostic("error", source, None, "no such file or directory"))
    return []


def _read(file: Path, limits: SourceLimits) -> bytes | None:
    """The file's bytes, or None if it is larger than the limit (then it is not read)."""
    if file.stat().st_size > limits.max_document_bytes:
        return None
    return file.read_bytes()


def too_large(source: str, limits: SourceLimits) -> Diagnostic:
    return Diagnostic(
        "error",
        source,
        None,
        f"larger than the limit of {limits.max_document_text} "
        "(sources.limits.max_document_mb); not read",
    )


def _cannot_read(source: str, exc: OSError) -> Diagnostic:
    why = exc.strerror or str(exc) or type(exc).__name__
    return Diagnostic("error", source, None, f"cannot read: {why}")


def load_paths(
    paths: Sequence[str | Path],
    *,
    default_date: date | None = None,
    default_year: int | None = None,
    limits: SourceLimits = DEFAULT_LIMITS,
    cache: ParseCache | None = None,
) -> ParseResult:
    """Parse every file (and every ``*.md`` directly inside every directory) in ``paths``.

    Missing or unreadable paths and sources that fail to parse become error diagnostics naming
    them; the other files still load, and so does a file larger than
    ``limits.max_document_bytes``. Weeks come in path order, then file-name order. With a
    ``cache``, a file whose text was parsed before is not parsed again."""
    result = ParseResult()
    with pause_gc():
        _load_into(result, paths, default_date, default_year, limits, cache)
    return result


def _load_into(
    result: ParseResult,
    paths: Sequence[str | Path],
    default_date: date | None,
    default_year: int | None,
    limits: SourceLimits,
    cache: ParseCache | None = None,
) -> None:
    settings = f"{default_date}|{default_year}|{limits!r}"
    for given in paths:
        for file in _expand(Path(given), result):
            source = str(file)
            try:
                data = _read(file, limits)
            except OSError as exc:
                result.diagnostics.append(_cannot_read(source, exc))
                continue
            if data is None:
                result.diagnostics.append(too_large(source, limits))
                continue
            text, problems = decode_text(data, source)
            result.diagnostics.extend(problems)

            def parse(text: str = text, source: str = source) -> ParseResult:
                return parse_text(
                    text,
                    source,
                    default_date=default_date,
                    default_year=default_year,
                    limits=limits,
                )

            try:
                parsed = parse() if cache is None else cache.parse(text, source, settings, parse)
            except SourceError as exc:
                result.diagnostics.append(
                    Diagnostic("error", exc.source or source, exc.line, exc.message)
                )
                continue
            except PaperboyError as exc:
                result.diagnostics.append(Diagnostic("error", source, None, str(exc)))
                continue
            result.extend(parsed)
