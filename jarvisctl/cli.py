"""The `jarvisctl` command: a thin front door onto the library."""

from __future__ import annotations

import click

from jarvisctl import __version__
from jarvisctl.commands.audit import audit
from jarvisctl.commands.catalogue import checks, remediations
from jarvisctl.commands.daemon import daemon_command
from jarvisctl.commands.inventory import inventory
from jarvisctl.commands.ledger import escalated_command, reset_command
from jarvisctl.commands.plan import plan_command
from jarvisctl.commands.report import report_command
from jarvisctl.commands.run import run_command
from jarvisctl.commands.runs import runs
from jarvisctl.commands.schedule import schedule


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jarvisctl")
def cli() -> None:
    """jarvisctl keeps a fleet of Linux machines healthy: checks with thresholds, remediations
    that verify themselves, backups and rollouts, declared in YAML."""


cli.add_command(plan_command)
cli.add_command(run_command)
cli.add_command(daemon_command)
cli.add_command(schedule)
cli.add_command(inventory)
cli.add_command(checks)
cli.add_command(remediations)
cli.add_command(runs)
cli.add_command(report_command)
cli.add_command(audit)
remediations.add_command(reset_command)
remediations.add_command(escalated_command)


def main() -> None:
    cli(prog_name="jarvisctl")
