"""bench/capture.py finds the benchmark's commands in the script jarvisctl sends (it reads the
recorded script without importing jarvisctl's engine: this test holds the two together)."""

from __future__ import annotations

from bench.capture import RemoteWork
from bench.commands import COMMANDS
from jarvisctl.engine.script import compose_script, script_line


def test_the_command_lines_of_jarvisctls_script_are_found_and_replaced() -> None:
    script = compose_script([(command, 30.0) for _, command in COMMANDS])
    work = RemoteWork("sh -s", script.text)
    lines = script.text.splitlines()
    assert [lines[i] for i in work.command_lines] == [script_line(c) for _, c in COMMANDS]
    swapped = work.replace_commands({c: f"{{ {c}; }}" for _, c in COMMANDS})
    assert [swapped.script.splitlines()[i] for i in work.command_lines] == [
        f"{{ {c}; }}" for _, c in COMMANDS
    ]
