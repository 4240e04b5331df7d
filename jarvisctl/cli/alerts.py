"""`jarvisctl alerts [--json] [--all]` and `jarvisctl alerts ack ID`: thin front doors onto
app/alerts.py. ID is an alert's fingerprint (as Alertmanager shows it) or a unique start of
one."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from jarvisctl.app.alert_actions import FieldError, current_user
from jarvisctl.app.alerts import RECENT, AckRequest, acknowledge_alert, list_alerts
from jarvisctl.cli.common import PathArg, output_secrets, report_errors
from jarvisctl.config.models.values import DURATION_HINT, format_duration, parse_duration
from jarvisctl.config.project import load_project
from jarvisctl.render.alerts_text import alert_document, alert_table, alert_title
from jarvisctl.render.backups_text import escaped

config_option = click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
OPTIONS = {"by": "--author", "comment": "--comment"}  # the API's field -> this command's option


def option_error(exc: FieldError, options: dict[str, str]) -> click.BadParameter:
    """A request's field error as click says a bad option (exit 2), naming the option."""
    hint = options.get(exc.field)
    if hint is None:
        return click.BadParameter(str(exc))
    return click.BadParameter(exc.reason, param_hint=f"'{hint}'")


def _since(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}", ctx, param) from None


@click.group("alerts", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Also the alerts resolved within --since (the most recent first, after the firing).",
)
@click.option(
    "--since",
    default=format_duration(RECENT),
    show_default=True,
    callback=_since,
    metavar="DURATION",
    help=f"With --all: how far back resolved alerts are shown ({DURATION_HINT}).",
)
@config_option
@click.pass_context
@report_errors
def alerts(
    ctx: click.Context, as_json: bool, every: bool, since: float, config: Path | None
) -> None:
    """The alerts firing now, the most severe first: fingerprint, severity, since when, what
    and where, its labels, who acknowledged it (when, and why), and what mutes it (a silence,
    a maintenance window, a firing alert that inhibits it). A muted alert is recorded, never
    sent; an acknowledged one is not escalated."""
    if ctx.invoked_subcommand is not None:
        return
    now = time.time()
    found = list_alerts(load_project(config), resolved=every, since=since, now=now)
    if as_json:
        documents = [alert_document(view.stored, view.muted) for view in found]
        click.echo(json.dumps(documents, indent=2))
        return
    if not found:
        click.echo("no alerts firing" + (" nor resolved recently" if every else ""))
        return
    for line in alert_table([(view.stored, view.muted) for view in found], now):
        click.echo(line)


@alerts.command("ack", short_help="Acknowledge a firing alert: it is not escalated.")
@click.argument("alert_id", metavar="ID")
@click.option("--comment", default="", help="Why, or what is being done (kept with the alert).")
@click.option("--author", metavar="NAME", help="Who acknowledges it (default: your user name).")
@click.option("--json", "as_json", is_flag=True, help="Print the acknowledged alert as JSON.")
@config_option
@report_errors
def ack_command(
    alert_id: str, comment: str, author: str | None, as_json: bool, config: Path | None
) -> None:
    """Acknowledge the firing alert ID (a fingerprint, or a unique start of one): no escalation
    for it while it fires; `jarvisctl alerts` shows who and when. Recorded as a run (`jarvisctl
    runs`, `audit verify`). Exit 2 when ID names no firing alert, or several."""
    request = AckRequest(alert_id, author or current_user(), comment, tuple(sys.argv[1:]))
    try:
        done = acknowledge_alert(load_project(config), request, output_secrets())
    except FieldError as exc:
        raise option_error(exc, OPTIONS) from None
    stored = done.alert.stored
    if as_json:
        click.echo(json.dumps(alert_document(stored, done.alert.muted), indent=2))
    else:
        who = escaped(stored.acked_by)
        click.echo(f"acknowledged {stored.alert.fingerprint} ({alert_title(stored)}) by {who}")
    click.echo(f"recorded as run {done.run_id} (jarvisctl report {done.run_id})", err=True)
