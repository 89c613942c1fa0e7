"""The code's structure, checked: no import cycles, imports flow one way, modules stay small.

The import graph is built from the source with `ast`, counting imports inside functions
too (a lazy import still ties two modules together).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("hardware", "workloads", "sim")
MAX_LINES = 600

# lowest first; a module may import from its own layer or a lower one
LAYERS: tuple[tuple[str, ...], ...] = (
    ("hardware", "workloads"),
    ("sim.dataflow", "sim.traffic", "sim.fuse", "sim.lower", "sim.losses", "sim.result"),
    ("sim.runtimes",),
    ("sim.engine", "sim.account", "sim.options"),
    ("sim.pipeline", "sim.assemble", "sim.sustain", "sim.simulate"),
    ("sim.studies", "sim.render", "sim.system"),
    ("sim.cli",),
)
# renderers draw finished results: they never reach the engine or a simulation
RENDER_MAY_IMPORT = (
    "hardware",
    "sim.result",
    "sim.losses",
    "sim.render",
    "sim.studies.results",
    "sim.system.results",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports (a package's __init__ counts as the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, name, known) for name, path in known.items()}


def layer(name: str) -> int:
    if name == "sim":  # the public API (simulate, Result): what studies and the CLI call
        return layer("sim.studies")
    for rank, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    return len(LAYERS)  # a module no layer names: nothing may import it


def test_there_is_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_imports_flow_one_way():
    wrong = [
        f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
        for source, targets in graph().items()
        for target in targets
        if layer(target) > layer(source)
    ]
    assert not wrong, "\n".join(wrong)


def test_renderers_never_import_the_engine():
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        if source.startswith("sim.render")
        for target in targets
        if not any(target == p or target.startswith(p + ".") for p in RENDER_MAY_IMPORT)
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_is_too_long():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
