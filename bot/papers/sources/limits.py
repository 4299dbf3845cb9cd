"""Limits on what a source may hold. Past a limit the reader says so in a diagnostic (and cuts
or skips what is past it) instead of accepting it silently. Config: ``sources.limits``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "MB", "SourceLimits"]

MB = 1_000_000


@dataclass(frozen=True, slots=True)
class SourceLimits:
    # A document (file or fetched body) larger than this is not read at all.
    max_document_bytes: int = 20 * MB
    # A longer paper title is cut at a word boundary; the rest goes to the summary.
    max_title_chars: int = 300
    # A table row with more links keeps the first ones.
    max_links_per_row: int = 50
    # A week with more rows than this, or with fewer than ``min_rows_per_week`` where the
    # file's weeks usually have more, may have lost its heading or part of its table.
    max_rows_per_week: int = 15
    min_rows_per_week: int = 5
    # An index document follows at most this many links to other files.
    max_index_files: int = 20

    @property
    def max_document_text(self) -> str:
        size = self.max_document_bytes
        return f"{size / MB:g} MB" if size >= MB else f"{size} bytes"


DEFAULT_LIMITS = SourceLimits()
