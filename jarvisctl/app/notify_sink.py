"""What a run of a project with `notify:` attaches to its events (issue 19).

A run that notifies (the daemon's, `jarvisctl run --notify` or `notify: {on_run: true}`) gives
its events to the notifications pipeline (app/notifications.py): the sink only queues them, off
the host threads. Any other run still silences the alerts its own maintenance causes (a rollout
turn, a reboot step, a backup: notify/maintenance.py), because a daemon may be watching the same
hosts; it does so on its sink thread, and imports that code only when such work begins.

Nothing of notify/ is imported here: a run that does neither imports none of it
(tests/unit/test_notify_imports.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from jarvisctl.config.project import Project
from jarvisctl.core.events import Event, EventKind, EventSink, wanted
from jarvisctl.plan.model import Plan

if TYPE_CHECKING:
    from jarvisctl.notify.maintenance import MaintenanceSilences

# the kinds that may begin or end jarvisctl's own maintenance (notify/maintenance.KINDS)
MAINTENANCE_KINDS = frozenset(
    {
        EventKind.RUN_STARTED,
        EventKind.MAINTENANCE,
        EventKind.STEP,
        EventKind.BACKUP,
        EventKind.ROLLOUT,
        EventKind.ROLLOUT_HOST,
    }
)
BEGINS = frozenset({EventKind.MAINTENANCE, EventKind.ROLLOUT})


class RunNotifier(Protocol):
    """The notifications pipeline, as a run sees it: a sink for this run's events."""

    def sink(self, plan: Plan) -> EventSink: ...


def notify_events(
    project: Project, events: EventSink, notifier: RunNotifier | None, plan: Plan, check: bool
) -> EventSink:
    """The run's sink for the caller's events, with the notifications' added."""
    if project.notify is None or check:  # nothing is notified, or nothing is done
        return events
    ours: EventSink
    if notifier is not None:
        ours = notifier.sink(plan)
    else:
        grace = project.notify.maintenance_grace
        ours = MaintenanceSink(project.state_dir, grace, project.config.timeouts.state_lock)
    return Both(events, ours)


class Both:
    """Two sinks as one, each given only the kinds it wants (so that a caller's NullSink and a
    sink of a few kinds cost the run one sink thread fed those kinds alone)."""

    def __init__(self, first: EventSink, second: EventSink) -> None:
        self.first, self.second = first, second
        self._first, self._second = wanted(first), wanted(second)
        kinds = (self._first, self._second)
        self.kinds = None if None in kinds else frozenset().union(*(k for k in kinds if k))

    def emit(self, event: Event) -> None:
        if self._first is None or event.kind in self._first:
            self.first.emit(event)
        if self._second is None or event.kind in self._second:
            self.second.emit(event)


class MaintenanceSink:
    """A run that does not notify: its maintenance's silences, made on its sink thread."""

    kinds = MAINTENANCE_KINDS

    def __init__(self, state_dir: Path, grace: float, lock_timeout: float) -> None:
        self.state_dir, self.grace, self.lock_timeout = state_dir, grace, lock_timeout
        self.run_id = ""
        self._silences: MaintenanceSilences | None = None
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        if event.kind is EventKind.RUN_STARTED:
            self.run_id = str(event.data.get("run_id", ""))
            return
        silences = self._opened(event)
        if silences is not None and silences.wants(event):
            silences.apply(event, self.run_id)

    def _opened(self, event: Event) -> MaintenanceSilences | None:
        """The silences' keeper, made (the store opened) when maintenance first begins."""
        with self._lock:
            if self._silences is None and event.kind in BEGINS:
                self._silences = _keeper(self.state_dir, self.grace, self.lock_timeout)
            return self._silences


def _keeper(state_dir: Path, grace: float, lock_timeout: float) -> MaintenanceSilences:
    from jarvisctl.notify.maintenance import MaintenanceSilences
    from jarvisctl.store.factory import open_store

    return MaintenanceSilences(open_store(state_dir, lock_timeout=lock_timeout).alerts, grace)
