"""The audit journal's hash chain: what `audit verify` accepts and what it catches."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from jarvisctl.core.events import CHECK, RUN_FINISHED, RUN_INCOMPLETE, RUN_STARTED
from jarvisctl.record.audit import (
    Journal,
    JournalError,
    _body,
    encode,
    journal_path,
    read_journal,
    verify,
)
from jarvisctl.render.reports.load import verify_run
from tests.events import raw

RUN = "20260101T000000Z-abcdef"


def write_run(state_dir: Path, checks: int = 5, *, finish: bool = True) -> tuple[Path, Journal]:
    journal = Journal(journal_path(state_dir, RUN), RUN)
    journal.emit(raw(RUN_STARTED, data={"run_id": RUN}))
    for n in range(checks):
        journal.emit(raw(CHECK, f"h{n}", "p", {"check": "disk", "value": float(n)}))
    if finish:
        journal.emit(raw(RUN_FINISHED, data={"recap": {}}))
    journal.close()
    return journal.path, journal


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_an_intact_finished_journal_verifies(tmp_path: Path) -> None:
    path, journal = write_run(tmp_path)
    result, records = verify(RUN, read_journal(path), journal.tail)
    assert result.intact and result.complete and result.records == 7
    assert [r.seq for r in records] == list(range(1, 8))
    assert result.last_hash == journal.tail[1]


def test_records_carry_sequence_and_the_previous_hash(tmp_path: Path) -> None:
    path, _ = write_run(tmp_path, 1)
    first, second = (json.loads(line) for line in lines(path)[:2])
    assert (first["seq"], second["seq"]) == (1, 2)
    assert second["prev"].startswith("sha256:") and second["prev"] != first["prev"]


def test_an_edited_record_breaks_the_chain(tmp_path: Path) -> None:
    path, journal = write_run(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"value":2.0', b'"value":0.5'))
    result, _ = verify(RUN, path.read_bytes(), journal.tail)
    assert result.problem == (
        "record 5 does not chain from record 4: record 4 was edited, removed or moved"
    )
    assert result.records == 3  # the records before the edit still verify


def test_an_edited_last_record_is_caught_by_the_run_index_anchor(tmp_path: Path) -> None:
    path, journal = write_run(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"recap":{}', b'"recap":{"x":{}}'))
    assert verify(RUN, path.read_bytes())[0].intact  # the chain alone cannot see it
    result, _ = verify(RUN, path.read_bytes(), journal.tail)
    assert result.problem == "record 7 (the last) was edited: it no longer matches the run index"


def test_a_removed_record_is_caught(tmp_path: Path) -> None:
    path, journal = write_run(tmp_path)
    kept = lines(path)
    del kept[3]
    path.write_bytes(b"".join(kept))
    result, _ = verify(RUN, path.read_bytes(), journal.tail)
    assert result.problem == "record 4 has sequence number 5: records removed or moved"


def test_reordered_records_are_caught_even_with_renumbered_sequences(tmp_path: Path) -> None:
    path, journal = write_run(tmp_path)
    kept = lines(path)
    kept[2], kept[3] = kept[3], kept[2]
    path.write_bytes(b"".join(kept))
    assert "sequence number" in str(verify(RUN, path.read_bytes(), journal.tail)[0].problem)
    renumbered = [json.loads(line) for line in kept]
    renumbered[2]["seq"], renumbered[3]["seq"] = 3, 4
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in renumbered))
    result, _ = verify(RUN, path.read_bytes(), journal.tail)
    assert result.problem is not None and "does not chain" in result.problem


def test_a_truncated_journal_of_a_finished_run_is_tampered(tmp_path: Path) -> None:
    path, journal = write_run(tmp_path)
    path.write_bytes(b"".join(lines(path)[:-2]))
    result, _ = verify(RUN, path.read_bytes(), journal.tail)
    assert result.problem == (
        "truncated: the journal ends at record 5, the run index says the run finished with 7"
    )
    unanchored, _ = verify(RUN, path.read_bytes())  # no index entry: at least not complete
    assert unanchored.intact and not unanchored.complete


def test_records_appended_after_the_finish_are_caught(tmp_path: Path) -> None:
    path, journal = write_run(tmp_path, 1)
    extra = Journal(tmp_path / "other.jsonl", RUN)
    for _ in range(4):
        extra.emit(raw(CHECK, "h", "p", {}))
    extra.close()
    path.write_bytes(path.read_bytes() + lines(extra.path)[3])
    result, _ = verify(RUN, path.read_bytes(), journal.tail)
    assert result.problem is not None


def test_a_journal_from_another_run_does_not_verify_under_this_id(tmp_path: Path) -> None:
    path, _ = write_run(tmp_path)
    result, _ = verify("20260101T000000Z-000000", path.read_bytes())
    assert result.problem == (
        "record 1 does not chain from this run's id: edited, or from another run"
    )


def test_a_killed_run_verifies_up_to_its_last_whole_record(tmp_path: Path) -> None:
    path, _ = write_run(tmp_path, 3, finish=False)
    path.write_bytes(path.read_bytes() + b'{"seq":5,"pr')  # the write a SIGKILL cut short
    result, _ = verify(RUN, path.read_bytes())
    assert result.intact and not result.complete
    assert (result.records, result.torn_bytes) == (4, 12)


def test_garbage_is_a_clear_problem(tmp_path: Path) -> None:
    path, _ = write_run(tmp_path, 1)
    path.write_bytes(b"not json\n" + path.read_bytes())
    result, _ = verify(RUN, path.read_bytes())
    assert str(result.problem).startswith("record 1 is not a journal record (JSONDecodeError")


def test_threads_emitting_at_once_keep_the_chain(tmp_path: Path) -> None:
    journal = Journal(journal_path(tmp_path, RUN), RUN)
    journal.emit(raw(RUN_STARTED))

    def host(n: int) -> None:
        for i in range(200):
            journal.emit(raw(CHECK, f"host-{n}", "p", {"i": i, "pad": "x" * 500}))

    threads = [threading.Thread(target=host, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.emit(raw(RUN_FINISHED))
    journal.close()
    result, records = verify(RUN, journal.path.read_bytes(), journal.tail)
    assert result.intact and result.complete and len(records) == 1602


def test_each_line_is_its_whole_record_encoded_as_one(tmp_path: Path) -> None:
    """A record is encoded without its place in the chain, in the emitting thread, and
    chained under the lock: the line is still exactly the whole record's canonical encoding
    (sorted keys, no spaces), non-ASCII text included."""
    journal = Journal(journal_path(tmp_path, RUN), RUN)
    journal.emit(raw(RUN_STARTED, data={"run_id": RUN}))
    journal.emit(raw(CHECK, "hôte", "p", {"z": [1, {"b": 2, "a": "é\n"}], "a": None}))
    journal.close()
    for line in lines(journal.path):
        assert line == encode(json.loads(line)) + b"\n"


def test_threads_emitting_at_once_through_a_refused_write_leave_a_journal_that_verifies(
    tmp_path: Path,
) -> None:
    """Eight threads emit while a file size limit refuses a write half-way (as a full disk
    does): whichever thread was writing gets the StoreError, the lines of that write and those
    waiting behind it are counted lost, nothing more is written, and the run's last record
    (run_incomplete) chains from the last whole record on disk."""
    script = f"""
