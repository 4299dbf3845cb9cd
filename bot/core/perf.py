"""Small performance helpers."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def pause_gc() -> Iterator[None]:
    """No cyclic garbage collection while building large acyclic structures (parsing a big
    archive, indexing it): the collector's full passes over hundreds of thousands of new objects
    are pure overhead there. Nested use is fine."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
