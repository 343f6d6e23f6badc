"""The package layering (tasks.LAYERS, stated in the docs' code map, docs/internals/code-map.md)
holds without exceptions: no module imports from a package above its own, and no import cycle
exists between modules or between packages. Every import counts: module level, inside functions, under TYPE_CHECKING."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

from support import ROOT

import tasks

PACKAGE = ROOT / "tasks"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, source: str, known: Iterable[str], is_package: bool = False) -> set[str]:
    """The project's modules that module `name` imports anywhere in its `source`; a name
    imported from a package counts as its submodule when there is one."""
    known = set(known)
    package = name if is_package else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import tasks.a.b` names tasks.a.b; an attribute its module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def package_of(module: str) -> str:
    """A module's package in the layering: tasks.<package>.… or the top-level module itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tasks"


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(imports: Mapping[str, set[str]], layers: tuple[str, ...]) -> list[str]:
    """Every upward import and every cycle (of modules, of packages), one line each."""
    rank = {"tasks": -1, **{name: i for i, name in enumerate(layers)}}
    out = [f"{m}: its package is not in tasks.LAYERS" for m in sorted(imports) if package_of(m) not in rank]
    for module, targets in sorted(imports.items()):
        for target in sorted(targets):
            low, high = package_of(module), package_of(target)
            if low in rank and high in rank and rank[high] > rank[low]:
                out.append(f"{module} imports {target}: {high} is above {low}")
    out += [f"module cycle: {' ↔ '.join(c)}" for c in cycles(imports)]
    packages: dict[str, set[str]] = {}
    for module, targets in imports.items():
        packages.setdefault(package_of(module), set()).update(package_of(t) for t in targets)
    for package, targets in packages.items():
        targets.discard(package)
    out += [f"package cycle: {' ↔ '.join(c)}" for c in cycles(packages)]
    return out


def project_imports() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(name, path.read_text(), found, path.name == "__init__.py") for name, path in found.items()}


def test_no_module_imports_from_above_and_no_cycles():
    problems = violations(project_imports(), tasks.LAYERS)
    assert not problems, "\n".join(problems)


def test_every_package_is_placed_and_the_docs_state_the_layering():
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} | {p.stem for p in PACKAGE.glob("[!_]*.py")}
    assert packages == set(tasks.LAYERS)
    assert len(set(tasks.LAYERS)) == len(tasks.LAYERS)
    stated = " → ".join(tasks.LAYERS)
    assert stated in (ROOT / "docs" / "internals" / "code-map.md").read_text() and stated in tasks.__doc__


def test_the_checker_finds_upward_imports_and_cycles():
    """The check can fail: an import from a higher package, a module cycle inside one package
    (through a function-level import) and a package cycle are each reported."""
    source = {
        "tasks.core.a": "from tasks.data import b\n",
        "tasks.data.b": "import tasks.core.c\n",
        "tasks.core.c": "def f():\n    from . import a\n",
        "tasks.model.d": "from tasks.model.e import x\n",
        "tasks.model.e": "def g():\n    from tasks.model import d\n",
    }
    imports = {name: imported(name, text, source) for name, text in source.items()}
    assert imports["tasks.core.c"] == {"tasks.core.a"} and imports["tasks.model.e"] == {"tasks.model.d"}
    problems = violations(imports, ("core", "data", "model"))
    assert "tasks.core.a imports tasks.data.b: data is above core" in problems
    assert "module cycle: tasks.core.a ↔ tasks.core.c ↔ tasks.data.b" in problems
    assert "module cycle: tasks.model.d ↔ tasks.model.e" in problems
    assert "package cycle: core ↔ data" in problems
    assert violations({"tasks.core.a": set(), "tasks.data.b": {"tasks.core.a"}}, ("core", "data")) == []
