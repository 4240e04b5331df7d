"""Honest dependencies: every distribution the code imports is declared in pyproject.toml, and
nothing is declared that nothing imports.

Imports are read from the source with `ast` (lazy ones inside functions included) and mapped to
the distribution that provides them by the installed metadata, so that a package that merely
comes along with another (tzlocal with APScheduler, invoke with paramiko) still has to be
declared by the code that imports it.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[2]
# Imports of an extra that is not installed on the test machine: no metadata maps them.
NOT_INSTALLED = {"jtop": "jetson-stats"}
# The repository's own top-level packages, which the tests import.
OWN = frozenset({"jarvisctl", "tests", "bench"})
# Test extras used as programs, not imported: the linters, the type checker, and the pytest
# plugin that scripts/test runs the suite's workers with (-n 2).
TOOLS = frozenset({"mypy", "ruff", "pytest-xdist"})


def normalized(name: str) -> str:
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert found, requirement
    return normalized(found.group())


@cache
def declared() -> tuple[frozenset[str], Mapping[str, frozenset[str]]]:
    """The runtime dependencies, and each extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = frozenset(map(requirement_name, project["dependencies"]))
    extras = {
        extra: frozenset(map(requirement_name, requirements))
        for extra, requirements in project["optional-dependencies"].items()
    }
    return runtime, extras


def third_party_imports(folder: Path, own: Iterable[str]) -> dict[str, list[str]]:
    """Top-level module names imported under `folder` that are neither the standard library's
    nor `own`, each with where it is imported (file:line)."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in own:
                    found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def distributions(modules: Iterable[str]) -> dict[str, str]:
    """The distribution that provides each top-level module."""
    installed = packages_distributions()
    mapped = {}
    for module in modules:
        names = installed.get(module) or [NOT_INSTALLED.get(module, f"<not installed: {module}>")]
        mapped[module] = normalized(names[0])
    return mapped


def package_imports() -> dict[str, list[str]]:
    """Distribution -> where jarvisctl/ imports it."""
    imports = third_party_imports(ROOT / "jarvisctl", {"jarvisctl"})
    by_distribution: dict[str, list[str]] = {}
    for module, distribution in distributions(imports).items():
        by_distribution.setdefault(distribution, []).extend(imports[module])
    return by_distribution


def test_every_distribution_the_package_imports_is_declared() -> None:
    runtime, extras = declared()
    optional = frozenset().union(*(names for extra, names in extras.items() if extra != "test"))
    undeclared = {
        distribution: where[0]
        for distribution, where in package_imports().items()
        if distribution not in runtime | optional
    }
    assert undeclared == {}, f"declare these in pyproject.toml, with a reason: {undeclared}"


def test_every_declared_dependency_is_imported_by_the_package() -> None:
    runtime, extras = declared()
    optional = frozenset().union(*(names for extra, names in extras.items() if extra != "test"))
    unused = sorted((runtime | optional) - package_imports().keys())
    assert unused == [], f"nothing in jarvisctl/ imports these: remove them: {unused}"


def test_every_test_extra_is_used_by_the_tests() -> None:
    """A test extra is imported by tests/, is a stub for a package jarvisctl/ imports (for
    mypy), or is a tool the test script runs."""
    _, extras = declared()
    imported_by_tests = set(distributions(third_party_imports(ROOT / "tests", OWN)).values())
    stubbed = {f"types-{name}" for name in package_imports()}
    unused = sorted(extras["test"] - imported_by_tests - stubbed - TOOLS)
    assert unused == [], f"nothing uses these test extras: remove them: {unused}"


def test_everything_the_tests_import_is_declared() -> None:
    runtime, extras = declared()
    imports = third_party_imports(ROOT / "tests", OWN)
    undeclared = {
        distribution: imports[module][0]
        for module, distribution in distributions(imports).items()
        if distribution not in runtime | extras["test"]
    }
    assert undeclared == {}, f"declare these in the test extra: {undeclared}"
