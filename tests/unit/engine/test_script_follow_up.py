"""A check whose command overruns its deadline: the connection ends the script there, that
check is UNKNOWN (timed out, as coreutils `timeout` reported it), and the checks after it run
in a follow-up script on the same connection, each with its own value."""

from __future__ import annotations

from pathlib import Path

from jarvisctl.connection.shell import SCRIPT_ON_STDIN
from tests.unit.engine.fleet import Fleet

PLAY = {
    "checks": [
        {"name": "first", "use": "command", "with": {"command": "cat first"}},
        {"name": "hung", "use": "command", "with": {"command": "cat hung"}, "timeout": "3s"},
        {"name": "second", "use": "command", "with": {"command": "cat second"}},
        {"name": "third", "use": "command", "with": {"command": "cat third"}, "timeout": "4s"},
    ]
}


def test_the_checks_after_a_hung_one_run_in_a_follow_up_script(tmp_path: Path) -> None:
    fleet = Fleet.create(tmp_path, ("h1",), PLAY)
    step = fleet.run(
        {
            "h1": {
                "cat first": "1",
                "cat hung": {"hang": True, "stdout": "partial"},
                "cat second": "2",
                "cat third": "3",
            }
        }
    )
    (host,) = step.report.hosts
    checks = {c.name: c for c in host.checks}
    assert [checks[n].value for n in ("first", "second", "third")] == [1, 2, 3]
    hung = checks["hung"]
    assert hung.status.value == "unknown" and hung.value is None
    assert hung.reason == "timed out after 3s (the command was killed on the host)"
    assert hung.exit_code == 124 and hung.stdout_tail == "partial"
    fake = step.connections["h1"]
    assert fake.commands == [
        SCRIPT_ON_STDIN,
        "cat first",
        "cat hung",
        SCRIPT_ON_STDIN,  # the follow-up: only the commands that had not run
        "cat second",
        "cat third",
    ]
    scripts = [call for call in fake.calls if call.command == SCRIPT_ON_STDIN]
    assert [call.timeout for call in scripts] == [30 + 3 + 30 + 4 + 3, 30 + 4 + 3]
    assert [c.timeout for c in fake.calls if c.command.startswith("cat ")] == [30, 3, 30, 4]
    batches = [r.data for r in step.records if r.kind == "batch"]
    assert [(b["commands"], b["timed_out"]) for b in batches] == [(4, True), (2, False)]
    commands = {r.data["check"]: r.data for r in step.records if r.kind == "check"}
    assert commands["hung"]["exit_code"] == 124 and commands["third"]["exit_code"] == 0


def test_a_follow_up_that_hangs_again_gets_its_own_follow_up(tmp_path: Path) -> None:
    fleet = Fleet.create(tmp_path, ("h1",), PLAY)
    hang = {"hang": True}
    step = fleet.run(
        {"h1": {"cat first": hang, "cat hung": hang, "cat second": "2", "cat third": hang}}
    )
    (host,) = step.report.hosts
    assert [(c.name, c.value, c.exit_code) for c in host.checks] == [
        ("first", None, 124),
        ("hung", None, 124),
        ("second", 2, 0),
        ("third", None, 124),
    ]
    assert step.connections["h1"].commands.count(SCRIPT_ON_STDIN) == 3
