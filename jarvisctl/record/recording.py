"""What `run_playbooks` attaches to every run: secrets redacted first, then the audit journal
and the run index (on the emitting thread, in order), then the caller's own sink and the
plugins' (jarvisctl.sinks), fed off the host threads (jarvisctl.core.dispatch).

A run that cannot record does not act. Its first records (the journal's run_started, synced, and
its row in the run index) are written before any host is touched; if they cannot be, the run is
refused and leaves nothing behind. If the store fails later (a full disk, a lock held too long),
no further host starts, in-flight hosts are ended as on an interrupt, the journal's last record
is `run_incomplete` with the reason (when it can still be written) and the index says
'incomplete' (or keeps 'running', shown as incomplete once the process is gone): `runs` lists the
run, never loses it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from jarvisctl.core.dispatch import Dispatcher, SinkContext, Warn, on_stderr, plugin_sinks
from jarvisctl.core.errors import StoreError, StoreFullError, StoreLockedError
from jarvisctl.core.events import (
    RUN_STARTED,
    Event,
    EventSink,
    Fanout,
    RunFinished,
    RunIncomplete,
)
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import RunReport
from jarvisctl.core.secrets import Redactor
from jarvisctl.record.audit import Journal, journal_path, write_all
from jarvisctl.record.history import RunIndex
from jarvisctl.store.base import LOCK_TIMEOUT, Store
from jarvisctl.store.factory import open_store
from jarvisctl.store.faults import store_fault

T = TypeVar("T")
POLL_SECONDS = 0.1  # how soon a run's own stop follows its caller's
# Room kept in the state directory for the last records of a run that meets a full disk: made
# at a run's start when missing (a disk without it refuses runs), freed when a run meets ENOSPC
# so that its run_incomplete record and index row still fit.
LOCKED_WAIT = 1.0  # seconds a run stopped by a held lock still waits for it, per write
RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024


class RunRefusedError(StoreError):
    """The run could not write its first records, so it did nothing."""


class RunIncompleteError(StoreError):
    """The store failed during the run: it stopped, and is recorded as incomplete."""


class RunStop(threading.Event):
    """A run's stop: set by the run's own store fault, or by its caller's event (Ctrl-C, the
    daemon's shutdown), which outlives the run and must not be set by one run's fault."""

    def __init__(self, caller: threading.Event) -> None:
        super().__init__()
        self.caller = caller

    def is_set(self) -> bool:
        return super().is_set() or self.caller.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            super().wait(min(left, POLL_SECONDS))
        return True


@frozen
class Recording:
    """A run as `record_run` records it: the sink its events go to, its journal and store, and its
    stop."""

    run_id: str
    redactor: Redactor
    events: EventSink  # redacting, then journal, index, and the caller's sink
    journal: Journal
    store: Store  # the run's state store: a fault in it stops the run
    cancel: threading.Event  # the run's stop (its caller's, or a store fault)

    def on_host(self, inner: Callable[[T], None]) -> Callable[[T], None]:
        """The caller's per-host callback, given redacted values."""
        return self.redactor.callback(inner)

    def redact(self, value: T) -> T:
        return self.redactor.value(value)


