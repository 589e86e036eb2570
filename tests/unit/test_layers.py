"""The one-way import rules of STYLE.md section 1, checked on the source of every module."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "phala_agents"

# layer -> the layers it may import (errors and _logging are allowed everywhere).
ALLOWED: dict[str, set[str]] = {
    "scale": set(),
    "attestation": set(),
    "chain": {"scale", "attestation"},
    "node": {"chain", "scale"},
    "client": {"scale"},
    "worker": {"client", "attestation", "scale"},
    "cli": {"scale", "attestation", "chain", "node", "client", "worker"},
}
EVERYWHERE = {"errors", "_logging", "__init__", "__version__"}


def _imported_layers(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "phala_agents":
                names = [f"phala_agents.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "phala_agents" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def test_every_layer_is_known() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), f"new package(s) without a layer rule: {packages - set(ALLOWED)}"


def test_imports_follow_the_layers() -> None:
    violations = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((SRC / layer).rglob("*.py")):
            for target, line in _imported_layers(path):
                if target == layer or target in EVERYWHERE or target in allowed:
                    continue
                violations.append(f"{path.relative_to(SRC)}:{line} imports phala_agents.{target}")
    assert not violations, "layer rule broken:\n" + "\n".join(violations)


def test_leaf_modules_import_nothing_of_ours() -> None:
    for leaf in ("errors.py", "_logging.py"):
        imported = {target for target, _ in _imported_layers(SRC / leaf)}
        assert not imported, f"{leaf} must be a leaf, imports {imported}"
