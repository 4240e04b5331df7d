"""`jarvisctl runs`: the run history (app.queries), rendered."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from jarvisctl.app.queries import RunFilter, recent_runs, run_detail
from jarvisctl.cli.common import PathArg, report_errors, retired_option
from jarvisctl.cli.outputs import handle_record_errors
from jarvisctl.config.models.values import DURATION_HINT, parse_duration
from jarvisctl.config.project import load_project
from jarvisctl.core.errors import JarvisError
from jarvisctl.record.history import STATUSES, RunEntry


@click.group("runs", invoke_without_command=True)
@click.option("--host", help="Only runs that included this host.")
@click.option(
    "--since", "since", help="Only runs started since: a duration ago (2h, 7d) or a date."
)
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option(
    "-n",
    "--count",
    "limit",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="Runs shown at most.",
)
@retired_option(
    "--limit", "a number of runs", "write -n/--count N (--limit is a host pattern in run and plan)"
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
@click.pass_context
@report_errors
def runs(
    ctx: click.Context,
    host: str | None,
    since: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
    config: Path | None,
) -> None:
    """List recorded runs, newest first. A run whose process died before it finished shows as
    'incomplete'."""
    ctx.obj = config
    if ctx.invoked_subcommand is not None:
        return
    project = load_project(config)
    found = recent_runs(project, RunFilter(host, _since(since), status, limit))
    if as_json:
        click.echo(json.dumps([entry_document(e) for e in found], indent=2))
        return
    if not found:
        click.echo("no runs recorded" + (" that match" if host or since or status else ""))
        return
    click.echo(f"{'run':<24}  {'started (UTC)':<19}  {'status':<11}  {'mode':<5}  hosts  checks")
    for entry in found:
        click.echo(_line(entry))


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_obj
@report_errors
def show(config: Path | None, run_id: str, as_json: bool) -> None:
    """Show one run (an id, a unique prefix, or 'last'): its index entry and journal state."""
    project = load_project(config)
    try:
        detail = run_detail(project, run_id)
    except JarvisError as exc:
        handle_record_errors(exc)
        return
    entry, verification, path = detail.entry, detail.verification, detail.journal
    journal = {
        "path": str(path),
        "records": verification.records,
        "intact": verification.intact,
        "complete": verification.complete,
        "problem": verification.problem,
        "stopped": verification.stopped,
    }
    if as_json:
        click.echo(json.dumps({**entry_document(entry), "journal": journal}, indent=2))
        return
    doc = entry_document(entry)
    for key in (
        "run_id",
        "status",
        "mode",
        "source",
        "user",
        "controller",
        "pid",
        "started",
        "finished",
        "seconds",
    ):
        click.echo(f"{key + ':':<12}{doc[key] if doc[key] is not None else '-'}")
    click.echo(f"{'hosts:':<12}{', '.join(entry.hosts) or '-'}")
    click.echo(f"{'playbooks:':<12}{', '.join(entry.playbooks) or '-'}")
    click.echo(f"{'counts:':<12}{_counts(entry) or '-'}")
    state = "intact" if verification.intact else f"TAMPERED: {verification.problem}"
    ending = (
        "complete"
        if verification.complete
        else f"incomplete ({verification.stopped or 'no run_finished record'})"
    )
    click.echo(f"{'journal:':<12}{path}: {verification.records} records, {state}, {ending}")


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration ({DURATION_HINT}) nor a date (2026-11-20, "
            "2026-11-20T08:00)",
            param_hint="'--since'",
        ) from None
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def _when(at: float | None) -> str | None:
    return (
        None
        if at is None
        else datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")
    )


def entry_document(entry: RunEntry) -> dict[str, Any]:
    return {
        "run_id": entry.run_id,
        "status": entry.shown_status,
        "mode": entry.mode,
        "source": entry.source,
        "user": entry.user,
        "controller": entry.controller,
        "pid": entry.pid,
        "started": _when(entry.started),
        "finished": _when(entry.finished),
        "seconds": None if entry.finished is None else round(entry.finished - entry.started, 3),
        "hosts": list(entry.hosts),
        "playbooks": list(entry.playbooks),
        "counts": dict(entry.counts),
    }


def _counts(entry: RunEntry) -> str:
    return ", ".join(f"{n} {k}" for k, n in entry.counts.items() if n)


def _line(entry: RunEntry) -> str:
    started = datetime.fromtimestamp(entry.started, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{entry.run_id:<24}  {started:<19}  {entry.shown_status:<11}  {entry.mode:<5}  "
        f"{len(entry.hosts):>5}  {_counts(entry)}"
    )
