"""The bot's Prometheus metrics (served at ``/metrics``), on ``prometheus_client``.

Every metric is declared once, in ``METRICS``: its kind, its HELP text and its label names. The
app makes one ``Metrics`` (with its own ``CollectorRegistry``, never the library's global one)
and hands it to whoever counts; they call ``inc``, ``set`` and ``observe`` with the short name
(``posts_sent``). The exposition adds the ``paperboy_`` prefix and, for counters, ``_total``.
A name that is not declared is a programming error (``KeyError``); ``tests/ops`` checks that
every name used in ``bot/`` is declared.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Literal

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot import __version__

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

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True, slots=True)
class Spec:
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


METRICS: dict[str, Spec] = {
    # delivery (bot.delivery)
    "deliveries": Spec(
        "counter",
        "Digest deliveries by outcome (sent, already_sent, nothing_new, paused, failed, ...).",
        ("status", "platform"),
    ),
    "posts_sent": Spec("counter", "Digests posted to a channel.", ("platform",)),
    "delivery_queue_depth": Spec(
        "gauge", "Deliveries due and waiting for a send slot (servers take turns)."
    ),
    "posts_failed": Spec("counter", "Digest deliveries that failed.", ("platform",)),
    "rate_limited": Spec(
        "counter", "Sends a platform answered with a rate limit (429).", ("platform", "is_global")
    ),
    "send_seconds": Spec("histogram", "Time to send one digest, in seconds.", ("platform",)),
    "last_successful_fire_timestamp_seconds": Spec(
        "gauge", "Unix time of the last scheduled fire whose deliveries all succeeded."
    ),
    "follow_alerts": Spec(
        "counter",
        "Follow alerts by outcome (sent, blocked: direct messages closed, failed, skipped: "
        "attempted before).",
        ("platform", "status"),
    ),
    # chat (bot.chat)
    "command_seconds": Spec(
        "histogram", "Time to answer one /papers command, in seconds, by subcommand.", ("command",)
    ),
    "votes": Spec("counter", "Votes added or removed by reactions.", ("platform", "action")),
    "votes_reconciled": Spec(
        "counter",
        "Votes added or removed when reactions were read back (start-up, reconnect).",
        ("platform", "action"),
    ),
    "seed_reactions": Spec(
        "counter",
        "Keycap reactions the bot added under its digests, by outcome (added, rate_limited, ...).",
        ("platform", "status"),
    ),
    # the app
    "build_info": Spec("gauge", "Always 1; the running version in labels.", ("version", "python")),
    "adapter_connected": Spec(
        "gauge", "1 while the platform adapter is connected and healthy, else 0.", ("platform",)
    ),
    "shards_connected": Spec(
        "gauge", "Gateway shards of this process that are ready now.", ("platform",)
    ),
    "shards_expected": Spec("gauge", "Gateway shards this process runs.", ("platform",)),
    "catalog_papers": Spec("gauge", "Papers in the searchable archive."),
    "arxiv_papers": Spec("gauge", "Papers whose arXiv metadata the bot holds."),
    "archive_ready": Spec("gauge", "1 once the archive has loaded (until then: loading), else 0."),
    "sources_parsed": Spec(
        "gauge", "Source texts parsed since start (not taken from the parse cache)."
    ),
    "sources_parse_reused": Spec(
        "gauge", "Source texts taken from the parse cache since start (unchanged content)."
    ),
    "catalog_indexed_papers": Spec(
        "gauge", "Papers indexed for search since start (not opened from a kept index)."
    ),
    "sources_last_refresh_timestamp_seconds": Spec(
        "gauge", "Unix time the sources were last read without a failure."
    ),
}

# The standard library's ``_created`` series (one per counter and histogram) only add noise here.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

_Metric = Counter | Gauge | Histogram


class Metrics:
    """Counters (``inc``), gauges (``set``) and histograms (``observe``) by short name and
    labels, in a registry of this instance's own."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, _Metric] = {}
        for name, spec in METRICS.items():
            full = PREFIX + name
            m: _Metric
            if spec.kind == "counter":
                m = Counter(full, spec.help, spec.labels, registry=self.registry)
            elif spec.kind == "gauge":
                m = Gauge(full, spec.help, spec.labels, registry=self.registry)
            else:
                m = Histogram(
                    full, spec.help, spec.labels, registry=self.registry, buckets=tuple(buckets)
                )
            self._metrics[name] = m
        self.set("build_info", 1, version=__version__, python=platform.python_version())

    def _child(self, name: str, kind: Kind, labels: dict[str, object]) -> _Metric:
        spec = METRICS.get(name)
        if spec is None:
            raise KeyError(f"metric {name!r} is not declared in bot.ops.metrics.METRICS")
        if spec.kind != kind:
            raise TypeError(f"metric {name!r} is a {spec.kind}, not a {kind}")
        metric = self._metrics[name]
        if not spec.labels:
            return metric
        return metric.labels(**{k: str(v) for k, v in labels.items()})

    def inc(self, name: str, value: float = 1.0, **labels: object) -> None:
        child = self._child(name, "counter", labels)
        assert isinstance(child, Counter)
        child.inc(value)

    def set(self, name: str, value: float, **labels: object) -> None:
        child = self._child(name, "gauge", labels)
        assert isinstance(child, Gauge)
        child.set(value)

    def observe(self, name: str, value: float, **labels: object) -> None:
        child = self._child(name, "histogram", labels)
        assert isinstance(child, Histogram)
        child.observe(value)

    def preset(self, name: str, **values: Iterable[str]) -> None:
        """Create the series for every combination of these label values now, at zero, so they
        are scraped before anything is counted (``preset("votes", platform=[...],
        action=["add", "remove"])``)."""
        spec = METRICS[name]
        if set(values) != set(spec.labels):
            raise ValueError(f"metric {name!r} has labels {spec.labels}, got {tuple(values)}")
        columns = [list(values[label]) for label in spec.labels]
        for combo in product(*columns):
            self._metrics[name].labels(*combo)

    def get(self, name: str, **labels: object) -> float:
        """A counter's or gauge's value (a histogram's count) for the series matching
        ``labels`` (summed over the rest); 0 when never touched."""
        spec = METRICS.get(name)
        if spec is None:
            return 0.0
        suffix = {"counter": "_total", "gauge": "", "histogram": "_count"}[spec.kind]
        wanted = {k: str(v) for k, v in labels.items()}
        total = 0.0
        for family in self._metrics[name].collect():
            for sample in family.samples:
                if sample.name != PREFIX + name + suffix:
                    continue
                if all(sample.labels.get(k) == v for k, v in wanted.items()):
                    total += sample.value
        return total

    def render_prometheus(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        return generate_latest(self.registry).decode("utf-8")


CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "METRICS", "Metrics", "Spec"]
