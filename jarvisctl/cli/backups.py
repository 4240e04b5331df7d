"""`jarvisctl backups list|show|verify|restore|prune`: thin front doors onto app/backups.py
(reading the snapshot index) and app/backup_actions.py (the actions, each journaled as a run)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from jarvisctl.app.backups import SnapshotFilter, list_snapshots, snapshot_manifest
from jarvisctl.cli.common import PathArg, report_errors
from jarvisctl.config.project import load_project
from jarvisctl.render.backups_text import (
    entry_document,
    manifest_lines,
    snapshot_document,
    snapshot_summary,
    snapshot_table,
)

F = TypeVar("F", bound=Callable[..., object])


def project_options(func: F) -> F:
    """Where the project's hosts and backups are read from, as `plan` and `run` take them."""
    options = (
        click.option(
            "-i",
            "--inventory",
            type=PathArg,
            multiple=True,
            help="Inventory file, directory or script (default: the project's).",
        ),
        click.option(
            "--playbook",
            "playbooks",
            type=PathArg,
            multiple=True,
            help="Playbook file or directory declaring the backups (default: the project's "
            "`playbooks:`).",
        ),
        config_option,
    )
    for option in reversed(options):
        func = option(func)
    return func


config_option = click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)


@click.group("backups")
def backups() -> None:
    """The snapshots backups took: list them, show one's files, verify, restore, prune.
    Verify, restore and prune are recorded as runs (`jarvisctl runs`, `report`, `audit
    verify`)."""


@backups.command("list")
@click.argument("host", required=False)
@click.option("--backup", "backup", metavar="NAME", help="Only the snapshots of this backup.")
@click.option("--json", "as_json", is_flag=True, help="Print the snapshots as JSON.")
@project_options
@report_errors
def list_command(
    host: str | None,
    backup: str | None,
    as_json: bool,
    inventory: tuple[Path, ...],
    playbooks: tuple[Path, ...],
    config: Path | None,
) -> None:
    """The snapshots (of HOST, of one backup), newest first: when taken, their files and size,
    the store holding them and their state: verified, unverified, or unusable and why."""
    project = load_project(config)
    found = list_snapshots(project, SnapshotFilter(host, backup, inventory, playbooks))
    if as_json:
        _json_lines(snapshot_document(s) for s in found)
        return
    if not found:
        click.echo(_none_taken(host, backup))
        return
    for line in snapshot_table(found, time.time()):
        click.echo(line)


def _none_taken(host: str | None, backup: str | None) -> str:
    what = " of".join(
        part
        for part in (
            "no snapshots",
            f" backup {backup!r}" if backup else "",
            f" host {host!r}" if host else "",
        )
        if part
    )
    return f"{what} (none taken yet)"


@backups.command("show")
@click.argument("snapshot")
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot and its files as JSON.")
@config_option
@report_errors
def show_command(snapshot: str, as_json: bool, config: Path | None) -> None:
    """SNAPSHOT (an id, or a unique start of one) and its manifest: each file's type and mode,
    owner, size, modification time, sha256 and path, in the order they were received. Names
    are shown escaped (a newline as \\n, a backslash as \\\\), one file per line."""
    project = load_project(config)
    with snapshot_manifest(project, snapshot) as (found, entries):
        if as_json:
            _show_json(snapshot_document(found), (entry_document(e) for e in entries))
            return
        for line in snapshot_summary(found, time.time()):
            click.echo(line)
        click.echo()
        for line in manifest_lines(entries):
            click.echo(line)


def _show_json(head: dict[str, Any], entries: Iterable[object]) -> None:
    """The snapshot's document with its `manifest`, written as it is read: the snapshot's
    fields, then the entries one per line (a large manifest is never held in memory)."""
    fields = json.dumps({**head, "manifest": []}, indent=2)
    click.echo(fields[: fields.rindex("[")] + "[")
    _json_items(entries, "    ")
    click.echo("  ]\n}")


def _json_lines(items: Iterable[object]) -> None:
    """A JSON array, one item per line, written as the items come."""
    click.echo("[")
    _json_items(items)
    click.echo("]")


def _json_items(items: Iterable[object], indent: str = "  ") -> None:
    previous: str | None = None
    for item in items:
        if previous is not None:
            click.echo(previous + ",")
        previous = indent + json.dumps(item)
    if previous is not None:
        click.echo(previous)
