"""`jarvisctl rollout list|status|continue|resume|abort`: thin front doors onto app/rollouts.py
(reading the store, aborting) and app/rollout_run.py (going on with a rollout: a run of its play,
shown and ending as `jarvisctl run` does). ID may be a rollout id, a unique start of one, or
`last` (the most recent), as `audit verify last` takes."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jarvisctl.app.rollouts import list_rollouts, rollout_status
from jarvisctl.cli.common import EXIT_OK, EXIT_SKIPPED, PathArg, output_secrets, report_errors
from jarvisctl.config.project import Project, load_project
from jarvisctl.render.rollouts_text import (
    rollout_table,
    status_document,
    status_lines,
    summary_document,
)

if TYPE_CHECKING:  # the run's machinery is imported only by the commands that run
    from jarvisctl.app.run import RunContext
    from jarvisctl.core.results import RunReport

config_option = click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
forks_option = click.option(
    "-f", "--forks", type=click.IntRange(1, 1000), help="Hosts of a batch worked on at once."
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


@rollout.command("continue", short_help="Go on with a paused rollout's next batch.")
@click.argument("rollout_id", metavar="ID")
@forks_option
@click.option("--json", "as_json", is_flag=True, help="Print the run's result as JSON.")
@config_option
@report_errors
def continue_command(
    rollout_id: str, forks: int | None, as_json: bool, config: Path | None
) -> None:
    """Go on with the rollout ID, paused after a batch in its `pause_after`: its next batches
    run as a run of its play (planned again from the files it started with; refused if its
    hosts, batches or steps plan differently now). Exits as `jarvisctl run` does; 2 when the
    rollout has ended (finished, halted, aborted: it says which, when and why)."""
    from jarvisctl.app.rollouts import continue_rollout

    project = load_project(config)
    _going_on(
        project,
        lambda context: continue_rollout(project, rollout_id, context, forks, _arguments()),
        as_json,
    )


@rollout.command("resume", short_help="Finish a rollout whose controller stopped.")
@click.argument("rollout_id", metavar="ID")
@click.option(
    "--done",
    "done",
    multiple=True,
    metavar="HOST",
    help="HOST waits for a decision: its `once: true` step in flight when the controller "
    "stopped did complete (you checked); it is recorded done and HOST goes on. Repeatable.",
)
@forks_option
@click.option("--json", "as_json", is_flag=True, help="Print the run's result as JSON.")
@config_option
@report_errors
def resume_command(
    rollout_id: str, done: tuple[str, ...], forks: int | None, as_json: bool, config: Path | None
) -> None:
    """Finish the rollout ID: one whose controller was killed or stopped (the host in flight
    goes on from its unfinished step; finished hosts and steps are not repeated; a host whose
    `once` step was in flight waits for a decision), or whose deferred hosts are back. A run of
    its play, refused if it plans differently now. Exits as `jarvisctl run` does; 2 when the
    rollout has ended (finished, halted, aborted: it says which, when and why)."""
    from jarvisctl.app.rollout_run import resume_rollout

    project = load_project(config)
    _going_on(
        project,
        lambda context: resume_rollout(
            project, rollout_id, context, done=done, forks=forks, arguments=_arguments()
        ),
        as_json,
    )


def _going_on(project: Project, go: Callable[[RunContext], RunReport], as_json: bool) -> None:
    """A run of the rollout's play, shown as `jarvisctl run` shows one (a line per host as it
    ends, the live status line on a terminal, the recap; --json: the run's document), stopped
    as it stops one (Ctrl-C or SIGTERM: cleanly; twice: at once), ending with its exit code."""
    from jarvisctl.app.run import RunContext
    from jarvisctl.cli.run import _console, _stop_on_signals, exit_code
    from jarvisctl.cli.run_outputs import RunOutputs
    from jarvisctl.core.events import NullSink
    from jarvisctl.render.live import redrawing
    from jarvisctl.render.run_text import render_recap

    outputs = RunOutputs(None, None, as_json)
    console = _console(data_on_stdout=as_json, live=not as_json)
    context = RunContext(
        events=NullSink(),
        on_host=console.finished,
        on_plan=console.planned,
        on_start=console.started,
        secrets=output_secrets(),
    )
    restore = _stop_on_signals(context.cancel, console)
    try:
        with redrawing(console):
            report = go(context)
    finally:
        context.pool.close_all()
        restore()
    if not as_json:
        recap = render_recap(report, colour=console.colour)
        click.echo("\n" + recap, nl=False, color=console.colour)
    outputs.write(project, report.run_id, context.secrets)
    sys.exit(exit_code(report.status))


def _arguments() -> tuple[str, ...]:
    """The command line as typed, for the journal's run_started record."""
    return tuple(sys.argv[1:])


@rollout.command("abort", short_help="End a rollout: its hosts not started are skipped.")
@click.argument("rollout_id", metavar="ID")
@click.option(
    "--rollback",
    is_flag=True,
    help="First run the rollback steps (then the gate) on every host the rollout changed or "
    "was changing, as a run of its play.",
)
@forks_option
@click.option("--json", "as_json", is_flag=True, help="Print the run's result as JSON.")
@config_option
@report_errors
def abort_command(
    rollout_id: str, rollback: bool, forks: int | None, as_json: bool, config: Path | None
) -> None:
    """Abort the rollout ID (running with no live controller, paused, or waiting for deferred
    hosts): it becomes aborted, and each host that has not started (pending or deferred) is
    skipped, reason "aborted"; a host whose turn had started is left as it was, and named.
    Recorded as a run (`jarvisctl runs`, `report`, `audit verify`). Exit 2 if ID names no
    rollout or one that has ended, 8 if another controller works on it (stop that run first).
    With --rollback: the rollback runs on the hosts it changed, and it exits as `run` does."""
    from jarvisctl.app.rollouts import AbortRequest, abort_rollout
    from jarvisctl.render.rollouts_text import abort_lines

    if rollback:
        from jarvisctl.app.rollout_run import abort_with_rollback

        project = load_project(config)
        _going_on(
            project,
            lambda context: abort_with_rollback(
                project, rollout_id, context, forks=forks, arguments=_arguments()
            ),
            as_json,
        )

    request = AbortRequest(rollout_id, _arguments())
    project, secrets = load_project(config), output_secrets()
    report = abort_rollout(project, request, secrets)
    if report.refused:
        click.echo(f"error: not aborted: {report.refused} (stop that run to abort)", err=True)
    elif not as_json:
        for line in abort_lines(report.rollout, report.skipped, report.left):
            click.echo(line)
    if as_json:  # the abort's own run, as `report --format json` reads it
        from jarvisctl.cli.run_outputs import RunOutputs

        RunOutputs(None, None, True).write(project, report.run_id, secrets)
    click.echo(f"recorded as run {report.run_id} (jarvisctl report {report.run_id})", err=True)
    sys.exit(EXIT_OK if report.ok else EXIT_SKIPPED)
