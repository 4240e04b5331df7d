"""What `jarvisctl backups restore` prints: the summary counts what is in place and verified,
never what a failed restore set out to write."""

from __future__ import annotations

from jarvisctl.backup.restore import RestoreOutcome
from jarvisctl.backup.restore_plan import Change, FileChange
from jarvisctl.render.backup_actions_text import restore_lines
from jarvisctl.store.snapshots import EntryType, Snapshot

SNAPSHOT = Snapshot(
    id="20261203T120000Z-h1-etc-0001",
    host="h1",
    backup="etc",
    play="keep",
    store="local",
    location="h1/etc/x.tar.gz",
    taken_at=1_764_763_200.0,
    seconds=1.5,
    source="paths",
    compress="gzip",
    files=5,
    bytes=1024,
    stored_bytes=512,
)
CHANGES = (
    FileChange("/etc", EntryType.DIR, Change.UNCHANGED),
    FileChange("/etc/a", EntryType.FILE, Change.REPLACE, ("content",)),
    FileChange("/etc/b", EntryType.FILE, Change.CREATE),
    FileChange("/etc/c", EntryType.FILE, Change.REPLACE, ("mode",)),
    FileChange("/etc/d", EntryType.FILE, Change.UNCHANGED),
)


def outcome(**fields: object) -> RestoreOutcome:
    values: dict[str, object] = dict(
        snapshot=SNAPSHOT.id,
        host="h1",
        to=None,
        check=False,
        ok=True,
        changes=CHANGES,
        seconds=2.0,
    )
    values.update(fields)
    return RestoreOutcome(**values)  # type: ignore[arg-type]


def summary(result: RestoreOutcome) -> str:
    (line,) = [line for line in restore_lines(SNAPSHOT, result) if " of 5 files " in line]
    return line


def test_a_restore_that_went_through_counts_what_it_wrote() -> None:
    assert summary(outcome(restored=3)).startswith(
        "3 of 5 files restored, 2 already as in the snapshot"
    )


def test_a_check_counts_what_would_change() -> None:
    assert summary(outcome(check=True)).startswith(
        "3 of 5 files would be restored, 2 already as in the snapshot"
    )


def test_a_failed_restore_that_was_put_back_counts_none_restored() -> None:
    failed = outcome(ok=False, problem="'/etc/c' does not match; nothing was changed", put_back=3)
    lines = list(restore_lines(SNAPSHOT, failed))
    assert summary(failed).startswith(
        "0 of 5 files restored, 3 put back as they were, 2 already as in the snapshot"
    )
    assert "what it set out to change (FAILED below says what became of it):" in lines
    assert lines[-1].startswith("FAILED: ")


def test_a_failed_restore_whose_undo_failed_in_part_says_how_many_were_left() -> None:
    failed = outcome(ok=False, problem="these could not be put back: ['/etc/b']", put_back=2)
    assert summary(failed).startswith(
        "0 of 5 files restored, 2 put back as they were, 1 not put back (see below), "
        "2 already as in the snapshot"
    )


def test_a_failed_restore_whose_undo_never_ran_puts_nothing_back() -> None:
    failed = outcome(ok=False, problem="putting the files back failed too")
    assert summary(failed).startswith("0 of 5 files restored, 3 not put back (see below)")


def test_a_verified_restore_whose_clean_up_failed_counts_what_it_restored() -> None:
    failed = outcome(ok=False, problem="removing the files kept aside ...", restored=3)
    lines = list(restore_lines(SNAPSHOT, failed))
    assert summary(failed).startswith("3 of 5 files restored, 2 already as in the snapshot")
    assert not any(line.startswith("what it set out") for line in lines)


def test_a_command_backup_is_said_to_be_restored_to_its_file() -> None:
    from dataclasses import replace

    dump = replace(SNAPSHOT, source="command", backup="db")
    one = (FileChange("/srv/app.sql", EntryType.FILE, Change.CREATE),)
    lines = list(restore_lines(dump, outcome(to="/srv/app.sql", changes=one, restored=1)))
    assert lines[0].endswith("on h1 to /srv/app.sql")
    tree = list(restore_lines(SNAPSHOT, outcome(to="/srv/x", restored=3)))
    assert tree[0].endswith("on h1 under /srv/x")
