"""The silences jarvisctl makes for its own maintenance (notify/maintenance.py), on a real SQLite
store: a host in its rollout turn, a reboot step, a backup; each created by "jarvisctl" with a
comment naming the work, muting every alert of the host, and ended `grace` seconds after the
work ends (a halted or stopped rollout ends its hosts' turns)."""

from __future__ import annotations

from pathlib import Path

from jarvisctl.core.backup_events import Backup
from jarvisctl.core.events import Event, Maintenance
from jarvisctl.core.step_events import Rollout, RolloutHost, Step
from jarvisctl.notify.maintenance import ROLLOUT_TURN, MaintenanceSilences, change
from jarvisctl.store.factory import open_store

T0 = 1_800_000_000.0
PLAY = "inference 1.4.2"
GRACE = 60.0


def keeper(tmp_path: Path) -> MaintenanceSilences:
    return MaintenanceSilences(open_store(tmp_path).alerts, GRACE)


def test_a_rollout_batch_silences_each_of_its_hosts_until_its_turn_ends(tmp_path: Path) -> None:
    silences = keeper(tmp_path)
    started = Rollout("R7", "batch_started", 2, ("j1", "j2"))
    made = silences.apply(Event(started, None, PLAY, T0), "RUN1")
    assert [what for what, _ in made] == ["created", "created"]
    stored = {s.matchers[0].value: s for s in silences.store.silences(T0 + 1)}
    assert sorted(stored) == ["j1", "j2"]
    one = stored["j1"]
    assert str(one.matchers[0]) == 'host="j1"'
    assert (one.created_by, one.comment) == (
        "jarvisctl",
        f"rollout R7 of play {PLAY!r}: j1 in batch 2 (run RUN1)",
    )
    assert one.ends_at == T0 + ROLLOUT_TURN + GRACE
    assert one.mutes({"host": "j1", "alertname": "inference up"}, T0 + 30)
    assert not one.mutes({"host": "j3"}, T0 + 30)
    turned = RolloutHost("R7", 2, "updated", "")
    (ended,) = silences.apply(Event(turned, "j1", PLAY, T0 + 100), "RUN1")
    assert ended == ("ending", one)
    by_host = {s.matchers[0].value: s for s in silences.store.silences()}
    assert by_host["j1"].ends_at == T0 + 100 + GRACE  # the checks get `grace` to see it back
    assert by_host["j2"].ends_at == T0 + ROLLOUT_TURN + GRACE
    halted = Rollout("R7", "halted", 2, (), 1, 2, "too many failed")
    silences.apply(Event(halted, None, PLAY, T0 + 200), "RUN1")
    assert {s.matchers[0].value: s.ends_at for s in silences.store.silences()} == {
        "j1": T0 + 100 + GRACE,
        "j2": T0 + 200 + GRACE,
    }
    assert silences.store.silences(T0 + 300) == []


def test_a_reboot_step_is_silenced_from_its_start_to_its_step_event(tmp_path: Path) -> None:
    silences = keeper(tmp_path)
    begins = Maintenance("reboot", "reboot", "step:task:2", 360.0)
    (made,) = silences.apply(Event(begins, "j1", PLAY, T0), "RUN2")
    silence = made[1]
    assert silence.comment == f"reboot step 'reboot' of play {PLAY!r} on j1 (run RUN2)"
    assert silence.ends_at == T0 + 360 + GRACE
    other = Step("task", 1, "before", "run", "changed", "", 1, (), (), 0.1)
    assert silences.apply(Event(other, "j1", PLAY, T0 + 5), "RUN2") == []  # another step
    done = Step("task", 2, "reboot", "reboot", "changed", "rebooted and back", 1, (), (), 90.0)
    assert silences.apply(Event(done, "j1", PLAY, T0 + 90), "RUN2") == [("ending", silence)]
    (stored,) = silences.store.silences()
    assert stored.ends_at == T0 + 90 + GRACE


def test_a_backup_is_silenced_while_it_is_taken(tmp_path: Path) -> None:
    silences = keeper(tmp_path)
    begins = Maintenance("backup", "etc", "backup:etc", 3600.0)
    (made,) = silences.apply(Event(begins, "j1", PLAY, T0), "")
    assert made[1].comment == f"backup 'etc' of play {PLAY!r} on j1"
    taken = Backup("etc", "local", "taken", "paths", ("/etc",), snapshot="s1")
    assert [what for what, _ in silences.apply(Event(taken, "j1", PLAY, T0 + 20), "")] == ["ending"]
    (stored,) = silences.store.silences()
    assert stored.ends_at == T0 + 20 + GRACE


def test_work_that_ends_past_grace_of_its_bound_keeps_the_shorter_end(tmp_path: Path) -> None:
    silences = keeper(tmp_path)
    begins = Maintenance("reboot", "reboot", "step:task:0", 10.0)
    silences.apply(Event(begins, "j1", PLAY, T0), "")
    done = Step("task", 0, "reboot", "reboot", "failed", "did not come back", 1, (), (), 600.0)
    assert silences.apply(Event(done, "j1", PLAY, T0 + 600), "") == []
    (stored,) = silences.store.silences()
    assert stored.ends_at == T0 + 10 + GRACE


def test_events_that_are_no_maintenance_change_nothing() -> None:
    paused = Rollout("R1", "batch_finished", 1)
    assert change(Event(paused, None, PLAY), "") is None
    assert change(Event(Rollout("R1", "started"), None, PLAY), "") is None
    step = Step("task", 0, "x", "run", "ok", "", 1, (), (), 0.1)
    assert change(Event(step, None, PLAY), "") is None  # no host: nothing of a host's
