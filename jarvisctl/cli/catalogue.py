"""`jarvisctl checks` and `jarvisctl remediations`: the generated reference of definitions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jarvisctl.app.catalogue import Lister, definitions
from jarvisctl.cli.common import PathArg, report_errors
from jarvisctl.config.project import load_project
from jarvisctl.core.errors import known_list
from jarvisctl.plan.reference import (
    Reference,
    check_references,
    reference_json,
    remediation_references,
)
from jarvisctl.render.reference_text import render_list, render_show


def _references(config: Path | None, lister: Lister) -> list[Reference]:
    return definitions(load_project(config), lister)


def _group(name: str, what: str, lister: Lister) -> click.Group:
    @click.group(name, help=f"The {what} definitions: catalogue entries and kinds.")
    def group() -> None:
        pass

    @group.command("list", help=f"Every {what} definition, one per line.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("-c", "--config", type=PathArg, help="Project configuration.")
    @report_errors
    def list_command(as_json: bool, config: Path | None) -> None:
        references = _references(config, lister)
        if as_json:
            click.echo(json.dumps([reference_json(r) for r in references], indent=2))
        else:
            click.echo(render_list(references), nl=False)

    @group.command("show", help=f"One {what} definition in full, with the command it runs.")
    @click.argument("definition")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("-c", "--config", type=PathArg, help="Project configuration.")
    @report_errors
    def show_command(definition: str, as_json: bool, config: Path | None) -> None:
        references = {r.name: r for r in _references(config, lister)}
        found = references.get(definition)
        if found is None:
            raise click.BadParameter(
                f"no {what} definition named {definition!r} ({known_list(references)})",
                param_hint="DEFINITION",
            )
        click.echo(
            json.dumps(reference_json(found), indent=2) if as_json else render_show(found),
            nl=not as_json,
        )

    return group


checks = _group("checks", "check", check_references)
remediations = _group("remediations", "remediation", remediation_references)
