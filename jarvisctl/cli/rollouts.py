"""`jarvisctl rollout list|status|abort`: thin front doors onto app/rollouts.py. ID may be a
rollout id, a unique start of one, or `last` (the most recent), as `audit verify last` takes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from jarvisctl.app.rollouts import list_rollouts, rollout_status
from jarvisctl.cli.common import EXIT_OK, EXIT_SKIPPED, PathArg, output_secrets, report_errors
from jarvisctl.config.project import load_project
from jarvisctl.render.rollouts_text import (
    rollout_table,
    status_document,
    status_lines,
    summary_document,
)

config_option = click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)


@click.group("rollout")
def rollout() -> None:
    """Rollouts: the plays' health-gated batches, their durable progress per host and step.
    ID is a rollout id, a unique start of one, or `last` (the most recent)."""


@rollout.command("list", short_help="The rollouts, most recent first, with their state.")
@click.option(
    "-n",
    "--count",
    "limit",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="How many rollouts, the most recent.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rollouts as JSON.")
@config_option
@report_errors
def list_command(limit: int, as_json: bool, config: Path | None) -> None:
    """The rollouts, most recent first: id, play, state, the batch reached, when started, and
    how many of its hosts ended as each outcome (updated, unchanged, rolled back, rollback
    failed, deferred, skipped) or are still pending, in flight or waiting for a decision."""
    found = list_rollouts(load_project(config), limit)
    if as_json:
        click.echo(json.dumps([summary_document(s.rollout, s.hosts) for s in found], indent=2))
        return
    if not found:
        click.echo("no rollouts recorded")
        return
    for line in rollout_table([(s.rollout, s.hosts) for s in found], time.time()):
        click.echo(line)


@rollout.command("status", short_help="One rollout, batch by batch and host by host.")
@click.argument("rollout_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the rollout as JSON.")
@config_option
@report_errors
def status_command(rollout_id: str, as_json: bool, config: Path | None) -> None:
    """The rollout ID: its state (and why it paused, halted or was aborted), the controller
    working on it now, how many hosts ended as each outcome, and each batch's hosts with their
    state, where one in flight stands (phase and step), why, and until when one is deferred."""
    now = time.time()
    found = rollout_status(load_project(config), rollout_id, now)
    if as_json:
        document = status_document(found.rollout, found.hosts, found.steps, found.holder)
        click.echo(json.dumps(document, indent=2))
        return
    for line in status_lines(found.rollout, found.hosts, found.steps, found.holder, now):
        click.echo(line)


@rollout.command("abort", short_help="End a rollout: its hosts not started are skipped.")
@click.argument("rollout_id", metavar="ID")
@config_option
@report_errors
def abort_command(rollout_id: str, config: Path | None) -> None:
    """Abort the rollout ID (running with no live controller, paused, or waiting for deferred
    hosts): it becomes aborted, and each host that has not started (pending or deferred) is
    skipped, reason "aborted"; a host whose turn had started is left as it was, and named.
    Recorded as a run (`jarvisctl runs`, `report`, `audit verify`). Exit 2 if ID names no
    rollout or one that has ended, 8 if another controller works on it (stop that run first)."""
    from jarvisctl.app.rollouts import AbortRequest, abort_rollout
    from jarvisctl.render.rollouts_text import abort_lines

    request = AbortRequest(rollout_id, tuple(sys.argv[1:]))
    report = abort_rollout(load_project(config), request, output_secrets())
    if report.refused:
        click.echo(f"error: not aborted: {report.refused} (stop that run to abort)", err=True)
    else:
        for line in abort_lines(report.rollout, report.skipped, report.left):
            click.echo(line)
    click.echo(f"recorded as run {report.run_id} (jarvisctl report {report.run_id})", err=True)
    sys.exit(EXIT_OK if report.ok else EXIT_SKIPPED)
