"""Index sources: a document that is a list of links to other markdown files of the same
repository (a README pointing at ``years/2025.md``, ``years/2026.md``...). The files it links
to are the source, so a new year's file is picked up with no config change.

A document is an index when it has no weeks of its own and at least half of its links point at
``.md`` files. Only files in the same repository are followed (same host; on
raw.githubusercontent.com the same owner and repository, elsewhere the index's own folder or
below), anchors are ignored, each file once, in the order the index first lists them, at most
``limits.max_index_files`` of them. GitHub ``blob`` page URLs are read as raw files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from bot.papers.sources.markdown import LINK_RE

__all__ = ["IndexLinks", "index_links", "raw_url", "same_repository"]

_BLOB_RE = re.compile(
    r"^https?://(?:www\.)?github\.com/(?P<owner>[^/?#]+)/(?P<repo>[^/?#]+)/(?:blob|raw)/"
    r"(?P<rest>[^?#]+)",
    re.IGNORECASE,
)
_RAW_HOST = "raw.githubusercontent.com"


def raw_url(url: str) -> str:
    """``https://github.com/o/r/blob/main/x.md`` -> ``https://raw.githubusercontent.com/o/r/main/
    x.md`` (the page shows the file inside HTML; the raw URL serves the file); others as given."""
    m = _BLOB_RE.match(url)
    if m is None:
        return url
    return f"https://{_RAW_HOST}/{m['owner']}/{m['repo']}/{m['rest']}"


def _repository(url: str) -> tuple[str, str, str]:
    """(scheme, host, path prefix) that a file must share to be in the same repository."""
    parts = urlsplit(url)
    host = parts.netloc.lower()
    segments = parts.path.split("/")
    if host == _RAW_HOST and len(segments) > 3:
        prefix = "/".join(segments[:3]).casefold() + "/"  # /owner/repo/ (any branch)
    else:
        prefix = parts.path[: parts.path.rfind("/") + 1]
    return parts.scheme.lower(), host, prefix


def same_repository(index_url: str, url: str) -> bool:
    scheme, host, prefix = _repository(index_url)
    parts = urlsplit(url)
    path = parts.path.casefold() if host == _RAW_HOST else parts.path
    return (
        parts.scheme.lower() == scheme
        and parts.netloc.lower() == host
        and (path.startswith(prefix))
    )


@dataclass(slots=True)
class IndexLinks:
    """The files an index document links to."""

    files: list[str] = field(default_factory=list)  # to follow, in the index's order
    elsewhere: list[str] = field(default_factory=list)  # markdown files outside the repository
    beyond_limit: list[str] = field(default_factory=list)  # past limits.max_index_files


def index_links(text: str, base_url: str, max_files: int) -> IndexLinks | None:
    """The markdown files ``text`` (fetched from ``base_url``) links to, if it is an index."""
    total = 0
    targets: list[str] = []
    for m in LINK_RE.finditer(text):
        if m["bang"] or not m["url"]:
            continue
        total += 1
        url, _anchor = urldefrag(urljoin(base_url, m["url"]))
        url = raw_url(url)
        if urlsplit(url).path.lower().endswith(".md") and url != base_url:
            targets.append(url)
    if not targets or len(targets) * 2 < total:
        return None
    found = IndexLinks()
    seen: set[str] = set()
    for url in targets:
        if url in seen:
            continue
        seen.add(url)
        if not same_repository(base_url, url):
            found.elsewhere.append(url)
        elif len(found.files) < max_files:
            found.files.append(url)
        else:
            found.beyond_limit.append(url)
    return found if found.files else None
