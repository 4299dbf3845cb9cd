"""In-process metrics: counters, gauges and histograms, rendered in the Prometheus text format
(served at ``/metrics``). No dependency, no global registry: the app makes one ``Metrics`` and
hands it to whoever counts.

Names are short (``posts_sent``); the rendering adds the ``paperboy_`` prefix and, for
counters, the ``_total`` suffix.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

PREFIX = "paperboy_"
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

LabelKey = tuple[tuple[str, str], ...]


def _key(labels: dict[str, object]) -> LabelKey:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(key: LabelKey, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = [*key, *extra]
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class _Histogram:
    __slots__ = ("buckets", "count", "counts", "total")

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.count = 0
        self.total = 0.0

    def add(self, value: float) -> None:
        i = bisect_left(self.buckets, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.count += 1
        self.total += value


class Metrics:
    """Counters (``inc``), gauges (``set``) and histograms (``observe``), each keyed by name
    and labels."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self._buckets = tuple(sorted(buckets))
        self._counters: dict[str, dict[LabelKey, float]] = {}
        self._gauges: dict[str, dict[LabelKey, float]] = {}
        self._histograms: dict[str, dict[LabelKey, _Histogram]] = {}

    def inc(self, name: str, value: float = 1.0, **labels: object) -> None:
        series = self._counters.setdefault(name, {})
        key = _key(labels)
        series[key] = series.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: object) -> None:
        self._gauges.setdefault(name, {})[_key(labels)] = float(value)

    def observe(self, name: str, value: float, **labels: object) -> None:
        series = self._histograms.setdefault(name, {})
        key = _key(labels)
        hist = series.get(key)
        if hist is None:
            hist = series[key] = _Histogram(self._buckets)
        hist.add(float(value))

    def get(self, name: str, **labels: object) -> float:
        """A counter's or gauge's value (a histogram's count); 0 when never touched. With no
        labels given, the sum over every label set."""
        for table in (self._counters, self._gauges):
            if name in table:
                series = table[name]
                if labels:
                    return series.get(_key(labels), 0.0)
                return sum(series.values())
        if name in self._histograms:
            hs = self._histograms[name]
            if labels:
                h = hs.get(_key(labels))
                return float(h.count) if h else 0.0
            return float(sum(h.count for h in hs.values()))
        return 0.0

    def render_prometheus(self) -> str:
        lines: list[str] = []
        for name in sorted(self._counters):
            full = f"{PREFIX}{name}_total"
            self._header(lines, name, full, "counter")
            for key, value in sorted(self._counters[name].items()):
                lines.append(f"{full}{_labels(key)} {_num(value)}")
        for name in sorted(self._gauges):
            full = f"{PREFIX}{name}"
            self._header(lines, name, full, "gauge")
            for key, value in sorted(self._gauges[name].items()):
                lines.append(f"{full}{_labels(key)} {_num(value)}")
        for name in sorted(self._histograms):
            full = f"{PREFIX}{name}"
            self._header(lines, name, full, "histogram")
            for key, h in sorted(self._histograms[name].items()):
                cumulative = 0
                for bound, n in zip(h.buckets, h.counts, strict=True):
                    cumulative += n
                    lines.append(
                        f"{full}_bucket{_labels(key, (('le', _num(bound)),))} {cumulative}"
                    )
                lines.append(f"{full}_bucket{_labels(key, (('le', '+Inf'),))} {h.count}")
                lines.append(f"{full}_sum{_labels(key)} {_num(h.total)}")
                lines.append(f"{full}_count{_labels(key)} {h.count}")
        return "\n".join(lines) + "\n"

    def _header(self, lines: list[str], name: str, full: str, kind: str) -> None:
        lines.append(f"# TYPE {full} {kind}")


__all__ = ["Metrics"]
