"""The package's shape, checked from the code's own imports (lazy ones inside functions included):
packages are layered, imports only point down, and no module imports itself back in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "finebench"
LAYERS = (
    "util", "embeddings", "scoring", "tasks", "models", "adapters", "evaluation", "data", "training",
    "analysis", "interop", "leaderboard", "cli",
)
"""Bottom to top: a package may import itself and the packages before it, never one after it."""
MAX_LINES = 420


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [f"{module}.{a.name}" for a in node.names]
            found.update(name if name in MODULES else module for name in names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("finebench.") or m == "finebench"}


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_package_is_in_a_layer_and_documented():
    top = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert top == set(LAYERS), "a new package needs a place in LAYERS (and the architecture doc)"
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert loose == [], f"modules loose at the top of finebench/: {loose}"
    for name in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and "import" in doc, f"finebench/{name}/__init__.py must say what it owns and may import"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) is not None))
def test_imports_point_down(module):
    here = _layer(module)
    upward = sorted(d for d in GRAPH[module] if (_layer(d) or -1) > here)
    assert upward == [], f"{module} (layer {LAYERS[here]}) imports from above: {upward}"


def test_no_import_circles():
    def module_of(name: str) -> str | None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        return name or None

    edges = {m: {t for d in deps if (t := module_of(d)) and t != m} for m, deps in GRAPH.items()}
    # a package's __init__ is imported by its submodules implicitly; only explicit edges count
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


def test_no_module_is_two_concepts():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines (split by concept): {long}"


def test_old_module_paths_fail_with_the_new_home():
    import importlib

    with pytest.raises(ModuleNotFoundError, match=r"finebench\.runner moved .* finebench\.evaluation\.evaluator"):
        importlib.import_module("finebench.runner")
    with pytest.raises(ModuleNotFoundError, match=r"finebench\.items moved .* finebench\.tasks\.items"):
        importlib.import_module("finebench.items")
    with pytest.raises(ModuleNotFoundError, match="No module named 'finebench.nonexistent'"):
        importlib.import_module("finebench.nonexistent")  # unrelated names keep the usual error
