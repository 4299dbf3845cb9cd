"""Configuration YAML -> a tree of located nodes, with ``${ENV}`` references expanded.

Every node keeps its 1-based line so later checks can point at the mistake. Problems found while
reading (bad YAML, duplicate keys, unset variables) are collected in an :class:`ErrorLog` rather
than raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml

from bot.core.errors import ConfigError

__all__ = ["ErrorLog", "Node", "compose", "expand_env", "kind_of"]


MAX_DEPTH = 50  # nesting levels; a real config needs about five
MAX_VALUES = 100_000  # values after aliases are expanded; a real config has hundreds


class _Loader(yaml.SafeLoader):
    """A private SafeLoader subclass: we only compose nodes with it, never touch SafeLoader.
    It refuses nesting deeper than ``MAX_DEPTH`` (pyyaml composes recursively)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Bounds(Exception):
    """The document is too big once its aliases are expanded, or an alias contains itself."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


@dataclass(slots=True)
class _Walk:
    """One walk over the composed nodes: what it reads with, and what it has used so far
    (values made, collections being expanded)."""

    loader: _Loader
    env: Mapping[str, str]
    errs: ErrorLog
    left: int = MAX_VALUES
    open: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Node:
    value: Any  # dict[str, Node] for mappings, list[Node] for sequences, else a scalar
    line: int | None
    text: str | None = None  # a scalar's text (after ${ENV} expansion)
    key_lines: dict[str, int] = field(default_factory=dict)
    failed: bool = False  # already reported (an unset ${VAR}); read as absent
    expanded: bool = False  # the scalar came from ${ENV} expansion


_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


class ErrorLog:
    def __init__(self) -> None:
        self.items: list[ConfigError] = []
        self.broken: set[str] = set()  # platforms whose token reference already failed

    def add(self, path: str, message: str, line: int | None) -> None:
        self.items.append(ConfigError(path, message, line))


def expand_env(text: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``$$``; returns (text, error message)."""
    problems: list[str] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name is None:
            problems.append("malformed ${...} reference; write ${NAME} or ${NAME:-default}")
            return ""
        value = env.get(name)
        if m.group(2) is not None:  # ${VAR:-default}: default when unset or empty
            return value if value else m.group(2)
        if value is None:
            problems.append(
                f"environment variable {name} is not set "
                f"(set it, or give a default with ${{{name}:-default}})"
            )
            return ""
        return value

    out = _ENV_REF.sub(sub, text)
    return out, (problems[0] if problems else None)


def _to_tree(node: yaml.Node, path: str, walk: _Walk) -> Node:
    line = node.start_mark.line + 1
    walk.left -= 1
    if walk.left < 0:
        raise _Bounds(
            f"more than {MAX_VALUES:,} values once aliases are expanded "
            "(aliases of aliases multiply); write the values out instead",
            None,
        )
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in walk.open:
            raise _Bounds(f"{path or 'the document'} contains itself through an alias", line)
        walk.open.add(id(node))
        try:
            return _collection(node, path, walk)
        finally:
            walk.open.discard(id(node))
    return _scalar(node, path, walk)


def _collection(node: yaml.MappingNode | yaml.SequenceNode, path: str, walk: _Walk) -> Node:
    loader, errs = walk.loader, walk.errs
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys on the node, not globally
        out = Node({}, line)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                errs.add(path, f"keys must be strings, got {kind_of(key)} {key!r}", key_line)
                continue
            sub_path = f"{path}.{key}" if path else key
            if key in out.value:
                first = out.key_lines[key]
                errs.add(sub_path, f"duplicate key (first given on line {first})", key_line)
                continue
            out.value[key] = _to_tree(value_node, sub_path, walk)
            out.key_lines[key] = key_line
        return out
    items = [_to_tree(item, f"{path}[{i}]", walk) for i, item in enumerate(node.value)]
    return Node(items, line)


def _scalar(node: yaml.Node, path: str, walk: _Walk) -> Node:
    loader, env, errs = walk.loader, walk.env, walk.errs
    line = node.start_mark.line + 1
    assert isinstance(node, yaml.ScalarNode)
    raw: str = node.value
    from_env = node.tag == "tag:yaml.org,2002:str" and "$" in raw
    if from_env:
        expanded, problem = expand_env(raw, env)
        if problem:
            errs.add(path, problem, line)
            return Node(None, line, "", failed=True)
        if node.style is None:  # a plain scalar takes the type its expanded text spells
            tag = loader.resolve(yaml.ScalarNode, expanded, (True, False))  # type: ignore[no-untyped-call]
            node = yaml.ScalarNode(tag, expanded, node.start_mark, node.end_mark)
        else:
            return Node(expanded, line, expanded, expanded=True)
        raw = expanded
    try:
        value = loader.construct_object(node)
    except (ValueError, OverflowError) as exc:  # e.g. the date 2023-13-01
        errs.add(path, f"{raw!r} cannot be read: {exc}", line)
        return Node(None, line, raw, failed=True)
    return Node(value, line, raw, expanded=from_env)


def compose(
    text: str, source: str, env: Mapping[str, str], errs: ErrorLog
) -> tuple[Node | None, bool]:
    """The located tree of ``text`` and whether it was valid YAML."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, True
        return _to_tree(root, "", _Walk(loader, env, errs)), True
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot be read"
        errs.add("", f"invalid YAML in {source}: {problem}", mark.line + 1 if mark else None)
    except yaml.YAMLError as exc:
        errs.add("", f"invalid YAML in {source}: {exc}", None)
    except _Bounds as exc:
        errs.add("", f"cannot read {source}: {exc.message}", exc.line)
    except RecursionError:  # not expected after the bounds above; still one clear line
        errs.add("", f"cannot read {source}: it is nested too deeply", None)
    finally:
        loader.dispose()
    return None, False


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime):
        return "a timestamp"
    if isinstance(value, date):
        return "a date"
    return type(value).__name__
