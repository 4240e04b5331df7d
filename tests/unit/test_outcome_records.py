"""A report rebuilt from the journal alone gives each host the outcome its own records say,
even when the run never wrote run_finished (killed): a skipped or interrupted host is never
an OK row, and a host's record outside any play (a lease taken over) is no phantom section."""

from __future__ import annotations

from pathlib import Path

from jarvisctl.core.events import (
    HOST_CONNECTED,
    HOST_INTERRUPTED,
    HOST_SKIPPED,
    LEASE_TAKEOVER,
    RUN_STARTED,
    NullSink,
)
from jarvisctl.record.recording import record_run
from jarvisctl.render.reports.load import load_document
from jarvisctl.render.reports.render import render
from tests.events import raw

RUN = "20261203T030405Z-0a0b0c"
LEASED = "leased by daemon run 20261203T030400Z-ffffff (pid 4242 on ctl), expires in 50s"


def killed_run(state_dir: Path) -> None:
    """Records as a run writes them, up to where its process died: no run_finished."""
    with record_run(state_dir, RUN, frozenset(), NullSink()) as recording:
        emit = recording.events.emit
        emit(raw(RUN_STARTED, data={"run_id": RUN, "mode": "run", "hosts": ["a", "b", "c"]}))
        emit(raw(LEASE_TAKEOVER, "a", data={"previous_owner": "gone", "expired": True}))
        emit(raw(HOST_SKIPPED, "b", "p", {"reason": LEASED, "owner": "x", "pid": 4242}))
        emit(raw(HOST_CONNECTED, "a", "p", {"address": "ssh a:22"}))
        emit(raw(HOST_INTERRUPTED, "a", "p", {"address": "ssh a:22", "error": "closed by us"}))
        emit(raw(HOST_SKIPPED, "c", "p", {"reason": "interrupted: not started"}))


def test_skipped_and_interrupted_hosts_of_a_killed_run_keep_their_outcomes(
    tmp_path: Path,
) -> None:
    killed_run(tmp_path)
    document = load_document(tmp_path, RUN)
    sections = {(h.host, h.play): (h.outcome, h.error) for h in document.hosts}
    assert sections == {
        ("a", "p"): ("interrupted", "closed by us"),
        ("b", "p"): ("skipped", LEASED),
        ("c", "p"): ("skipped", "interrupted: not started"),
    }
    assert document.status == "incomplete"
    assert document.summary["skipped"] == 2 and document.summary["interrupted"] == 1
    markdown = render(document, "md")
    assert "[]" not in markdown and ": OK" not in markdown
    assert f"### b [p]: SKIPPED\n\n-, 0.00s\n\nSkipped: {LEASED}" in markdown
