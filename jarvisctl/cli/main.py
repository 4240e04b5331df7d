"""The `jarvisctl` command: a thin front door onto the library.

Subcommands are imported when they are called, so `jarvisctl run` does not pay for the
reports, the daemon or the audit tools at start-up.
"""

from __future__ import annotations

import gc
import importlib

import click

from jarvisctl import __version__

# name -> (module, attribute) of each subcommand
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("jarvisctl.cli.plan", "plan_command"),
    "run": ("jarvisctl.cli.run", "run_command"),
    "daemon": ("jarvisctl.cli.daemon", "daemon_command"),
    "schedule": ("jarvisctl.cli.schedule", "schedule"),
    "inventory": ("jarvisctl.cli.inventory", "inventory"),
    "checks": ("jarvisctl.cli.catalogue", "checks"),
    "remediations": ("jarvisctl.cli.ledger", "remediations"),
    "runs": ("jarvisctl.cli.runs", "runs"),
    "report": ("jarvisctl.cli.report", "report_command"),
    "audit": ("jarvisctl.cli.audit", "audit"),
    "backups": ("jarvisctl.cli.backups", "backups"),
    "rollout": ("jarvisctl.cli.rollouts", "rollout"),
    "alerts": ("jarvisctl.cli.alerts", "alerts"),
    "silence": ("jarvisctl.cli.silences", "silence"),
    "notify": ("jarvisctl.cli.notify", "notify"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        command: click.Command = getattr(importlib.import_module(found[0]), found[1])
        if _START["collecting_later"]:
            # The command's modules are imported: what they made lives as long as the process.
            # The collector skips frozen objects, so it walks only what the command makes.
            _START["collecting_later"] = False
            gc.freeze()
            gc.enable()
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jarvisctl")
def cli() -> None:
    """jarvisctl keeps a fleet of Linux machines healthy: health checks with thresholds,
    remediations that verify themselves, an audit trail and reports, declared in YAML."""


# Whether `main` turned the collector off for the imports (a test invoking `cli` does not).
_START = {"collecting_later": False}


def main() -> None:
    # Importing a command makes some hundred thousand objects and no garbage: the collector
    # would walk them all again and again as they are made (20 ms of a plain `run`'s start).
    # It is off until the command is imported (LazyGroup.get_command); a daemon's collects.
    _START["collecting_later"] = gc.isenabled()
    gc.disable()
    try:
        cli(prog_name="jarvisctl")
    finally:
        # Whatever the command did is done and written: the interpreter's last collection
        # would walk every object the imports and the run made (0.1 s of CPU after a 50-host
        # run) to free memory the process hands back as it exits. Frozen objects are skipped
        # by it; atexit handlers (the state files' connections, store/sqlite/database.py, the
        # regex matchers) and reference-counted cleanup still run.
        gc.freeze()
