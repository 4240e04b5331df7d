"""Errors carry their exit codes: each error class says the code a command that stops on it exits
with, the CLI's one handler uses it, and the code is the one README's table gives that kind of
error."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import jarvisctl
from jarvisctl.cli.common import report_errors
from jarvisctl.cli.outputs import OutputError
from jarvisctl.config.templating.limits import TemplateLimitError
from jarvisctl.config.templating.shell_quoting import UnsafeContextError
from jarvisctl.config.templating.templates import TemplateError
from jarvisctl.core.errors import (
    ConfigError,
    JarvisError,
    Location,
    PatternError,
    SessionInterruptedError,
    StoreError,
    UnreachableError,
    UsageError,
)
from jarvisctl.daemon.http import ListenError
from jarvisctl.kinds.base import NativeUnavailable, ParseError
from jarvisctl.notify.receivers.base import DeliveryError
from jarvisctl.record.audit import JournalError
from jarvisctl.record.history import UnknownRunError
from jarvisctl.render.metrics import MetricsFileNameError
from jarvisctl.render.reports.render import ReportFormatError
from jarvisctl.store.rollouts import (
    Rollout,
    RolloutActiveError,
    RolloutEndedError,
    RolloutHeldError,
    UnknownRolloutError,
)
from jarvisctl.store.snapshots import UnknownSnapshotError

README = Path(__file__).parents[2] / "README.md"

# Each error class, as raised, with the words of README's row for its code that say its kind.
CASES: list[tuple[JarvisError, str]] = [
    (
        ConfigError.at(Location("site.yml", 3, 5), "unknown key 'chekcs'", "valid: checks"),
        "configuration error",
    ),
    (UsageError("--limit 'web9' matches no host in inventory.yml (known: web1)"), "usage error"),
    (PatternError("no host named 'web9' in inventory.yml (known: web1)"), "configuration error"),
    (StoreError("state.db: the filesystem is full"), "state directory cannot be used"),
    (UnreachableError("web1: connection refused"), "could not be reached"),
    (SessionInterruptedError("web1: the run was stopped"), "interrupted"),
    (TemplateError("template '{{ x }}': 'x' is undefined"), "configuration error"),
    (TemplateLimitError("a template builds more than 1 MiB"), "configuration error"),
    (UnsafeContextError("a substitution inside a comment"), "configuration error"),
    (ListenError("daemon.listen 127.0.0.1:9469: cannot listen there"), "`daemon.listen` address"),
    (OutputError("cannot write out/report.md: no directory out"), "output file"),
    (MetricsFileNameError("--metrics-file run.txt: name it *.prom"), "output file"),
    (ReportFormatError("--report run.txt: which format?"), "output file"),
    (UnknownRunError("no run 'abc' in the run index"), "usage error"),
    (UnknownSnapshotError("no snapshot 'abc' in the index"), "usage error"),
    (UnknownRolloutError("no rollout 'abc' in the store"), "usage error"),
    (RolloutHeldError("rollout abc is being worked on: leased by cli run r"), "holds its lease"),
    (
        RolloutEndedError("rollout abc has already ended: finished at ..."),
        "a rollout that has ended",
    ),
    (
        RolloutActiveError(Rollout("abc", "p", "p.yml", (), None, "", (("h",),), 0.0, 0.0)),
        "a play whose rollout has not ended",
    ),
    (JournalError("no audit journal at runs/abc.jsonl"), "not OK"),
    (ParseError("not a number: 'x'"), "not OK"),
    (NativeUnavailable("jtop is not installed"), "not OK"),
    (DeliveryError("http://127.0.0.1:9000: 503", retryable=True), "not OK"),
]


def every_error_class() -> set[type[JarvisError]]:
    """JarvisError and every subclass defined in the package (every module imported)."""
    for module in pkgutil.walk_packages(jarvisctl.__path__, "jarvisctl."):
        if not module.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(module.name)
    found: set[type[JarvisError]] = set()
    waiting = [JarvisError]
    while waiting:
        cls = waiting.pop()
        if cls.__module__.startswith("jarvisctl.") and cls not in found:
            found.add(cls)
            waiting.extend(cls.__subclasses__())
    return found


def readme_rows() -> dict[int, str]:
    """README's exit-code table: code -> meaning."""
    section = README.read_text().split("### Exit codes", 1)[1].split("\n### ", 1)[0]
    return {
        int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)
    }


def handled(error: JarvisError) -> tuple[int, list[str]]:
    """What the CLI's error handler makes of `error`: exit code and stderr lines."""

    @click.command()
    @report_errors
    def command() -> None:
        raise error

    result = CliRunner().invoke(command, [])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr.splitlines()


def test_every_error_class_says_its_code() -> None:
    """A class that says no code of its own takes a parent's; only the root's is not one."""
    silent = sorted(
        cls.__qualname__
        for cls in every_error_class()
        if cls is not JarvisError
        and next(k for k in cls.__mro__ if "exit_code" in vars(k)) is JarvisError
    )
    assert silent == [], f"give these an exit_code (README's table): {silent}"


def test_every_direct_error_class_has_a_case_here() -> None:
    """So that a new error class's code is checked against the README below."""
    covered = {type(error) for error, _ in CASES}
    direct = {cls for cls in every_error_class() if JarvisError in cls.__bases__}
    assert direct - covered == set(), sorted(cls.__qualname__ for cls in direct - covered)


@pytest.mark.parametrize(("error", "meaning"), CASES, ids=lambda c: type(c).__name__)
def test_the_handler_exits_with_the_code_readme_gives(error: JarvisError, meaning: str) -> None:
    code, lines = handled(error)
    assert code == type(error).exit_code
    assert meaning in readme_rows()[code]
    closing = ["1 configuration error"] if isinstance(error, ConfigError) else []
    assert lines == [f"error: {error}", *closing]


def test_a_configuration_error_lists_each_problem_and_counts_them() -> None:
    error = ConfigError(
        [
            ConfigError.at(Location("b.yml", 1, 1), "second").problems[0],
            ConfigError.at(Location("a.yml", 2, 3), "first", "valid: x").problems[0],
        ]
    )
    assert handled(error) == (
        3,
        [
            "error: a.yml:2:3: first (valid: x)",
            "error: b.yml:1:1: second",
            "2 configuration errors",
        ],
    )


def test_a_state_store_fault_exits_7_from_a_real_command(tmp_path: Path) -> None:
    from jarvisctl.cli.main import cli

    (tmp_path / "jarvisctl.yml").write_text("state_dir: taken\n")
    (tmp_path / "taken").write_text("a file, not a directory\n")
    result = CliRunner().invoke(cli, ["runs", "-c", str(tmp_path / "jarvisctl.yml")])
    assert result.exit_code == 7, result.output
    assert result.stderr.startswith("error: ") and "taken is a file" in result.stderr
