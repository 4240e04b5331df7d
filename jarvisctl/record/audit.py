"""The audit journal: `<state_dir>/runs/<run-id>.jsonl`, one JSON record per event, appended
and flushed as it happens (and fsync'd when the run starts and finishes).

Each record carries its sequence number and the sha256 of the previous record's line; the first
one chains from a hash of the run id. So an edit, a removal, a reordering or a record from
another run breaks the chain. The run index keeps the number and hash of the last record of a
finished run, which catches what a chain alone cannot: a cut-off or edited tail.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from jarvisctl.core.errors import EXIT_NOT_OK, JarvisError
from jarvisctl.core.events import RUN_FINISHED, RUN_INCOMPLETE, RUN_STARTED, Event
from jarvisctl.core.frozen import frozen
from jarvisctl.store.faults import store_fault

# A run that could not record everything ends with a run_incomplete record instead of
# run_finished (jarvisctl.core.events.RunIncomplete).
FSYNC_KINDS = (RUN_STARTED, RUN_FINISHED, RUN_INCOMPLETE)


class JournalError(JarvisError):
    """A journal that cannot be written, found or read."""

    exit_code = EXIT_NOT_OK  # a journal that fails verification, or is gone


def journal_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / "runs" / f"{run_id}.jsonl"


def genesis(run_id: str) -> str:
    return line_hash(f"jarvisctl journal {run_id}".encode())


def line_hash(line: bytes) -> str:
    return "sha256:" + hashlib.sha256(line).hexdigest()


# json.dumps with these options would make an encoder for every record
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def encode(record: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(record).encode("utf-8", "surrogateescape")


class Journal:
    """An EventSink writing one run's journal. Thread-safe: hosts emit from their threads.

    A record is whole or absent: a write the disk refused is cut back off the file, so the
    records before it still verify, and the error (a StoreError) goes to the thread that was
    writing (the records of that write, and those waiting behind it, are counted `lost`). After
    that the journal writes nothing more but the run's last record (`close_incomplete`).

    Hosts' threads emit at once (a daemon's cycle: 45 records per host). Each record is encoded
    in its own thread; only chaining it (its number, the previous line's hash) is done under
    the lock, and the write to the file is a group commit: the thread that finds no write
    going on writes every line waiting, in order, while the others go on. A lock held across
    a write(2) made every other host's thread sleep on it and be woken in turn, which cost a
    daemon's cycle a third of its CPU. A run's first and last records are written and
    fsync'd before `emit` returns.
    """

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._lock = threading.Lock()  # the chain, what waits to be written, the flags
        self._writing = threading.Lock()  # the one thread writing to the file
        self._seq = 0
        self._prev = genesis(run_id)
        self._waiting: list[bytes] = []  # chained lines, not yet written
        self._written = (0, self._prev)  # the chain's state at the end of the file
        self._size = 0  # bytes of whole records
        self.failed = False
        self.lost = 0  # events not written since a failed write
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # 0644 less the umask: readable as the umask allows (secrets are redacted before
            # they are written), but never group- or world-writable: it is append-only evidence
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError:
            if not path.parent.is_dir():
                raise store_fault(path.parent, NotADirectoryError()) from None
            raise JournalError(f"cannot create the audit journal {path}: it exists") from None
        except OSError as exc:
            raise store_fault(path, exc, state_dir=path.parent.parent) from None
        self._closed = False

    def emit(self, event: Event) -> None:
        body = _body(event)
        with self._lock:
            if self._closed:
                return
            if self.failed:
                self.lost += 1
                return
            self._chain(body)
        self._write(sync=event.kind in FSYNC_KINDS)

    def close_incomplete(self, event: Event) -> None:
        """The last record of a run that could not record everything; a StoreError if even
        that cannot be written."""
        body = _body(event)
        with self._lock:
            if self._closed:
                return
            self._chain(body)
        self._write(sync=True)

    def _chain(self, body: bytes) -> None:
        """`body` (a record without its number and hash) as the next line. Under the lock."""
        # sort_keys puts "prev" and "seq" last: the line is exactly encode() of the whole record
        line = body[:-1] + b',"prev":"%s","seq":%d}' % (self._prev.encode(), self._seq + 1)
        self._seq += 1
        self._prev = line_hash(line)
        self._waiting.append(line + b"\n")

    def _write(self, sync: bool, wait: bool = False) -> None:
        """Write what waits, unless another thread is writing it (it writes what is added
        meanwhile too); with `wait`, or `sync` (then fsync too), wait for it and write."""
        while self._writing.acquire(blocking=sync or wait):
            try:
                if self._fd < 0:  # closed: its last write took every line chained before
                    return
                with self._lock:
                    lines, self._waiting = self._waiting, []
                    chained = (self._seq, self._prev)
                if lines:
                    self._write_lines(b"".join(lines), chained, len(lines))
                if sync:
                    os.fsync(self._fd)
            except OSError as exc:
                with self._lock:
                    self.failed = True  # a refused write, or a sync that failed
                raise store_fault(self.path, exc, state_dir=self.path.parent.parent) from None
            finally:
                self._writing.release()
            sync = wait = False  # this thread's line is out: what came since, if no one writes
            with self._lock:
                if not self._waiting:
                    return

    def _write_lines(self, data: bytes, chained: tuple[int, str], count: int) -> None:
        """Under `_writing`: append `data` (`count` lines, chained up to `chained`); on a
        refusal, cut it back and drop what waits, and the chain goes on from the file's end."""
        try:
            write_all(self._fd, data)
        except OSError:
            _cut_back(self._fd, self._size)
            with self._lock:
                self.failed = True
                self.lost += count + len(self._waiting)
                self._waiting = []
                self._seq, self._prev = self._written
            raise
        self._size += len(data)
        with self._lock:
            self._written = chained

    @property
    def tail(self) -> tuple[int, str]:
        """The number of records written and the hash of the last one."""
        with contextlib.suppress(JarvisError):  # a refusal was the caller's error already
            self._write(sync=False, wait=True)
        with self._lock:
            return self._written

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            # what waits is written; a refusal was counted lost and told to its emitter
            with contextlib.suppress(JarvisError):
                self._write(sync=True)
        finally:
            with self._writing:
                fd, self._fd = self._fd, -1
                os.close(fd)

    def remove(self) -> None:
        """A run refused before it did anything: no journal is left to look like a run."""
        self.close()
        with contextlib.suppress(OSError):  # else it stays: a journal without run_finished
            self.path.unlink()


def _body(event: Event) -> bytes:
    """The record of `event` without its place in the chain ("prev", "seq")."""
    return encode(
        {
            "at": round(event.at, 6),
            "kind": event.kind.value,
            "host": event.host,
            "play": event.play,
            "data": event.payload.record(),
        }
    )


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _cut_back(fd: int, size: int) -> None:
    """Remove a partly written record (shrinking a file needs no free space)."""
    # if even that fails: a torn last line, which `audit verify` reports after what verifies
    with contextlib.suppress(OSError):
        os.ftruncate(fd, size)


@frozen
class Record:
    """One journal line read back: its place in the chain and what it recorded."""

    seq: int
    at: float
    kind: str
    host: str | None
    play: str | None
    data: Mapping[str, Any]


@frozen
class Verification:
    """What `audit verify` found. `problem` set: tampered or corrupt; else intact, and complete
    only if the run finished (a killed run verifies up to its last whole record)."""

    run_id: str
    records: int
    last_hash: str
    complete: bool
    problem: str | None = None
    torn_bytes: int = 0  # a partial last line: the write a kill interrupted
    stopped: str | None = None  # why the run ended incomplete, when its last record says

    @property
    def intact(self) -> bool:
        return self.problem is None


def read_journal(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise JournalError(f"no audit journal at {path}") from None
    except OSError as exc:
        raise JournalError(f"cannot read the audit journal {path}: {exc.strerror}") from None


@contextlib.contextmanager
def open_journal(path: Path) -> Iterator[BinaryIO]:
    """The journal's file, read line by line (errors as read_journal's)."""
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        raise JournalError(f"no audit journal at {path}") from None
    except OSError as exc:
        raise JournalError(f"cannot read the audit journal {path}: {exc.strerror}") from None
    with stream:
        yield stream


def verify(
    run_id: str, content: bytes, anchor: tuple[int, str] | None = None
) -> tuple[Verification, list[Record]]:
    """Check the chain; `anchor` (records, last hash) is what the run index sealed at finish."""
    reader = JournalReader(run_id, io.BytesIO(content), anchor)
    records = list(reader)
    if reader.doubted_last:  # the record a broken chain puts in doubt is not presented
        records.pop()
    return reader.verification, records


def verify_journal(path: Path, run_id: str, anchor: tuple[int, str] | None = None) -> Verification:
    """verify()'s verdict on the journal at `path`, read a line at a time: memory stays flat
    whatever the journal's size (each record is checked, then dropped)."""
    with open_journal(path) as lines:
        reader = JournalReader(run_id, lines, anchor)
        for _ in reader:
            pass
    return reader.verification


class JournalReader:
    """A journal's records, checked one by one as they are read (one line in memory at a time):
    iterate it once, then `verification` says what the whole journal is worth. Iteration stops
    at the first problem; `doubted_last` says the last record yielded is the one it puts in
    doubt (a record that does not chain from it was edited, or it was)."""

    def __init__(
        self, run_id: str, lines: Iterable[bytes], anchor: tuple[int, str] | None = None
    ) -> None:
        self.run_id = run_id
        self._lines = lines  # each ending in b"\n", but for a torn last one
        self._anchor = anchor
        self._verification: Verification | None = None
        self.doubted_last = False

    @property
    def verification(self) -> Verification:
        if self._verification is None:
            raise RuntimeError("a JournalReader's verification is known once it was read")
        return self._verification

    def __iter__(self) -> Iterator[Record]:
        prev, count, last = genesis(self.run_id), 0, None
        lines = iter(self._lines)
        for number, line in enumerate(lines, start=1):
            if not line.endswith(b"\n"):
                self._finish(
                    Verification(
                        run_id=self.run_id,
                        records=count,
                        last_hash=prev,
                        complete=False,
                        torn_bytes=len(line),
                    ),
                    last,
                )
                return
            record, problem = _check_line(line[:-1], number, prev)
            if problem is not None:
                self.doubted_last = "does not chain" in problem and count > 0
                count -= self.doubted_last
                torn = _torn(lines)
                self._verification = Verification(self.run_id, count, prev, False, problem, torn)
                return
            assert record is not None
            count, prev, last = count + 1, line_hash(line[:-1]), record
            yield record
        self._finish(Verification(self.run_id, count, prev, False), last)

    def _finish(self, result: Verification, last: Record | None) -> None:
        complete = last is not None and last.kind == RUN_FINISHED
        result = replace(result, complete=complete, stopped=_stopped(last))
        problem = _against_anchor(result, self._anchor)
        self._verification = result if problem is None else replace(result, problem=problem)


def _torn(lines: Iterator[bytes]) -> int:
    """The length of a partial last line among the lines not read yet."""
    last = collections.deque(lines, maxlen=1)
    return len(last[0]) if last and not last[0].endswith(b"\n") else 0


def _stopped(last: Record | None) -> str | None:
    if last is None or last.kind != RUN_INCOMPLETE:
        return None
    return str(last.data.get("reason", "the run could not record everything"))


def _parse(line: bytes) -> tuple[Record, str]:
    """A record and the hash it chains from; ValueError, KeyError or TypeError if malformed."""
    raw = json.loads(line)
    data = raw["data"]
    if not isinstance(data, dict):
        raise TypeError("'data' is not an object")
    return (
        Record(int(raw["seq"]), float(raw["at"]), str(raw["kind"]), raw["host"], raw["play"], data),
        str(raw["prev"]),
    )


def _check_line(line: bytes, number: int, prev: str) -> tuple[Record | None, str | None]:
    try:
        record, chained = _parse(line)
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"record {number} is not a journal record ({type(exc).__name__}: {exc})"
    if record.seq != number:
        return None, f"record {number} has sequence number {record.seq}: records removed or moved"
    if chained != prev:
        return None, (
            f"record {number} does not chain from record {number - 1}: "
            f"record {number - 1} was edited, removed or moved"
            if number > 1
            else "record 1 does not chain from this run's id: edited, or from another run"
        )
    if number == 1 and record.kind != RUN_STARTED:
        return None, f"record 1 is {record.kind!r}, not {RUN_STARTED!r}"
    return record, None


def _against_anchor(result: Verification, anchor: tuple[int, str] | None) -> str | None:
    if anchor is None:
        return None
    records, last_hash = anchor
    if result.records < records:
        return (
            f"truncated: the journal ends at record {result.records}, "
            f"the run index says the run finished with {records}"
        )
    if result.records > records:
        return f"{result.records - records} record(s) appended after the run finished"
    if result.last_hash != last_hash:
        return f"record {records} (the last) was edited: it no longer matches the run index"
    if result.torn_bytes:
        return f"{result.torn_bytes} stray byte(s) after the last record"
    return None


def iter_records(content: bytes) -> Iterator[Record]:
    """The well-formed records of a journal, unverified (for reading history)."""
    for line in content.split(b"\n")[:-1]:
        try:
            yield _parse(line)[0]
        except (ValueError, KeyError, TypeError):
            continue
