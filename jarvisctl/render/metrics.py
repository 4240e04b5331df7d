"""`jarvisctl run --metrics-file FILE.prom`: a run's check values, statuses, perfdata and host
outcomes in the Prometheus text format, for node_exporter's textfile collector, named as
metric_scheme.py says. The caller writes the text redacted and atomically
(commands/outputs.write_atomically), so the collector never reads half a file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from jarvisctl.core.errors import EXIT_OUTPUT, JarvisError
from jarvisctl.render.metric_scheme import (
    HOST_OUTCOME,
    HOST_REACHABLE,
    OUTCOMES,
    PROM_SUFFIX,
    RUN_COMPLETE,
    RUN_DURATION,
    RUN_HOSTS,
    RUN_TIMESTAMP,
    Exposition,
    add_check,
)
from jarvisctl.render.reports.document import RunDocument

STDOUT_SOURCE = "stdout"  # `--metrics-file -`: no file name to tell the series apart by
# outcomes that tell whether the host was reached; a skipped host was never tried, and an
# interrupted one may have been stopped while connecting
REACHED = {"ok": True, "changed": True, "failed": True, "unreachable": False}


class MetricsFileNameError(JarvisError):
    """A metrics file node_exporter's textfile collector would pass over without a word."""

    exit_code = EXIT_OUTPUT


def metrics_source(path: Path) -> str:
    """The `source` label of a metrics file's series: its name without `.prom`, unique within
    the collector's directory. A name not ending in `.prom` is refused: the collector reads
    only those, and would ignore the file silently."""
    if str(path) == "-":
        return STDOUT_SOURCE
    if not path.name.endswith(PROM_SUFFIX) or path.name == PROM_SUFFIX:
        raise MetricsFileNameError(
            f"cannot write metrics to {str(path)!r}: node_exporter's textfile collector reads "
            f"only files named *{PROM_SUFFIX} (e.g. {path.stem or 'jarvisctl'}{PROM_SUFFIX})"
        )
    return path.name.removesuffix(PROM_SUFFIX)


class RunCollector(Collector):
    def __init__(self, run: RunDocument, source: str) -> None:
        self.run, self.source = run, source

    def collect(self) -> Iterator[Metric]:
        out = Exposition(self.source)
        reached: dict[str, bool] = {}
        for section in self.run.hosts:
            for check in section.checks:
                labels = (section.host, section.play, check.name)
                add_check(out, labels, check.value, check.unit, check.status, check.perfdata)
            out.state(HOST_OUTCOME, (section.host, section.play), OUTCOMES, section.outcome)
            if section.outcome in REACHED:
                reached[section.host] = reached.get(section.host, False) or REACHED[section.outcome]
        for host, up in reached.items():
            out.add(HOST_REACHABLE, (host,), 1.0 if up else 0.0)
        self._run(out)
        yield from out.metrics()

    def _run(self, out: Exposition) -> None:
        out.add(RUN_TIMESTAMP, (), self.run.started_at)
        out.add(RUN_DURATION, (), self.run.seconds or 0.0)
        out.add(RUN_COMPLETE, (), 1.0 if self.run.complete else 0.0)
        outcomes = [section.outcome for section in self.run.hosts]
        for outcome in (*OUTCOMES, *sorted(set(outcomes) - set(OUTCOMES))):
            out.add(RUN_HOSTS, (outcome,), float(outcomes.count(outcome)))


def metrics_text(run: RunDocument, source: str) -> str:
    """The run in the Prometheus text format (the caller writes it, redacted)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(run, source))
    return generate_latest(registry).decode("utf-8")
