"""FakeConnection answers a batched check script the way a host's sh would: the engine's
cases rely on it, so it is held to the real script's splitter (engine/script.py)."""

from __future__ import annotations

import pytest

from jarvisctl.connection.shell import SCRIPT_ON_STDIN
from jarvisctl.engine.script import Script, ScriptOutput, compose_script, split_outputs
from jarvisctl.kinds.base import CommandOutput
from tests.fakes import FakeConnection

COMMANDS = [("cat level", 30.0), ("df -P / | tail -1", 10.0), ("true", 5.0)]


def run_script(fake: FakeConnection, script: Script) -> list[CommandOutput | None]:
    reader = ScriptOutput(script)
    fake.run(SCRIPT_ON_STDIN, timeout=script.budget, stdin=script.text, sink=reader)
    return [None if c is None else c.output for c in reader.captures()]


def test_each_command_of_a_script_is_answered_between_its_delimiters() -> None:
    script = compose_script(COMMANDS)
    fake = FakeConnection.for_host("h1")
    fake.expect("cat level", stdout="95\n")
    fake.expect("df -P / | tail -1", stdout="no newline", stderr="warned", exit_code=2)
    fake.expect("true")
    assert run_script(fake, script) == [
        CommandOutput("95\n", "", 0),
        CommandOutput("no newline", "warned", 2),
        CommandOutput("", "", 0),
    ]
    assert fake.commands == [SCRIPT_ON_STDIN, "cat level", "df -P / | tail -1", "true"]
    assert [call.timeout for call in fake.calls[1:]] == [30.0, 10.0, 5.0]


def test_a_command_with_no_exit_code_ends_the_script_there() -> None:
    script = compose_script(COMMANDS)
    fake = FakeConnection.for_host("h1")
    fake.expect("cat level", stdout="95\n")
    fake.expect("df -P / | tail -1", stdout="partial", exit_code=None)
    assert run_script(fake, script) == [CommandOutput("95\n", "", 0), None, None]
    assert fake.commands == [SCRIPT_ON_STDIN, "cat level", "df -P / | tail -1"]


def test_a_timed_out_answer_ends_the_script_as_the_connection_does() -> None:
    """The command overran: the sink is told, and the script ends there; the command is
    reported with the exit status coreutils `timeout` gives, the ones after it not at all."""
    script = compose_script(COMMANDS)
    fake = FakeConnection.for_host("h1")
    fake.expect("cat level", stdout="9", timed_out=True, exit_code=None)
    assert run_script(fake, script) == [CommandOutput("9", "", 124), None, None]
    assert fake.commands == [SCRIPT_ON_STDIN, "cat level"]


def test_whole_outputs_of_a_script_split_as_a_host_prints_them() -> None:
    script = compose_script(COMMANDS)
    fake = FakeConnection.for_host("h1")
    fake.expect("cat level", stdout="95\n")
    fake.expect("df -P / | tail -1", stdout="x")
    fake.expect("true")
    result = fake.run(SCRIPT_ON_STDIN, timeout=script.budget, stdin=script.text)
    assert split_outputs(script, result.stdout, result.stderr) == [
        CommandOutput("95\n", "", 0),
        CommandOutput("x", "", 0),
        CommandOutput("", "", 0),
    ]


def test_a_command_the_script_was_not_told_of_fails_the_test() -> None:
    fake = FakeConnection.for_host("h1")
    fake.expect("cat level", stdout="95\n")
    with pytest.raises(pytest.fail.Exception, match="unexpected command 'true'"):
        run_script(fake, compose_script([("cat level", 30.0), ("true", 5.0)]))


def test_a_script_expectation_still_answers_the_whole_script() -> None:
    fake = FakeConnection.for_host("h1")
    fake.expect(SCRIPT_ON_STDIN, stdout="")
    assert run_script(fake, compose_script(COMMANDS)) == [None, None, None]
    assert fake.commands == [SCRIPT_ON_STDIN]
