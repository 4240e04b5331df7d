"""What every subcommand shares: exit codes, turning errors into messages, and the front door
that redacts secrets from everything a command writes."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from jarvisctl.config.configfile import STDIN
from jarvisctl.core.errors import EXIT_CONFIG as EXIT_CONFIG
from jarvisctl.core.errors import EXIT_INTERRUPTED as EXIT_INTERRUPTED
from jarvisctl.core.errors import EXIT_NOT_OK as EXIT_NOT_OK
from jarvisctl.core.errors import EXIT_STORE as EXIT_STORE
from jarvisctl.core.errors import EXIT_UNREACHABLE as EXIT_UNREACHABLE
from jarvisctl.core.errors import EXIT_USAGE as EXIT_USAGE
from jarvisctl.core.errors import JarvisError, PatternError
from jarvisctl.core.secrets import SecretValues
from jarvisctl.render.redacting import redacted_output

# Exit codes, documented in the README: those an error ends a command with are the errors' own
# (jarvisctl.core.errors, re-exported above); these are verdicts. Click exits 2 on usage errors.
EXIT_OK = 0
EXIT_SKIPPED = 8  # some host was not worked on: another run held it (its lease)

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., object])


# Every file a command names: the reader (configfile) refuses one it cannot read, with a located
# message and the documented exit code, rather than click's generic usage error.
PathArg = click.Path(path_type=Path, readable=False)


def host_selection(func: F) -> F:
    """The options that choose the hosts and checks, as plan and run (and Ansible) spell them."""
    options = (
        click.option(
            "-i",
            "--inventory",
            type=PathArg,
            multiple=True,
            help="Inventory file, directory or script; several are merged in order.",
        ),
        click.option(
            "-l", "--limit", help="Further limit hosts with a pattern (e.g. 'jetson-0*')."
        ),
        click.option(
            "-t", "--tags", multiple=True, help="Only checks with these tags (comma-separated)."
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


SECRETS = "jarvisctl.core.secrets"  # key of the command's SecretValues in click's context meta


def report_errors(func: Callable[P, R]) -> Callable[P, R]:
    """The front door of every command: its stdout and stderr are redacted with the secrets it
    learns (`output_secrets()`), and jarvisctl errors become located messages on stderr and
    the exit code the error's class gives (`JarvisError.exit_code`, the README's table). Errors
    are printed inside the redaction, after the secrets read while rendering (even a rendering
    that failed) were collected."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        secrets = SecretValues()
        context = click.get_current_context(silent=True)
        if context is not None:
            context.meta[SECRETS] = secrets
        with redacted_output(secrets):
            try:
                return func(*args, **kwargs)
            except JarvisError as exc:
                for line in exc.lines():
                    click.echo(line, err=True)
                sys.exit(exc.exit_code)
            except click.ClickException as exc:  # shown here, so that it is redacted too
                exc.show()
                sys.exit(exc.exit_code)
            except (click.exceptions.Exit, click.Abort):
                raise
            except Exception:  # a bug: its traceback as Python prints it, but redacted
                traceback.print_exc()
                sys.exit(EXIT_NOT_OK)

    return wrapper


def output_secrets() -> SecretValues:
    """The running command's SecretValues: what it renders adds to it, what it writes (its
    streams, and the files it writes with `write_redacted`) is redacted with it."""
    return click.get_current_context().meta[SECRETS]  # type: ignore[no-any-return]


def one_stdin(*paths: Path | None, limit: str | None = None) -> None:
    """`-` names standard input where a file is read (`--limit @-` too: a retry file); it
    holds one file, so naming it for two (`plan - -i -`) is a usage error."""
    from jarvisctl.config.inventory.patterns import split_pattern

    try:
        terms = split_pattern(limit or "")
    except PatternError:  # said where the limit is read, as a usage error naming --limit
        terms = []
    retry_files = [Path(t[1:]) for t in terms if t.startswith("@")]
    if sum(1 for path in [*paths, *retry_files] if path == STDIN) > 1:
        raise click.UsageError("'-' (standard input) is named for more than one file")


def retired_option(flag: str, was: str, now: str) -> Callable[[F], F]:
    """`flag` meant `was` in this command before flags were made to mean one thing in every
    command: using it is a usage error that says what to type `now`, never a silent different
    behaviour. Hidden from --help."""

    def refuse(ctx: click.Context, param: click.Parameter, value: object) -> None:
        if value is not None:
            raise click.UsageError(f"{flag} no longer means {was}: {now}", ctx)

    return click.option(
        flag,
        f"retired{flag.replace('-', '_')}",
        hidden=True,
        expose_value=False,
        callback=refuse,
        default=None,
    )
