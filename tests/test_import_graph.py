"""No import cycle between modules, anywhere in the repository's packages.

A cycle makes the order of imports matter, and makes two modules one unit that can be neither
understood nor moved apart. An import that only type checkers see (under ``TYPE_CHECKING``), or
one made inside a function to get past the import-time failure, hides a cycle from Python but
not from a reader: both count here. grimp (import-linter's graph builder) reads the sources
without importing them; it is run in a subprocess with ``PYTHONPATH`` at the tree it reads, so
that the test that proves this check bites can read a copy of the packages with cycles added.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parent.parent
PACKAGES: Final = ("hub", "auth", "audit", "storage", "tests")

# Cycles known when this test was written, each owned by another change of issue 10 that breaks
# it. Empty this list as they land: the test fails on an entry that is no longer a cycle.

_GRAPH_SCRIPT: Final = """
import json, sys
import grimp
graph = grimp.build_graph(
    *sys.argv[1:],
    include_external_packages=False,
    exclude_type_checking_imports=False,
    cache_dir=None,
)
print(json.dumps({m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}))
"""


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, list[str]]:
    """Every module of ``packages`` under ``root``, with the modules of them it imports."""
    result = subprocess.run(
        [sys.executable, "-c", _GRAPH_SCRIPT, *packages],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    graph: dict[str, list[str]] = json.loads(result.stdout)
    return graph


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[set[str]]:
    """Tarjan's components with more than one module, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def _shortest_cycle_through(
    graph: Mapping[str, list[str]], start: str, within: set[str]
) -> list[str]:
    """The shortest path from ``start`` back to itself, inside one component."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in graph[node]:
            if child not in within:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a component but on no cycle")


def find_cycles(graph: Mapping[str, list[str]]) -> list[str]:
    """Each module on a cycle, with the shortest cycle through it, as ``a -> b -> a``.

    Written from the alphabetically first module of the cycle, so that the same cycle always
    reads the same; a module on several cycles shows one, and fixing it shows the next.
    """
    chains: set[str] = set()
    for component in _strongly_connected(graph):
        for module in sorted(component):
            cycle = _shortest_cycle_through(graph, module, component)[:-1]
            first = cycle.index(min(cycle))
            ordered = cycle[first:] + cycle[:first]
            chains.add(" -> ".join([*ordered, ordered[0]]))
    return sorted(chains)


def test_no_module_is_on_an_import_cycle() -> None:
    cycles = find_cycles(import_graph(ROOT, PACKAGES))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_a_cycle_hidden_under_type_checking_or_in_a_function_is_found(tmp_path: Path) -> None:
    for package in ("hub", "auth", "audit", "storage"):
        shutil.copytree(ROOT / package, tmp_path / package)
    (tmp_path / "audit" / "hidden_a.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import audit.hidden_b\n"
    )
    (tmp_path / "audit" / "hidden_b.py").write_text("import audit.hidden_a\n")
    (tmp_path / "storage" / "lazy_a.py").write_text(
        "def load() -> None:\n    import storage.lazy_b\n"
    )
    (tmp_path / "storage" / "lazy_b.py").write_text("from storage import lazy_a\n")
    (tmp_path / "auth" / "far_a.py").write_text("import auth.far_b\n")
    (tmp_path / "auth" / "far_b.py").write_text("import auth.far_c\n")
    (tmp_path / "auth" / "far_c.py").write_text("import auth.far_a\n")

    cycles = find_cycles(import_graph(tmp_path, ("hub", "auth", "audit", "storage")))

    assert "audit.hidden_a -> audit.hidden_b -> audit.hidden_a" in cycles
    assert "storage.lazy_a -> storage.lazy_b -> storage.lazy_a" in cycles
    assert "auth.far_a -> auth.far_b -> auth.far_c -> auth.far_a" in cycles
