"""A fabric step: an operator's existing Fabric task (`module:function`, the module found in the
playbook's directory) called as `function(c, **args)`, with a fabric.Connection that runs over
an SSH connection jarvisctl opened itself: the same route (ssh_config, ProxyJump), the same
identity, and the host key checked as every jarvisctl connection checks it (strict by default;
Fabric's own default would trust any key). Fabric is imported only when such a step runs.

Each command the task runs travels on its channel's stdin, as every step's does (see
connection/hidden.py): the exec line is a fixed reader (READ_COMMAND), so that the host's process
list never shows the command, nor a secret in it. The reader takes exactly the command's lines
with the shell's own `read`, so that the rest of stdin stays the command's (`in_stream`, a sudo
password); `c.run`'s result, `warn`, `hide`, `env` and watchers are Fabric's own. A command run
with `pty=True` is sent as Fabric sends it, on the exec line: a terminal echoes what its input
brings, so the command would be in its output instead.

The task runs in a thread of its own so that the step's `timeout` and the run's stop can end it:
its connection is then closed under it. Each command it runs (`c.run`, `c.sudo`) is a Command
event, and its output is kept off the controller's terminal. An exception is the step's failure,
with its message (Fabric's UnexpectedExit names the command, its exit code and output tail).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from jarvisctl.config.models.values import format_duration
from jarvisctl.connection.registry import make_connection
from jarvisctl.core.errors import UnreachableError
from jarvisctl.core.events import TAIL, Command
from jarvisctl.core.results import StepOutcome
from jarvisctl.engine.step_attempt import Ran, StepHost
from jarvisctl.kinds.step_base import FabricAction
from jarvisctl.plan.model import StepPlan

POLL = 0.2  # seconds between two looks at the run's stop while the task runs
# The exec line of a Fabric task's command: the number of lines of the command, then its lines,
# come on stdin; the shell reads them, forgets its own variables, and runs the command.
READ_COMMAND = (
    "IFS= read -r __jv_n || exit 127; __jv_c=; "
    'while [ "$__jv_n" -gt 0 ]; do IFS= read -r __jv_l; __jv_c="$__jv_c$__jv_l\n"; '
    "__jv_n=$((__jv_n - 1)); done; "
    'eval "unset __jv_n __jv_l __jv_c; $__jv_c"'
)


def framed(command: str) -> bytes:
    """What READ_COMMAND reads on stdin: the command's line count, then its lines."""
    text = command if command.endswith("\n") else command + "\n"
    return f"{text.count(chr(10))}\n{text}".encode()


def fabric_attempt(runner: StepHost, step: StepPlan, action: FabricAction) -> Ran:
    if runner.checking:
        return Ran(StepOutcome.WOULD_CHANGE, f"would call the Fabric task {action.target}", False)
    try:
        function = load_task(action)
    except (ImportError, AttributeError, ValueError, OSError, SyntaxError) as exc:
        return Ran(StepOutcome.FAILED, f"cannot load the Fabric task {action.target}: {exc}")
    settings = runner.connection.settings
    own = make_connection(settings)
    opened = getattr(own, "paramiko_client", None)
    if opened is None:
        return Ran(
            StepOutcome.FAILED,
            f"a fabric step needs an SSH host; {settings.host} has connection: "
            f"{settings.connection}",
        )
    try:
        client = opened()
    except UnreachableError as exc:
        return Ran(StepOutcome.FAILED, f"cannot open the Fabric task's connection: {exc}")
    try:
        connection = _fabric_connection(runner, step, client)
        return _call(runner, step, action, function, connection)
    finally:
        own.close()


