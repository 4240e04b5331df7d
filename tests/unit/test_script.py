"""The batched check script: composed, run by a real sh, split back exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jarvisctl.engine.script import ScriptOutput, compose_script, script_line, split_outputs
from jarvisctl.kinds.base import CommandOutput


def run(commands: list[tuple[str, float]]) -> list[CommandOutput]:
    script = compose_script(commands)
    done = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True)
    outputs = split_outputs(script, done.stdout, done.stderr)
    found = [o for o in outputs if o is not None]
    assert len(found) == len(commands), "a command's output went missing"
    return found


def test_outputs_exit_codes_and_stderr_come_back_exactly() -> None:
    outputs = run([("printf abc", 5), ("echo err >&2; exit 3", 5), ("printf 'a\\n\\n'", 5)])
    assert [(o.stdout, o.stderr, o.exit_code) for o in outputs] == [
        ("abc", "", 0),
        ("", "err\n", 3),
        ("a\n\n", "", 0),
    ]


def test_a_command_cannot_read_the_script_from_stdin() -> None:
    (first, second) = run([("cat", 5), ("echo still here", 5)])
    assert first.stdout == ""
    assert second.stdout == "still here\n"


def test_forged_delimiters_in_output_do_not_confuse_the_split() -> None:
    (out,) = run([("echo '@@Jfake:E:0:0'; echo real", 5)])
    assert out.stdout == "@@Jfake:E:0:0\nreal\n"


@pytest.mark.parametrize(
    ("command", "direct"),
    [
        ("df -P /", True),
        ("systemctl is-active --quiet app.service", True),
        ("date +%s", True),
        ("test -d /tmp", True),
        ("ls /proc | grep -c x", False),
        ("echo $HOME", False),
        ("df -P '/my dir'", False),
        ("X=1 env", False),
        ("cd /tmp", False),
        ("exit 3", False),
        ("if true", False),
        ("cat /tmp/*.log", False),
    ],
)
def test_plain_commands_run_in_the_scripts_own_shell(command: str, direct: bool) -> None:
    """No process beside a command: a plain one is the script's line as it is, any other is
    `eval`ed in a subshell (a fork, no program: its syntax and its `exit` or `cd` its own)."""
    line = script_line(command)
    assert line.endswith(" </dev/null") and "timeout" not in line
    assert (line == f"{command} </dev/null") is direct
    assert line.startswith("( eval ") is not direct


def test_a_command_is_kept_to_itself() -> None:
    """What a command does to its shell (exit, cd, a syntax error, a comment, the positional
    parameters) does not reach the script nor the commands after it."""
    outputs = run(
        [
            ("exit 3", 5),
            ('cd /; X=1; echo "$# $1" # a comment, no newline', 5),
            ("echo 'unterminated", 5),
            ('pwd; echo "[$X]"', 5),
            ("printf 'two\\nlines\\n'\necho third", 5),
        ]
    )
    assert outputs[0] == CommandOutput("", "", 3)
    assert outputs[1] == CommandOutput("0 \n", "", 0)
    assert outputs[2].exit_code == 2 and outputs[2].stdout == ""
    assert outputs[3].stdout == f"{Path.cwd()}\n[]\n"
    assert outputs[4].stdout == "two\nlines\nthird\n"


def test_plain_and_shell_forms_give_the_same_output() -> None:
    outputs = run([("expr 6 + 36", 5), ("expr 6 '+' 36", 5)])
    assert [o.stdout for o in outputs] == ["42\n", "42\n"]


def test_a_script_cut_short_gives_none_for_the_commands_that_did_not_end() -> None:
    script = compose_script([("echo one", 5), ("echo two", 5), ("echo three", 5)])
    done = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True)
    cut = done.stdout.index("two\n") + len("two\n")  # the connection died inside command 1
    outputs = split_outputs(script, done.stdout[:cut], done.stderr)
    assert outputs[0] == CommandOutput("one\n", "", 0)
    assert outputs[1:] == [None, None]
    half_mark = done.stdout[: done.stdout.index(":E:1") + len(":E:1:0")]  # no final newline
    assert split_outputs(script, half_mark, done.stderr)[1] is None


def test_one_write_per_stream_between_two_commands() -> None:
    """Each write of the script is an SSH packet for sshd to encrypt and the controller to
    parse: a command's end mark and the next one's start mark share one printf per stream."""
    script = compose_script([("echo one", 5), ("echo two", 5), ("echo three", 5)])
    assert script.text.count("printf ") == 2 * (3 + 1)
    done = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True)
    outputs = split_outputs(script, done.stdout, done.stderr)
    assert [o.stdout if o else None for o in outputs] == ["one\n", "two\n", "three\n"]


def test_deadlines_and_times_count_from_when_each_part_arrived() -> None:
    """An SSH connection reads a script's output in bulk, each packet with the time it arrived
    (connection/channel.py stamp_output): a command's deadline and its time come from its
    marks' arrival, not from when the controller got round to reading them."""
    script = compose_script([("echo one", 5), ("sleep 1", 2)])
    done = subprocess.run(["sh", "-s"], input=script.text.encode(), capture_output=True)
    out = done.stdout
    second = out.index(b":B:1\n") + len(b":B:1\n")  # up to command 1's begin mark
    reader = ScriptOutput(script)
    reader.stdout(out[:second], at=100.0)
    assert reader.overrun_at() == 100.0 + 2
    reader.stdout(out[second:], at=101.25)
    reader.stderr(done.stderr, at=101.25)
    first, sleeper = reader.captures()
    assert first is not None and first.seconds == 0.0
    assert sleeper is not None and sleeper.seconds == 1.25
    assert sleeper.output == CommandOutput("", "", 0)
