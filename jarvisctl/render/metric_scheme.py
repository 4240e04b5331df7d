"""The one naming scheme of jarvisctl's Prometheus metrics. Every family's name, type, help and
label names are defined here, once, for both front doors: the metrics file of `jarvisctl run
--metrics-file` (metrics.py) and the daemon's /metrics (daemon/metrics.py). A family both
export means the same thing, with the same labels, in both. README.md's table is this module.

Labels never clash with the target labels Prometheus attaches (`job`, `instance`): those would
be renamed `exported_job`, `exported_instance`. Every series of a metrics file also carries
`source`, the file's name without `.prom`: node_exporter's textfile collector serves every file
of its directory as one target, and two files with one series in common fail its whole
collection. The daemon is its own target and needs no `source`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import Outcome, PerfDatum, Status

SOURCE = "source"
CHECK = ("host", "play", "check")
STATUS_CODES = {s.value: code for code, s in enumerate(Status)}  # as Nagios numbers them
PROM_SUFFIX = ".prom"  # node_exporter's textfile collector reads these files only


@frozen
class Family:
    name: str  # as exposed: a counter's name ends in _total
    type: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...]
    where: Literal["file", "daemon", "both"]

    def empty(self, with_source: bool) -> GaugeMetricFamily | CounterMetricFamily:
        labels = [SOURCE, *self.labels] if with_source else list(self.labels)
        if self.type == "counter":
            return CounterMetricFamily(self.name.removesuffix("_total"), self.help, labels=labels)
        return GaugeMetricFamily(self.name, self.help, labels=labels)


def _both(name: str, text: str, labels: Sequence[str] = ()) -> Family:
    return Family(name, "gauge", text, tuple(labels), "both")


def _file(name: str, text: str, labels: Sequence[str] = ()) -> Family:
    return Family(name, "gauge", text, tuple(labels), "file")


def _daemon(name: str, text: str, labels: Sequence[str] = (), counter: bool = False) -> Family:
    return Family(name, "counter" if counter else "gauge", text, tuple(labels), "daemon")


# -- checks and hosts: both ------------------------------------------------------------------
CHECK_VALUE = _both(
    "jarvisctl_check_value", "The check's last measured value, in its unit.", (*CHECK, "unit")
)
CHECK_STATUS = _both(
    "jarvisctl_check_status",
    "1 for the check's last status (ok, warning, critical, unknown), 0 for the others.",
    (*CHECK, "status"),
)
CHECK_STATUS_CODE = _both(
    "jarvisctl_check_status_code",
    "The check's last status as Nagios numbers it: 0 ok, 1 warning, 2 critical, 3 unknown.",
    CHECK,
)
HOST_REACHABLE = _both(
    "jarvisctl_host_reachable",
    "1 if the host was reached the last time it was tried, 0 if it was unreachable.",
    ("host",),
)
HOST_OUTCOME = _both(
    "jarvisctl_host_outcome",
    "1 for how the host's last session in the play ended, 0 for the other outcomes.",
    ("host", "play", "outcome"),
)
# -- the check's last run: daemon ------------------------------------------------------------
CHECK_TIMESTAMP = _daemon(
    "jarvisctl_check_last_timestamp_seconds", "When the check last ran (Unix time).", CHECK
)
# -- one run: file ---------------------------------------------------------------------------
RUN_TIMESTAMP = _file("jarvisctl_run_timestamp_seconds", "When the run started (Unix time).")
RUN_DURATION = _file("jarvisctl_run_duration_seconds", "How long the run took.")
RUN_COMPLETE = _file(
    "jarvisctl_run_complete", "1 if the run finished (its journal has a run_finished record)."
)
RUN_HOSTS = _file(
    "jarvisctl_run_hosts", "Host sessions (host and play) of the run, by outcome.", ("outcome",)
)
# -- the daemon itself -----------------------------------------------------------------------
JOB = ("playbook", "play")  # a scheduled job is one play; play names are unique among them
DAEMON_UPTIME = _daemon("jarvisctl_daemon_uptime_seconds", "Seconds since the daemon started.")
DAEMON_START = _daemon("jarvisctl_daemon_start_time_seconds", "When the daemon started (epoch).")
CONNECTIONS_OPEN = _daemon("jarvisctl_connections_open", "Connections to hosts open now.")
SCHEDULER_RUNNING = _daemon("jarvisctl_scheduler_running", "1 when the scheduler runs.")
DAEMON_HEALTHY = _daemon("jarvisctl_daemon_healthy", "1 when /healthz answers 200.")
CONFIG_OK = _daemon(
    "jarvisctl_config_ok", "1 when the YAML loads; 0 while jobs run their last good plan."
)
CONFIG_ERROR_SINCE = _daemon(
    "jarvisctl_config_error_timestamp_seconds",
    "When the current configuration error began (epoch); absent when the YAML loads.",
)
JOB_LAST_RUN = _daemon(
    "jarvisctl_job_last_run_timestamp_seconds", "When the job last started.", JOB
)
JOB_LAST_DURATION = _daemon(
    "jarvisctl_job_last_duration_seconds", "How long the job's last run took.", JOB
)
JOB_LAST_OUTCOME = _daemon(
    "jarvisctl_job_last_outcome", "1 for the outcome of the job's last run.", (*JOB, "outcome")
)
JOB_RUNS = _daemon("jarvisctl_job_runs_total", "Runs by outcome.", (*JOB, "outcome"), True)
JOB_MISSES = _daemon(
    "jarvisctl_job_misses_total",
    "Fire times missed (late past the grace time, or still running).",
    JOB,
    True,
)
JOB_RUNNING = _daemon("jarvisctl_job_running", "1 while the job runs.", JOB)
JOB_NEXT_FIRE = _daemon(
    "jarvisctl_job_next_fire_timestamp_seconds", "The job's next fire time.", JOB
)
HTTP_WAITING = _daemon(
    "jarvisctl_http_connections_waiting", "Connections still sending their request."
)
HTTP_CONNECTIONS = _daemon(
    "jarvisctl_http_connections_total",
    "HTTP connections by what became of them (served, timed_out, gone, evicted, refused).",
    ("outcome",),
    True,
)
# -- alerts and notifications: daemon ---------------------------------------------------------
ALERTS_FIRING = _daemon(
    "jarvisctl_alerts_firing",
    "Alerts firing now, by severity (muted and acknowledged ones included).",
    ("severity",),
)
NOTIFICATIONS_SENT = _daemon(
    "jarvisctl_notifications_sent_total",
    "Notifications delivered, per receiver (each deliverable part counted; from the outbox).",
    ("receiver",),
    True,
)
NOTIFICATIONS_FAILED = _daemon(
    "jarvisctl_notifications_failed_total",
    "Failed delivery attempts, per receiver (every retry counted; from the outbox).",
    ("receiver",),
    True,
)
NOTIFICATIONS_GIVEN_UP = _daemon(
    "jarvisctl_notifications_given_up_total",
    "Notifications not delivered and no longer tried, per receiver (from the outbox).",
    ("receiver",),
    True,
)
NOTIFICATIONS_PENDING = _daemon(
    "jarvisctl_notifications_pending",
    "Notifications in the outbox waiting for their next attempt, per receiver.",
    ("receiver",),
)

# -- a Nagios plugin's perfdata: both ---------------------------------------------------------
# One family per base unit, as Prometheus names them: the plugin's unit converted (ms to
# seconds, MB to bytes, % to a 0-1 ratio), its min and max beside it when it gave them. A unit
# Nagios does not define (rpm, C, W) stays as given, in the `unit` label of the unitless family.
# Bytes multiples are binary, as check_disk and PNP4Nagios read them.
PERF = (*CHECK, "perf_label")
_BINARY = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
PERF_UNITS: dict[str, tuple[str, float]] = {
    "s": ("seconds", 1.0),
    "ms": ("seconds", 1e-3),
    "us": ("seconds", 1e-6),
    "ns": ("seconds", 1e-9),
    "%": ("ratio", 0.01),
    "B": ("bytes", 1.0),
    "c": ("counter", 1.0),
    **{f"{p}B": ("bytes", f) for p, f in _BINARY.items()},
    **{f"{p}iB": ("bytes", f) for p, f in _BINARY.items()},
    "kB": ("bytes", 1024.0),
}


def _perf_families(unit: str) -> tuple[Family, ...]:
    """Value, min and max of one base unit ("": none, or one Nagios does not define)."""
    labels = (*PERF, "unit") if not unit else PERF
    suffix = f"_{unit}" if unit else ""
    shown = {
        "ratio": "as a ratio (the plugin's percent / 100)",
        "": "in the plugin's unit (the unit label; empty for none)",
    }.get(unit, f"in {unit}")
    return tuple(
        _both(f"jarvisctl_check_perfdata{part}{suffix}", f"{text} {shown}.", labels)
        for part, text in (
            ("", "A Nagios plugin's perfdata value,"),
            ("_min", "The minimum a Nagios plugin gave for its perfdata value,"),
            ("_max", "The maximum a Nagios plugin gave for its perfdata value,"),
        )
    )


PERF_COUNTER = Family(
    "jarvisctl_check_perfdata_count_total",
    "counter",
    "A Nagios plugin's continuous counter (unit c), as the plugin counted it.",
    PERF,
    "both",
)
PERFDATA: dict[str, tuple[Family, ...]] = {
    **{unit: _perf_families(unit) for unit in ("seconds", "bytes", "ratio", "")},
    "counter": (PERF_COUNTER,),
}

OUTCOMES = tuple(o.value for o in Outcome)


class Exposition:
    """The samples of one exposition (a metrics file, or one scrape of /metrics), family by
    family. Each series is kept once, the first: a duplicate makes promtool refuse the text and
    node_exporter fail its whole collection. `source` labels every series (a file's), or none."""

    def __init__(self, source: str | None = None) -> None:
        self.source = source
        self._series: dict[Family, dict[tuple[str, ...], float]] = {}

    def add(self, family: Family, labels: Sequence[str], value: float) -> None:
        if len(labels) != len(family.labels):
            raise ValueError(f"{family.name} takes {family.labels}, not {tuple(labels)}")
        self._series.setdefault(family, {}).setdefault(tuple(labels), float(value))

    def state(self, family: Family, labels: Sequence[str], states: Iterable[str], now: str) -> None:
        """1 for the current state, 0 for every other (one known to none is still shown)."""
        known = tuple(states)
        for state in known if now in known else (*known, now):
            self.add(family, (*labels, state), 1.0 if state == now else 0.0)

    def metrics(self) -> Iterator[Metric]:
        for family, series in self._series.items():
            metric = family.empty(self.source is not None)
            for labels, value in series.items():
                metric.add_metric([self.source, *labels] if self.source else list(labels), value)
            yield metric


def add_check(
    out: Exposition,
    check: tuple[str, str, str],
    value: float | None,
    unit: str,
    status: str,
    perfdata: Iterable[PerfDatum],
) -> None:
    """A check's series, the same from a run's document and from the daemon's readings."""
    if value is not None:
        out.add(CHECK_VALUE, (*check, unit), value)
    out.state(CHECK_STATUS, check, STATUS_CODES, status)
    out.add(CHECK_STATUS_CODE, check, STATUS_CODES.get(status, STATUS_CODES["unknown"]))
    for datum in perfdata:
        base, factor = PERF_UNITS.get(datum.uom, ("", 1.0))
        labels = (*check, datum.label, *(() if base else (datum.uom,)))
        # a counter has no min and max family: they are dropped there
        numbers = (datum.value, datum.min, datum.max)
        for family, number in zip(PERFDATA[base], numbers, strict=False):
            if number is not None:
                out.add(family, labels, number * factor)


# Every family, in the order of README.md's table (a test holds the two together).
FAMILIES: tuple[Family, ...] = (
    CHECK_VALUE,
    CHECK_STATUS,
    CHECK_STATUS_CODE,
    *(family for families in PERFDATA.values() for family in families),
    HOST_REACHABLE,
    HOST_OUTCOME,
    RUN_TIMESTAMP,
    RUN_DURATION,
    RUN_COMPLETE,
    RUN_HOSTS,
    CHECK_TIMESTAMP,
    DAEMON_UPTIME,
    DAEMON_START,
    CONNECTIONS_OPEN,
    SCHEDULER_RUNNING,
    DAEMON_HEALTHY,
    CONFIG_OK,
    CONFIG_ERROR_SINCE,
    JOB_LAST_RUN,
    JOB_LAST_DURATION,
    JOB_LAST_OUTCOME,
    JOB_RUNS,
    JOB_MISSES,
    JOB_RUNNING,
    JOB_NEXT_FIRE,
    HTTP_WAITING,
    HTTP_CONNECTIONS,
    ALERTS_FIRING,
    NOTIFICATIONS_SENT,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_GIVEN_UP,
    NOTIFICATIONS_PENDING,
)
