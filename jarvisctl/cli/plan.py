"""`jarvisctl plan`: what would run where, without opening a single connection."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jarvisctl.app.plan import PlanRequest, plan_playbooks
from jarvisctl.cli.common import (
    EXIT_CONFIG,
    EXIT_OK,
    PathArg,
    host_selection,
    one_stdin,
    output_secrets,
    report_errors,
)
from jarvisctl.cli.outputs import (
    EXIT_OUTPUT,
    STDOUT,
    OutputError,
    fail,
    one_on_stdout,
    write_atomically,
)
from jarvisctl.config.project import load_project
from jarvisctl.core.secrets import SecretValues
from jarvisctl.render.plan_json import render_plan_json
from jarvisctl.render.plan_junit import render_plan_junit
from jarvisctl.render.plan_text import render_plan


@click.command("plan")
@click.argument("playbooks", nargs=-1, type=PathArg)
@host_selection
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (schema v1).")
@click.option("--junit", type=PathArg, help="Also write a JUnit XML file: one testcase per file.")
@click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
@report_errors
def plan_command(
    playbooks: tuple[Path, ...],
    inventory: tuple[Path, ...],
    limit: str | None,
    tags: tuple[str, ...],
    as_json: bool,
    junit: Path | None,
    config: Path | None,
) -> None:
    """Show, for each play and host, the checks with their thresholds and exact commands,
    the remediations bound to them and the next fire times of schedules. Opens no connection.

    PLAYBOOKS are files or directories; by default the project's playbooks/.
    """
    one_stdin(*playbooks, *inventory, config, limit=limit)
    # `--junit -` puts the JUnit file on stdout, and the plan on stderr
    junit_on_stdout = one_on_stdout({"--json": as_json, "--junit -": junit == STDOUT}) and (
        not as_json
    )
    project = load_project(config)
    secrets = output_secrets()  # env(), secret_file(), secret_vars: stdout, stderr, --junit
    plan = plan_playbooks(project, PlanRequest(playbooks, inventory, limit, tags), secrets)
    if not plan.playbooks:
        raise click.UsageError("no playbooks found; name playbook files or directories")
    click.echo(
        render_plan_json(plan) if as_json else render_plan(plan), nl=False, err=junit_on_stdout
    )
    if junit is not None:
        _write_junit(junit, render_plan_junit(plan), secrets)
    if not plan.ok and not as_json:
        for problem in plan.problems:
            click.echo(f"error: {problem}", err=True)
    sys.exit(EXIT_OK if plan.ok else EXIT_CONFIG)


def _write_junit(path: Path, text: str, secrets: SecretValues) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text, secrets)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", EXIT_OUTPUT)
    except OutputError as exc:
        fail(str(exc), EXIT_OUTPUT)
