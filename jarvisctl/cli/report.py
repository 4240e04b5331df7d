"""`jarvisctl report RUN_ID`: a run's report, rendered from its audit journal."""

from __future__ import annotations

from pathlib import Path

import click

from jarvisctl.app.queries import run_report
from jarvisctl.cli.common import PathArg, output_secrets, report_errors, retired_option
from jarvisctl.cli.outputs import handle_record_errors, write_atomically
from jarvisctl.config.project import load_project
from jarvisctl.core.errors import JarvisError
from jarvisctl.render.reports.render import FORMATS, render


@click.command("report")
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@retired_option("-f", "--format", "write --format FORMAT (-f is --forks wherever it exists)")
@click.option("-o", "--output", type=PathArg, help="Write to this file (default: stdout).")
@click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
@report_errors
def report_command(run_id: str, fmt: str, output: Path | None, config: Path | None) -> None:
    """Render RUN_ID's report (an id, a unique prefix, or 'last') as Markdown, self-contained
    HTML, JSON (jarvisctl/render/schemas/run.schema.json) or JUnit XML. Exit 1 if the journal
    fails verification, 2 for an unknown run, 6 if the output cannot be written."""
    project = load_project(config)
    try:
        text = render(run_report(project, run_id), fmt)
        if output is None:
            click.echo(text, nl=False)
        else:
            write_atomically(output, text, output_secrets())
    except JarvisError as exc:
        handle_record_errors(exc)
