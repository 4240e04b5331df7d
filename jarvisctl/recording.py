"""What `run_playbooks` attaches to every run: secrets redacted first, then the audit journal,
the run index and the caller's own sink, in that order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from jarvisctl.audit import Journal, journal_path
from jarvisctl.events import EventSink, Fanout
from jarvisctl.history import RunIndex
from jarvisctl.results import RunReport
from jarvisctl.secrets import Redactor
from jarvisctl.state import StateStore

T = TypeVar("T")


@dataclass(frozen=True)
class Recording:
    run_id: str
    redactor: Redactor
    events: EventSink  # redacting, then journal, index, and the caller's sink
    journal: Journal

    def on_host(self, inner: Callable[[T], None]) -> Callable[[T], None]:
        """The caller's per-host callback, given redacted values."""
        return self.redactor.callback(inner)

    def redact(self, value: T) -> T:
        return self.redactor.value(value)


@contextmanager
def record_run(
    state_dir: Path, run_id: str, secrets: frozenset[str], downstream: EventSink
) -> Iterator[Recording]:
    """Open the run's journal and index entry; on an exception the run is marked interrupted
    (its journal has no run_finished record), and the journal is always closed."""
    journal = Journal(journal_path(state_dir, run_id), run_id)
    index = RunIndex(StateStore(state_dir / "state.db"), journal)
    redactor = Redactor(secrets)
    events = redactor.sink(Fanout([journal, index, downstream]))
    try:
        yield Recording(run_id, redactor, events, journal)
    except BaseException:
        index.abandon()
        raise
    finally:
        journal.close()


def host_outcomes(report: RunReport) -> list[dict[str, object]]:
    """How each host's session ended, for the run_finished record."""
    return [
        {
            "host": run.host,
            "play": run.play,
            "outcome": run.outcome.value,
            "seconds": round(run.duration, 3),
            "error": run.error,
        }
        for run in report.hosts
    ]
