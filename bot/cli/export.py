"""``paperboy export``: one record per paper appearance, as JSON lines or CSV; or one BibTeX
entry per paper (``--format bibtex``). Authors come from the arXiv metadata the bot keeps in its
database (none when it has not read any yet)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import TextIO

from bot.cli.common import load, settings_of, stored_arxiv
from bot.cli.parser import EXIT_OK
from bot.core.errors import PaperboyError
from bot.papers.bibtex import bibtex
from bot.papers.export import EXPORT_FIELDS, export_records

# Bullets in one CSV cell (the parser splits bullets at •, so it is unambiguous).
BULLET_JOIN = " • "
AUTHOR_JOIN = "; "  # authors in one CSV cell


def _open_output(path: str | None) -> TextIO:
    """``path`` opened for writing (stdout when None); a PaperboyError saying why not."""
    if not path:
        return sys.stdout
    try:
        return open(path, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise PaperboyError(f"cannot write {path}: {exc.strerror or exc}") from None


def run_export(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    out = _open_output(args.output)  # before the work: a bad path fails at once
    archive = load(settings, args.source)
    for d in archive.diagnostics:
        print(d, file=sys.stderr)
    cat = archive.catalog
    arxiv = stored_arxiv(settings)
    weeks = [*cat.weeks(), *cat.collections()]
    rows = export_records(weeks, arxiv.get)
    try:
        if args.format == "bibtex":
            papers = [p for w in weeks for p in w.papers]
            out.write(bibtex(papers, arxiv.for_paper))
        elif args.format == "jsonl":
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            for row in rows:
                flat = dict(row)
                flat["links"] = " ".join(f"{x['label']}={x['url']}" for x in row["links"])
                flat["bullets"] = BULLET_JOIN.join(row["bullets"])
                flat["authors"] = AUTHOR_JOIN.join(row["authors"])
                writer.writerow(flat)
    finally:
        if out is not sys.stdout:
            out.close()
    return EXIT_OK
