"""The use cases in app/ are what the front doors call: the CLI and the daemon plan, run and
read through them, never through the planner, the playbook loader or the store directly."""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import jarvisctl
from jarvisctl.app.plan import PlanRequest, plan_playbooks
from jarvisctl.app.queries import (
    RunFilter,
    escalations,
    held_leases,
    recent_runs,
    run_detail,
)
from jarvisctl.cli.main import cli
from jarvisctl.config.project import load_project
from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.service import Daemon
from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import Holder, LeaseStore

PACKAGE = Path(jarvisctl.__file__).parent
FRONT_DOORS = ("cli", "daemon")
# what only a use case may call: making a plan, loading playbooks
USE_CASE_ONLY = ("jarvisctl.plan.planner", "jarvisctl.config.playbooks")
# and, for the CLI, reading the store, the run index and the journals (app.queries), the
# inventory (app.inventory) and the catalogues (app.catalogue)
QUERIES_ONLY = (
    "jarvisctl.store",
    "jarvisctl.config.project.resolve_inventory",
    "jarvisctl.plan.catalogue",
    "jarvisctl.plan.secret_vars",
    "jarvisctl.render.reports.load",
    *(
        f"jarvisctl.record.history.{name}"
        for name in ("list_runs", "unindexed_runs", "find_run", "journal_entry", "RunIndex")
    ),
)


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


def offenders(door: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sorted((PACKAGE / door).rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith(forbidden)
    )


@pytest.mark.parametrize("door", FRONT_DOORS)
def test_front_doors_plan_through_the_use_cases(door: str) -> None:
    assert not offenders(door, USE_CASE_ONLY)


def test_the_cli_reads_what_happened_through_the_queries() -> None:
    assert not offenders("cli", QUERIES_ONLY)


def test_the_daemon_reads_the_leases_through_the_queries() -> None:
    # the daemon opens its own job store (scheduler.db) and nothing else of the store
    assert not offenders("daemon", ("jarvisctl.store.leases.LeaseStore", "jarvisctl.store.sqlite"))


def test_a_plan_of_no_named_playbook_is_the_projects(tmp_path: Path) -> None:
    (tmp_path / "books").mkdir()
    play = "- {name: one, hosts: all, checks: [{use: uptime}]}\n"
    (tmp_path / "books" / "a.yml").write_text(play)
    (tmp_path / "jarvisctl.yml").write_text("playbooks: [books]\n")
    plan = plan_playbooks(load_project(tmp_path / "jarvisctl.yml"), PlanRequest(), SecretValues())
    assert plan.ok, plan.problems
    (book,) = plan.playbooks
    assert book.file.endswith("books/a.yml") and [p.name for p in book.plays] == ["one"]


def test_the_queries_are_what_the_cli_shows(tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text("- {name: one, hosts: all, checks: [{use: uptime}]}\n")
    config = str(tmp_path / "jarvisctl.yml")
    (tmp_path / "jarvisctl.yml").write_text("forks: 1\n")
    runner = CliRunner()
    done = runner.invoke(cli, ["run", str(tmp_path / "site.yml"), "-c", config])
    assert done.exit_code in (0, 1), done.output
    project = load_project(tmp_path / "jarvisctl.yml")

    (entry,) = recent_runs(project, RunFilter())
    listed = json.loads(runner.invoke(cli, ["runs", "--json", "-c", config]).output)
    assert [(e["run_id"], e["status"], e["hosts"]) for e in listed] == [
        (entry.run_id, entry.shown_status, ["localhost"])
    ]
    assert recent_runs(project, RunFilter(host="elsewhere")) == ()
    other = "ok" if entry.shown_status != "ok" else "not_ok"
    assert recent_runs(project, RunFilter(status=other)) == ()

    detail = run_detail(project, "last")
    assert detail.entry == entry and detail.verification.intact and detail.verification.complete
    shown = runner.invoke(cli, ["runs", "-c", config, "show", "last"]).output
    assert f"{detail.journal}: {detail.verification.records} records, intact, complete" in shown
    assert escalations(project) == ()


def test_the_daemon_shows_the_leases_the_query_reads(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text("lease_ttl: 60s\n")
    project = load_project(tmp_path / "jarvisctl.yml")
    assert held_leases(project) == ()  # a reader creates no store
    assert not (project.state_dir / "state.db").exists()
    leases = LeaseStore(open_store(project.state_dir).leases, ttl=60.0)
    leases.acquire(["web-1"], Holder("run-a", "cli"))
    (lease,) = held_leases(project)
    assert (lease.host, lease.holder.owner) == ("web-1", "run-a")
    daemon = Daemon(project, EventLog(io.StringIO(), "json"))
    shown = daemon.snapshot().status_json()["leases"]
    assert [(item["host"], item["owner"], item["expires"]) for item in shown] == [
        ("web-1", "run-a", lease.expires)
    ]
