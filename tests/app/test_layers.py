"""The code flows one way: a lower layer never imports a higher one, and packages of the same
layer do not import each other. Every import counts, including those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

from support.paths import REPO

BOT = REPO / "bot"

# package -> layer; a module may import its own package and packages of lower layers only.
LAYERS: dict[str, int] = {
    "core": 0,
    "storage": 1,
    "papers": 1,
    "ops": 1,
    "config": 2,
    "delivery": 2,
    "chat": 3,
    "platforms": 4,
    "web": 4,
    "app": 5,
    "cli": 6,
    "__main__": 7,
    "__init__": 0,  # bot/__init__.py: the version only
}


def _package(module: str) -> str | None:
    """``bot.papers.catalog`` -> ``papers``; modules outside ``bot`` -> None."""
    parts = module.split(".")
    if parts[0] != "bot":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            # ``from bot import x`` imports the package ``bot.x``.
            if node.module == "bot":
                out += [(node.lineno, f"bot.{a.name}") for a in node.names if a.name.isidentifier()]
    return out


def violations(root: Path = REPO) -> list[str]:
    found = []
    for path in sorted((root / "bot").rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        own = _package(".".join(rel.parts))
        assert own in LAYERS, f"{rel}: package {own!r} has no layer; add it to LAYERS"
        for line, module in _imports(path):
            other = _package(module)
            if other is None or other == own or other.startswith("__"):
                continue
            if other not in LAYERS:
                found.append(f"{rel}:{line} imports {module} (package with no layer)")
            elif LAYERS[other] >= LAYERS[own]:
                found.append(
                    f"{rel}:{line} ({own}, layer {LAYERS[own]}) imports {module} "
                    f"({other}, layer {LAYERS[other]})"
                )
    return found


def test_no_module_imports_a_higher_or_sibling_layer() -> None:
    assert violations() == []


def test_the_check_reports_a_lower_layer_importing_a_higher_one(tmp_path: Path) -> None:
    (tmp_path / "bot" / "storage").mkdir(parents=True)
    (tmp_path / "bot" / "chat").mkdir()
    (tmp_path / "bot" / "storage" / "x.py").write_text(
        "import bot.core.text\n\ndef f():\n    from bot.chat.votes import VoteService\n",
        encoding="utf-8",
    )
    (tmp_path / "bot" / "chat" / "y.py").write_text("from bot import storage\n", encoding="utf-8")
    assert violations(tmp_path) == [
        "bot/storage/x:4 (storage, layer 1) imports bot.chat.votes (chat, layer 3)"
    ]


def test_every_package_says_what_it_owns() -> None:
    for init in sorted(BOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(REPO)} needs a docstring"
