"""/metrics: the daemon's snapshot in the Prometheus text format (prometheus-client), named as
jarvisctl/render/metric_scheme.py says, with the process and platform collectors beside it.

A fresh registry per scrape with one collector over one snapshot: nothing global, and every
series in a scrape comes from the same instant.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from jarvisctl.app.alerts import AlertCounts
from jarvisctl.daemon.snapshot import Snapshot
from jarvisctl.render.metric_scheme import (
    ALERTS_FIRING,
    CHECK_TIMESTAMP,
    CONFIG_ERROR_SINCE,
    CONFIG_OK,
    CONNECTIONS_OPEN,
    DAEMON_HEALTHY,
    DAEMON_START,
    DAEMON_UPTIME,
    HOST_OUTCOME,
    HOST_REACHABLE,
    HTTP_CONNECTIONS,
    HTTP_WAITING,
    JOB_LAST_DURATION,
    JOB_LAST_OUTCOME,
    JOB_LAST_RUN,
    JOB_MISSES,
    JOB_NEXT_FIRE,
    JOB_RUNNING,
    JOB_RUNS,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_GIVEN_UP,
    NOTIFICATIONS_PENDING,
    NOTIFICATIONS_SENT,
    OUTCOMES,
    SCHEDULER_RUNNING,
    Exposition,
    add_check,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JOB_OUTCOMES = ("ok", "not_ok", "unreachable", "skipped", "interrupted", "config_error", "error")


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot, alerts: AlertCounts | None = None) -> None:
        self.snapshot, self.alerts = snapshot, alerts

    def collect(self) -> Iterator[Metric]:
        out = Exposition()
        _daemon(out, self.snapshot)
        _hosts(out, self.snapshot)
        _jobs(out, self.snapshot)
        _http(out, self.snapshot)
        if self.alerts is not None:
            _alerts(out, self.alerts)
        yield from out.metrics()


def render_metrics(snapshot: Snapshot, alerts: AlertCounts | None = None) -> bytes:
    """`alerts`: what the store says of alerts and the outbox (None: no such series, as when
    the store cannot be read)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot, alerts))
    # the daemon's own memory, CPU, open files and Python: what node_exporter cannot tell apart
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry)


def _daemon(out: Exposition, s: Snapshot) -> None:
    out.add(DAEMON_UPTIME, (), s.uptime)
    out.add(DAEMON_START, (), s.started)
    out.add(CONNECTIONS_OPEN, (), s.connections_open)
    out.add(SCHEDULER_RUNNING, (), int(s.scheduler_running))
    out.add(DAEMON_HEALTHY, (), int(s.healthy))
    out.add(CONFIG_OK, (), int(not s.config_faults))
    if s.config_faults:
        out.add(CONFIG_ERROR_SINCE, (), min(f.since for f in s.config_faults))


def _hosts(out: Exposition, s: Snapshot) -> None:
    for host in s.hosts:
        if host.tried:
            out.add(HOST_REACHABLE, (host.host,), float(host.reachable))
        for c in host.checks:
            add_check(out, (host.host, c.play, c.check), c.value, c.unit, c.status, c.perfdata)
            out.add(CHECK_TIMESTAMP, (host.host, c.play, c.check), c.at)
        for play, outcome in host.outcomes:
            out.state(HOST_OUTCOME, (host.host, play), OUTCOMES, outcome)


def _jobs(out: Exposition, s: Snapshot) -> None:
    for job in s.jobs:
        # the playbook as the job's id names it (relative to the project), not the absolute path
        st, labels = job.stats, (job.id.removesuffix(f"::{job.play}"), job.play)
        if st.last_run is not None:
            out.add(JOB_LAST_RUN, labels, st.last_run)
        if st.last_duration is not None:
            out.add(JOB_LAST_DURATION, labels, st.last_duration)
        if st.last_outcome is not None:
            out.state(JOB_LAST_OUTCOME, labels, JOB_OUTCOMES, st.last_outcome)
        for name in (*JOB_OUTCOMES, *sorted(set(st.runs) - set(JOB_OUTCOMES))):
            out.add(JOB_RUNS, (*labels, name), st.runs.get(name, 0))
        out.add(JOB_MISSES, labels, st.misses)
        out.add(JOB_RUNNING, labels, float(st.running))
        if job.next_fire_time is not None:
            out.add(JOB_NEXT_FIRE, labels, job.next_fire_time.timestamp())


def _http(out: Exposition, s: Snapshot) -> None:
    out.add(HTTP_WAITING, (), s.http.waiting)
    for outcome, count in sorted(s.http.connections.items()):
        out.add(HTTP_CONNECTIONS, (outcome,), count)


def _alerts(out: Exposition, counts: AlertCounts) -> None:
    for severity, firing in sorted(counts.firing.items()):
        out.add(ALERTS_FIRING, (severity,), firing)
    for receiver in counts.receivers:
        out.add(NOTIFICATIONS_SENT, (receiver.receiver,), receiver.delivered)
        out.add(NOTIFICATIONS_FAILED, (receiver.receiver,), receiver.failed)
        out.add(NOTIFICATIONS_GIVEN_UP, (receiver.receiver,), receiver.given_up)
        out.add(NOTIFICATIONS_PENDING, (receiver.receiver,), receiver.pending)
