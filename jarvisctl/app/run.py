"""The one `run` function behind both front doors (the CLI and the daemon): plan, announce,
execute, recap — every step recorded on the event stream."""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import field
from datetime import datetime, timezone
from pathlib import Path

from jarvisctl import __version__
from jarvisctl.app.notify_sink import RunNotifier, notify_events
from jarvisctl.app.plan import PlanRequest, hosts_of, plan_to_run
from jarvisctl.config.configfile import read_config_bytes
from jarvisctl.config.inventory.loader import inventory_files
from jarvisctl.config.playbooks import expand_playbook_paths
from jarvisctl.config.project import Project
from jarvisctl.core.dispatch import on_stderr
from jarvisctl.core.errors import ConfigError
from jarvisctl.core.events import Event, EventSink, RunFinished, RunStarted
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import HostRun, RunReport
from jarvisctl.core.secrets import SecretValues
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.rollout_request import RolloutRequest
from jarvisctl.engine.runner import execute, new_run_id
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.model import Plan
from jarvisctl.record.recording import host_outcomes, record_run
from jarvisctl.store.leases import leasing


@frozen
class RunRequest:
    """What a run is asked for, by the CLI or the daemon: the playbooks and inventory, which hosts,
    plays and tags, in check mode or not, and the rollout it goes on with."""

    playbooks: tuple[Path, ...]
    inventory: tuple[Path, ...] = ()  # every -i, merged in order
    limit: str | None = None
    tags: tuple[str, ...] = ()
    forks: int | None = None
    check: bool = False
    arguments: tuple[str, ...] = ()  # how it was asked for, for the audit trail
    source: str = "cli"  # cli | daemon
    play: str | None = None  # only the play of this name (the daemon runs one play per job)
    # a plan made already (the daemon's last good one, kept when the files are broken); when
    # None the run plans from the files
    plan: Plan | None = None
    # the rollout this run goes on with (`jarvisctl rollout resume|continue`, app/rollout_run.py)
    resume_rollout: str | None = None
    abort_rollout: bool = False  # ... to roll back its hosts and abort it
    decided: tuple[str, ...] = ()  # ... whose hosts' `once` steps in flight did complete


@frozen
class RunContext:
    """What outlives one run: the daemon keeps the pool (and its connections) between cycles."""

    events: EventSink
    pool: ConnectionPool = field(default_factory=ConnectionPool)
    cancel: threading.Event = field(default_factory=threading.Event)
    on_host: Callable[[HostRun], None] = lambda _: None
    # live progress: the plan before any host starts, then each (host, play) as it starts
    on_plan: Callable[[Plan], None] = lambda _: None
    on_start: Callable[[str, str], None] = lambda host, play: None
    # what the front door redacts its output with; the run's plan adds the secrets it meets
    secrets: SecretValues = field(default_factory=SecretValues)
    # where a failing or slow event sink is said (the CLI: stderr; the daemon: its log)
    warn: Callable[[str], None] = on_stderr
    # the notifications pipeline this run feeds (app/notifications.py): the daemon's, or a
    # `run --notify`'s; None: the run notifies nobody (its maintenance is still silenced)
    notifications: RunNotifier | None = None


def plan_request(project: Project, request: RunRequest, secrets: SecretValues) -> Plan:
    """The plan the request runs, or a ConfigError with every located problem."""
    wanted = PlanRequest(request.playbooks, request.inventory, request.limit, request.tags)
    return plan_to_run(project, wanted, secrets, request.play)


def run_playbooks(project: Project, request: RunRequest, context: RunContext) -> RunReport:
    plan = request.plan or plan_request(project, request, context.secrets)
    context.on_plan(plan)
    run_id = new_run_id(datetime.now(timezone.utc))
    started = time.monotonic()
    mode = "check" if request.check else "run"
    # the audit journal and run index; secrets are redacted from everything the run emits; a
    # store that cannot record refuses the run, or stops it (recording.cancel) when it fails later
    downstream = notify_events(project, context.events, context.notifications, plan, request.check)
    with record_run(
        project.state_dir,
        run_id,
        plan.secrets,
        downstream,
        cancel=context.cancel,
        lock_timeout=project.config.timeouts.state_lock,
        warn=context.warn,
    ) as recording:
        events, state = recording.events, recording.store
        events.emit(Event(_announcement(project, request, plan, run_id, mode)))
        report = execute(
            plan,
            load_registry(),
            context.pool,
            forks=request.forks or project.config.forks,
            mode=mode,
            cancel=recording.cancel,
            on_host=recording.on_host(context.on_host),
            on_start=context.on_start,
            store=state,
            events=events,
            run_id=run_id,
            leases=leasing(state.leases, project.config.lease_ttl, run_id, request.source),
            state_dir=project.state_dir,
            rollout=RolloutRequest(
                inventory=tuple(str(p.resolve()) for p in request.inventory),
                limit=request.limit,
                tags=tuple(request.tags),
                resume=request.resume_rollout,
                run_id=run_id,
                abort=request.abort_rollout,
                decided=request.decided,
                secrets=plan.secrets,
            ),
        )
        finished = RunFinished(
            run_id=run_id,
            interrupted=report.interrupted,
            seconds=round(time.monotonic() - started, 3),
            recap=report.recap(),
            hosts=host_outcomes(report),
        )
        events.emit(Event(finished))
    return recording.redact(report)


def _announcement(
    project: Project, request: RunRequest, plan: Plan, run_id: str, mode: str
) -> RunStarted:
    files = expand_playbook_paths(list(request.playbooks))
    inventory = request.inventory or _default_inventory(project)
    return RunStarted(
        run_id=run_id,
        mode=mode,
        source=request.source,
        user=_user(),
        controller=socket.gethostname(),
        pid=os.getpid(),
        version=__version__,
        playbooks={str(p): _sha256(p) for p in files},
        inventory={"source": plan.inventory, "sha256": _inventory_sha256(inventory)},
        arguments=tuple(request.arguments),
        limit=request.limit,
        tags=tuple(request.tags),
        hosts=tuple(hosts_of(plan)),
    )


def _default_inventory(project: Project) -> tuple[Path, ...]:
    path = project.root / project.config.inventory
    return (path,) if os.path.exists(path) else ()


def _inventory_sha256(sources: Sequence[Path]) -> str | None:
    """One file's digest, as before; for several files (several -i, a directory), the digest
    of their digests, in the order they are read."""
    files = inventory_files(sources)
    if len(files) == 1:
        return _sha256(files[0])
    digests = "".join(f"{_sha256(path)}  {path}\n" for path in files)
    return "sha256:" + hashlib.sha256(digests.encode()).hexdigest() if files else None


def _sha256(path: Path) -> str | None:
    try:  # the configuration reader: `-` (standard input) is what the plan was made from
        return "sha256:" + hashlib.sha256(read_config_bytes(path)).hexdigest()
    except ConfigError:
        return None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
