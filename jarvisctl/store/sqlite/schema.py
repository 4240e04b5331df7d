"""The SQLite schemas and their versioned migrations.

A database records its version in `PRAGMA user_version`; migration N takes it from N - 1 to N.
Opening a database for writing applies the missing migrations in one `BEGIN IMMEDIATE`
transaction, reading the version again once the lock is held, so two processes opening an old
database at once migrate it once: the second finds the work done. A database newer than this
jarvisctl (a later release wrote it) is refused, not guessed at. Every statement is written to be
safe on a database that already has what it creates: releases before versioned migrations created
some tables outside any version.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jarvisctl.core.errors import StoreError
from jarvisctl.core.frozen import frozen


@frozen
class Migration:
    """What takes a database from `version` - 1 to `version`, and what that version adds (`why`)."""

    version: int
    statements: tuple[str, ...]
    why: str


# state.db. Versions 1 and 2 are the schemas releases recorded before migrations were listed
# (2: release 8c4458a's, whose lease stores also made host_lease, outside any version).
STATE = (
    Migration(
        1,
        (
            """CREATE TABLE IF NOT EXISTS check_state (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    status TEXT NOT NULL,
    pending TEXT,
    pending_count INTEGER NOT NULL DEFAULT 0,
    history TEXT NOT NULL DEFAULT '[]',
    flapping INTEGER NOT NULL DEFAULT 0,
    value REAL,
    since REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (host, play, check_name)
)""",
            """CREATE TABLE IF NOT EXISTS remediation_attempt (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    rung TEXT NOT NULL,
    at REAL NOT NULL,
    outcome TEXT NOT NULL
)""",
            """CREATE INDEX IF NOT EXISTS remediation_attempt_key
    ON remediation_attempt (host, play, check_name, rung)""",
            """CREATE TABLE IF NOT EXISTS escalation (
    host TEXT NOT NULL,
    play TEXT NOT NULL,
    check_name TEXT NOT NULL,
    since REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (host, play, check_name)
)""",
        ),
        "check states and the remediation ledger",
    ),
    Migration(
        2,
        (
            """CREATE TABLE IF NOT EXISTS run_index (
    run_id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    source TEXT NOT NULL,
    user TEXT NOT NULL,
    controller TEXT NOT NULL,
    pid INTEGER NOT NULL,
    playbooks TEXT NOT NULL DEFAULT '[]',
    counts TEXT NOT NULL DEFAULT '{}',
    records INTEGER,
    last_hash TEXT
)""",
            "CREATE INDEX IF NOT EXISTS run_index_started ON run_index (started)",
            """CREATE TABLE IF NOT EXISTS run_host (
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    PRIMARY KEY (run_id, host)
)""",
            "CREATE INDEX IF NOT EXISTS run_host_host ON run_host (host)",
        ),
        "the run index",
    ),
    Migration(
        3,
        (
            """CREATE TABLE IF NOT EXISTS host_lease (
    host TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    controller TEXT NOT NULL,
    source TEXT NOT NULL,
    acquired REAL NOT NULL,
    expires REAL NOT NULL
)""",
        ),
        "host leases, in the versioned schema (releases before made the table at each open)",
    ),
    Migration(
        4,
        (
            """CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    backup TEXT NOT NULL,
    play TEXT NOT NULL,
    store TEXT NOT NULL,
    location TEXT NOT NULL,
    taken_at REAL NOT NULL,
    seconds REAL NOT NULL,
    source TEXT NOT NULL,
    compress TEXT NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    state TEXT NOT NULL,
    verified_at REAL,
    problem TEXT
)""",
            """CREATE INDEX IF NOT EXISTS snapshots_host_backup
    ON snapshots (host, backup, taken_at)""",
            "CREATE INDEX IF NOT EXISTS snapshots_taken_at ON snapshots (taken_at)",
            # path and target are the host's bytes (UTF-8, undecodable bytes kept as they were),
            # hence BLOB: a file name need not be valid UTF-8
            """CREATE TABLE IF NOT EXISTS snapshot_files (
    snapshot_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    path BLOB NOT NULL,
    type TEXT NOT NULL,
    mode INTEGER NOT NULL,
    owner TEXT NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT,
    target BLOB,
    PRIMARY KEY (snapshot_id, seq)
) WITHOUT ROWID""",
        ),
        "the backup snapshot index and each snapshot's manifest",
    ),
    Migration(
        5,
        (
            # inventory and batches are JSON arrays; `lim` is the run's --limit
            """CREATE TABLE IF NOT EXISTS rollouts (
    id TEXT PRIMARY KEY,
    play TEXT NOT NULL,
    playbook TEXT NOT NULL,
    inventory TEXT NOT NULL,
    lim TEXT,
    plan_digest TEXT NOT NULL,
    batches TEXT NOT NULL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    state TEXT NOT NULL,
    batch INTEGER NOT NULL,
    reason TEXT NOT NULL,
    run_id TEXT NOT NULL
)""",
            "CREATE INDEX IF NOT EXISTS rollouts_started ON rollouts (started_at)",
            "CREATE INDEX IF NOT EXISTS rollouts_play ON rollouts (play, state)",
            # seq: the host's place in the plan (batch order, then planned order)
            """CREATE TABLE IF NOT EXISTS rollout_hosts (
    rollout TEXT NOT NULL,
    host TEXT NOT NULL,
    seq INTEGER NOT NULL,
    batch INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    phase TEXT NOT NULL,
    step INTEGER,
    deferred_until REAL,
    attempts INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (rollout, host)
)""",
            # one row per step a host started; its rowid orders the steps by first start
            """CREATE TABLE IF NOT EXISTS rollout_steps (
    rollout TEXT NOT NULL,
    host TEXT NOT NULL,
    phase TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    starts INTEGER NOT NULL,
    UNIQUE (rollout, host, phase, step_index)
)""",
            # a rollout's lease: the controller working on it, as host_lease holds hosts
            """CREATE TABLE IF NOT EXISTS rollout_lease (
    rollout TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    controller TEXT NOT NULL,
    source TEXT NOT NULL,
    acquired REAL NOT NULL,
    expires REAL NOT NULL
)""",
        ),
        "rollouts: their durable progress per host and step, and their leases",
    ),
    Migration(
        6,
        (
            # a take writes its manifest in pages while the stream arrives: its rows are in
            # snapshot_files, with no snapshots row (so no reader sees them), until recorded;
            # the pid says whose they are, so a killed take's rows are swept by the next one
            """CREATE TABLE IF NOT EXISTS snapshot_pending (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    controller TEXT NOT NULL,
    started REAL NOT NULL
)""",
            """CREATE INDEX IF NOT EXISTS snapshot_files_path
    ON snapshot_files (snapshot_id, path, seq)""",
        ),
        "a snapshot's manifest written in pages while it is taken, and read in path order",
    ),
    Migration(
        7,
        (
            # the --tags a rollout was started with: a resume plans the same steps again
            "ALTER TABLE rollouts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'",
        ),
        "a rollout keeps the --tags it was started with",
    ),
    Migration(
        8,
        (
            # one row per alert: its fingerprint while it fires, then kept resolved (history)
            """CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT NOT NULL,
    starts_at REAL NOT NULL,
    state TEXT NOT NULL,
    ends_at REAL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL DEFAULT '{}',
    generator TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    acked_at REAL,
    acked_by TEXT NOT NULL DEFAULT '',
    ack_comment TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (fingerprint, starts_at)
)""",
            "CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, fingerprint)",
            """CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT ''
)""",
            # one row per notification and deliverable part of its receiver
            """CREATE TABLE IF NOT EXISTS outbox (
    key TEXT NOT NULL,
    integration TEXT NOT NULL,
    receiver TEXT NOT NULL,
    notification TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    delivered_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key, integration)
)""",
            """CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at)
    WHERE delivered_at IS NULL""",
        ),
        "alerts, silences and the notification outbox (issue 19)",
    ),
    Migration(
        9,
        (
            # the dispatcher's notification groups (notify/dispatch.py owns the JSON): what each
            # was last told and when it is next looked at, so that a restart neither loses a
            # pending notification nor sends everything again
            """CREATE TABLE IF NOT EXISTS notify_groups (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL
)""",
        ),
        "notification groups: what each receiver was told of each group of alerts (issue 19)",
    ),
)
# the oldest version a reader (which never migrates) can read: later versions add nothing a
# reader cannot do without (a store before version 4 has no snapshots, and its snapshot index
# reads as empty: store/sqlite/snapshots.py; one before version 5 has no rollouts, and reads as
# having none: store/sqlite/rollouts.py; version 6's pending takes are a writer's alone, and a
# reader reads a manifest in path order without version 6's index, only slower; one before
# version 8 has no alerts, silences nor outbox, and reads as having none: store/sqlite/alerts.py;
# version 9's notification groups are the dispatcher's alone, a writer's)
STATE_READABLE_FROM = 2

# scheduler.db: version 1 is release 8c4458a's schema (its files say version 0: it recorded none)
JOBS = (
    Migration(
        1,
        (
            """CREATE TABLE IF NOT EXISTS apscheduler_jobs (
    id TEXT PRIMARY KEY,
    next_run_time REAL,
    job_state BLOB NOT NULL
)""",
            """CREATE INDEX IF NOT EXISTS apscheduler_jobs_next
    ON apscheduler_jobs (next_run_time)""",
            """CREATE TABLE IF NOT EXISTS job_fire (
    job_id TEXT NOT NULL,
    fire_time REAL NOT NULL,
    claimed REAL NOT NULL,
    pid INTEGER NOT NULL,
    outcome TEXT,
    PRIMARY KEY (job_id, fire_time)
)""",
        ),
        "APScheduler's jobs and the fire times claimed",
    ),
)


class StateError(StoreError):
    """The state database cannot be opened or is not ours."""


def latest(migrations: tuple[Migration, ...]) -> int:
    return migrations[-1].version


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(path: Path, found: int, migrations: tuple[Migration, ...]) -> None:
    if found > latest(migrations):
        raise StateError(
            f"{path}: state schema version {found} is newer than this jarvisctl understands "
            f"({latest(migrations)}); upgrade jarvisctl"
        )


def migrate(path: Path, db: sqlite3.Connection, migrations: tuple[Migration, ...]) -> None:
    """Bring the database (opened with isolation_level=None) to the latest version, in one
    transaction; writes nothing when it is there already."""
    if version(db) == latest(migrations):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        found = version(db)  # again, under the lock: another process may have migrated
        refuse_newer(path, found, migrations)
        for migration in migrations:
            if migration.version > found:
                for statement in migration.statements:
                    db.execute(statement)
        db.execute(f"PRAGMA user_version={latest(migrations)}")
        db.execute("COMMIT")
    finally:
        if db.in_transaction:
            db.rollback()


def script(migrations: tuple[Migration, ...]) -> str:
    """The whole schema as one script, ending at the latest version (an empty reader's)."""
    statements = [s for m in migrations for s in m.statements]
    return ";\n".join([*statements, f"PRAGMA user_version={latest(migrations)}"]) + ";"
