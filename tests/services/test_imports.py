"""The packages under services/ import each other in one direction only: no cycles.

A cycle (say `platform` importing `faults` while `faults` imports `platform`) means
neither can be understood, tested or copied alone; this reads every import statement.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"


def _unit(module: str) -> str:
    """`services.platform.server` -> `platform`; top-level modules are their own unit."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def import_graph() -> dict[str, set[str]]:
    """Which unit of services/ (package or top-level module) imports which others."""
    graph: dict[str, set[str]] = {}
    for path in SERVICES.rglob("*.py"):
        relative = path.relative_to(SERVICES.parent).with_suffix("")
        if relative.parts[1] == "gen":
            continue  # generated code, imported as `shop`
        unit = relative.parts[1]
        edges = graph.setdefault(unit, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith("services.") and _unit(name) != unit:
                    edges.add(_unit(name))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(unit: str, path: list[str]) -> list[str] | None:
        if unit in path:
            return [*path[path.index(unit) :], unit]
        if unit in done:
            return None
        for target in sorted(graph.get(unit, ())):
            cycle = visit(target, [*path, unit])
            if cycle:
                return cycle
        done.add(unit)
        return None

    for unit in sorted(graph):
        cycle = visit(unit, [])
        if cycle:
            return cycle
    return None


def test_no_import_cycle_between_packages_of_services() -> None:
    graph = import_graph()
    assert {"platform", "faults", "order", "gateway"} <= set(graph)  # it really read them
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_faults_is_below_platform() -> None:
    graph = import_graph()
    assert "faults" in graph["platform"]
    assert "platform" not in graph["faults"]


def test_a_planted_cycle_is_found() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
