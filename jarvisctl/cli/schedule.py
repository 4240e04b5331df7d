"""`jarvisctl schedule list`: the daemon's jobs and their next fire times, from the YAML alone."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from tzlocal import get_localzone

from jarvisctl.app.schedules import JobSpec, discover_jobs
from jarvisctl.cli.common import PathArg, output_secrets, report_errors
from jarvisctl.config.project import load_project


@click.group("schedule")
def schedule() -> None:
    """The scheduled plays the daemon runs."""


@schedule.command("list")
@click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
@click.option(
    "-n",
    "--count",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Fire times shown per job.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@report_errors
def list_command(config: Path | None, count: int, as_json: bool) -> None:
    """Every play with `schedule:` in the playbooks named by jarvisctl.yml, and when it fires
    next (nominal times: interval jitter is random). Reads the YAML; needs no daemon."""
    project = load_project(config)
    now = datetime.now(get_localzone())
    jobs = discover_jobs(project, now, secrets=output_secrets())
    if as_json:
        click.echo(json.dumps([_json(job, now, count) for job in jobs], indent=2))
        return
    if not jobs:
        click.echo("no play has a schedule (give a play 'schedule:' to run it in the daemon)")
        return
    for job in jobs:
        click.echo(f"{job.id}\n  {job.schedule}  ({job.location})")
        for when in job.next_fire_times(now, count):
            click.echo(f"  next: {when.isoformat(timespec='seconds')}")


def _json(job: JobSpec, now: datetime, count: int) -> dict[str, object]:
    return {
        "id": job.id,
        "playbook": str(job.playbook),
        "play": job.play,
        "schedule": job.schedule,
        "location": str(job.location),
        "next_fire_times": [t.isoformat() for t in job.next_fire_times(now, count)],
    }
