"""The `jarvisctl` command: a thin front door onto the library.

Subcommands are imported when they are called, so `jarvisctl run` does not pay for the
reports, the daemon or the audit tools at start-up.
"""

from __future__ import annotations

import importlib

import click

from jarvisctl import __version__

# name -> (module, attribute) of each subcommand
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("jarvisctl.commands.plan", "plan_command"),
    "run": ("jarvisctl.commands.run", "run_command"),
    "daemon": ("jarvisctl.commands.daemon", "daemon_command"),
    "schedule": ("jarvisctl.commands.schedule", "schedule"),
    "inventory": ("jarvisctl.commands.inventory", "inventory"),
    "checks": ("jarvisctl.commands.catalogue", "checks"),
    "remediations": ("jarvisctl.commands.ledger", "remediations"),
    "runs": ("jarvisctl.commands.runs", "runs"),
    "report": ("jarvisctl.commands.report", "report_command"),
    "audit": ("jarvisctl.commands.audit", "audit"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        command: click.Command = getattr(importlib.import_module(found[0]), found[1])
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jarvisctl")
def cli() -> None:
    """jarvisctl keeps a fleet of Linux machines healthy: health checks with thresholds,
    remediations that verify themselves, an audit trail and reports, declared in YAML."""


def main() -> None:
    cli(prog_name="jarvisctl")
