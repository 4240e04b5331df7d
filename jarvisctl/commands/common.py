"""What every subcommand shares: exit codes and turning errors into messages."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from jarvisctl.errors import ConfigError, JarvisError, StoreError

# Exit codes, documented in the README. Click itself exits 2 on usage errors.
EXIT_OK = 0
EXIT_NOT_OK = 1  # some check is not OK, or some step failed
EXIT_USAGE = 2  # bad command-line usage
EXIT_CONFIG = 3  # a mistake in a playbook, inventory, catalogue entry or jarvisctl.yml
EXIT_UNREACHABLE = 4  # some host could not be reached
EXIT_STORE = 7  # the state directory is full, read-only, locked or not a directory
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM

P = ParamSpec("P")
R = TypeVar("R")


def report_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print jarvisctl errors as located messages on stderr and exit with the documented code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            count = len(exc.problems)
            click.echo(f"{count} configuration error{'s' if count != 1 else ''}", err=True)
            sys.exit(EXIT_CONFIG)
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_STORE)
        except JarvisError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)

    return wrapper
