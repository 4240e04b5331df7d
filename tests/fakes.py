"""A scripted connection for unit tests: an unexpected command fails the test.

conn = FakeConnection.for_host("web1")
conn.expect("df -P /", stdout="...")                    # exact command
conn.expect(re.compile(r"^sh -s"), stdout="...")         # or a pattern (re.search)
conn.expect("systemctl is-active x", exit_code=3)        # several expect() calls for one
conn.expect("systemctl is-active x", exit_code=0)        # command answer in order, the last repeats
conn.respond(re.compile("cat"), lambda cmd, stdin: ...)  # computed result
FakeConnection.for_host("db1", open_error=UnreachableError("db1: ..."))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.base import CommandResult, OutputSink

Matcher = str | re.Pattern[str]
Responder = Callable[[str, str | None], CommandResult]


@dataclass(frozen=True)
class Call:
    """One command a test's code ran on the fake."""

    command: str
    timeout: float
    stdin: str | None


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
        self.opened += 1
        self._open = True

    def close(self) -> None:
        self._open = False

    def run(
        self,
        command: str,
        *,
        timeout: float,
        stdin: str | None = None,
        sink: OutputSink | None = None,
    ) -> CommandResult:
        if timeout <= 0:
            pytest.fail(f"{self.settings.host}: command run with timeout {timeout!r}: {command!r}")
        self.open()
        self.calls.append(Call(command, timeout, stdin))
        for script in self._scripts:
            if script.matches(command):
                return _to_sink(script.answer(command, stdin), sink)
        expected = ", ".join(repr(s.matcher) for s in self._scripts) or "nothing"
        pytest.fail(f"{self.settings.host}: unexpected command {command!r} (expected: {expected})")

    def assert_all_used(self) -> None:
        unused = [s.matcher for s in self._scripts if s.used == 0]
        if unused:
            pytest.fail(f"{self.settings.host}: expected commands never ran: {unused!r}")


def _to_sink(result: CommandResult, sink: OutputSink | None) -> CommandResult:
    """As a real connection does: output given a sink goes to it, not into the result."""
    if sink is None:
        return result
    sink.stdout(result.stdout.encode())
    sink.stderr(result.stderr.encode())
    return replace(result, stdout="", stderr="")
