"""The on-disk last good copy of a remote document: ``<cache_dir>/<sha1 of url>.md`` and a
``.json`` of validators (ETag, Last-Modified, when fetched, sha256 of the body) beside it, both
written atomically. The sha256 ties the metadata to the body it describes; it is also how a
running bot notices that another process (``paperboy sources accept``) replaced the copy."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CachedCopy", "cache_paths", "cached_sha256", "read_cache", "sha256", "write_cache"]


@dataclass(frozen=True, slots=True)
class CachedCopy:
    text: str
    etag: str | None
    last_modified: str | None
    fetched_at: str | None
    final_url: str | None = None  # where the body came from, when a redirect was followed


def cache_paths(cache_dir: str | Path, url: str) -> tuple[Path, Path]:
    """The cached body and its metadata file for ``url``."""
    stem = hashlib.sha1(url.encode("utf-8")).hexdigest()
    base = Path(cache_dir)
    return base / f"{stem}.md", base / f"{stem}.json"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_meta(meta_path: Path) -> dict[str, object] | None:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def cached_sha256(cache_dir: Path, url: str) -> str | None:
    """The sha256 the metadata file records (a cheap "has the copy changed?" check)."""
    meta = _read_meta(cache_paths(cache_dir, url)[1])
    value = meta.get("sha256") if meta is not None else None
    return value if isinstance(value, str) else None


def read_cache(cache_dir: Path, url: str) -> CachedCopy | None:
    body_path, meta_path = cache_paths(cache_dir, url)
    try:
        text = body_path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    meta = _read_meta(meta_path)
    if meta is None or meta.get("sha256") != sha256(text):
        # No or stale metadata: use the text, but never claim a validator we cannot vouch for.
        return CachedCopy(text, None, None, None)

    def opt(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) and value else None

    return CachedCopy(text, opt("etag"), opt("last_modified"), opt("fetched_at"), opt("final_url"))


def write_cache(cache_dir: Path, url: str, cached: CachedCopy) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    body_path, meta_path = cache_paths(cache_dir, url)
    meta = {
        "url": url,
        "etag": cached.etag,
        "last_modified": cached.last_modified,
        "fetched_at": cached.fetched_at,
        "final_url": cached.final_url,
        "sha256": sha256(cached.text),
    }
    # Body first: metadata naming a body that is not on disk would be worse than the reverse,
    # and the sha256 in the metadata catches the reverse.
    _write_atomic(body_path, cached.text.encode("utf-8"))
    _write_atomic(meta_path, json.dumps(meta, indent=2).encode("utf-8"))
