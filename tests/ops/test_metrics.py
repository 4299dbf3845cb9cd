"""The metrics facade on prometheus_client: declared once with HELP, own registry per instance,
zero series on demand, and every name the code uses is declared."""

from __future__ import annotations

import ast
import platform

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.paths import REPO

from bot import __version__
from bot.ops.metrics import METRICS, Metrics


def families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_every_metric_has_help_and_type_from_the_start() -> None:
    text = Metrics().render_prometheus()
    for name, spec in METRICS.items():
        full = f"paperboy_{name}_total" if spec.kind == "counter" else f"paperboy_{name}"
        assert f"# HELP {full} {spec.help}" in text
        assert f"# TYPE {full} {spec.kind}" in text
    parsed = families(text)  # the exposition is valid Prometheus text
    assert "paperboy_build_info" in parsed


def test_build_info_names_the_version() -> None:
    m = Metrics()
    assert m.get("build_info", version=__version__, python=platform.python_version()) == 1
    assert (
        f'paperboy_build_info{{python="{platform.python_version()}",version="{__version__}"}} 1.0'
        in (m.render_prometheus())
    )


def test_counters_gauges_histograms_and_label_escaping() -> None:
    m = Metrics()
    m.set("catalog_papers", 42)
    m.observe("command_seconds", 0.003, command="search")
    m.observe("command_seconds", 7, command="search")
    m.inc("votes", platform='a "b"\nc', action="add")
    m.inc("votes", platform="slack", action="add")
    m.inc("votes", platform="slack", action="remove")
    text = m.render_prometheus()
    assert "paperboy_catalog_papers 42.0" in text
    assert 'paperboy_command_seconds_bucket{command="search",le="0.005"} 1.0' in text
    assert 'paperboy_command_seconds_bucket{command="search",le="+Inf"} 2.0' in text
    assert 'paperboy_command_seconds_count{command="search"} 2.0' in text
    assert 'platform="a \\"b\\"\\nc"' in text
    assert m.get("command_seconds") == 2
    assert m.get("votes") == 3
    assert m.get("votes", platform="slack") == 2
    assert m.get("votes", platform="slack", action="remove") == 1
    assert m.get("nothing") == 0


def test_preset_series_are_scraped_at_zero() -> None:
    m = Metrics()
    assert "paperboy_votes_total{" not in m.render_prometheus()
    m.preset("votes", platform=["slack", "discord"], action=["add", "remove"])
    m.preset("command_seconds", command=["search", "top"])
    text = m.render_prometheus()
    for p in ("slack", "discord"):
        for a in ("add", "remove"):
            assert f'paperboy_votes_total{{action="{a}",platform="{p}"}} 0.0' in text
    assert 'paperboy_command_seconds_count{command="top"} 0.0' in text
    with pytest.raises(ValueError):
        m.preset("votes", platform=["slack"])


def test_each_instance_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.inc("posts_sent", platform="slack")
    assert a.get("posts_sent") == 1 and b.get("posts_sent") == 0


def test_undeclared_or_mistyped_names_are_refused() -> None:
    m = Metrics()
    with pytest.raises(KeyError, match="not declared"):
        m.inc("made_up")
    with pytest.raises(TypeError):
        m.inc("catalog_papers")


def _used_names() -> set[tuple[str, str]]:
    """(method, name) of every ``<...metrics>.inc/set/observe/preset("name", ...)`` in bot/."""
    found: set[tuple[str, str]] = set()
    for path in (REPO / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("inc", "set", "observe", "preset"):
                continue
            target = ast.unparse(node.func.value)
            if not target.endswith("metrics") or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add((node.func.attr, first.value))
    return found


def test_every_metric_the_code_uses_is_declared() -> None:
    used = _used_names()
    assert {"posts_sent", "votes", "command_seconds"} <= {name for _, name in used}
    kinds = {"inc": "counter", "set": "gauge", "observe": "histogram"}
    for method, name in sorted(used):
        assert name in METRICS, f"{method}({name!r}) is not declared in METRICS"
        if method in kinds:
            assert METRICS[name].kind == kinds[method], f"{name} is used with {method}"
