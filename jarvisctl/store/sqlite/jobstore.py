"""The daemon's job store in SQLite: APScheduler 3 jobs, and the record of fire times claimed.

APScheduler ships a SQLAlchemy job store; SQLAlchemy alone adds ~11 MiB to the daemon's
resident memory, which matters on an edge board, so this is the same table (id, next_run_time,
pickled job state) through the standard library's sqlite3. One scheduler owns the file.

`claim_fire` makes "at most once per fire time" durable: a run first inserts (job, fire time);
a second attempt at the same pair (a restart after a crash between the run's start and the
scheduler's update of the job) finds it and does not run.
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

from jarvisctl.core.errors import StoreError
from jarvisctl.store.base import LOCK_TIMEOUT
from jarvisctl.store.faults import check_state_dir
from jarvisctl.store.jobstore import StoreFault
from jarvisctl.store.sqlite import schema
from jarvisctl.store.sqlite.faults import sqlite_fault

FIRES_KEPT_SECONDS = 7 * 86400.0


class SQLiteJobStore(BaseJobStore):  # type: ignore[misc]
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()
        # the last use's fault, None once a use works again: APScheduler swallows the store's
        # errors in its own thread (and retries), so /healthz reads them here
        self.fault: StoreFault | None = None
        check_state_dir(path.parent)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise sqlite_fault(path, exc) from None
        with self._db() as db:
            schema.migrate(path, db, schema.JOBS)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for the block; a SQLite error (but a duplicate key, which callers
        expect) leaves as a StoreError naming the file and what to do."""
        try:
            connection = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        with self._lock, closing(connection):
            try:
                yield connection
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise self._failed(exc) from None
            self.fault = None

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        error = sqlite_fault(self.path, exc)
        before = self.fault
        self.fault = StoreFault(str(error), before.since if before else time.time())
        return error

    # -- APScheduler's job store interface -----------------------------------------------------

    def lookup_job(self, job_id: str) -> Job | None:
        with self._db() as db:
            row = db.execute(
                "SELECT job_state FROM apscheduler_jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return self._reconstitute(row[0]) if row else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return self._jobs("WHERE next_run_time <= ?", (datetime_to_utc_timestamp(now),))

    def get_next_run_time(self) -> datetime | None:
        with self._db() as db:
            row = db.execute(
                "SELECT next_run_time FROM apscheduler_jobs WHERE next_run_time IS NOT NULL "
                "ORDER BY next_run_time LIMIT 1"
            ).fetchone()
        return utc_timestamp_to_datetime(row[0]) if row else None

    def get_all_jobs(self) -> list[Job]:
        jobs = self._jobs("", ())
        self._fix_paused_jobs_sorting(jobs)
        return jobs

    def add_job(self, job: Job) -> None:
        try:
            with self._db() as db:
                db.execute("INSERT INTO apscheduler_jobs VALUES (?, ?, ?)", _row(job))
        except sqlite3.IntegrityError:
            raise ConflictingIdError(job.id) from None

    def update_job(self, job: Job) -> None:
        job_id, next_run, state = _row(job)
        with self._db() as db:
            cursor = db.execute(
                "UPDATE apscheduler_jobs SET next_run_time = ?, job_state = ? WHERE id = ?",
                (next_run, state, job_id),
            )
        if cursor.rowcount == 0:
            raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        with self._db() as db:
            cursor = db.execute("DELETE FROM apscheduler_jobs WHERE id = ?", (job_id,))
        if cursor.rowcount == 0:
            raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        with self._db() as db:
            db.execute("DELETE FROM apscheduler_jobs")

    def _jobs(self, where: str, args: tuple[Any, ...]) -> list[Job]:
        with self._db() as db:
            rows = db.execute(
                f"SELECT id, job_state FROM apscheduler_jobs {where} ORDER BY next_run_time", args
            ).fetchall()
        jobs, broken = [], []
        for job_id, state in rows:
            try:
                jobs.append(self._reconstitute(state))
            except Exception as exc:  # e.g. a job written by an incompatible version
                self._logger.warning("cannot restore job %r (%s); removing it", job_id, exc)
                broken.append((job_id,))
        if broken:
            with self._db() as db:
                db.executemany("DELETE FROM apscheduler_jobs WHERE id = ?", broken)
        return jobs

    def _reconstitute(self, blob: bytes) -> Job:
        state = pickle.loads(blob)
        state["jobstore"] = self
        job: Job = Job.__new__(Job)
        job.__setstate__(state)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    # -- fire times --------------------------------------------------------------------------

    def claim_fire(self, job_id: str, fire_time: datetime, pid: int) -> bool:
        """True when this fire time of this job had not been claimed before (now it is)."""
        now = time.time()
        with self._db() as db:
            db.execute("DELETE FROM job_fire WHERE claimed < ?", (now - FIRES_KEPT_SECONDS,))
            try:
                db.execute(
                    "INSERT INTO job_fire VALUES (?, ?, ?, ?, NULL)",
                    (job_id, fire_time.timestamp(), now, pid),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def finish_fire(self, job_id: str, fire_time: datetime, outcome: str) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE job_fire SET outcome = ? WHERE job_id = ? AND fire_time = ?",
                (outcome, job_id, fire_time.timestamp()),
            )

    def fires(self) -> list[tuple[str, float, int, str | None]]:
        """(job id, fire time, pid, outcome) of every claimed fire time, oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT job_id, fire_time, pid, outcome FROM job_fire ORDER BY fire_time"
            ).fetchall()
        return [(str(a), float(b), int(c), None if d is None else str(d)) for a, b, c, d in rows]


def _row(job: Job) -> tuple[str, float | None, bytes]:
    state = pickle.dumps(job.__getstate__(), pickle.HIGHEST_PROTOCOL)
    return job.id, datetime_to_utc_timestamp(job.next_run_time), state
