"""The direction of imports between qbridge's packages (docs/architecture.md), read from the source.

A package imports from the packages below it at the top of its modules. Two things are refused:
a circle of packages through those module-level imports, and a function-level import that would
close such a circle if it were written at the top (an import hidden in a function to dodge one).
Function-level imports of heavy or optional modules that close no circle (torch, an SDK, the
transformers glue) stay allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "qbridge"


def _package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "qbridge"


def _imports() -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, list[str]]]]:
    """(module-level, function-level) edges: package -> package -> ["module -> module", ...]."""
    top: dict[str, dict[str, list[str]]] = {}
    inner: dict[str, dict[str, list[str]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        is_pkg = rel.name == "__init__"
        module = ".".join(rel.parts[:-1] if is_pkg else rel.parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        toplevel = set()
        for node in tree.body:  # module level, including under `if TYPE_CHECKING:` / try
            for sub in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    toplevel.add(id(sub))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    targets = [node.module or ""]
                else:
                    base = module.split(".") if is_pkg else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    targets = [".".join(base + ([node.module] if node.module else []))]
            else:
                continue
            for target in targets:
                if not target.startswith("qbridge."):
                    continue
                a, b = _package_of(module), _package_of(target)
                if a != b:
                    edges = top if id(node) in toplevel else inner
                    edges.setdefault(a, {}).setdefault(b, []).append(f"{module} -> {target}")
    return top, inner


def _path(graph: dict[str, dict[str, list[str]]], start: str, goal: str) -> list[str] | None:
    seen, stack = {start}, [[start]]
    while stack:
        route = stack.pop()
        if route[-1] == goal:
            return route
        for nxt in graph.get(route[-1], {}):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(route + [nxt])
    return None


def _closing(edges: dict[str, dict[str, list[str]]], top: dict[str, dict[str, list[str]]]) -> list[str]:
    """Each edge of ``edges`` that a module-level path of ``top`` leads back from, with that path."""
    found = []
    for a, targets in edges.items():
        for b, where in targets.items():
            back = _path(top, b, a)
            if back:
                found.append(f"{where[0]} (and back: {' -> '.join(back)})")
    return found


def test_no_circle_of_packages_at_module_level():
    top, _ = _imports()
    circles = _closing(top, top)
    assert not circles, "package import circles:\n  " + "\n  ".join(circles)


def test_no_function_level_import_dodges_a_circle():
    top, inner = _imports()
    dodges = _closing(inner, top)
    assert not dodges, "function-level imports that would close a package circle:\n  " + "\n  ".join(dodges)


def test_the_run_path_goes_down_from_the_backend_class():
    top, _ = _imports()
    assert "execution" in top["backends"], "Backend.run calls the execution layer, imported at the top"
    for low in ("runtime", "mitigation", "execution"):
        assert not {"backends", "primitives", "nn"} & set(top.get(low, {})), (
            f"qbridge.{low} imports a layer above it: {top[low]}")
