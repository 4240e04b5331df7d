"""`jarvisctl remediations reset|escalated`: the operator's hand on the remediation ledger."""

from __future__ import annotations

import time
from pathlib import Path

import click

from jarvisctl.app.queries import escalations, reset_remediations
from jarvisctl.cli.catalogue import remediations
from jarvisctl.cli.common import PathArg, report_errors
from jarvisctl.config.project import load_project


@click.command("reset")
@click.argument("host")
@click.argument("check", required=False)
@click.option("-c", "--config", type=PathArg, help="Project configuration.")
@report_errors
def reset_command(host: str, check: str | None, config: Path | None) -> None:
    """Forget HOST's remediation attempts and escalations (of CHECK only, if given), so that
    automatic remediation resumes."""
    removed = reset_remediations(load_project(config), host, check)
    what = f"'{check}' on {host}" if check else host
    click.echo(f"reset {what}: {removed} ledger record(s) removed")


@click.command("escalated")
@click.argument("host", required=False)
@click.option("-c", "--config", type=PathArg, help="Project configuration.")
@report_errors
def escalated_command(host: str | None, config: Path | None) -> None:
    """The checks whose remediation budget is spent and which wait for an operator."""
    found = escalations(load_project(config), host)
    if not found:
        click.echo("no escalated checks")
    for item in found:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.since))
        what = f"{item.host}  [{item.play}]  {item.check}"
        click.echo(f"{what}: escalated since {when} ({item.reason})")


remediations.add_command(reset_command)
remediations.add_command(escalated_command)
