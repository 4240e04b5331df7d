"""`jarvisctl audit verify RUN_ID`: check a run's journal for edits, removals, reordering and
truncation."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jarvisctl.app.queries import run_verification
from jarvisctl.cli.common import EXIT_NOT_OK, EXIT_OK, PathArg, report_errors
from jarvisctl.cli.outputs import EXIT_INCOMPLETE, handle_record_errors
from jarvisctl.config.project import load_project
from jarvisctl.core.errors import JarvisError


@click.group("audit")
def audit() -> None:
    """The audit journals of runs (<state dir>/runs/<run-id>.jsonl)."""


@audit.command("verify")
@click.argument("run_id")
@click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
@report_errors
def verify_command(run_id: str, config: Path | None) -> None:
    """Verify RUN_ID's journal (an id, a unique prefix, or 'last'). Exit 0: intact and
    complete; 1: edited, removed, reordered or truncated; 5: intact but the run never finished
    (killed, or still running)."""
    project = load_project(config)
    try:
        result, path = run_verification(project, run_id)
    except JarvisError as exc:
        handle_record_errors(exc)
        return
    if result.problem is not None:
        click.echo(f"{path}: TAMPERED: {result.problem}")
        click.echo(f"  the first {result.records} record(s) verify")
        sys.exit(EXIT_NOT_OK)
    torn = f"; a partial record of {result.torn_bytes} bytes follows" if result.torn_bytes else ""
    if not result.complete:
        why = (
            f"the run stopped: {result.stopped}"
            if result.stopped
            else "the run was killed or is still running"
        )
        click.echo(
            f"{path}: INCOMPLETE: {result.records} record(s) verify, no run_finished record "
            f"({why}){torn}"
        )
        sys.exit(EXIT_INCOMPLETE)
    click.echo(f"{path}: OK: {result.records} records, last {result.last_hash}")
    sys.exit(EXIT_OK)
