"""`jarvisctl run --metrics-file FILE`: a run's check values and statuses in the Prometheus text
format, for node_exporter's textfile collector. The caller writes the text redacted and
atomically (commands/outputs.write_atomically), so the collector never reads half a file."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from jarvisctl.reports.document import RunDocument

STATUS_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}  # as Nagios numbers them
CHECK_LABELS = ("host", "play", "check")


def metrics_registry(run: RunDocument) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    value = Gauge(
        "jarvisctl_check_value",
        "The value the check measured in the last run.",
        [*CHECK_LABELS, "unit"],
        registry=registry,
    )
    status = Gauge(
        "jarvisctl_check_status",
        "1 for the check's status in the last run, 0 for the others.",
        [*CHECK_LABELS, "status"],
        registry=registry,
    )
    code = Gauge(
        "jarvisctl_check_status_code",
        "The check's status as a number: 0 ok, 1 warning, 2 critical, 3 unknown.",
        CHECK_LABELS,
        registry=registry,
    )
    up = Gauge(
        "jarvisctl_host_up",
        "1 if the host was reached in the last run, 0 if it was unreachable.",
        ["host", "play"],
        registry=registry,
    )
    for section in run.hosts:
        up.labels(str(section.host), str(section.play)).set(
            0 if section.outcome == "unreachable" else 1
        )
        for check in section.checks:
            labels = (str(section.host), str(section.play), str(check.name))
            if check.value is not None:
                value.labels(*labels, str(check.unit)).set(check.value)
            code.labels(*labels).set(STATUS_CODES.get(check.status, 3))
            for name in STATUS_CODES:
                status.labels(*labels, name).set(1 if check.status == name else 0)
    _run_metrics(run, registry)
    return registry


def _run_metrics(run: RunDocument, registry: CollectorRegistry) -> None:
    Gauge(
        "jarvisctl_run_timestamp_seconds",
        "When the last run started (Unix time).",
        registry=registry,
    ).set(run.started_at)
    Gauge("jarvisctl_run_duration_seconds", "How long the last run took.", registry=registry).set(
        run.seconds or 0.0
    )
    Gauge(
        "jarvisctl_run_complete",
        "1 if the last run finished (its journal has a run_finished record).",
        registry=registry,
    ).set(1 if run.complete else 0)


def metrics_text(run: RunDocument) -> str:
    """The registry in the Prometheus text format (the caller writes it, redacted)."""
    return generate_latest(metrics_registry(run)).decode("utf-8")
