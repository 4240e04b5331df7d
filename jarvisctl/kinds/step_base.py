"""What a step kind is: parameters in, an action out (plan → run → verify).

A step kind is code that turns its validated parameters into an *action*: a frozen value that
says what the engine does on the host, so that `plan` can print it, `run --check` can probe it,
and the engine runs every kind through one attempt loop (engine/steps.py). Most kinds give a
ShellAction: a read-only probe (is the host already in the desired state?), the commands that
change it, and a verification. The others name work only the engine can do (wait for checks,
reboot and reconnect, restore a backup, call a Fabric task, carry out a remediation rung and
verify it by its check).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import KindParams

P = TypeVar("P", bound=KindParams)

# Exit codes of a probe: the host is in the desired state / it is not (the step would change
# it). Any other code is the probe's own failure (reported, the step fails).
PROBE_OK = 0
PROBE_CHANGE = 1


@frozen
class HostCommand:
    """One shell command line, every value in it already quoted, and what goes on its stdin
    (a copy's content), never on its command line: the host's process list shows no data."""

    command: str
    stdin: bytes | None = None
    describe: str = ""  # how `plan` and the journal show it when it is not the command itself


@frozen
class ShellAction:
    """probe → apply → verify, all on the host.

    `probe`: exits PROBE_OK when nothing needs doing (the step is `ok`, nothing else runs),
    PROBE_CHANGE when `apply` would change the host; None: no probe, `apply` always runs (and
    the step is `changed`, unless its `changed_when` says otherwise). `apply`: in order, the
    first that fails fails the attempt. `verify`: after `apply`, exits 0 when the host is in
    the desired state (None: `apply`'s exit codes are the verdict)."""

    apply: tuple[HostCommand, ...]
    probe: str | None = None
    verify: str | None = None


@frozen
class PollAction:
    """Wait until `probe` exits 0 on the host (a port that listens, a URL that answers, a
    file that exists), trying every `interval` seconds for at most `timeout`; it changes
    nothing (the step is `ok`, or `failed` when the time ran out)."""

    probe: str
    interval: float
    timeout: float
    what: str  # "port 8080 on 127.0.0.1 listening": for messages


@frozen
class CheckWaitAction:
    """Wait until the play's checks named here are OK on the host, re-running them every
    `interval` seconds for at most `timeout`."""

    checks: tuple[str, ...]
    interval: float
    timeout: float


@frozen
class RebootAction:
    """Run `command` (the connection drops), then reconnect until the host is back, for at most
    `wait` seconds; `ok` only if it came back (and, with `boot_id`, really rebooted)."""

    command: HostCommand
    wait: float
    boot_id: bool = True  # compare /proc/sys/kernel/random/boot_id before and after


@frozen
class RestoreAction:
    """Restore the host's newest verified snapshot of `backup` (or `snapshot`) to where it was
    taken, as `jarvisctl backups restore` does, with `become` for owners."""

    backup: str
    snapshot: str | None = None


@frozen
class FabricAction:
    """Call an operator's Fabric task `module:function` with a fabric.Connection that
    jarvisctl builds over the same verified route (strict host keys); `args` are its keyword
    arguments. Fabric is imported only when such a step runs."""

    target: str  # "module:function"
    args: Mapping[str, Any] = field(default_factory=dict)
    search_path: str = ""  # the directory the module is imported from (the playbook's)


@frozen
class RemedyAction:
    """A rung of a check's remediation ladder, run as a step (engine/step_remedy.py): its
    `commands` in order (the first that fails fails the attempt; with `reconnect`, the
    connection dropping under one is expected, and the host is reached again within that many
    seconds), then, `settle` seconds later, the check `check` re-run on the host: the attempt
    is verified only if the check's status is one of `verify` (OK: clear of its thresholds)."""

    use: str  # the remediation's name, as its ladder names it
    commands: tuple[HostCommand, ...]
    check: str  # the name of the host's check it remedies
    verify: tuple[str, ...]
    settle: float
    reconnect: float = 0.0


StepAction = (
    ShellAction
    | PollAction
    | CheckWaitAction
    | RebootAction
    | RestoreAction
    | FabricAction
    | RemedyAction
)
# what a plugin step kind may give: the engine alone knows how to run the others
PLUGIN_ACTIONS = (ShellAction, PollAction)


class StepFiles(Protocol):
    """What plan/ gives a kind to read the controller's files (a copy's `src`)."""

    def read(self, src: str, *, template: bool) -> bytes:
        """The file's bytes, relative paths from the playbook's directory; with `template`,
        rendered as a Jinja2 template with the host's variables. Raises ValueError with what
        is wrong (missing file, template error)."""
        ...

    @property
    def directory(self) -> str:
        """The playbook's directory (where a Fabric task's module is looked for)."""
        ...


class StepKind(ABC, Generic[P]):
    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[KindParams]]
    # the parameter a scalar value fills (`run: CMD` -> {command: CMD}); None: a mapping only
    shorthand: ClassVar[str | None] = None
    # parameters whose values are shell templates: rendered with every substitution quoted
    shell_params: ClassVar[frozenset[str]] = frozenset()
    default_timeout: ClassVar[float] = 300.0  # each command's, when the step sets none

    @abstractmethod
    def action(self, params: P, files: StepFiles) -> StepAction:
        """The action for these parameters. Raises ValueError (a located problem in plan/)
        when the parameters cannot make one (a template that does not render)."""

    def summary(self, params: P) -> str:
        """A one-line name for the step when it has no `name:` (plan, console, journal)."""
        return self.name
