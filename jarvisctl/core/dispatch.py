"""Delivering a run's events to the sinks that are not its record (the daemon's observations, the
caller's sink, plugins), off the host threads.

The journal and the run index are written on the emitting thread, in order (a run that cannot
record does not act). Every other sink gets its own bounded queue and worker thread, and its
events in order; so a sink that is slow or raises never lengthens, stalls or breaks a run. A
sink that raises is reported once (its name and the exception's type: no values, so no
secrets) and keeps receiving the events that follow. A full queue drops the event and counts it
rather than block a host. At the end of the run each sink's worker gets at most GRACE_SECONDS
(all together) to catch up; what is left is abandoned, and the sink's missed events are said.

The live console is not such a sink: it is fed by the run's on_start/on_host callbacks on the
host threads, so that its lines are complete and in order before the recap is printed.

Plugins: an entry point in the group `jarvisctl.sinks` names a factory, called with the run's
SinkContext, returning the sink, at each run's start (the entry points are read once per
process, with the kinds' groups); a plugin that fails to load is reported and the run goes on
without it.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from jarvisctl.core.entry_points import entry_points_of
from jarvisctl.core.events import Event, EventSink, wanted
from jarvisctl.core.frozen import frozen

GRACE_SECONDS = 1.5  # how long a run's end waits for its sinks to catch up, all together
QUEUE_EVENTS = 10_000  # how far a sink may fall behind before its events are dropped
SINK_GROUP = "jarvisctl.sinks"  # the entry point group of sink plugins

Warn = Callable[[str], None]  # where a sink's trouble is said (the daemon: its log)


def on_stderr(text: str) -> None:
    """The CLI's: never stdout, which may be a `--json` document."""
    print(f"warning: {text}", file=sys.stderr, flush=True)


@frozen
class SinkContext:
    """What a sink plugin's factory is given: the run it will listen to."""

    run_id: str
    state_dir: Path


class Feed:
    """One sink, fed in order by its own thread from a bounded queue."""

    def __init__(self, name: str, sink: EventSink, warn: Warn, size: int = QUEUE_EVENTS) -> None:
        self.name, self.sink, self.warn = name, sink, warn
        self.kinds = wanted(sink)
        self._queue: queue.Queue[Event | None] = queue.Queue(size)
        self._lock = threading.Lock()
        self._abandoned = threading.Event()
        self.accepted = 0  # events queued
        self.done = 0  # events the sink returned from (or raised on)
        self.dropped = 0  # events a full queue refused
        self.failures = 0
        self._thread = threading.Thread(target=self._work, name=f"sink {name}", daemon=True)
        self._thread.start()

    def emit(self, event: Event) -> None:
        if self.kinds is not None and event.kind not in self.kinds:
            return
        with self._lock:  # counted and queued together: the order of the queue is the count's
            try:
                self._queue.put_nowait(event)
                self.accepted += 1
            except queue.Full:
                self.dropped += 1

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            if event is None or self._abandoned.is_set():
                return
            try:
                self.sink.emit(event)
            except Exception as exc:  # a sink's bug is the sink's: the run goes on
                self._failed(event, exc)
            with self._lock:
                self.done += 1

    def _failed(self, event: Event, exc: Exception) -> None:
        with self._lock:
            self.failures += 1
            first = self.failures == 1
        if first:
            self.warn(
                f"the event sink {self.name!r} failed on a "
                f"{event.kind.value} event ({type(exc).__name__}); it keeps receiving the "
                "events that follow, and its later failures are not reported"
            )

    def finish(self, deadline: float) -> int:
        """Wait until `deadline` (monotonic) for the queued events; the number of events the
        sink missed: dropped, or not delivered by then (abandoned)."""
        try:
            self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
            self._thread.join(max(0.0, deadline - time.monotonic()))
        except queue.Full:
            pass
        self._abandoned.set()  # a worker still busy stops at its next event
        with self._lock:
            return self.dropped + self.accepted - self.done


class Dispatcher:
    """Feeds every sink that wants events; `close` at the run's end."""

    def __init__(self, sinks: Sequence[tuple[str, EventSink]], warn: Warn) -> None:
        self.warn = warn
        # a sink that wants no kind (NullSink) costs no thread
        self.feeds = tuple(
            Feed(name, sink, warn) for name, sink in sinks if wanted(sink) != frozenset()
        )

    def emit(self, event: Event) -> None:
        for feed in self.feeds:
            feed.emit(event)

    def close(self, run_id: str, grace: float = GRACE_SECONDS) -> None:
        deadline = time.monotonic() + grace
        for feed in self.feeds:
            missed = feed.finish(deadline)
            if missed:
                self.warn(
                    f"the event sink {feed.name!r} missed {missed} "
                    f"event(s) of run {run_id}: it fell behind (the run's end waits "
                    f"{grace:g}s for its sinks)"
                )


def plugin_sinks(context: SinkContext, warn: Warn) -> list[tuple[str, EventSink]]:
    """The sinks the installed plugins make for this run (no plugin: nothing is imported)."""
    sinks: list[tuple[str, EventSink]] = []
    for entry in entry_points_of(SINK_GROUP):
        try:
            sinks.append((entry.name, entry.load()(context)))
        except Exception as exc:  # a broken plugin: the run goes on without it
            warn(
                f"the event sink plugin {entry.name!r} ({entry.value}) "
                f"could not be loaded ({type(exc).__name__}: {exc}); the run goes on without it"
            )
    return sinks
