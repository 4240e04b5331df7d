"""`jarvisctl run`: run playbooks on their hosts now, and report what was found."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click

from jarvisctl.app.run import RunContext, RunRequest, run_playbooks
from jarvisctl.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_NOT_OK,
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_UNREACHABLE,
    PathArg,
    host_selection,
    one_stdin,
    output_secrets,
    report_errors,
)
from jarvisctl.cli.outputs import STDOUT, one_on_stdout
from jarvisctl.cli.run_notify import finish_notifications, notifying, start_notifications
from jarvisctl.cli.run_outputs import RunOutputs
from jarvisctl.config.project import load_project
from jarvisctl.core.events import NullSink
from jarvisctl.core.results import RunStatus
from jarvisctl.render.live import LiveConsole, colour_wanted, redrawing
from jarvisctl.render.run_text import render_recap


@click.command("run")
@click.argument("playbooks", nargs=-1, required=True, type=PathArg)
@host_selection
@click.option("-f", "--forks", type=click.IntRange(1, 1000), help="Hosts worked on at once.")
@click.option("-C", "--check", "check_mode", is_flag=True, help="Run checks only; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON.")
@click.option(
    "--report",
    "report_file",
    type=PathArg,
    help="Write the run's report (.md, .html, .json, .xml: JUnit).",
)
@click.option(
    "--metrics-file",
    type=PathArg,
    help="Write check values for node_exporter's textfile collector (a name ending in .prom).",
)
@click.option(
    "--notify/--no-notify",
    "notify",
    default=None,
    help="Tell the receivers of jarvisctl.yml's notify: about this run's alerts "
    "(default: notify.on_run).",
)
@click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
@report_errors
def run_command(
    playbooks: tuple[Path, ...],
    inventory: tuple[Path, ...],
    limit: str | None,
    tags: tuple[str, ...],
    forks: int | None,
    check_mode: bool,
    as_json: bool,
    report_file: Path | None,
    metrics_file: Path | None,
    notify: bool | None,
    config: Path | None,
) -> None:
    """Run PLAYBOOKS (files or directories) on their hosts: every host's checks in one round
    trip, hosts in a sliding window of --forks workers, then a recap per host."""
    one_stdin(*playbooks, *inventory, config, limit=limit)
    on_stdout = {
        "--json": as_json,
        "--report -": report_file == STDOUT,
        "--metrics-file -": metrics_file == STDOUT,
    }
    data_on_stdout = one_on_stdout(on_stdout)
    project = load_project(config)
    outputs = RunOutputs(report_file, metrics_file, as_json)
    outputs.check()  # before touching any host
    request = RunRequest(
        playbooks=playbooks,
        inventory=inventory,
        limit=limit,
        tags=tags,
        forks=forks,
        check=check_mode,
        arguments=tuple(sys.argv[1:]),
    )
    secrets = output_secrets()
    notifications = None
    if notifying(project, notify, check_mode):  # receivers resolved before any host is touched
        notifications = start_notifications(project, secrets)
    console = _console(data_on_stdout, live=not as_json)
    context = RunContext(
        events=NullSink(),
        on_host=console.finished,
        on_plan=console.planned,
        on_start=console.started,
        secrets=secrets,
        notifications=notifications,
    )
    restore = _stop_on_signals(context.cancel, console)
    try:
        # What the imports made lives as long as the process: a collection during the run
        # need not walk it (about 6 % of a 50-host run's CPU).
        gc.freeze()
        with redrawing(console):
            report = run_playbooks(project, request, context)
    except BaseException:
        if notifications is not None:  # what the run found before it failed is still told
            finish_notifications(notifications)
        raise
    finally:
        context.pool.close_all()
        restore()
    if not as_json:  # on stderr when stdout carries the report or the metrics (`-`)
        recap = render_recap(report, colour=console.colour)
        click.echo("\n" + recap, nl=False, err=data_on_stdout, color=console.colour)
    if notifications is not None:
        finish_notifications(notifications)
    # --json: the run's document, read back from its journal as `report --format json` reads it
    outputs.write(project, report.run_id, secrets)
    sys.exit(exit_code(report.status))


# Documented in the README; which applies when several do is RunStatus's order.
EXIT_CODES = {
    RunStatus.INTERRUPTED: EXIT_INTERRUPTED,
    RunStatus.UNREACHABLE: EXIT_UNREACHABLE,
    RunStatus.SKIPPED: EXIT_SKIPPED,
    RunStatus.NOT_OK: EXIT_NOT_OK,
    RunStatus.OK: EXIT_OK,
}


def exit_code(status: RunStatus) -> int:
    return EXIT_CODES[status]


def _console(data_on_stdout: bool, live: bool) -> LiveConsole:
    """A line per host on stdout; when stdout carries a document (--json, or an output named
    `-`) on stderr, and only when that is a terminal. The status line only on a terminal."""
    stream = sys.stderr if data_on_stdout else sys.stdout
    return LiveConsole(
        stream,
        show=stream.isatty() or not data_on_stdout,
        live=live and stream.isatty(),
        colour=colour_wanted(stream),
    )


def _stop_on_signals(cancel: threading.Event, console: LiveConsole) -> Callable[[], None]:
    """Ctrl-C or SIGTERM: stop cleanly; a second one: stop now."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            os._exit(EXIT_INTERRUPTED)
        cancel.set()
        name = signal.Signals(signum).name
        console.message(f"{name}: ending in-flight commands; again to stop at once", sys.stderr)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
