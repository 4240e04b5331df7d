"""The package's shape, read from its source with `ast`: folders in data-flow order, each importing
only from folders before it (lazy imports inside functions included), no import cycle between
modules, and no module loose beside the folders.

The imports are read from the source rather than from `sys.modules`, so an import that only runs
on some path (a lazy import in a function, one behind TYPE_CHECKING) counts as much as one at the
top of a module: a cycle or a backwards import that bites only at run time is still found here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import jarvisctl

# Each folder imports only from folders before it. A new folder must be placed here.
ORDER = (
    "core",
    "config",
    "kinds",
    "plan",
    "connection",
    "store",
    "backup",
    "notify",
    "engine",
    "record",
    "render",
    "app",
    "daemon",
    "cli",
)
# What may sit beside the folders: the package's own marker (it holds __version__) and `-m`.
LOOSE_ALLOWED = frozenset({"__init__", "__main__"})

PACKAGE = Path(jarvisctl.__file__).parent


@dataclass(frozen=True)
class Import:
    """One import statement's edge: `source` (a module) imports `target` (a module)."""

    source: str
    target: str
    file: Path
    line: int

    def where(self) -> str:
        return f"{self.file}:{self.line}: {self.source} imports {self.target}"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module under `root` (the directory of `package`) by dotted name."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join((package, *parts))] = path
    return names


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute dotted name an ImportFrom's `module` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _targets(node: ast.AST, module: str, is_package: bool, known: Mapping[str, Path]) -> list[str]:
    """The modules one import statement imports (`from p import m` counts m when m is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = _resolve(node, module, is_package)
    found = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        found.append(sub if sub in known else base)
    return found


def imports(root: Path, package: str) -> Iterator[Import]:
    """Every import of a module of `package` by a module of `package`, wherever it stands."""
    known = module_names(root, package)
    for module, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            for target in _targets(node, module, is_package, known):
                if target == package or target.startswith(package + "."):
                    while target not in known:  # `import p.m.attr`-style names: the module
                        target = target.rpartition(".")[0]
                    if target != module:
                        where = path.relative_to(root.parent)
                        yield Import(module, target, where, getattr(node, "lineno", 0))


def folders(root: Path, package: str) -> dict[str, str | None]:
    """The top-level folder of each module (None: a module beside the folders, or the root)."""
    return {
        name: (path.relative_to(root).parts[0] if path.parent != root else None)
        for name, path in module_names(root, package).items()
    }


def backwards(
    found: list[Import], folder: Mapping[str, str | None], order: tuple[str, ...]
) -> list[str]:
    """Imports from a folder later in `order` than the importer's."""
    problems = []
    for edge in found:
        src, dst = folder[edge.source], folder[edge.target]
        if src is None or dst is None or src == dst:
            continue
        if src not in order or dst not in order:
            continue  # reported by unplaced()
        if order.index(dst) > order.index(src):
            problems.append(f"{edge.where()} ('{dst}' comes after '{src}')")
    return problems


def cycles(found: list[Import]) -> list[str]:
    """Each import cycle between modules, once, as the chain of edges that closes it."""
    graph: dict[str, dict[str, Import]] = {}
    for edge in found:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
    reported: set[frozenset[str]] = set()
    problems = []
    for start in sorted(graph):
        for chain in _chains_back(graph, start):
            members = frozenset(edge.source for edge in chain)
            if members not in reported:
                reported.add(members)
                problems.append("cycle:\n  " + "\n  ".join(edge.where() for edge in chain))
    return problems


def _chains_back(graph: Mapping[str, Mapping[str, Import]], start: str) -> Iterator[list[Import]]:
    """The shortest chain of imports from `start` back to itself, if any (breadth first)."""
    seen = {start}
    frontier: list[list[Import]] = [[edge] for edge in graph.get(start, {}).values()]
    while frontier:
        following = []
        for chain in frontier:
            head = chain[-1].target
            if head == start:
                yield chain
                return
            if head in seen:
                continue
            seen.add(head)
            following += [[*chain, edge] for edge in graph.get(head, {}).values()]
        frontier = following


def unplaced(root: Path, order: tuple[str, ...]) -> list[str]:
    """Modules loose beside the folders, and folders the order does not place."""
    problems = []
    for entry in sorted(root.iterdir()):
        shown = entry.relative_to(root.parent)
        if entry.is_file() and entry.suffix == ".py" and entry.stem not in LOOSE_ALLOWED:
            problems.append(f"{shown}: a module loose beside the folders (put it in one)")
        if entry.is_dir() and (entry / "__init__.py").exists() and entry.name not in order:
            problems.append(f"{shown}: a folder not placed in the order (add it to ORDER)")
    return problems


def problems(root: Path, package: str, order: tuple[str, ...] = ORDER) -> list[str]:
    found = list(imports(root, package))
    folder = folders(root, package)
    return [*unplaced(root, order), *backwards(found, folder, order), *cycles(found)]


def test_the_package_imports_only_forwards_without_cycles() -> None:
    found = problems(PACKAGE, "jarvisctl")
    assert not found, "\n".join(found)


# The checker itself, on a small tree, so that it cannot pass by finding nothing.


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for parent in path.relative_to(package).parents:
            (package / parent / "__init__.py").touch()
    return package


def test_the_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    package = write_tree(
        tmp_path,
        {
            "__init__.py": "__version__ = '1'\n",
            "core/a.py": "",
            "cli/b.py": "from pkg.core import a\n",
        },
    )
    assert problems(package, "pkg") == []


def test_the_checker_finds_a_cycle(tmp_path: Path) -> None:
    package = write_tree(
        tmp_path,
        {"core/a.py": "from pkg.core import b\n", "core/b.py": "\n\nimport pkg.core.a\n"},
    )
    found = problems(package, "pkg")
    assert len(found) == 1, found
    assert "pkg/core/a.py:1: pkg.core.a imports pkg.core.b" in found[0]
    assert "pkg/core/b.py:3: pkg.core.b imports pkg.core.a" in found[0]


def test_the_checker_finds_a_backwards_import(tmp_path: Path) -> None:
    package = write_tree(tmp_path, {"core/a.py": "from pkg.cli.b import main\n", "cli/b.py": ""})
    assert problems(package, "pkg") == [
        "pkg/core/a.py:1: pkg.core.a imports pkg.cli.b ('cli' comes after 'core')"
    ]


def test_the_checker_finds_a_lazy_relative_backwards_import(tmp_path: Path) -> None:
    lazy = "def f() -> None:\n    from ..cli import b\n"
    package = write_tree(tmp_path, {"core/a.py": lazy, "cli/b.py": ""})
    assert problems(package, "pkg") == [
        "pkg/core/a.py:2: pkg.core.a imports pkg.cli.b ('cli' comes after 'core')"
    ]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"loose.py": ""}, "a module loose beside the folders"),
        ({"web/a.py": ""}, "a folder not placed in the order"),
    ],
)
def test_the_checker_finds_what_is_not_placed(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    package = write_tree(tmp_path, files)
    found = problems(package, "pkg")
    assert len(found) == 1 and expected in found[0], found
