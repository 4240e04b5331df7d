"""Checks measured on the controller, not on the host: a kind with `controller_side` (the
`backup_age` freshness check that a backup's `max_age` derives). Nothing runs on the host: the
value is read from the snapshot index, after the host's backups of this run, so that a backup
just taken counts.

The value is the age in seconds of the newest snapshot of that host's backup that is not
unusable (an unverified one counts: it was checksummed while it was received). The check is
CRITICAL, whatever its thresholds, when there is no snapshot at all or when the newest one is
unusable (a failed verification raises the freshness check: the next restore would have to
reach back past it). Otherwise its thresholds, `for:` and hysteresis apply as for any check.
"""

from __future__ import annotations

from collections.abc import Sequence

from jarvisctl.config.models.values import format_duration
from jarvisctl.core.results import CheckResult, Status
from jarvisctl.engine.evaluate import check_result, judge
from jarvisctl.kinds.base import Reading
from jarvisctl.plan.model import CheckPlan
from jarvisctl.store.snapshots import Snapshot, SnapshotIndex, SnapshotState

SOURCE = "controller"  # CheckResult.source: measured on the controller, from the index


def backup_freshness(
    check: CheckPlan, host: str, index: SnapshotIndex | None, now: float
) -> CheckResult:
    """The freshness of `check`'s backup on `host`, as of `now`; never raises."""
    backup = str(getattr(check.params, "backup", ""))  # BackupAgeParams (kinds/backups.py)
    if index is None:
        return _result(check, Status.UNKNOWN, None, "no state store: no snapshot index to read")
    try:
        snapshots = index.list(host, backup)
    except Exception as exc:  # the index cannot be read: not measured
        reason = f"cannot read the snapshot index: {type(exc).__name__}: {exc}"
        return _result(check, Status.UNKNOWN, None, reason)
    usable = [s for s in snapshots if s.state is not SnapshotState.UNUSABLE]
    value = None if not usable else round(max(0.0, now - _newest(usable).taken_at), 3)
    if not snapshots:
        reason = f"no snapshot of backup {backup!r} of {host} (it was never taken)"
        return _result(check, Status.CRITICAL, None, reason)
    newest = _newest(snapshots)
    if newest.state is SnapshotState.UNUSABLE:
        why = f": {newest.problem}" if newest.problem else ""
        reason = f"the newest snapshot of backup {backup!r}, {newest.id}, is unusable{why}"
        if value is not None:
            reason += f" (the newest usable one is {_age(value)} old)"
        return _result(check, Status.CRITICAL, value, reason)
    assert value is not None  # the newest is usable
    good = _newest(usable)
    summary = f"newest snapshot {good.id} ({good.state.value}) is {_age(value)} old"
    status, reason = judge(check, Reading(value, summary=summary))
    return _result(check, status, value, reason if status is Status.OK else f"{reason}: {summary}")


def _newest(snapshots: Sequence[Snapshot]) -> Snapshot:
    return max(snapshots, key=lambda s: (s.taken_at, s.id))


def _age(seconds: float) -> str:
    return format_duration(float(round(seconds)))


def _result(check: CheckPlan, status: Status, value: float | None, reason: str) -> CheckResult:
    return check_result(check, status, value, reason, source=SOURCE)
