"""/metrics: the daemon's snapshot in the Prometheus text format (prometheus-client).

A fresh registry per scrape with one collector over one snapshot: nothing global, and every
series in a scrape comes from the same instant.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jarvisctl.daemon.snapshot import Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUS_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
OUTCOMES = ("ok", "not_ok", "unreachable", "skipped", "interrupted", "config_error", "error")


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from _daemon(self.snapshot)
        yield from _checks(self.snapshot)
        yield from _jobs(self.snapshot)
        yield from _http(self.snapshot)


def render_metrics(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)


def _gauge(name: str, text: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, labels=labels)


def _daemon(s: Snapshot) -> Iterator[Metric]:
    values = [
        ("jarvisctl_daemon_uptime_seconds", "Seconds since the daemon started.", s.uptime),
        ("jarvisctl_daemon_start_time_seconds", "When the daemon started (epoch).", s.started),
        ("jarvisctl_connections_open", "Connections to hosts open now.", s.connections_open),
        ("jarvisctl_scheduler_running", "1 when the scheduler runs.", int(s.scheduler_running)),
        ("jarvisctl_daemon_healthy", "1 when /healthz answers 200.", int(s.healthy)),
        (
            "jarvisctl_config_ok",
            "1 when the YAML loads; 0 while jobs run their last good plan.",
            int(not s.config_faults),
        ),
    ]
    for name, text, value in values:
        family = _gauge(name, text)
        family.add_metric([], float(value))
        yield family
    since = _gauge(
        "jarvisctl_config_error_timestamp_seconds",
        "When the current configuration error began (epoch); absent when the YAML loads.",
    )
    if s.config_faults:
        since.add_metric([], min(f.since for f in s.config_faults))
    yield since
    reachable = _gauge("jarvisctl_host_reachable", "1 when the host was reached last.", ["host"])
    for host in s.hosts:
        reachable.add_metric([host.host], float(host.reachable))
    yield reachable


def _checks(s: Snapshot) -> Iterator[Metric]:
    labels = ["host", "play", "check"]
    value = _gauge("jarvisctl_check_value", "A check's last measured value.", labels)
    status = _gauge(
        "jarvisctl_check_status",
        "A check's last status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        labels,
    )
    at = _gauge("jarvisctl_check_last_timestamp_seconds", "When a check last ran.", labels)
    for host in s.hosts:
        for c in host.checks:
            key = [host.host, c.play, c.check]
            if c.value is not None:
                value.add_metric(key, c.value)
            status.add_metric(key, float(STATUS_CODES.get(c.status, 3)))
            at.add_metric(key, c.at)
    yield from (value, status, at)


def _jobs(s: Snapshot) -> Iterator[Metric]:
    last_run = _gauge(
        "jarvisctl_job_last_run_timestamp_seconds", "When the job last started.", ["job"]
    )
    duration = _gauge("jarvisctl_job_last_duration_seconds", "How long its last run took.", ["job"])
    outcome = _gauge(
        "jarvisctl_job_last_outcome", "1 for the outcome of the job's last run.", ["job", "outcome"]
    )
    runs = CounterMetricFamily("jarvisctl_job_runs", "Runs by outcome.", labels=["job", "outcome"])
    misses = CounterMetricFamily(
        "jarvisctl_job_misses",
        "Fire times missed (late past the grace time, or still running).",
        labels=["job"],
    )
    running = _gauge("jarvisctl_job_running", "1 while the job runs.", ["job"])
    next_fire = _gauge(
        "jarvisctl_job_next_fire_timestamp_seconds", "The job's next fire time.", ["job"]
    )
    for job in s.jobs:
        st = job.stats
        if st.last_run is not None:
            last_run.add_metric([job.id], st.last_run)
        if st.last_duration is not None:
            duration.add_metric([job.id], st.last_duration)
        if st.last_outcome is not None:
            for name in OUTCOMES:
                outcome.add_metric([job.id, name], float(st.last_outcome == name))
        for name in OUTCOMES:
            runs.add_metric([job.id, name], float(st.runs.get(name, 0)))
        misses.add_metric([job.id], float(st.misses))
        running.add_metric([job.id], float(st.running))
        if job.next_fire_time is not None:
            next_fire.add_metric([job.id], job.next_fire_time.timestamp())
    yield from (last_run, duration, outcome, runs, misses, running, next_fire)


def _http(s: Snapshot) -> Iterator[Metric]:
    waiting = _gauge(
        "jarvisctl_http_connections_waiting", "Connections still sending their request."
    )
    waiting.add_metric([], float(s.http.waiting))
    outcomes = CounterMetricFamily(
        "jarvisctl_http_connections",
        "HTTP connections by what became of them (served, timed_out, gone, evicted, refused).",
        labels=["outcome"],
    )
    for outcome, count in sorted(s.http.connections.items()):
        outcomes.add_metric([outcome], float(count))
    yield from (waiting, outcomes)
