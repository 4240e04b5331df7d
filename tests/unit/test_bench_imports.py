"""bench/ uses jarvisctl only through its public entry points (bench/README.md, "What bench may
use of jarvisctl"): the `jarvisctl` command and its documented outputs, and of the package
itself nothing but its name and `__version__`. An import of a module inside the package would
tie the benchmark to the layout of the version it measures (issue 16 moved every module), and
would measure that module rather than what a user runs.

Imports are found with `ast`: statements, `importlib.import_module`/`__import__` calls, and
Python source handed to a subprocess in a string constant (`python -c "..."`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
PACKAGE = "jarvisctl"
# What bench may take from the package: the package itself (its name, `__version__`).
ALLOWED_NAMES = frozenset({"__version__", "__file__"})


def _strings_with_code(tree: ast.AST) -> Iterator[tuple[int, ast.Module]]:
    """(line, parsed) for string constants that are Python source mentioning the package (for
    `python -c`)."""
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and PACKAGE in text and "import" in text:
            try:
                yield node.lineno, ast.parse(text)
            except SyntaxError:
                continue


def _dynamic_import(node: ast.Call) -> str | None:
    """The module named by `importlib.import_module("...")` or `__import__("...")`."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def _in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(f"{PACKAGE}.")


def forbidden_imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, what) for each use of the package beyond its public entry points."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _in_package(alias.name) and alias.name != PACKAGE:
                    yield node.lineno, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != PACKAGE and _in_package(node.module):
                yield node.lineno, f"from {node.module} import ..."
            elif node.module == PACKAGE:
                for alias in node.names:
                    if alias.name not in ALLOWED_NAMES:
                        yield node.lineno, f"from {PACKAGE} import {alias.name}"
        elif isinstance(node, ast.Call):
            module = _dynamic_import(node)
            if module and _in_package(module) and module != PACKAGE:
                yield node.lineno, f"dynamic import of {module}"
    for line, code in _strings_with_code(tree):
        for inner, what in forbidden_imports(code):
            yield line + inner - 1, f"{what} (in Python source in a string)"


def bench_files() -> list[Path]:
    """bench/'s own modules: not what bench/.gitignore keeps out (the peers' virtualenv
    bench/.venv-peers, scratch in bench/work) nor other hidden directories."""
    return sorted(
        path
        for path in BENCH.rglob("*.py")
        if path.relative_to(BENCH).parts[0] != "work"
        and not any(part.startswith(".") for part in path.relative_to(BENCH).parts)
    )


def test_bench_has_python_files() -> None:
    assert len(bench_files()) > 10  # the walk below is not vacuous


@pytest.mark.parametrize("path", bench_files(), ids=lambda p: str(p.relative_to(BENCH)))
def test_bench_imports_only_public_entry_points(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [
        f"bench/{path.relative_to(BENCH)}:{line}: {what}" for line, what in forbidden_imports(tree)
    ]
    assert not found, "bench/ reaches inside jarvisctl:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from jarvisctl.engine.script import compose_script",
        "import jarvisctl.connection.shell",
        "from jarvisctl import engine",
        "importlib.import_module('jarvisctl.connection.base')",
        'CODE = """\nfrom jarvisctl.connection.base import KILL_AFTER\nprint(KILL_AFTER)\n"""',
    ],
)
def test_each_kind_of_inner_import_is_found(source: str) -> None:
    assert list(forbidden_imports(ast.parse(source)))


@pytest.mark.parametrize(
    "source",
    [
        "import jarvisctl",
        "from jarvisctl import __version__",
        'CODE = "import jarvisctl; print(jarvisctl.__file__)"',
        "import json\nfrom bench.capture import capture_remote_work",
    ],
)
def test_public_uses_pass(source: str) -> None:
    assert not list(forbidden_imports(ast.parse(source)))
