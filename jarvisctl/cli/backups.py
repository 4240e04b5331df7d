"""`jarvisctl backups list|show|verify|restore|prune`: thin front doors onto app/backups.py
(reading the snapshot index) and app/backup_actions.py (the actions, each journaled as a run)."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from jarvisctl.app.backups import SnapshotFilter, list_snapshots, snapshot_manifest
from jarvisctl.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_NOT_OK,
    EXIT_OK,
    EXIT_SKIPPED,
    PathArg,
    output_secrets,
    report_errors,
)
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


@backups.command("list", short_help="The snapshots, newest first, with their state.")
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


@backups.command("show", short_help="A snapshot and its manifest (one line per file).")
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


@backups.command("verify", short_help="Prove snapshots restorable; mark them verified or unusable.")
@click.argument("snapshot", required=False)
@click.option("--all", "every", is_flag=True, help="Every snapshot, and each store's own check.")
@click.option(
    "--restore",
    "by_restore",
    is_flag=True,
    help="Extract into a scratch directory and compare every file (content, mode, type, "
    "link target), not only re-read the stored data against the manifest.",
)
@config_option
@report_errors
def verify_command(
    snapshot: str | None, every: bool, by_restore: bool, config: Path | None
) -> None:
    """Verify SNAPSHOT (an id, or a unique start of one; or --all): re-read its stored data
    and compare each file's sha256, size and type with the manifest (--restore: extract it
    too, and compare content, mode, type and link target). A snapshot that matches is marked
    verified; one that differs unusable, naming the first file that differs. --all also runs
    each backup store's integrity pass (restic check; a local store's missing files). Exit 1
    when anything failed."""
    from jarvisctl.app.backup_verify import VerifyRequest, verify_snapshots
    from jarvisctl.render.backup_actions_text import store_line, verify_line

    if snapshot is not None and every:
        raise click.UsageError(f"give SNAPSHOT ({snapshot!r}) or --all, not both")
    if snapshot is None and not every:
        raise click.UsageError("give one SNAPSHOT (an id, or a unique start of one) or --all")
    request = VerifyRequest(snapshot, "restore" if by_restore else "checksum", every, _arguments())
    with _interruptible():
        report = verify_snapshots(load_project(config), request, output_secrets())
    for done in report.snapshots:
        click.echo(verify_line(done.snapshot, report.mode, done.ok, done.problem, done.seconds))
    for store in report.stores:
        click.echo(store_line(store.store, store.problems))
    if not report.snapshots and every:
        click.echo("no snapshots recorded")
    _recorded(report.run_id)
    sys.exit(EXIT_OK if report.ok else EXIT_NOT_OK)


@backups.command("prune", short_help="Apply each backup's keep: forget what it does not keep.")
@click.argument("host", required=False)
@click.option("--backup", "backup", metavar="NAME", help="Only this backup.")
@click.option("--dry-run", is_flag=True, help="Say what would be forgotten; delete nothing.")
@project_options
@report_errors
def prune_command(
    host: str | None,
    backup: str | None,
    dry_run: bool,
    inventory: tuple[Path, ...],
    playbooks: tuple[Path, ...],
    config: Path | None,
) -> None:
    """Apply each backup's `keep:` (from the playbooks) to its snapshots (of HOST, of one
    backup): print each snapshot kept, with the rule that kept it, and each forgotten (its data
    deleted from the store, then its entry from the index). Only verified snapshots count for
    the rules; the newest verified one and every unusable one are always kept. `jarvisctl run`
    already prunes after each snapshot it verifies: this catches up after a changed `keep:`
    or snapshots verified later (`backups verify`)."""
    from jarvisctl.app.backup_actions import PruneRequest, prune_snapshots
    from jarvisctl.render.backup_actions_text import prune_lines, undeclared_lines

    request = PruneRequest(host, backup, dry_run, playbooks, inventory, _arguments())
    with _interruptible():
        report = prune_snapshots(load_project(config), request, output_secrets())
    for done in report.pruned:
        for line in prune_lines(done.host, done.backup.name, done.backup.keep, done.outcome):
            click.echo(line)
    for line in undeclared_lines(report.undeclared):
        click.echo(line)
    if not report.pruned:
        click.echo("no backup is declared" + (f" for host {host!r}" if host else ""))
    _recorded(report.run_id)
    sys.exit(EXIT_OK if report.ok else EXIT_NOT_OK)


def _absolute(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (not value.startswith("/") or "\0" in value):
        raise click.BadParameter(
            f"{value!r} is not an absolute path on the host (such as /srv/restored)"
        )
    return value


@backups.command("restore", short_help="Put a backup back on its host (or under --to).")
@click.argument("host")
@click.argument("name")
@click.option("--snapshot", metavar="ID", help="This snapshot (default: the newest usable one).")
@click.option(
    "--to",
    metavar="PATH",
    callback=_absolute,
    help="Restore under this absolute path on the host instead of in place. A command "
    "backup (a dump) needs it: the file to write its stream to, or a directory to write it "
    "in under the backup's `file:` name.",
)
@click.option(
    "-C", "--check", "check", is_flag=True, help="List what would change; change nothing."
)
@project_options
@report_errors
def restore_command(
    host: str,
    name: str,
    snapshot: str | None,
    to: str | None,
    check: bool,
    inventory: tuple[Path, ...],
    playbooks: tuple[Path, ...],
    config: Path | None,
) -> None:
    """Put HOST's backup NAME back on HOST, connecting as a run does (SSH, or this machine for
    a `connection: local` host): each file written beside its target and renamed into place,
    the file it replaces kept aside until the restore is verified by digest on the host, owners
    and modes restored (with the backup's `become`). Files already as in the snapshot are not
    written. Exit 1 if it failed (the host is put back as it was), 2 if HOST, NAME or
    --snapshot names nothing, 4 if HOST cannot be reached, 8 if another run holds it."""
    from jarvisctl.app.backup_restore import RestoreRequest, restore_backup
    from jarvisctl.render.backup_actions_text import restore_lines

    request = RestoreRequest(host, name, snapshot, to, check, playbooks, inventory, _arguments())
    with _interruptible():
        report = restore_backup(load_project(config), request, output_secrets())
    if report.skipped is not None:
        click.echo(f"{host}: not restored: {report.skipped}", err=True)
        _recorded(report.run_id)
        sys.exit(EXIT_SKIPPED)
    assert report.outcome is not None  # errors were raised
    for line in restore_lines(report.snapshot, report.outcome):
        click.echo(line)
    _recorded(report.run_id)
    sys.exit(EXIT_OK if report.ok else EXIT_NOT_OK)


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C or SIGTERM ends an action as an interrupted run (its journal closed without
    run_finished, its index row `interrupted`), exit 130."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except KeyboardInterrupt:
        click.echo("interrupted: recorded as an interrupted run (`jarvisctl runs`)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _arguments() -> tuple[str, ...]:
    """The command line as typed, for the journal's run_started record."""
    return tuple(sys.argv[1:])


def _recorded(run_id: str) -> None:
    click.echo(f"recorded as run {run_id} (jarvisctl report {run_id})", err=True)
