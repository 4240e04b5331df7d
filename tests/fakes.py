"""A scripted connection for unit tests: an unexpected command fails the test.

conn = FakeConnection.for_host("web1")
conn.expect("df -P /", stdout="...")                    # exact command
conn.expect(re.compile(r"^sh -s"), stdout="...")         # or a pattern (re.search)
conn.expect("systemctl is-active x", exit_code=3)        # several expect() calls for one
conn.expect("systemctl is-active x", exit_code=0)        # command answer in order, the last repeats
conn.respond(re.compile("cat"), lambda cmd, stdin: ...)  # computed result
FakeConnection.for_host("db1", open_error=UnreachableError("db1: ..."))
conn.refused_opens = 3                                    # the next 3 opens fail (a reboot)

A batched check script (`sh -s`, engine/script.py) that no expectation matches as a whole is
run the way a host would: each of its commands is answered by the expectations above, in
order, and the answers come back between the script's delimiters. So a test scripts the check
commands themselves (`conn.expect("cat level", stdout="95")`), and `calls` lists them after the
`sh -s` that carried them.

clock = FakeClock()   # the engine's clock (core/clock.py), moved by the test: clock.advance(60)
"""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.base import CommandResult, OutputSink, WatchedSink
from jarvisctl.connection.hidden import COMMAND_ON_STDIN
from jarvisctl.connection.shell import SCRIPT_ON_STDIN
from jarvisctl.connection.stdin import StdinSource, stdin_chunks
from jarvisctl.core.errors import UnreachableError

Matcher = str | re.Pattern[str]
Responder = Callable[[str, str | None], CommandResult]


@dataclass(frozen=True)
class Call:
    """One command a test's code ran on the fake."""

    command: str
    timeout: float
    stdin: str | None
    data: bytes | None = None  # the input given as bytes or a stream (then `stdin` is None)


@dataclass
class _Script:
    matcher: Matcher
    answers: list[Responder] = field(default_factory=list)
    used: int = 0

    def matches(self, command: str) -> bool:
        if isinstance(self.matcher, str):
            return command == self.matcher
        return self.matcher.search(command) is not None

    def answer(self, command: str, stdin: str | None) -> CommandResult:
        responder = self.answers[min(self.used, len(self.answers) - 1)]
        self.used += 1
        return responder(command, stdin)


