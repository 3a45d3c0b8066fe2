"""The layer rule, held by a test: the core imports no outer layer, and the Dagster layer runs no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "venue_pipeline"
OUTER = ("providers", "cdn", "store", "pipeline", "defs", "sandbox", "services", "evaluation", "cli", "demo", "export")


def _imports(path: Path) -> list[str]:
    """Every module a file imports, absolute names (relative imports resolved against the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
    return names


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        for name in _imports(path):
            if name.startswith(forbidden):
                out.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return sorted(set(out))


def test_the_core_imports_no_outer_layer() -> None:
    forbidden = tuple(f"venue_pipeline.{layer}" for layer in OUTER)
    assert _violations("core", forbidden) == []


def test_the_dagster_layer_runs_no_sql() -> None:
    assert _violations("defs", ("sqlalchemy",)) == []


def test_no_module_is_over_450_lines_outside_migrations() -> None:
    long = [
        f"{p.relative_to(PACKAGE.parent)}: {n} lines"
        for p in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    ]
    assert long == []