class _Recorder:
    """The journal then the index, for one run; remembers the first store fault and stops the
    run on it. A fault while recording run_started propagates: the run is refused."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.fault: StoreError | None = None
        self.started = False
        self.finished: RunFinished | None = None  # kept for run_incomplete
        self._lock = threading.Lock()
        self.sinks: tuple[Journal, RunIndex] | None = None

    def failed(self, error: StoreError) -> None:
        with self._lock:
            if self.fault is None:
                self.fault = error
        if isinstance(error, StoreLockedError) and self.sinks is not None:
            # what is left to write (the index's last word, the leases' release, hosts in
            # flight) waits for the lock briefly, not a whole timeout each
            store = self.sinks[1].store
            store.lock_timeout = min(store.lock_timeout, LOCKED_WAIT)
        if self.started:
            self.stop.set()

    def emit(self, event: Event) -> None:
        assert self.sinks is not None
        journal, index = self.sinks
        if event.kind == RUN_STARTED:
            journal.emit(event)
            index.emit(event)
            self.started = True
            return
        if isinstance(event.payload, RunFinished) and self.fault is not None:
            self.finished = event.payload  # it ends as run_incomplete instead
            return
        try:
            journal.emit(event)
            index.emit(event)
        except StoreError as exc:
            self.failed(exc)


@contextmanager
def record_run(
    state_dir: Path,
    run_id: str,
    secrets: frozenset[str],
    downstream: EventSink,
    *,
    cancel: threading.Event | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
    warn: Warn = on_stderr,
) -> Iterator[Recording]:
    """Open the run's journal and index entry; on an exception the run is marked interrupted
    (its journal has no run_finished record), and the journal is always closed. A store fault
    raises RunRefusedError (before run_started was recorded: nothing is left behind) or
    RunIncompleteError (once the run has ended)."""
    recorder = _Recorder(RunStop(cancel or threading.Event()))
    try:
        store = open_store(state_dir, lock_timeout=lock_timeout, on_fault=recorder.failed)
        keep_reserve(state_dir)
        journal = Journal(journal_path(state_dir, run_id), run_id)
    except StoreError as exc:
        raise RunRefusedError(f"{exc}; the run was refused before touching any host") from None
    index = RunIndex(store, journal)
    recorder.sinks = (journal, index)
    redactor = Redactor(secrets)
    dispatcher = _dispatcher(state_dir, run_id, downstream, redactor, warn)
    events = redactor.sink(Fanout([recorder, dispatcher]))
    try:
        try:
            yield Recording(run_id, redactor, events, journal, store, recorder.stop)
        except StoreError as exc:
            if not recorder.started:
                index.forget()
                journal.remove()
                raise RunRefusedError(
                    f"{exc}; the run was refused before touching any host"
                ) from None
            recorder.failed(exc)
        except BaseException:
            if recorder.started:
                index.abandon()
                journal.close()
            else:  # stopped before run_started was recorded: nothing happened to show
                index.forget()
                journal.remove()
            raise
        if recorder.fault is not None:
            if isinstance(recorder.fault, StoreFullError):
                with contextlib.suppress(OSError):
                    (state_dir / RESERVE).unlink()
            _end_incomplete(recorder, recorder.fault, journal, index, redactor)
        journal.close()
    finally:  # the run's record is closed: its other sinks get a short grace to catch up
        dispatcher.close(run_id)


def _dispatcher(
    state_dir: Path, run_id: str, downstream: EventSink, redactor: Redactor, warn: Warn
) -> Dispatcher:
    """The caller's sink and the plugins' (jarvisctl.sinks), each fed off the host threads;
    what is said about them is redacted."""

    def redacted(text: str) -> None:
        warn(redactor.text(text))

    plugins = plugin_sinks(SinkContext(run_id, state_dir), redacted)
    return Dispatcher([(type(downstream).__name__, downstream), *plugins], redacted)


def keep_reserve(state_dir: Path) -> None:
    """Make the reserve if it is missing or short; a StoreError if the disk has not the room."""
    path = state_dir / RESERVE
    with contextlib.suppress(OSError):
        if path.stat().st_size >= RESERVE_BYTES:
            return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # zeros: the umask's
        try:
            write_all(fd, bytes(RESERVE_BYTES))
            os.fsync(fd)  # allocated for real, not only promised (delayed allocation)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise store_fault(path, exc) from None


def _end_incomplete(
    recorder: _Recorder, fault: StoreError, journal: Journal, index: RunIndex, redactor: Redactor
) -> None:
    """The journal's last record says why the run is incomplete; the index says incomplete."""
    reason = redactor.value(str(fault))
    last = RunIncomplete(journal.run_id, reason, journal.lost, recorder.finished)
    try:
        journal.close_incomplete(Event(last))
        written = "its journal ends with a run_incomplete record"
    except StoreError:
        written = "its journal ends where the fault stopped it"
    index.abandon("incomplete")
    journal.close()
    raise RunIncompleteError(
        f"{reason}; the run {journal.run_id} stopped (no further host was started) and is "
        f"recorded as incomplete: {written} (`jarvisctl runs`, "
        f"`jarvisctl audit verify {journal.run_id}`)"
    )


def host_outcomes(report: RunReport) -> tuple[dict[str, object], ...]:
    """How each host's session ended, for the run_finished record."""
    return tuple(
        {
            "host": run.host,
            "play": run.play,
            "outcome": run.outcome.value,
            "seconds": round(run.duration, 3),
            "error": run.error,
        }
        for run in report.hosts
    )
