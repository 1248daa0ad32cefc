"""The package's shape: folders by role, imports pointing down a fixed order of rooms, never in a circle.

A room is a top-level module (``lpips_edu/io.py``) or a subpackage
(``lpips_edu/models/``). Every import statement of every module is read,
function-level imports included (they are how a circle hides), and resolved
to the module it names. An entry point (``lpips_edu/__init__.py``, any
``__main__.py``) may import anything; nothing imports an entry point.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest
from repo_layout import REPO

PACKAGE = REPO / "lpips_edu"

# Lowest first. A module may import its own room and the rooms of lower layers only.
LAYERS: list[tuple[str, ...]] = [
    ("io", "paths", "hardware", "progress", "input_checks", "profiles"),  # foundations: no lpips_edu imports
    ("distributed",),  # torchrun processes, devices, groups
    ("models",),  # architectures, registry, weights, taps, backbone resolution
    ("data",),  # photos, datasets, distortions, image files
    ("lpips",),  # the metric
    ("train", "calibrate"),  # the Trainer; calibrating the metric
    ("observers",),  # the reader as observer
    ("analysis",),  # the comparison
    ("grading",),  # the assignments' checks
    ("booktools",),  # build-time tools
    ("chapters",),  # helpers only notebooks call
    ("cli",),  # python -m lpips_edu COMMAND
]
LAYER_OF = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}
MAX_TOP_LEVEL_MODULES = 12


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_entry_point(path: Path) -> bool:
    return path.name == "__main__.py" or path == PACKAGE / "__init__.py"


def imported_modules(path: Path) -> set[str]:
    """Every lpips_edu module that ``path`` imports, anywhere in the file, resolved to a module name."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "lpips_edu"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "lpips_edu":
                continue
            for alias in node.names:  # "from . import models" imports the module lpips_edu.models
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return found - {name}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


PATHS = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}
MODULES = set(PATHS)
GRAPH = {name: imported_modules(path) for name, path in PATHS.items()}


def test_every_room_has_a_layer():
    rooms = {room(m) for m in MODULES if not is_entry_point(PATHS[m])} - {"__init__"}
    assert rooms <= set(LAYER_OF), f"rooms without a layer in LAYERS: {sorted(rooms - set(LAYER_OF))}"


def test_imports_point_down_or_stay_in_their_room():
    upward = []
    for name, targets in GRAPH.items():
        if is_entry_point(PATHS[name]):
            continue
        for target in targets:
            if room(target) == room(name):
                continue
            if target == "lpips_edu" or LAYER_OF[room(target)] >= LAYER_OF[room(name)]:
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that do not point down the layers:\n" + "\n".join(sorted(upward))


def test_nothing_imports_an_entry_point():
    into = [f"{name} -> {target}" for name, targets in GRAPH.items() for target in targets
            if is_entry_point(PATHS[target]) and target != "lpips_edu"]
    assert not into, into


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the circles of the graph (components of more than one module, or a self-loop)."""
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_no_import_circle():
    # The package __init__ runs before any of its modules; an import of it is not an edge of the source.
    graph = {name: {t for t in targets if t != "lpips_edu"} for name, targets in GRAPH.items()}
    assert strongly_connected(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"a"}}) == [["a"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_at_most_twelve_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_two_modules_share_a_file_name():
    names = Counter(p.name for p in PATHS.values() if p.name not in ("__init__.py", "__main__.py"))
    assert [n for n, count in names.items() if count > 1] == []


@pytest.mark.parametrize("public", ["lpips_edu.LPIPS", "lpips_edu.resolve_backbone", "lpips_edu.models.build",
                                    "lpips_edu.lpips.LPIPS", "lpips_edu.calibrate.train_heads"])
def test_the_public_names_stay_where_they_are(public):
    import importlib

    module, name = public.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))