class FakeConnection:
    """Implements the Connection protocol from a script of expected commands."""

    def __init__(
        self, settings: ConnectionSettings, *, open_error: Exception | None = None
    ) -> None:
        self.settings = settings
        self.open_error = open_error
        self.calls: list[Call] = []
        self.opened = 0
        self.preconnected = 0
        self.refused_opens = 0  # the next opens that fail (UnreachableError): a host rebooting
        self._open = False
        self._scripts: list[_Script] = []

    @classmethod
    def for_host(cls, host: str, *, open_error: Exception | None = None) -> FakeConnection:
        return cls(ConnectionSettings(host=host, address=host), open_error=open_error)

    def expect(
        self,
        matcher: Matcher,
        *,
        exit_code: int | None = 0,
        stdout: str = "",
        stderr: str = "",
        timed_out: bool = False,
        duration: float = 0.01,
    ) -> FakeConnection:
        def fixed(command: str, stdin: str | None) -> CommandResult:
            return CommandResult(command, exit_code, stdout, stderr, duration, timed_out)

        return self.respond(matcher, fixed)

    def respond(self, matcher: Matcher, responder: Responder) -> FakeConnection:
        for script in self._scripts:
            if script.matcher == matcher:
                script.answers.append(responder)
                return self
        self._scripts.append(_Script(matcher, [responder]))
        return self

    @property
    def commands(self) -> list[str]:
        return [call.command for call in self.calls]

    @property
    def is_open(self) -> bool:
        return self._open

    def preconnect(self) -> None:
        self.preconnected += 1

    def open(self) -> None:
        if self._open:
            return
        if self.open_error is not None:
            raise self.open_error
        if self.refused_opens > 0:
            self.refused_opens -= 1
            raise UnreachableError(f"{self.settings.host}: connection refused")
        self.opened += 1
        self._open = True

    def close(self) -> None:
        self._open = False

    def run(
        self,
        command: str,
        *,
        timeout: float,
        stdin: StdinSource | None = None,
        sink: OutputSink | None = None,
    ) -> CommandResult:
        if timeout <= 0:
            pytest.fail(f"{self.settings.host}: command run with timeout {timeout!r}: {command!r}")
        self.open()
        if stdin is not None and not isinstance(stdin, str):
            # read whole, as a host would read it all: the responder finds it in calls[-1].data
            self.calls.append(Call(command, timeout, None, b"".join(stdin_chunks(stdin))))
            return _to_sink(self._answer(command, None), sink)
        if command == COMMAND_ON_STDIN and stdin is not None and not self._matching(command):
            command, stdin = stdin, None  # the command is its text, as the host's sh runs it
        self.calls.append(Call(command, timeout, stdin))
        if command == SCRIPT_ON_STDIN and stdin and not self._matching(command):
            return self._run_script(stdin, sink)
        return _to_sink(self._answer(command, stdin), sink)

    def _matching(self, command: str) -> _Script | None:
        return next((s for s in self._scripts if s.matches(command)), None)

    def _answer(self, command: str, stdin: str | None) -> CommandResult:
        script = self._matching(command)
        if script is not None:
            return script.answer(command, stdin)
        expected = ", ".join(repr(s.matcher) for s in self._scripts) or "nothing"
        pytest.fail(f"{self.settings.host}: unexpected command {command!r} (expected: {expected})")

    def _run_script(self, text: str, sink: OutputSink | None) -> CommandResult:
        """Answer each command of a check script, framed by its delimiters as a host's sh
        would print them. A command whose answer has no exit code ends the script there (the
        session died): it and the commands after it get no end mark. A timed-out answer ends
        the script as the connection does when a command overruns its deadline (the sink is
        told, if it watches deadlines; else the answer is coreutils `timeout`'s 124)."""
        token = re.search(r"@@J([0-9a-f]+):B:0", text)
        commands = [_scripted(part) for part in _MARKS_LINE.split(text)[1:-1]]
        if token is None or not commands:
            pytest.fail(f"{self.settings.host}: not a check script: {text[:200]!r}")
        watched = sink if isinstance(sink, WatchedSink) else None
        timeouts = getattr(getattr(sink, "script", None), "timeouts", ())
        mark, out, err = f"@@J{token[1]}", [], []
        for index, command in enumerate(commands):
            timeout = timeouts[index] if index < len(timeouts) else 0.0
            self.calls.append(Call(command, timeout, None))
            result = self._answer(command, None)
            out.append(f"\n{mark}:B:{index}\n{result.stdout}")
            err.append(f"\n{mark}:B:{index}\n{result.stderr}")
            if result.timed_out and watched is not None:
                watched.stdout("".join(out).encode())
                watched.stderr("".join(err).encode())
                watched.overran(killed=False)
                return CommandResult(SCRIPT_ON_STDIN, 143, "", "", 0.01, False)
            code = 124 if result.timed_out else result.exit_code
            if code is None:
                break
            out.append(f"\n{mark}:E:{index}:{code}")
            err.append(f"\n{mark}:E:{index}")
        stdout, stderr = "".join(out) + "\n", "".join(err) + "\n"
        return _to_sink(CommandResult(SCRIPT_ON_STDIN, 0, stdout, stderr, 0.01, False), sink)

    def assert_all_used(self) -> None:
        unused = [s.matcher for s in self._scripts if s.used == 0]
        if unused:
            pytest.fail(f"{self.settings.host}: expected commands never ran: {unused!r}")


# The line that prints a check script's delimiters, before and after each command's lines:
# `COMMAND </dev/null` or `( eval 'COMMAND' ) </dev/null` (engine/script.py, script_line).
_MARKS_LINE = re.compile(r"^printf '\\n@@J.*\n", re.MULTILINE)


def _scripted(lines: str) -> str:
    """The check's own command: a plain one as is, any other inside `( eval '...' )`."""
    target = lines.removesuffix("\n").removesuffix(" </dev/null")
    if target.startswith("( eval ") and target.endswith(" )"):
        (command,) = shlex.split(target[len("( eval ") : -len(" )")])
        return command
    return target


class FakeClock:
    """The engine's clock for tests (core/clock.Clock): it moves only when the test advances
    it or the engine sleeps on it, so hours of budget windows and cooldowns take no time."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.start = start
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []  # every sleep the engine asked for, in seconds

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.now()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        self.slept.append(seconds)
        self.advance(seconds)
        return cancel is not None and cancel.is_set()


def _to_sink(result: CommandResult, sink: OutputSink | None) -> CommandResult:
    """As a real connection does: output given a sink goes to it, not into the result."""
    if sink is None:
        return result
    sink.stdout(result.stdout.encode())
    sink.stderr(result.stderr.encode())
    return replace(result, stdout="", stderr="")
