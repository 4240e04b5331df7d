"""Restore's pure parts: where each entry goes, what differs, the host's state records, and the
tar stream sent to the host (checked against the manifest as it passes)."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from jarvisctl.backup.restore_host import parse_failures
from jarvisctl.backup.restore_plan import (
    Change,
    RestoreRefusedError,
    compare,
    hardlink_groups,
    host_root,
    latest_entries,
    parents_outside,
    place,
)
from jarvisctl.backup.restore_state import HostEntry
from jarvisctl.backup.restore_stream import StoredDataError, tar_for_host
from jarvisctl.store.snapshots import EntryType, ManifestEntry

DIGEST = hashlib.sha256(b"hello").hexdigest()


def entry(path: str, kind: EntryType = EntryType.FILE, **fields: object) -> ManifestEntry:
    values: dict[str, object] = {
        "mode": 0o644,
        "owner": "root:root",
        "uid": 0,
        "gid": 0,
        "size": 5,
        "mtime": 1.0,
        "sha256": DIGEST if kind is EntryType.FILE else None,
        "target": None,
    }
    values.update(fields)
    return ManifestEntry(path, kind, **values)  # type: ignore[arg-type]


def test_entries_are_placed_in_place_under_to_or_at_a_single_file() -> None:
    entries = [entry("/etc/app", EntryType.DIR), entry("etc/app/a b\nc")]
    assert [p.path for p in place(entries, None, "t")] == ["/etc/app", "/etc/app/a b\nc"]
    under = place(entries, host_root("/srv/r/"), "t")
    assert [p.path for p in under] == ["/srv/r/etc/app", "/srv/r/etc/app/a b\nc"]
    assert under[1].temporary == "/srv/r/etc/app/.jarvisctl-new-t-1"
    assert under[1].kept == "/srv/r/etc/app/.jarvisctl-old-t-1"
    assert [p.path for p in place(entries[1:], "/x", "t", single="/x/dump")] == ["/x/dump"]
    assert parents_outside(under) == ["/srv/r/etc"]


@pytest.mark.parametrize("to", ["relative", "", "a/../b"])
def test_to_must_be_absolute(to: str) -> None:
    with pytest.raises(RestoreRefusedError, match="absolute path on the host"):
        host_root(to)


def test_a_path_held_twice_is_restored_once_as_its_last_entry() -> None:
    first, other, again = entry("/d/x"), entry("/d/y"), entry("./d/x", mode=0o600)
    assert latest_entries([first, other, again]) == [again, other]
    itself = entry("d/x", EntryType.HARDLINK, target="d/x")  # GNU tar's second appearance
    assert latest_entries([first, other, itself]) == [first, other]


def test_a_manifest_path_that_climbs_is_refused() -> None:
    with pytest.raises(RestoreRefusedError, match="not restorable"):
        place([entry("/etc/../../root/x")], "/srv", "t")


def test_compare_names_what_differs() -> None:
    file = entry("/f")
    same = HostEntry("file", 0o644, 0, 0, 5, DIGEST)
    assert compare(file, same, owners=True) == (Change.UNCHANGED, ())
    assert compare(file, HostEntry("missing"), owners=True) == (Change.CREATE, ())
    assert compare(file, HostEntry("dir", 0o755, 0, 0), owners=True) == (Change.REPLACE, ("type",))
    other = HostEntry("file", 0o600, 1, 0, 5, "0" * 64)
    assert compare(file, other, owners=True) == (Change.REPLACE, ("content", "mode", "owner"))
    assert compare(file, other, owners=False) == (Change.REPLACE, ("content", "mode"))
    unreadable = HostEntry("file", 0o644, 0, 0, 5, None)
    assert compare(file, unreadable, owners=True) == (Change.REPLACE, ("content",))
    link = entry("/l", EntryType.SYMLINK, mode=0o777, target="../x")
    there = HostEntry("symlink", 0o777, 0, 0, 4, target="../y")
    assert compare(link, there, owners=True) == (Change.REPLACE, ("target",))


def test_a_hard_link_group_changes_together() -> None:
    placed = place(
        [entry("/a"), entry("/b", EntryType.HARDLINK, target="/a"), entry("/c")], None, "t"
    )
    assert hardlink_groups(placed, {1}) == {0, 1}
    assert hardlink_groups(placed, {0}) == {0, 1}
    assert hardlink_groups(placed, {2}) == {2}


def test_undo_failures_are_read_from_its_marks() -> None:
    assert parse_failures(b"1000\0f3\0f12\0") == [3, 12]


def tar_of(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_the_stream_for_the_host_renames_and_checks_each_file() -> None:
    placed = place([entry("/d/keep"), entry("/d/send")], "/to", "t")
    stream = tar_for_host(
        io.BytesIO(tar_of(("d/keep", b"hello"), ("d/send", b"hello"))), placed, {1}, raw=False
    )
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream)), mode="r") as sent:
        (only,) = sent.getmembers()
        assert only.name == "to/d/.jarvisctl-new-t-1" and only.mode == 0o600
        extracted = sent.extractfile(only)
        assert extracted is not None and extracted.read() == b"hello"


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((("d/send", b"hellO"),), "'/d/send': the stored data does not match the manifest"),
        ((("d/other", b"hello"),), "'d/other' is in the stored data but not in the manifest"),
        ((), "'/d/send' is in the manifest but not in the stored data"),
    ],
)
def test_stored_data_that_differs_from_the_manifest_stops_the_stream(
    members: tuple[tuple[str, bytes], ...], message: str
) -> None:
    placed = place([entry("/d/send")], None, "t")
    with pytest.raises(StoredDataError, match=message):
        b"".join(tar_for_host(io.BytesIO(tar_of(*members)), placed, {0}, raw=False))


def test_a_command_backup_stream_is_one_file_of_its_manifest_size() -> None:
    placed = place([entry("app.dump")], "/x", "t", single="/x/app.dump")
    sent = b"".join(tar_for_host(io.BytesIO(b"hello"), placed, {0}, raw=True))
    assert len(sent) % tarfile.RECORDSIZE == 0
    with pytest.raises(StoredDataError, match="does not match"):
        b"".join(tar_for_host(io.BytesIO(b"hello, and more"), placed, {0}, raw=True))