import resource, signal, threading
from pathlib import Path
from jarvisctl.core.errors import StoreError
from jarvisctl.core.events import RUN_INCOMPLETE, RUN_STARTED
from jarvisctl.record.audit import Journal, journal_path
from tests.events import raw
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
journal = Journal(journal_path(Path({str(tmp_path)!r}), {RUN!r}), {RUN!r})
journal.emit(raw(RUN_STARTED, data={{"n": 0}}))
resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, resource.RLIM_INFINITY))
refused, emitted = [], [0]
def host(n):
    for i in range(300):
        try:
            journal.emit(raw("check", f"h{{n}}", "p", {{"i": i, "pad": "x" * 100}}))
            emitted[0] += 1
        except StoreError as exc:
            refused.append(str(exc))
threads = [threading.Thread(target=host, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
journal.close_incomplete(raw(RUN_INCOMPLETE, data={{"lost": journal.lost}}))
journal.close()
print("refused", len(refused), "lost", journal.lost, "failed", journal.failed)
print("tail", *journal.tail)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0].split()  # refused N lost N failed B
    said = dict(zip(first[::2], first[1::2], strict=True))
    assert (said["refused"], said["failed"]) == ("1", "True"), done.stdout
    path = journal_path(tmp_path, RUN)
    result, records = verify(RUN, path.read_bytes())
    assert result.intact and result.torn_bytes == 0, result
    written = len(records) - 2  # run_started, run_incomplete
    assert written + int(said["lost"]) == 8 * 300
    assert records[-1].kind == RUN_INCOMPLETE and records[-1].data["lost"] > 0
    assert f"tail {len(records)} {result.last_hash}" in done.stdout


def test_an_emit_that_races_the_close_neither_loses_its_line_nor_touches_a_closed_file(
    tmp_path: Path,
) -> None:
    """A host's thread chained its line, then the run's end closed the journal before that
    thread's write: the close wrote the line, and the thread's write (an fsync, for the run's
    last record) finds the file closed and does nothing."""
    journal = Journal(journal_path(tmp_path, RUN), RUN)
    journal.emit(raw(RUN_STARTED, data={"run_id": RUN}))
    journal._chain(_body(raw(RUN_FINISHED, data={"recap": {}})))  # emit, up to its write
    journal.close()
    journal._write(sync=True)  # the rest of that emit
    journal.emit(raw(CHECK, "h", "p", {}))  # after the close: nothing
    result, records = verify(RUN, journal.path.read_bytes(), journal.tail)
    assert result.intact and result.complete and len(records) == 2


def test_a_journal_is_never_overwritten(tmp_path: Path) -> None:
    write_run(tmp_path)
    with pytest.raises(JournalError, match="cannot create the audit journal"):
        Journal(journal_path(tmp_path, RUN), RUN)


def test_a_missing_journal_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no audit journal at"):
        read_journal(tmp_path / "runs" / "nope.jsonl")


def test_a_record_the_disk_refuses_is_cut_back_and_the_rest_still_verifies(tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE, in a child process) refuses a record half-way, as a full
    disk does: the half written is cut back off, the error is a StoreError naming the file, and
    the records before it verify, with no torn bytes."""
    script = f"""
import resource, signal, sys
from pathlib import Path
from jarvisctl.record.audit import Journal, journal_path
from jarvisctl.core.errors import StoreError
from jarvisctl.core.events import RUN_STARTED, Event, EventKind
class Raw:  # a payload that is its record
    def __init__(self, kind, data):
        self.kind, self.data = EventKind(kind), data
    def record(self):
        return self.data
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killing signal
journal = Journal(journal_path(Path({str(tmp_path)!r}), {RUN!r}), {RUN!r})
journal.emit(Event(Raw(RUN_STARTED, {{"n": 0}})))
resource.setrlimit(resource.RLIMIT_FSIZE, (400, 400))
try:
    for n in range(1, 20):
        journal.emit(Event(Raw("check", {{"n": n, "pad": "x" * 50}}), "h", "p"))
except StoreError as exc:
    print("refused:", exc)
journal.emit(Event(Raw("check", {{"n": 99}}), "h", "p"))
print("failed", journal.failed, "lost", journal.lost)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    path = journal_path(tmp_path, RUN)
    assert f"refused: cannot use {path}: File too large" in done.stdout
    assert "failed True lost 2" in done.stdout  # the refused record, and the one after it
    result, records = verify(RUN, path.read_bytes())
    assert result.intact and result.torn_bytes == 0, result
    assert 1 < len(records) < 20 and path.stat().st_size <= 400
    assert [r.data["n"] for r in records] == list(range(len(records)))


def test_verify_run_streams_the_journal_and_still_names_a_tampered_record(tmp_path: Path) -> None:
    """`audit verify` reads a journal a line at a time: what it holds does not grow with the
    journal (20,000 records, megabytes), and an edit in the middle is still caught, by number."""
    path, journal = write_run(tmp_path, 20_000)
    size = path.stat().st_size
    verify_run(tmp_path, RUN)  # the modules a first call imports are not the journal's cost
    tracemalloc.start()
    try:
        result, shown = verify_run(tmp_path, RUN)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert shown == path
    assert result.intact and result.complete and result.records == 20_002
    assert result.last_hash == journal.tail[1]
    assert peak < size / 20, f"verifying held {peak} bytes of a {size}-byte journal"

    kept = lines(path)
    kept[10_000] = kept[10_000].replace(b'"value":9999.0', b'"value":0.5')  # record 10001
    path.write_bytes(b"".join(kept))
    tampered, _ = verify_run(tmp_path, RUN)
    assert tampered.problem == (
        "record 10002 does not chain from record 10001: record 10001 was edited, removed or moved"
    )
    assert tampered.records == 10_000
