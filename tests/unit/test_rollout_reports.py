"""A run's rollouts counted in its console recap and in its Markdown and HTML reports: a line
per rollout with its hosts by how their turn ended (updated, unchanged, rolled back, rollback
failed, deferred, skipped), those with no turn in this run, and (reports) how the run left it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from jarvisctl.core.events import Event, NullSink
from jarvisctl.core.results import HostRun, Outcome, RolloutNote, RolloutTurn, RunReport
from jarvisctl.core.step_events import Rollout, RolloutHost, Step
from jarvisctl.record.recording import record_run
from jarvisctl.render.reports.load import load_document
from jarvisctl.render.reports.render import render
from jarvisctl.render.reports.rollout_entries import HostTurn, RolloutStates, rollout_entries
from jarvisctl.render.run_text import render_recap
from tests.events import connected, finished, raw

RUN = "20261204T060000Z-0f0f0f"
ROLLOUT = "20261204T060000Z-ab12"
AT = datetime(2026, 12, 4, tzinfo=timezone.utc)
HALTED = "1 of 3 hosts attempted failed (33%), above max_fail_percentage 20"
# host -> (batch, turn, reason): a halted rollout of six hosts, and one host of the play
# with no turn in this run
TURNS = {
    "h1": (1, "updated", ""),
    "h2": (2, "rolled back", "the gate after its steps did not pass"),
    "h3": (2, "updated", ""),
    "h4": (3, "skipped", f"halted: {HALTED}"),
    "h5": (3, "skipped", f"halted: {HALTED}"),
    "h6": (3, "rollback failed", "'old version' exited 1"),
}


def test_entries_count_every_turn_and_the_hosts_with_none() -> None:
    hosts = [HostTurn("app", ROLLOUT, turn) for _, turn, _ in TURNS.values()]
    hosts += [HostTurn("app"), HostTurn("other"), HostTurn("db", "r2", "deferred")]
    app, db = rollout_entries(hosts)
    assert (app.rollout, app.play, app.not_started) == (ROLLOUT, "app", 1)
    assert dict(app.turns) == {
        "updated": 2,
        "unchanged": 0,
        "rolled back": 1,
        "rollback failed": 1,
        "deferred": 0,
        "skipped": 2,
    }
    assert app.counts_text == (
        "2 updated, 0 unchanged, 1 rolled back, 1 rollback failed, 0 deferred, 2 skipped; "
        "1 not started"
    )
    assert (db.rollout, db.play, db.turns["deferred"], db.not_started) == ("r2", "db", 1, 0)
    assert db.counts_text.endswith("1 deferred, 0 skipped")
    assert rollout_entries([HostTurn("app"), HostTurn("db")]) == ()


def test_the_state_is_how_the_run_left_the_rollout() -> None:
    states = RolloutStates()
    for state, reason in [
        ("started", ""),
        ("batch_started", ""),
        ("halted", HALTED),  # a host of batch 2 crossed the budget ...
        ("batch_finished", ""),  # ... and its batch then finished
    ]:
        states.add("app", {"rollout": ROLLOUT, "state": state, "reason": reason})
    states.add("db", {"rollout": "r2", "state": "started"})
    states.add("db", {"rollout": "r2", "state": "batch_started"})  # then the controller died
    (app,) = rollout_entries([HostTurn("app", ROLLOUT, "updated")], states.states)
    assert (app.state, app.state_text) == ("halted", f"halted: {HALTED}")
    (db,) = rollout_entries([HostTurn("db", "r2", "updated")], states.states)
    assert (db.state, db.state_text) == ("running", "running")
    (unknown,) = rollout_entries([HostTurn("web", "r3", "updated")], states.states)
    assert unknown.state_text == ""


def host_run(host: str, batch: int, turn: str, reason: str) -> HostRun:
    outcome = {"updated": Outcome.CHANGED, "skipped": Outcome.SKIPPED}.get(turn, Outcome.FAILED)
    note = RolloutNote(ROLLOUT, batch, RolloutTurn(turn), reason)
    return HostRun(host, "app", f"ssh {host}", outcome, error=reason, rollout=note)


def test_the_console_recap_has_a_line_per_rollout() -> None:
    hosts = tuple(host_run(h, *turn) for h, turn in TURNS.items())
    paused = HostRun("h7", "app", "", Outcome.SKIPPED, error="paused after batch 1")
    text = render_recap(RunReport(RUN, "run", AT, AT, (*hosts, paused)))
    assert text.split("ROLLOUTS\n")[1].splitlines()[0] == (
        f"  {ROLLOUT}  [app]  2 updated, 0 unchanged, 1 rolled back, 1 rollback failed, "
        "0 deferred, 2 skipped; 1 not started"
    )
    checking = render_recap(RunReport(RUN, "check", AT, AT, hosts))
    assert "  (check mode, not recorded)  [app]  2 updated" in checking
    plain = HostRun("h1", "app", "ssh h1", Outcome.OK)
    assert "ROLLOUTS" not in render_recap(RunReport(RUN, "run", AT, AT, (plain,)))


def journal(state_dir: Path) -> None:
    with record_run(state_dir, RUN, frozenset(), NullSink()) as recording:
        emit = recording.events.emit
        emit(raw("run_started", data={"run_id": RUN, "mode": "run", "hosts": list(TURNS)}))
        emit(Event(Rollout(ROLLOUT, "started"), None, "app"))
        for host, (batch, turn, reason) in TURNS.items():
            emit(connected(host, "app", f"ssh {host}"))
            emit(Event(RolloutHost(ROLLOUT, batch, turn, reason), host, "app"))
        emit(
            Event(Rollout(ROLLOUT, "halted", 2, failed=1, attempted=3, reason=HALTED), None, "app")
        )
        emit(Event(Rollout(ROLLOUT, "batch_finished", 2, failed=1, attempted=3), None, "app"))
        hosts = [
            {"host": h, "play": "app", "outcome": "changed", "seconds": 1.0, "error": ""}
            for h in TURNS
        ]
        emit(finished({h: {"changed": 1} for h in TURNS}, hosts, run_id=RUN))


def test_markdown_and_html_count_the_rollouts_hosts_and_say_its_state(tmp_path: Path) -> None:
    journal(tmp_path)
    document = load_document(tmp_path, RUN)
    markdown = render(document, "md")
    assert (
        "| rollout | play | state | updated | unchanged | rolled back | rollback failed "
        "| deferred | skipped | not started |"
    ) in markdown
    assert f"| {ROLLOUT} | app | halted: {HALTED} | 2 | 0 | 1 | 1 | 0 | 2 | 0 |" in markdown
    assert f"Rollout {ROLLOUT}, batch 2: **rolled back** (the gate after its steps" in markdown
    html = render(document, "html")
    row = html.split(f'<tr class="rollout" data-rollout="{ROLLOUT}" data-state="halted">')[1]
    row = row.split("</tr>")[0]
    assert '<td data-turn="updated">2</td>' in row
    assert '<td data-turn="rollback failed">1</td>' in row
    assert '<td data-turn="skipped">2</td>' in row
    assert '<p class="turn" data-turn="rolled back">' in html


def test_a_cut_short_journal_gives_a_rollout_host_the_seconds_of_its_whole_turn(
    tmp_path: Path,
) -> None:
    """Without run_finished (a killed controller) a host's seconds span its records: its
    steps and its turn's end come after its checks, and are inside them."""
    step = Step("step", 0, "version", "run", "changed", "applied", 1, ("v",), (0,), 0.4)
    with record_run(tmp_path, RUN, frozenset(), NullSink()) as recording:
        emit = recording.events.emit
        emit(raw("run_started", data={"run_id": RUN, "mode": "run", "hosts": ["h1"]}))
        emit(connected("h1", "app", "ssh h1", at=100.0))
        emit(Event(step, "h1", "app", 100.5))
        emit(Event(RolloutHost(ROLLOUT, 1, "updated", ""), "h1", "app", 100.9))
    (section,) = load_document(tmp_path, RUN).hosts
    assert section.seconds == 0.9
    assert section.seconds >= sum(s.seconds for s in section.steps)
