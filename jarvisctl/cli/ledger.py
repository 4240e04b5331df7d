"""`jarvisctl remediations reset|escalated`: the operator's hand on the remediation ledger."""

from __future__ import annotations

import time
from pathlib import Path

import click

from jarvisctl.cli.catalogue import remediations
from jarvisctl.cli.common import PathArg, report_errors
from jarvisctl.config.project import load_project
from jarvisctl.store.state import RemediationLedger, StateStore


def _ledger(config: Path | None, *, readonly: bool = False) -> RemediationLedger:
    project = load_project(config)
    return RemediationLedger(StateStore(project.state_dir / "state.db", readonly=readonly))


@click.command("reset")
@click.argument("host")
@click.argument("check", required=False)
@click.option("-c", "--config", type=PathArg, help="Project configuration.")
@report_errors
def reset_command(host: str, check: str | None, config: Path | None) -> None:
    """Forget HOST's remediation attempts and escalations (of CHECK only, if given), so that
    automatic remediation resumes."""
    removed = _ledger(config).reset(host, check)
    what = f"'{check}' on {host}" if check else host
    click.echo(f"reset {what}: {removed} ledger record(s) removed")


@click.command("escalated")
@click.argument("host", required=False)
@click.option("-c", "--config", type=PathArg, help="Project configuration.")
@report_errors
def escalated_command(host: str | None, config: Path | None) -> None:
    """The checks whose remediation budget is spent and which wait for an operator."""
    rows = _ledger(config, readonly=True).escalations(host)
    if not rows:
        click.echo("no escalated checks")
    for name, play, check, since, reason in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
        click.echo(f"{name}  [{play}]  {check}: escalated since {when} ({reason})")


remediations.add_command(reset_command)
remediations.add_command(escalated_command)
