"""`jarvisctl silence add|list|expire`: thin front doors onto app/silences.py. A matcher is
written as in routes, inhibit rules and maintenance windows: `host=~"jetson-0.*"`,
`check="gpu temperature"`, `severity!=warning`, `host!~"db-.*"`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from jarvisctl.app.alert_actions import FieldError, current_user
from jarvisctl.app.silences import (
    SilenceSpec,
    add_silence,
    expire_silence,
    list_silences,
    parse_length,
    parse_time,
)
from jarvisctl.cli.alerts import config_option, option_error
from jarvisctl.cli.common import output_secrets, report_errors
from jarvisctl.config.models.values import DURATION_HINT
from jarvisctl.config.project import load_project
from jarvisctl.core.alerts import MATCHER_HINT
from jarvisctl.render.alerts_text import silence_document, silence_line, silence_table

# the request's field -> the option that gives it
OPTIONS = {
    "matchers": "--match",
    "duration": "--for",
    "ends_at": "--for",
    "starts_at": "--start",
    "comment": "--comment",
    "created_by": "--author",
}


@click.group("silence")
def silence() -> None:
    """Silences: alerts whose labels match every matcher of an active silence are recorded,
    never sent. ID is a silence's id, or a unique start of one."""


@silence.command("add", short_help="Silence the alerts that match, for a while.")
@click.option(
    "--match",
    "matchers",
    multiple=True,
    metavar="MATCHER",
    help=f"A label condition; repeat for more (all must match): {MATCHER_HINT}.",
)
@click.option("--for", "duration", required=True, metavar="DURATION", help=DURATION_HINT + ".")
@click.option("--start", metavar="TIME", help="When it starts (default: now): an ISO 8601 time.")
@click.option("--comment", required=True, help="Why (shown with every alert it silences).")
@click.option("--author", metavar="NAME", help="Who silences (default: your user name).")
@click.option("--json", "as_json", is_flag=True, help="Print the silence as JSON.")
@config_option
@report_errors
def add_command(
    matchers: tuple[str, ...],
    duration: str,
    start: str | None,
    comment: str,
    author: str | None,
    as_json: bool,
    config: Path | None,
) -> None:
    """Add a silence: the alerts whose labels match every --match, from --start (default now)
    for --for, are recorded but not sent. Quote each matcher for the shell:
    --match 'host=~"jetson-0.*"' --match 'check="gpu temperature"'. Prints its id (for
    `silence expire`). Recorded as a run."""
    now = time.time()
    project = load_project(config)
    try:
        spec = SilenceSpec(
            matchers,
            comment,
            author or current_user(),
            starts_at=None if start is None else parse_time(start, "starts_at", now),
            duration=parse_length(duration),
        )
        done = add_silence(project, spec, output_secrets(), tuple(sys.argv[1:]), now=now)
    except FieldError as exc:
        raise _bad_option(exc, matchers) from None
    if as_json:
        click.echo(json.dumps(silence_document(done.silence, now), indent=2))
    else:
        click.echo(silence_line("added", done.silence))
    click.echo(f"recorded as run {done.run_id} (jarvisctl report {done.run_id})", err=True)


def _bad_option(exc: FieldError, matchers: tuple[str, ...]) -> click.BadParameter:
    if exc.field == "matchers" and exc.index is not None:  # which --match, as typed
        return click.BadParameter(exc.reason, param_hint=f"'--match' {matchers[exc.index]!r}")
    return option_error(exc, OPTIONS)


@silence.command("list", short_help="The active and pending silences.")
@click.option("--all", "every", is_flag=True, help="Also the silences that have ended.")
@click.option("--json", "as_json", is_flag=True, help="Print the silences as JSON.")
@config_option
@report_errors
def list_command(every: bool, as_json: bool, config: Path | None) -> None:
    """The silences active now or starting later, the soonest to end first (with --all, those
    that ended after them): id, state, start, end, author, matchers and comment."""
    now = time.time()
    found = list_silences(load_project(config), ended=every, now=now)
    if as_json:
        click.echo(json.dumps([silence_document(s, now) for s in found], indent=2))
        return
    if not found:
        click.echo("no silences" + ("" if every else " active or pending"))
        return
    for line in silence_table(found, now):
        click.echo(line)


@silence.command("expire", short_help="End a silence now.")
@click.argument("silence_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the silence as JSON.")
@config_option
@report_errors
def expire_command(silence_id: str, as_json: bool, config: Path | None) -> None:
    """End the silence ID (an id, or a unique start of one) now: the alerts it muted are no
    longer muted by it. Recorded as a run. Exit 2 when ID names no active or pending silence, or
    several."""
    now = time.time()
    project = load_project(config)
    done = expire_silence(project, silence_id, output_secrets(), tuple(sys.argv[1:]), now=now)
    if as_json:
        click.echo(json.dumps(silence_document(done.silence, now), indent=2))
    else:
        click.echo(silence_line("expired", done.silence))
    click.echo(f"recorded as run {done.run_id} (jarvisctl report {done.run_id})", err=True)
