"""What a check kind and a remediation kind are.

A check kind is a command plus a *pure* parse of its output, so parsing is tested with no host at
all; thresholds and statuses belong to the framework, not to the kind.
"""

from __future__ import annotations

import re
import shlex
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from jarvisctl.config.models.values import Direction, refuse_bool, wants_number
from jarvisctl.core.errors import EXIT_NOT_OK, JarvisError
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import PerfDatum as PerfDatum  # kinds build it; results carry it
from jarvisctl.core.results import Status


class KindParams(BaseModel):
    """Base of every kind's parameters: frozen, and a mistyped parameter is an error."""

    # lax (a rendered template is text: "{{ port }}" gives "22"), but not so lax that `true`
    # is 1 or `1e400` is infinity
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        return refuse_bool(value) if field and wants_number(field.annotation) else value


P = TypeVar("P", bound=KindParams)


def compiled_regex(value: str | None) -> str | None:
    """A pydantic field validator: the value must be a valid Python regular expression."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


@frozen
class CommandOutput:
    """What a kind parses: a command's standard output and error, and its exit status (None: it
    ended without one)."""

    stdout: str
    stderr: str = ""
    exit_code: int | None = 0


class ParseError(JarvisError):
    """The output could not be turned into a value; the check becomes UNKNOWN with this reason."""

    exit_code = EXIT_NOT_OK  # a check that cannot be read is UNKNOWN: not OK


class NativeUnavailable(JarvisError):
    """A native collector cannot measure here (e.g. the jtop service is not running); the
    check falls back to its command, and this reason is recorded with the result."""

    exit_code = EXIT_NOT_OK  # the check falls back to its command; never a command's end


@frozen
class Reading:
    """What a kind read, when a number alone is not all of it.

    `status` is set by kinds that judge for themselves (a Nagios plugin's exit code); `value`
    may then be None. `summary` is the kind's own one-line account of what it saw.
    """

    value: float | None
    status: Status | None = None
    summary: str = ""
    perfdata: tuple[PerfDatum, ...] = ()


class CheckKind(ABC, Generic[P]):
    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[KindParams]]
    unit: ClassVar[str] = ""
    direction: ClassVar[Direction] = "above"
    # Parameters whose values are shell templates: rendered with every substitution quoted.
    shell_params: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def command(self, params: P) -> str: ...

    @abstractmethod
    def parse(self, output: CommandOutput, params: P) -> float: ...

    def read(self, output: CommandOutput, params: P) -> Reading:
        """The value with, for kinds that have them, their own status, summary and perfdata.

        By default, the parse alone. Raises ParseError exactly where `parse` does.
        """
        return Reading(self.parse(output, params))

    # A kind measured on the controller, from what it keeps (backup_age: the snapshot index),
    # never on the host: its command is "" and the engine evaluates it itself.
    controller_side: ClassVar[bool] = False

    # A kind that can measure the controller's own machine in-process (psutil, jtop) sets
    # `native = True` and implements `collect`; local hosts then skip the shell entirely.
    native: ClassVar[bool] = False

    def collect(self, params: P) -> float:
        raise ParseError(f"the {self.name} kind has no native collector")


class RemediationKind(ABC, Generic[P]):
    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[KindParams]]
    shell_params: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def commands(self, params: P) -> tuple[str, ...]: ...

    def reconnect_seconds(self, params: P) -> float:
        """How long to wait for the host to come back after the commands (a reboot); 0: no wait."""
        return 0.0


def require_exit_zero(output: CommandOutput) -> None:
    """Raise ParseError with the tail of stderr when the command failed."""
    if output.exit_code in (124, 137):
        code = output.exit_code
        raise ParseError(f"command exited {code}: timed out, killed at its timeout")
    if output.exit_code != 0:
        tail = (output.stderr.strip() or output.stdout.strip()).splitlines()[-1:] or [""]
        raise ParseError(f"command exited {output.exit_code}: {tail[0][:200]}".rstrip(": "))


def first_line(path: str) -> str:
    """A command that prints the first line of the file at `path` (a fixed /proc path, quoted
    all the same) with the shell's own `read` and `printf`: no process of its
    own, in dash, BusyBox ash and bash alike, where `cat` or `head -n 1` is a fork and an exec
    on the host for every check. The line comes back exactly (`IFS=`, `-r`), with a newline;
    a last line without one too. A file that cannot be opened fails it with the shell's
    message on stderr, as `cat` would; so does an empty one (no line to print).

    Not for /proc/sys (sysctl) files: `read` takes one byte at a time, and those answer a
    read past their first byte with nothing (file-nr read so gives "1"). /proc/loadavg,
    /proc/uptime and /proc/stat read whole."""
    line = f'{{ IFS= read -r _l || [ -n "$_l" ]; }} <{shlex.quote(path)}'
    return f"{line} && printf '%s\\n' \"$_l\""
