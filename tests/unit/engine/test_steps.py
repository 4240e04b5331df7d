"""The step engine on a scripted host: guards, probe/apply/verify, changed_when, retries on the
run's clock, become, check mode, polls, waits for checks, reboots, and what is recorded."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.core.errors import UnreachableError
from jarvisctl.core.events import EventKind
from jarvisctl.core.regex_search import MATCH_SECONDS, SEARCHED_CHARS
from jarvisctl.core.results import StepOutcome
from jarvisctl.kinds.step_base import (
    CheckWaitAction,
    HostCommand,
    PollAction,
    RebootAction,
    ShellAction,
)
from tests.hostile import deadline
from tests.unit.engine.steps_host import Host, shell, step

OK, CHANGED, FAILED = StepOutcome.OK, StepOutcome.CHANGED, StepOutcome.FAILED
SKIPPED, WOULD = StepOutcome.SKIPPED, StepOutcome.WOULD_CHANGE


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


@pytest.mark.parametrize(
    ("guard", "command", "reason"),
    [
        ({"creates": "/var/x y"}, "test -e '/var/x y'", "skipped: creates /var/x y holds"),
        ({"removes": "/tmp/old"}, "test ! -e /tmp/old", "skipped: removes /tmp/old holds"),
        ({"unless": "grep -q on /etc/f"}, "grep -q on /etc/f", "unless 'grep -q on /etc/f'"),
    ],
)
def test_a_guard_that_holds_makes_the_step_ok_without_running_it(
    host: Host, guard: dict[str, Any], command: str, reason: str
) -> None:
    host.fake.expect(command, exit_code=0)
    note = host.runner().run(step(shell("touch /var/x", probe="false"), **guard))
    assert (note.outcome, note.attempts) == (OK, 0)
    assert reason in note.reason
    assert host.fake.commands == [command]


def test_a_guard_that_does_not_hold_lets_the_action_run(host: Host) -> None:
    host.fake.expect("test -e /x", exit_code=1).expect("touch /x")
    note = host.runner().run(step(shell("touch /x"), creates="/x"))
    assert (note.outcome, note.attempts, note.reason) == (CHANGED, 1, "applied")
    assert host.fake.commands == ["test -e /x", "touch /x"]


def test_probe_ok_runs_nothing_else(host: Host) -> None:
    host.fake.expect("probe", exit_code=0)
    note = host.runner().run(step(shell("apply", probe="probe", verify="verify")))
    assert (note.outcome, note.attempts) == (OK, 0)
    assert host.fake.commands == ["probe"]


def test_probe_change_applies_in_order_with_stdin_then_verifies(host: Host) -> None:
    host.fake.expect("probe", exit_code=1).expect("first").expect("second").expect("verify")
    action = ShellAction(
        (HostCommand("first", stdin=b"content\x00"), HostCommand("second", describe="2nd")),
        probe="probe",
        verify="verify",
    )
    note = host.runner().run(step(action))
    assert (note.outcome, note.reason) == (CHANGED, "applied and verified")
    assert host.fake.commands == ["probe", "first", "second", "verify"]
    assert host.fake.calls[1].data == b"content\x00"
    assert note.commands == ("probe", "first", "2nd", "verify")
    assert note.exit_codes == (1, 0, 0, 0)


def test_a_probe_that_fails_fails_the_step_naming_it(host: Host) -> None:
    host.fake.expect("probe", exit_code=2, stderr="probe: no such unit")
    note = host.runner().run(step(shell("apply", probe="probe")))
    assert note.outcome is FAILED
    # said by what it printed, not by its script (a copy's probe is a dozen lines)
    assert note.reason == "the probe of 'step 1' exited 2: probe: no such unit"
    assert "apply" not in host.fake.commands


def test_a_failed_verification_fails_the_step(host: Host) -> None:
    host.fake.expect("apply").expect("verify", exit_code=1)
    note = host.runner().run(step(shell("apply", verify="verify")))
    assert note.outcome is FAILED
    assert note.reason.startswith("verification failed: 'verify' exited 1")


def test_retries_wait_delay_on_the_clock_and_the_second_attempt_counts(host: Host) -> None:
    host.fake.expect("apply", exit_code=1, stderr="busy").expect("apply", exit_code=0)
    note = host.runner().run(step(shell("apply"), retries=2, delay=10.0))
    assert (note.outcome, note.attempts) == (CHANGED, 2)
    assert note.reason == "applied (attempt 2)"
    assert host.clock.slept == [10.0]


def test_every_attempt_failing_fails_with_the_last_reason(host: Host) -> None:
    host.fake.expect("apply", exit_code=3, stderr="still busy")
    note = host.runner().run(step(shell("apply"), retries=2, delay=1.0))
    assert (note.outcome, note.attempts) == (FAILED, 3)
    assert note.reason == "'apply' exited 3: still busy (attempt 3)"
    assert host.clock.slept == [1.0, 1.0]


def test_a_timed_out_command_fails_its_attempt_and_the_step_timeout_is_passed(
    host: Host,
) -> None:
    host.fake.expect("sleep 99", exit_code=124, timed_out=True, duration=7.0)
    note = host.runner().run(step(shell("sleep 99"), timeout=7.0))
    assert note.outcome is FAILED
    assert note.reason == "'sleep 99' timed out after 7s"
    assert host.fake.calls[0].timeout == 7.0


def test_the_run_stopped_during_the_delay_interrupts_the_step(host: Host) -> None:
    host.fake.expect("apply", exit_code=1)

    def stopped_while_waiting(seconds: float, cancel: object = None) -> bool:
        return True

    host.clock.sleep = stopped_while_waiting  # type: ignore[method-assign]
    note = host.runner().run(step(shell("apply"), retries=1))
    assert note.outcome is StepOutcome.INTERRUPTED
    assert note.reason == "interrupted before attempt 2: 'apply' exited 1"
    assert host.fake.commands == ["apply"]


@pytest.mark.parametrize(
    ("rule", "stdout", "outcome"),
    [
        (False, "", OK),
        (True, "", CHANGED),
        (r"^upgraded \d+", "upgraded 3 packages\n", CHANGED),
        (r"^upgraded \d+", "0 upgraded\n", OK),
    ],
)
def test_changed_when(host: Host, rule: bool | str, stdout: str, outcome: StepOutcome) -> None:
    host.fake.expect("apt-get upgrade -y", stdout=stdout)
    note = host.runner().run(step(shell("apt-get upgrade -y"), changed_when=rule))
    assert note.outcome is outcome
    assert note.attempts == 1


def test_changed_when_cannot_hang_on_hostile_output(host: Host) -> None:
    """A pattern that backtracks catastrophically (it passes the language's check: no nested
    repetition, yet each `.*` multiplies the work) on a long hostile output: the search is
    bounded in time, and the step counts as changed, saying why."""
    rule = r".*.*.*.*x"  # O(n^5) on a line of n 'a's: hours for 5000 of them
    host.fake.expect("emit", stdout="a" * 5000)
    started = time.monotonic()
    with deadline(MATCH_SECONDS + 20):
        note = host.runner().run(step(shell("emit"), changed_when=rule))
    assert time.monotonic() - started < MATCH_SECONDS + 10
    assert note.outcome is CHANGED
    assert note.reason == (
        f"applied; its output could not be matched against changed_when {rule!r} within "
        f"{MATCH_SECONDS:g}s (a pattern that backtracks too much?): counted as changed"
    )


def test_changed_when_searches_the_tail_of_a_long_output(host: Host) -> None:
    long = "upgraded 3 packages\n" + "x" * SEARCHED_CHARS + "\n"
    host.fake.expect("apt-get upgrade -y", stdout=long)
    note = host.runner().run(step(shell("apt-get upgrade -y"), changed_when="^upgraded"))
    assert note.outcome is OK  # its first line is beyond the tail searched
    host.fake.expect("apt-get upgrade -y", stdout=long + "upgraded 1 more\n")
    note = host.runner().run(step(shell("apt-get upgrade -y"), changed_when="^upgraded"))
    assert note.outcome is CHANGED


def test_become_wraps_each_command_in_sudo_unless_the_login_is_the_user(host: Host) -> None:
    host.fake.expect(re.compile("sudo -n -- sh -c"), exit_code=1)
    host.fake.expect(re.compile("sudo -n -u"), exit_code=0)
    runner = host.runner()
    runner.run(step(shell("apply", probe="test -f /etc/x"), become=True))
    assert host.fake.commands[0] == (
        'if [ "$(id -un)" = root ]; then exec sh -c \'eval "$(cat)"\'; '
        "else exec sudo -n -- sh -c 'eval \"$(cat)\"'; fi"
    )
    assert host.fake.calls[0].stdin == "test -f /etc/x"  # the command, on sudo's stdin
    host.fake.calls.clear()
    host.runner(become_user="app").run(step(shell("apply", probe="p"), become=True))
    assert "sudo -n -u app -- sh -c 'eval" in host.fake.commands[0]


def test_a_command_travels_on_stdin_unless_stdin_carries_its_data(host: Host) -> None:
    host.fake.expect("probe", exit_code=1).expect("cat > /f").expect("v")
    action = ShellAction((HostCommand("cat > /f", stdin=b"data"),), "probe", "v")
    host.runner().run(step(action))
    sent = [(c.command, c.stdin, c.data) for c in host.fake.calls]
    assert sent == [("probe", None, None), ("cat > /f", None, b"data"), ("v", None, None)]


def test_a_connection_with_become_already_is_not_wrapped_again(host: Host) -> None:
    host.fake.expect("probe", exit_code=0)
    host.runner(become=True).run(step(shell("apply", probe="probe"), become=True))
    assert host.fake.commands == ["probe"]


def test_the_journal_shows_the_step_not_the_become_wrapper(host: Host) -> None:
    host.fake.expect(re.compile("sudo"), exit_code=0)
    host.runner().run(step(shell("apply", probe="probe"), become=True))
    assert [c["command"] for c in host.command_events()] == ["probe"]


def test_check_mode_probes_and_guards_but_never_applies(host: Host) -> None:
    host.fake.expect("test -e /done", exit_code=1).expect("probe", exit_code=1)
    runner = host.runner("check")
    note = runner.run(step(shell("apply", probe="probe", verify="v"), creates="/done"))
    assert note.outcome is WOULD
    assert note.reason == "would run 'apply' (the probe says it is needed)"
    assert note.attempts == 0
    unprobed = runner.run(step(shell("a1", "a2")))
    assert unprobed.outcome is WOULD
    assert unprobed.reason == "would run 'a1' and 1 more (no probe to ask)"
    assert host.fake.commands == ["test -e /done", "probe"]


def test_check_mode_reports_ok_when_the_probe_says_so(host: Host) -> None:
    host.fake.expect("probe", exit_code=0)
    note = host.runner("check").run(step(shell("apply", probe="probe"), retries=3))
    assert note.outcome is OK
    assert host.clock.slept == []


def test_after_a_failed_step_the_rest_are_skipped_and_the_callbacks_see_every_step(
    host: Host,
) -> None:
    host.fake.expect("one").expect("two", exit_code=1)
    steps = [step(shell("one"), 0, name="a"), step(shell("two"), 1, name="b")]
    steps.append(step(shell("three"), 2, name="c"))
    seen: list[str] = []
    notes = host.runner().run_all(
        steps,
        before=lambda s: seen.append(f"before {s.name}"),
        after=lambda s, n: seen.append(f"after {s.name} {n.outcome.value}"),
    )
    assert [n.outcome for n in notes] == [CHANGED, FAILED, SKIPPED]
    assert notes[2].reason == "after 'b' failed"
    assert seen == ["before a", "after a changed", "before b", "after b failed", "after c skipped"]
    assert [e["outcome"] for e in host.step_events()] == ["changed", "failed", "skipped"]
    assert host.fake.commands == ["one", "two"]


def test_every_step_and_command_is_an_event(host: Host) -> None:
    host.fake.expect("probe", exit_code=1).expect("apply", stdout="did it\n")
    host.runner().run(step(shell("apply", probe="probe"), name="fix it"))
    (record,) = host.step_events()
    assert record == {
        "phase": "task",
        "index": 0,
        "name": "fix it",
        "step_kind": "run",
        "outcome": "changed",
        "reason": "applied",
        "attempts": 1,
        "commands": ["probe", "apply"],
        "exit_codes": [1, 0],
        "seconds": 0.0,
        "rollout": "r1",
    }
    commands = host.command_events()
    assert [(c["purpose"], c["check"], c["command"]) for c in commands] == [
        ("step", "fix it", "probe"),
        ("step", "fix it", "apply"),
    ]
    assert commands[1]["stdout_tail"] == "did it\n"


def test_a_connection_lost_mid_step_fails_it(host: Host) -> None:
    def drop(command: str, stdin: str | None) -> object:
        raise UnreachableError("h1: connection closed by the host")

    host.fake.respond("apply", drop)  # type: ignore[arg-type]
    note = host.runner().run(step(shell("apply")))
    assert note.outcome is FAILED
    assert note.reason == "the connection was lost: h1: connection closed by the host"


def test_a_stopped_run_skips_the_steps_not_started(host: Host) -> None:
    host.cancel.set()
    notes = host.runner().run_all([step(shell("apply"))])
    assert [(n.outcome, n.reason) for n in notes] == [
        (SKIPPED, "the run was stopped before this step")
    ]
    assert host.fake.commands == []


def test_a_poll_waits_for_its_probe(host: Host) -> None:
    probe = "nc -z 127.0.0.1 8080"
    for code in (1, 1, 0):
        host.fake.expect(probe, exit_code=code)
    action = PollAction(probe, interval=3.0, timeout=60.0, what="port 8080 listening")
    note = host.runner().run(step(action, kind="wait_for"))
    assert note.outcome is OK
    assert note.reason == "port 8080 listening (after 3 tries, 6s)"
    assert host.clock.slept == [3.0, 3.0]
    assert note.commands == (probe,)
    assert len(host.command_events()) == 3


def test_a_poll_that_never_passes_fails_at_its_timeout(host: Host) -> None:
    host.fake.expect("probe", exit_code=1)
    action = PollAction("probe", interval=4.0, timeout=10.0, what="port 8080 listening")
    note = host.runner().run(step(action, kind="wait_for"))
    assert note.outcome is FAILED
    assert note.reason == "not port 8080 listening within 10s (4 tries)"
    assert host.clock.slept == [4.0, 4.0, 2.0]


def test_a_poll_that_cannot_tell_says_why_at_its_timeout(host: Host) -> None:
    host.fake.expect("probe", exit_code=2, stderr="no nc with -z, bash, curl: install nc")
    action = PollAction("probe", interval=5.0, timeout=5.0, what="port 8080 listening")
    note = host.runner().run(step(action, kind="wait_for"))
    assert note.outcome is FAILED
    assert note.reason == (
        "not port 8080 listening within 5s (2 tries): no nc with -z, bash, curl: install nc"
    )


def test_a_check_wait_reruns_the_named_checks_until_ok(host: Host) -> None:
    for value in ("95", "95", "10"):
        host.fake.expect("cat level", stdout=value)
    action = CheckWaitAction(("level",), interval=5.0, timeout=60.0)
    note = host.runner().run(step(action, kind="wait_for"))
    assert (note.outcome, note.reason) == (OK, "'level' OK")
    assert host.clock.slept == [5.0, 5.0]


def test_a_check_wait_that_times_out_says_which_check_is_not_ok(host: Host) -> None:
    host.fake.expect("cat level", stdout="95")
    action = CheckWaitAction(("level",), interval=5.0, timeout=9.0)
    note = host.runner().run(step(action, kind="wait_for"))
    assert note.outcome is FAILED
    assert note.reason.startswith("not OK after 9s: 'level' critical")


def test_a_check_wait_on_an_unknown_check_fails_naming_the_known(host: Host) -> None:
    action = CheckWaitAction(("levle",), interval=5.0, timeout=9.0)
    note = host.runner().run(step(action, kind="wait_for"))
    assert note.outcome is FAILED
    assert "no check named 'levle'" in note.reason and "did you mean 'level'" in note.reason


BOOT_ID = "cat /proc/sys/kernel/random/boot_id"


def dropping(host: Host, refusals: int) -> None:
    """The reboot command: the connection drops, and the host refuses `refusals` opens."""

    def drop(command: str, stdin: str | None) -> object:
        host.fake.close()
        host.fake.refused_opens = refusals
        raise UnreachableError("h1: connection closed by the host")

    host.fake.respond("systemctl reboot", drop)  # type: ignore[arg-type]


def test_a_reboot_reconnects_until_the_host_is_back_with_a_new_boot_id(host: Host) -> None:
    host.fake.expect(BOOT_ID, stdout="aaa\n").expect(BOOT_ID, stdout="bbb\n")
    dropping(host, refusals=2)
    runner = host.runner()
    runner.connection = old = host.fake
    note = runner.run(step(RebootAction(HostCommand("systemctl reboot"), wait=60.0)))
    assert (note.outcome, note.reason) == (CHANGED, "rebooted and back (new boot id)")
    assert host.clock.slept == [2.0, 2.0]
    assert host.fake.commands == [BOOT_ID, "systemctl reboot", BOOT_ID]
    assert runner.connection is old and runner.connection.is_open
    # the reboot's own alerts are silenced from its start to its Step event (issue 19)
    kinds = [e.kind.value for e in host.events.events if e.kind.value in ("maintenance", "step")]
    assert kinds == ["maintenance", "step"]
    (begun,) = host.events.of_kind(EventKind.MAINTENANCE)
    assert begun.data == {
        "what": "reboot",
        "name": "step 1",
        "key": "step:task:0",
        "seconds": 360.0,
    }


def test_a_host_that_answers_with_the_same_boot_id_did_not_reboot(host: Host) -> None:
    host.fake.expect(BOOT_ID, stdout="aaa\n")
    host.fake.expect("systemctl reboot", exit_code=143)  # ended by a signal: goes on waiting
    note = host.runner().run(step(RebootAction(HostCommand("systemctl reboot"), wait=5.0)))
    assert note.outcome is FAILED
    assert note.reason == "the host did not reboot within 5s (same boot id)"


def test_a_host_that_does_not_come_back_in_time_fails_the_reboot(host: Host) -> None:
    host.fake.expect(BOOT_ID, stdout="aaa\n")
    dropping(host, refusals=100)
    action = RebootAction(HostCommand("systemctl reboot"), wait=5.0, boot_id=False)
    host.fake.calls.clear()
    note = host.runner().run(step(action))
    assert (note.outcome, note.reason) == (FAILED, "the host did not come back within 5s")
    assert host.clock.slept == [2.0, 2.0, 2.0]


def test_a_reboot_command_that_fails_by_itself_fails_at_once(host: Host) -> None:
    host.fake.expect("systemctl reboot", exit_code=1, stderr="Access denied")
    action = RebootAction(HostCommand("systemctl reboot"), wait=60.0, boot_id=False)
    note = host.runner().run(step(action))
    assert (note.outcome, note.reason) == (FAILED, "'systemctl reboot' exited 1: Access denied")
    assert host.clock.slept == []


def test_check_mode_does_not_reboot(host: Host) -> None:
    note = host.runner("check").run(step(RebootAction(HostCommand("systemctl reboot"), 60.0)))
    assert (note.outcome, note.reason) == (WOULD, "would reboot the host with 'systemctl reboot'")
    assert host.fake.commands == []
    assert host.events.of_kind(EventKind.MAINTENANCE) == []
