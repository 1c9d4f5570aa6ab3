"""The import graph points one way, read from the source with ``ast`` so it stays true.

From the bottom up:

- the floor (errors, the secret scrubber, value normalisers, the record model, the entity
  registry) imports nothing of the project but itself;
- ``connectors`` imports neither ``state``, ``config`` nor ``syncd``; ``state`` and ``config``
  import ``connectors`` only (not each other, not ``syncd``);
- ``syncd`` may import everything below it.

Imports inside functions and under ``TYPE_CHECKING`` count too: a cycle dodged that way is
still a cycle. Below ``syncd`` no module imports the project inside a function, and no cycle
joins modules of different packages.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("syncd", "connectors", "state", "config")
FLOOR = frozenset({"connectors", "connectors.errors", "connectors.scrub", "connectors.values", "connectors.model",
                   "connectors.entities"})
# What each top-level package may import of the project besides itself.
ALLOWED = {"connectors": set(), "state": {"connectors"}, "config": {"connectors"},
           "syncd": {"connectors", "state", "config"}}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    local: bool  # inside a function
    type_only: bool  # under ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}" + (" (inside a function)" if self.local else "")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _project_module(name: str) -> str | None:
    """The project module ``name`` (or a name inside it) is, if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, local: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            checking = type_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join(anchor + ([child.module] if child.module else []))
                names = [f"{base}.{alias.name}" for alias in child.names]
            for name in names:
                target = _project_module(name)
                if target is not None and target != module:
                    yield Import(module, target, child.lineno, local, type_only)
            yield from walk(child, inner, checking)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), False, False)


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_floor_imports_nothing_above_it() -> None:
    assert FLOOR <= set(MODULES)
    wrong = sorted({str(i) for i in IMPORTS if i.source in FLOOR and i.target not in FLOOR})
    assert not wrong, "\n".join(wrong)


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = sorted({str(i) for i in IMPORTS
                    if _top(i.target) != _top(i.source) and _top(i.target) not in ALLOWED[_top(i.source)]})
    assert not wrong, "\n".join(wrong)


def test_below_the_app_no_import_hides_inside_a_function() -> None:
    wrong = sorted({str(i) for i in IMPORTS if i.local and _top(i.source) != "syncd"})
    assert not wrong, "\n".join(wrong)


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _cycles(imports: list[Import]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in MODULES:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                    found.append(component)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    """No cycle at run time at all; one of type annotations only stays inside one package."""
    assert not [sorted(c) for c in _cycles([i for i in IMPORTS if not i.type_only])]
    wide = [sorted(c) for c in _cycles(IMPORTS) if len({_package_of(m) for m in c}) > 1]
    assert not wide, wide


def test_the_walk_sees_the_imports_it_checks() -> None:
    """The checks above prove something only if the walk finds imports of every kind."""
    assert any(i.source == "syncd.engine.runner" and i.target == "connectors.entities" for i in IMPORTS)
    assert any(i.local for i in IMPORTS), "function-local imports (the CLI's lazy ones) are seen"
    assert any(i.source == "state.store" and i.target == "state.lease" for i in IMPORTS)
    assert any(i.type_only for i in IMPORTS), "imports under TYPE_CHECKING are seen"
