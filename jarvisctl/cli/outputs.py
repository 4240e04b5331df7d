"""What `audit`, `runs`, `report` and `run --report/--metrics-file` share: exit codes, finding
a run, and writing an output file atomically (or to standard output for `-`) with a clear
message when that fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from jarvisctl.cli.common import EXIT_NOT_OK
from jarvisctl.core.errors import EXIT_OUTPUT as EXIT_OUTPUT
from jarvisctl.core.errors import JarvisError
from jarvisctl.core.secrets import SecretValues
from jarvisctl.record.audit import JournalError
from jarvisctl.record.history import UnknownRunError
from jarvisctl.render.redacting import write_redacted

# Exit codes beyond those in common.py, documented in the README (EXIT_OUTPUT: OutputError's).
EXIT_INCOMPLETE = 5  # `audit verify`: the chain is intact, but the run never finished

STDOUT = Path("-")  # `-` where an output file is named means standard output


class OutputError(JarvisError):
    """An output file that cannot be written."""

    exit_code = EXIT_OUTPUT


def one_on_stdout(outputs: dict[str, bool]) -> bool:
    """Whether standard output carries a document (`--json`, or an output file named `-`);
    more than one would be mixed there, which is a usage error."""
    chosen = [name for name, wanted in outputs.items() if wanted]
    if len(chosen) > 1:
        names = ", ".join(chosen[:-1]) + " and " + chosen[-1]
        raise click.UsageError(f"{names} cannot all write to standard output: choose one")
    return bool(chosen)


def fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_record_errors(exc: JarvisError) -> None:
    """Unknown run: a usage error (2); a missing or corrupt journal: 1; an output: 6."""
    if isinstance(exc, UnknownRunError):
        raise click.BadParameter(str(exc), param_hint="'RUN_ID'")
    if isinstance(exc, OutputError):
        fail(str(exc), EXIT_OUTPUT)
    if isinstance(exc, JournalError):
        fail(str(exc), EXIT_NOT_OK)
    raise exc


def check_writable(path: Path) -> None:
    """Fail before a run rather than after it: the directory must exist and be writable."""
    if path == STDOUT:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: no directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: the directory {folder} is not writable")


def write_atomically(path: Path, text: str, secrets: SecretValues) -> None:
    """`text`, redacted, into a temporary file beside the target, then a rename: readers never
    see half a file, nor a secret. `-` is standard output (redacted as well)."""
    if path == STDOUT:
        click.echo(secrets.redactor().text(text), nl=False)
        return
    check_writable(path)
    try:
        write_redacted(path, text, secrets)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
