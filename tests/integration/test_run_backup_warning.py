"""A run whose backup read a file that grew meanwhile (GNU tar's status 1): the snapshot is
kept and verified, the host is OK, and the warning is in the BACKUP event, the host's note and
the run's recap. Real tar over a local connection, the real local store and SQLite index."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from jarvisctl.core.events import BACKUP
from jarvisctl.core.results import Outcome
from jarvisctl.render.run_text import render_recap
from jarvisctl.store.factory import open_store
from tests.integration.test_run_backups import backup, plan_of, run


def test_a_file_growing_during_the_backup_keeps_the_snapshot_with_a_warning(
    tmp_path: Path,
) -> None:
    root = tmp_path / "logs"
    root.mkdir()
    log = root / "app.log"
    log.write_bytes(os.urandom(4_000_000))
    state = tmp_path / "state"
    done = threading.Event()

    def write_log() -> None:  # the application, appending all along
        with log.open("ab", buffering=0) as out:
            while not done.wait(0.02):
                out.write(b"a log line\n")

    writer = threading.Thread(target=write_log)
    writer.start()
    try:
        with open_store(state) as store:
            plan = plan_of(backup("logs", (str(root),), verify="checksum", bandwidth=1_500_000))
            report, events = run(plan, state, store)
            snapshots = store.snapshots.list()
    finally:
        done.set()
        writer.join()
    (host,) = report.hosts
    (note,) = host.backups
    assert host.outcome is Outcome.OK, host.error
    assert (note.outcome, note.verified) == ("taken", True)
    assert note.reason.startswith("warning: tar exited with status 1")
    assert "file changed as we read it" in note.reason
    (event,) = events.of_kind(BACKUP)
    assert event.payload.reason == note.reason  # type: ignore[attr-defined]
    assert [s.id for s in snapshots] == [note.snapshot]
    assert "warning: tar exited with status 1" in render_recap(report)
