"""One error tree for the whole tool.

Configuration errors carry the source location of the YAML node that is wrong, so every message
reads `file:line:column: what is wrong (what would be valid)`. Each error class says the exit code
a command that stops on it ends with (README, "Exit codes"); the CLI's one handler reads it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from jarvisctl.core.frozen import frozen

# The exit codes of README's table that errors end a command with. (0, 5 and 8 are verdicts of
# a command that did not fail: jarvisctl.cli.common and cli.outputs.)
EXIT_NOT_OK = 1  # something was checked and found wrong: a check, a step, a journal
EXIT_USAGE = 2  # bad command-line usage
EXIT_CONFIG = 3  # a mistake in a playbook, inventory, catalogue entry or jarvisctl.yml
EXIT_UNREACHABLE = 4  # a host could not be reached
EXIT_OUTPUT = 6  # an output file cannot be written, or is named so that its reader passes it over
EXIT_STORE = 7  # the state directory is full, read-only, locked or not a directory
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file; line and column count from 1."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


class JarvisError(Exception):
    """The root of every error jarvisctl raises on purpose.

    `exit_code` is what a command that stops on the error exits with. Every subclass says its own
    (or takes a parent's that says one): tests/unit/test_exit_codes.py fails on one that does
    not. The root's is the configuration code every error got before they said their own.
    """

    exit_code: ClassVar[int] = EXIT_CONFIG

    def lines(self) -> list[str]:
        """What the CLI prints on stderr when a command stops on this error."""
        return [f"error: {self}"]


@frozen
class Problem:
    """One located configuration mistake."""

    location: Location | None
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        text = escape_unprintable(text)  # a value quoted from the input stays one line
        return text if self.location is None else f"{self.location}: {text}"


# Line breaks and control characters a message may quote from a file (`use: "a\u2028b"`): printed
# raw they would split a located line in two or drive the terminal.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def escape_unprintable(text: str) -> str:
    """`text` with those characters as repr() writes them (and nothing else changed); the
    redactor knows this spelling of a secret too (jarvisctl.core.secret_spellings)."""
    return _UNPRINTABLE.sub(lambda match: repr(match.group())[1:-1], text)


class ConfigError(JarvisError):
    """One or more mistakes in the operator's files, all reported together."""

    exit_code = EXIT_CONFIG
    label: ClassVar[str] = "configuration error"  # how the closing count names them

    def __init__(self, problems: Problem | Iterable[Problem]) -> None:
        items = (problems,) if isinstance(problems, Problem) else tuple(problems)
        self.problems: tuple[Problem, ...] = tuple(sorted(set(items), key=_problem_order))
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, location: Location | None, message: str, hint: str = "") -> ConfigError:
        return cls(Problem(location, message, hint))

    def lines(self) -> list[str]:
        """One line per problem, then how many there are."""
        count = len(self.problems)
        closing = f"{count} {self.label}{'s' if count != 1 else ''}"
        return [*(f"error: {problem}" for problem in self.problems), closing]


def _problem_order(problem: Problem) -> tuple[str, int, int, str]:
    loc = problem.location or Location("")
    return (loc.file, loc.line, loc.column, problem.message)


class ProblemCollector:
    """Gathers problems from many places so that one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, location: Location | None, message: str, hint: str = "") -> None:
        self.problems.append(Problem(location, message, hint))

    def extend(self, problems: Sequence[Problem]) -> None:
        self.problems.extend(problems)

    def absorb(self, error: ConfigError) -> None:
        self.problems.extend(error.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


class UsageError(JarvisError):
    """A command-line option's value cannot be used (a --limit that selects no host): exit 2.
    The message starts with the option, as a located error starts with its file."""

    exit_code = EXIT_USAGE


class PatternError(JarvisError):
    """A host pattern names something the inventory does not have. In a play's `hosts:` it
    becomes a located ConfigError, in `--limit` a UsageError; reaching a command as it is (an
    `inventory` subcommand's host or group), it is a configuration error, as it always was."""

    exit_code = EXIT_CONFIG


class StoreError(JarvisError):
    """The state directory, its database or a run's journal cannot be used: a fault of the
    machine (full, read-only, locked, not a directory), not of the operator's files."""

    exit_code = EXIT_STORE


class StoreFullError(StoreError):
    """The state directory's filesystem is full (ENOSPC or EDQUOT)."""


class StoreReadOnlyError(StoreError):
    """The state directory cannot be written: a read-only mount, or permissions."""


class StoreLockedError(StoreError):
    """Another process held the state database's lock for longer than the lock timeout."""


class StoreNotDirectoryError(StoreError):
    """`state_dir` (or a parent of it) exists and is not a directory."""


class UnreachableError(JarvisError):
    """A host could not be reached: it is reported unreachable, never failed."""

    exit_code = EXIT_UNREACHABLE


class SessionInterruptedError(UnreachableError):
    """jarvisctl itself ended the session (the run was stopped): the host is reported
    interrupted, never unreachable. An UnreachableError for every caller that only needs to
    know that the connection is gone."""

    exit_code = EXIT_INTERRUPTED


class HostKeyError(UnreachableError):
    """The host's key is unknown or changed; the message says how to trust it."""


class AuthenticationError(UnreachableError):
    """The host answered but refused our credentials."""


def known_list(names: Iterable[str], limit: int = 12, near: str | None = None) -> str:
    """Render a short 'known: a, b, c' list for error hints, led by close matches of `near`."""
    ordered = sorted(set(names))
    if not ordered:
        return "none are defined"
    close = difflib.get_close_matches(near, ordered, n=3) if near else []
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}? {known_list(ordered, limit)}"
    shown = ", ".join(ordered[:limit])
    more = f", ... {len(ordered) - limit} more" if len(ordered) > limit else ""
    return f"known: {shown}{more}"


def short_repr(value: object, limit: int = 40) -> str:
    """A value as a message quotes it: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
