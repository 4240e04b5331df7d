"""The backup events: typed payloads whose journal records have the keys the reports and the
CLI read, and a backup's command reaches the journal with its secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

from jarvisctl.core.backup_events import (
    Backup,
    BackupOutcome,
    BackupPrune,
    BackupRestore,
    BackupStoreCheck,
    BackupVerify,
)
from jarvisctl.core.events import Event, EventKind, NullSink
from jarvisctl.record.audit import iter_records, verify
from jarvisctl.record.recording import record_run
from tests.events import raw

RUN = "20261203T120000Z-0b0b0b"
SECRET = "s3cr3t-pa55word-xyz"


def test_each_backup_kind_has_its_payload_and_record_keys() -> None:
    taken = Backup("etc", "local", BackupOutcome.TAKEN.value, "paths", ("/etc",), "snap-1", 3)
    verified = BackupVerify("etc", "local", "snap-1", "restore", True, "verified", None, 0.5)
    pruned = BackupPrune("etc", "local", ("snap-1",), ("snap-0",), {"snap-1": "last"})
    restored = BackupRestore("etc", "local", "snap-1", None, False, True, 3, 1, 0.2)
    checked = BackupStoreCheck("offsite", ("snapshot snap-1: its data is missing",), 1.5)
    expected = {
        EventKind.BACKUP: (taken, {"backup", "store", "outcome", "source", "what", "snapshot"}),
        EventKind.BACKUP_VERIFY: (verified, {"backup", "store", "snapshot", "mode", "ok"}),
        EventKind.BACKUP_PRUNE: (pruned, {"backup", "store", "kept", "forgotten", "rules"}),
        EventKind.BACKUP_RESTORE: (restored, {"backup", "snapshot", "to", "check", "changed"}),
        EventKind.BACKUP_STORE_CHECK: (checked, {"store", "problems", "seconds"}),
    }
    for kind, (payload, keys) in expected.items():
        assert payload.kind is kind
        assert keys <= set(payload.record())
        json.dumps(payload.record())  # JSON values only
    assert taken.record()["what"] == ["/etc"] and taken.record()["bytes"] == 0
    assert pruned.record()["rules"] == {"snap-1": "last"}
    assert EventKind("backup") is EventKind.BACKUP


def test_a_backup_command_is_journaled_with_its_secret_redacted(tmp_path: Path) -> None:
    command = f"PGPASSWORD={SECRET} pg_dump -Fc app"
    failed = Backup(
        "app-db",
        "local",
        BackupOutcome.FAILED.value,
        "command",
        (command,),
        reason=f"{command!r} exited 1: password {SECRET} refused",
        stage="take",
    )
    with record_run(tmp_path, RUN, frozenset({SECRET}), NullSink()) as recording:
        recording.events.emit(raw("run_started", data={"run_id": RUN, "hosts": ["h"]}))
        recording.events.emit(Event(failed, "h", "p"))
    content = (tmp_path / "runs" / f"{RUN}.jsonl").read_bytes()
    assert verify(RUN, content)[0].intact
    assert SECRET.encode() not in content
    (record,) = [r for r in iter_records(content) if r.kind == EventKind.BACKUP]
    assert record.data["what"] == ["PGPASSWORD=*** pg_dump -Fc app"]
    assert record.data["reason"].endswith("exited 1: password *** refused")
    assert record.data["outcome"] == "failed" and record.data["stage"] == "take"


def test_a_restores_record_counts_what_it_left_changed() -> None:
    from jarvisctl.backup.restore import RestoreOutcome
    from jarvisctl.backup.restore_plan import Change, FileChange
    from jarvisctl.store.snapshots import EntryType

    changes = tuple(
        FileChange(f"/etc/f{i}", EntryType.FILE, Change.CREATE if i < 4 else Change.UNCHANGED)
        for i in range(6)
    )

    def outcome(*, check: bool, ok: bool, restored: int, put_back: int) -> RestoreOutcome:
        return RestoreOutcome(
            "snap-1", "h", None, check, ok, changes, 0.1, None, True, restored, put_back
        )

    def counted(o: RestoreOutcome | None) -> tuple[int, int, int, int]:
        payload = BackupRestore("etc", "local", "snap-1", None, False, False, 6, 99, 0.1).counted(o)
        return payload.files, payload.changed, payload.put_back, payload.not_put_back

    assert counted(outcome(check=False, ok=True, restored=4, put_back=0)) == (6, 4, 0, 0)
    assert counted(outcome(check=True, ok=True, restored=0, put_back=0)) == (6, 4, 0, 0)
    assert counted(outcome(check=False, ok=False, restored=0, put_back=4)) == (6, 0, 4, 0)
    assert counted(outcome(check=False, ok=False, restored=0, put_back=3)) == (6, 0, 3, 1)
    # verified and in place, then removing the kept-aside copies failed: still restored
    assert counted(outcome(check=False, ok=False, restored=4, put_back=0)) == (6, 4, 0, 0)
    assert counted(None) == (6, 0, 0, 0)