def load_task(action: FabricAction) -> Any:
    """`function` of `module` (a dotted name) from the action's directory, loaded from its
    file without touching sys.path or sys.modules (hosts run in threads side by side)."""
    module_name, _, function_name = action.target.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"{action.target!r} is not module:function")
    base = Path(action.search_path or ".")
    parts = module_name.split(".")
    candidates = [base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ImportError(f"no module {module_name!r} in {base} (looked for {candidates[0].name})")
    module = _load(path)
    function = getattr(module, function_name, None)
    if function is None or not callable(function):
        raise AttributeError(f"{path} has no task (function) named {function_name!r}")
    return function


def _load(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"jarvisctl_fabfile_{digest}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fabric_connection(runner: StepHost, step: StepPlan, client: Any) -> Any:
    """A fabric.Connection over jarvisctl's open SSHClient, its commands recorded and their
    output kept off the terminal and away from the controller's stdin."""
    import fabric
    from paramiko import RejectPolicy

    session = runner.session

    def record(command: str, result: Any, timed_out: bool = False) -> None:
        stdout, stderr = str(getattr(result, "stdout", "")), str(getattr(result, "stderr", ""))
        session.emit(
            Command(
                purpose="step",
                check=step.name,
                command=command,
                exit_code=getattr(result, "exited", None),
                stdout_tail=stdout[-TAIL:],
                stderr_tail=stderr[-TAIL:],
                timed_out=timed_out,
            )
        )

    class Recorded(fabric.Connection):  # type: ignore[misc]
        def run(self, command: str, **kwargs: Any) -> Any:
            return _recorded(super().run, command, kwargs, record)

        def sudo(self, command: str, **kwargs: Any) -> Any:
            return _recorded(super().sudo, command, kwargs, record)

    transport = client.get_transport()
    settings = runner.connection.settings
    config = fabric.Config(
        overrides={
            "run": {"hide": True, "in_stream": False},
            "sudo": {"hide": True},
            "runners": {"remote": _command_on_stdin()},
        }
    )
    # c.host and c.port as the inventory names them (what a fabfile may print or branch on)
    connection = Recorded(
        settings.address,
        user=transport.get_username(),
        port=settings.port,
        config=config,
        connect_kwargs={},
    )
    client.set_missing_host_key_policy(RejectPolicy())  # never Fabric's AutoAddPolicy
    connection.client = client
    connection.transport = transport
    return connection


def _command_on_stdin() -> type:
    """Fabric's runner, its command sent on stdin (a `pty=True` command: on the exec line)."""
    from fabric.runners import Remote

    class CommandOnStdin(Remote):  # type: ignore[misc]
        def send_start_message(self, command: str) -> None:
            if self.using_pty:  # a terminal would echo the command into the output
                super().send_start_message(command)
                return
            self.channel.exec_command(READ_COMMAND)
            self.channel.sendall(framed(command))

    return CommandOnStdin


def _recorded(run: Any, command: str, kwargs: dict[str, Any], record: Any) -> Any:
    from invoke.exceptions import CommandTimedOut, UnexpectedExit

    try:
        result = run(command, **kwargs)
    except UnexpectedExit as exc:
        record(command, exc.result)
        raise
    except CommandTimedOut as exc:
        record(command, exc.result, timed_out=True)
        raise
    record(command, result)
    return result


def _call(
    runner: StepHost, step: StepPlan, action: FabricAction, function: Any, connection: Any
) -> Ran:
    """function(c, **args) in a thread, within the step's timeout and the run's stop."""
    failure: list[BaseException] = []

    def task() -> None:
        try:
            function(connection, **dict(action.args))
        except BaseException as exc:  # the task's failure, reported as the step's
            failure.append(exc)

    worker = threading.Thread(target=task, name=f"fabric-{step.name}", daemon=True)
    clock = runner.session.clock
    deadline = clock.monotonic() + step.timeout
    worker.start()
    while worker.is_alive():
        worker.join(POLL)
        if runner.cancel.is_set() or clock.monotonic() >= deadline:
            connection.close()  # ends what it runs on the host's side
            worker.join(POLL * 5)
            if runner.cancel.is_set():
                return Ran(StepOutcome.INTERRUPTED, f"the Fabric task {action.target} was stopped")
            limit = format_duration(step.timeout)
            return Ran(StepOutcome.FAILED, f"the Fabric task {action.target} ran over {limit}")
    if failure:
        exc = failure[0]
        text = str(exc).strip() or type(exc).__name__
        return Ran(StepOutcome.FAILED, f"the Fabric task {action.target} failed: {text}")
    return Ran(StepOutcome.CHANGED, f"called the Fabric task {action.target}")
