"""Each action an operator takes from a front door (`backups verify`, `restore`, `prune`; a
rollout's abort; an alert's acknowledgement, a silence, a receiver's test) is recorded as a
run: its own audit journal (`<state dir>/runs/<run-id>.jsonl`, the same hash chain), its row in
the run index, and so `jarvisctl runs`, `report RUN_ID` and `audit verify RUN_ID` show it like
any run.

A run's recording is reused as it is (record.recording.record_run): the journal's records are
`run_started` (source `cli`, or `daemon` for the daemon's HTTP API; the command's arguments,
mode `run`, or `check` for a restore --check or a prune --dry-run, which change nothing; the
hosts acted on), one typed event per thing acted on (core/backup_events.py,
core/alert_events.py), and `run_finished`, whose recap counts per host what went right (`ok`)
and wrong (`failed`) and whose hosts say how each ended, so that the run's status (not_ok when
anything failed) and exit code follow the one outcome ladder. An action stopped by Ctrl-C ends
without `run_finished`: `runs` shows it interrupted. A store that cannot record refuses the
action before it touches anything, as it refuses a run.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone

from jarvisctl import __version__
from jarvisctl.config.project import Project
from jarvisctl.core.events import (
    Event,
    EventSink,
    NullSink,
    Payload,
    RunFinished,
    RunStarted,
)
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.engine.runner import new_run_id
from jarvisctl.record.recording import record_run
from jarvisctl.store.base import Store

PLAY = "backups"  # the session name an action's hosts are recorded under in the run's report
# how a host's part of an action ended, the worst first: what its session shows in the report
ENDINGS = ("failed", "unreachable", "skipped")


@frozen
class ActionRequest:
    """What was asked, for the journal's first record."""

    arguments: tuple[str, ...]  # the command line after `jarvisctl`
    hosts: tuple[str, ...]  # the hosts the action concerns
    check: bool = False  # changes nothing (restore --check, prune --dry-run)
    inventory: str | None = None  # the inventory's source, when the action read one
    play: str = PLAY  # the session name its hosts are recorded under (a rollout's play)
    source: str = "cli"  # the front door: cli, or daemon (its HTTP API)


class ActionLog:
    """The open journal of one action: its events, and how each host's part ended."""

    def __init__(self, run_id: str, events: EventSink, store: Store, play: str = PLAY) -> None:
        self.run_id = run_id
        self.play = play
        self.store = store  # the action's store: the one its journal's run index is in
        self.events = events
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}
        self._errors: dict[str, list[str]] = {}
        self._started = time.monotonic()

    def emit(self, payload: Payload, host: str | None) -> None:
        """A backup event about `host` (None: about a store), redacted, then journaled."""
        self.events.emit(Event(payload, host))

    def outcome(self, host: str, count: str, error: str | None = None) -> None:
        """One thing done on `host` ended `count`: ok, failed, unreachable or skipped (and
        why, when not ok: the report shows it)."""
        with self._lock:
            counts = self._counts.setdefault(host, {})
            counts[count] = counts.get(count, 0) + 1
            if count != "ok" and error:
                self._errors.setdefault(host, []).append(error)

    def finished(self) -> RunFinished:
        with self._lock:
            recap = {host: dict(counts) for host, counts in self._counts.items()}
        seconds = round(time.monotonic() - self._started, 3)
        hosts = tuple(
            {
                "host": host,
                "play": self.play,
                "outcome": next((c for c in ENDINGS if counts.get(c)), "ok"),
                "seconds": seconds,
                "error": "; ".join(self._errors.get(host, [])) or None,
            }
            for host, counts in recap.items()
        )
        return RunFinished(self.run_id, False, seconds, recap, hosts)


@contextmanager
def backup_action(
    project: Project, request: ActionRequest, secrets: SecretValues
) -> Iterator[ActionLog]:
    """Record the block as a run; its log collects the events and each host's outcome. The
    journal redacts every secret `secrets` knows when the action starts (a store's password)."""
    run_id = new_run_id(datetime.now(timezone.utc))
    with (
        _signals_held() as release,
        record_run(
            project.state_dir,
            run_id,
            secrets.frozen(),
            NullSink(),
            lock_timeout=project.config.timeouts.state_lock,
        ) as recording,
    ):
        recording.events.emit(Event(_announcement(run_id, request)))
        release()
        log = ActionLog(run_id, recording.events, recording.store, request.play)
        yield log
        recording.events.emit(Event(log.finished()))


@contextmanager
def _signals_held() -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM wait while the action's run is being set up: one arriving between
    the journal's creation and its run_started record would leave an empty journal behind (a
    run of nothing). Released (by the caller, or at the end of the block) they arrive, and end
    the action as an interrupted run."""
    held = frozenset({signal.SIGINT, signal.SIGTERM})
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None  # signals are only delivered to the main thread's handlers
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)

    def release() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)

    try:
        yield release
    finally:
        release()


def _announcement(run_id: str, request: ActionRequest) -> RunStarted:
    return RunStarted(
        run_id=run_id,
        mode="check" if request.check else "run",
        source=request.source,
        user=_user(),
        controller=socket.gethostname(),
        pid=os.getpid(),
        version=__version__,
        playbooks={},
        # the inventory's source when the action read one (a verify reads none)
        inventory={} if request.inventory is None else {"source": request.inventory},
        arguments=request.arguments,
        limit=None,
        tags=(),
        hosts=_sorted(request.hosts),
    )


def _sorted(hosts: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(set(hosts)))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
