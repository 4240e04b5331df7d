"""The use cases in app/ are what the front doors call: the CLI and the daemon plan, run and
read through them, never through the planner, the playbook loader or the store directly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jarvisctl
from jarvisctl.app.plan import PlanRequest, plan_playbooks
from jarvisctl.config.project import load_project
from jarvisctl.core.secrets import SecretValues

PACKAGE = Path(jarvisctl.__file__).parent
FRONT_DOORS = ("cli", "daemon")
# what only a use case may call: making a plan, loading playbooks
USE_CASE_ONLY = ("jarvisctl.plan.planner", "jarvisctl.config.playbooks")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, lazy imports included (`from a import b` counts a.b too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("door", FRONT_DOORS)
def test_front_doors_plan_through_the_use_cases(door: str) -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sorted((PACKAGE / door).rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith(USE_CASE_ONLY)
    }
    assert not offenders, sorted(offenders)


def test_a_plan_of_no_named_playbook_is_the_projects(tmp_path: Path) -> None:
    (tmp_path / "books").mkdir()
    play = "- {name: one, hosts: all, checks: [{use: uptime}]}\n"
    (tmp_path / "books" / "a.yml").write_text(play)
    (tmp_path / "jarvisctl.yml").write_text("playbooks: [books]\n")
    plan = plan_playbooks(load_project(tmp_path / "jarvisctl.yml"), PlanRequest(), SecretValues())
    assert plan.ok, plan.problems
    (book,) = plan.playbooks
    assert book.file.endswith("books/a.yml") and [p.name for p in book.plays] == ["one"]
