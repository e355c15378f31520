"""The import layers: nothing imports upward, and the package has no import cycle.

Layers, lowest first (``docs`` and ``deepprune.core``'s docstring say the same):

0. ``deepprune.core`` (the protocol and the plain-data modules: types, errors, answers, voting,
   ...) and ``deepprune.formats`` (trace files, datasets);
1. sources, strategies, judges (strategies may use judges; sources use neither);
2. ``deepprune.engine``: the runner and the drivers built on it (bench, simulate, demo, liverun,
   collect, probing, workers, the judge sweep);
3. ``deepprune.servers`` (replay server, local server, load generator) and ``deepprune.report``
   (tables, plots, the leaderboard);
4. the CLI and the package root.

The top level holds only these folders (and ``__init__``/``__main__``): a new module goes into the
folder of its layer.

Every ``import`` statement counts, also those inside functions (a lazy import is still a
dependency); only ``if TYPE_CHECKING:`` blocks are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "deepprune"

CORE = {"core", "formats"}
LOWER = {"sources": 1, "strategies": 1, "judges": 1}
ENGINE = {"engine"}
TOP = {"servers": 3, "report": 3, "cli": 4, "__main__": 4, "": 4}

KNOWN_EXCEPTIONS: set[str] = set()
"""Modules allowed to break the layer rule: none (the judge prefix sweep, a benchmark driver, moved
from ``judges/`` to ``engine/judge_sweep.py``)."""


def _module(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def _layer(module: str) -> int:
    top = module.split(".", 1)[0]
    if top in CORE:
        return 0
    if top in LOWER:
        return LOWER[top]
    if top in ENGINE:
        return 2
    return TOP.get(top, 4)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, *, top_level_only: bool = False) -> set[str]:
    out: set[str] = set()

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if top_level_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                if child.module == "deepprune" or child.module.startswith("deepprune."):
                    out.add(child.module.removeprefix("deepprune").lstrip("."))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("deepprune."):
                        out.add(alias.name.removeprefix("deepprune."))
            visit(child, depth + 1)

    visit(tree, 0)
    return out


def _graph(*, top_level_only: bool = False) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for f in sorted(SRC.rglob("*.py")):
        graph[_module(f)] = _imports(ast.parse(f.read_text(encoding="utf-8")), top_level_only=top_level_only)
    return graph


GRAPH = _graph()


def _violations(module: str, deps: set[str]) -> list[str]:
    bad = []
    mine = _layer(module)
    top = module.split(".", 1)[0]
    for dep in deps:
        dtop = dep.split(".", 1)[0]
        if dtop == top:
            continue
        if _layer(dep) > mine:
            bad.append(f"{module} imports {dep} (layer {_layer(dep)} > {mine})")
        elif mine == 1 and _layer(dep) == 1 and not (top == "strategies" and dtop == "judges"):
            bad.append(f"{module} imports {dep} (sources, strategies and judges are side by side; "
                       "only strategies may use judges)")
    return bad


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) < 2))
def test_lower_layers_never_import_upward(module: str) -> None:
    if module in KNOWN_EXCEPTIONS:
        pytest.skip("known exception (see KNOWN_EXCEPTIONS)")
    assert _violations(module, GRAPH[module]) == []


def test_every_layer_imports_only_below_itself() -> None:
    bad = [v for m, deps in GRAPH.items() if m not in KNOWN_EXCEPTIONS for v in _violations(m, deps)]
    assert bad == []


def test_the_rule_catches_an_upward_import() -> None:
    tree = ast.parse("def f():\n    from deepprune.strategies.registry import take\n")
    assert _violations("judges.example", _imports(tree)) != []
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from deepprune.engine.bench import BenchRow\n")
    assert _violations("core.example", _imports(tree)) == []


def _resolve(dep: str, graph: dict[str, set[str]]) -> str | None:
    """``judges.base`` -> the module; ``strategies`` -> the package's ``__init__``."""
    return dep if dep in graph else None


def test_no_import_cycle_among_module_level_imports() -> None:
    graph = _graph(top_level_only=True)
    edges = {m: {d for d in deps if _resolve(d, graph) and d != m} for m, deps in graph.items()}
    # a package's __init__ re-exporting its submodules is not a cycle of the submodules
    for m in edges:
        edges[m] = {d for d in edges[m] if not m.startswith(d + ".") and d != ""}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cycles.append([*stack[stack.index(d):], d])
            elif d not in state:
                dfs(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            dfs(m)
    assert cycles == []


def test_the_judges_cycle_is_gone_also_for_lazy_imports() -> None:
    learned, trained, crossval = GRAPH["judges.learned"], GRAPH["judges.trained"], GRAPH["judges.crossval"]
    assert "judges.trained" not in learned and "judges.crossval" not in learned
    assert "judges.crossval" not in trained
    assert {"judges.trained", "judges.learned"} <= crossval


def test_the_top_level_holds_only_the_layer_folders() -> None:
    """No flat modules beside the folders: every module lives in the folder of its layer."""
    loose = sorted(p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert loose == []
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= CORE | set(LOWER) | ENGINE | set(TOP), folders - (CORE | set(LOWER) | ENGINE | set(TOP))
    assert folders >= CORE | set(LOWER) | ENGINE | {"servers", "report", "cli"}
