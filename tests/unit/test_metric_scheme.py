"""One naming scheme for the metrics file and the daemon's /metrics: the same events give the
same families, with the same labels and values, in both (the file's series add `source`); the
README's table is the scheme; perfdata becomes one family per base unit."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jarvisctl.core.events import RUN_STARTED
from jarvisctl.core.results import PerfDatum
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.metrics import render_metrics
from jarvisctl.daemon.observe import Observations
from jarvisctl.daemon.snapshot import Snapshot
from jarvisctl.record.recording import record_run
from jarvisctl.render.metric_scheme import FAMILIES
from jarvisctl.render.metrics import MetricsFileNameError, metrics_source, metrics_text
from jarvisctl.render.reports.load import load_document
from tests.events import check, connected, finished, raw, remediation, unreachable

ROOT = Path(__file__).resolve().parents[2]
RUN = "20260102T030405Z-0a0b0c"
PERFDATA = [
    PerfDatum("/", 2643.0, "MB", "3000", "3500", 0.0, 4000.0),
    PerfDatum("time", 12.0, "ms", min=0.0),
    PerfDatum("used", 87.5, "%", "80", "90"),
    PerfDatum("pkts", 1234.0, "c"),
    PerfDatum("fan", 2400.0, "rpm"),
    PerfDatum("idle", None),
    PerfDatum("load1", 0.5),
    PerfDatum("load1", 0.7),  # a plugin that says a label twice: the first is kept
]
EVENTS = [
    connected("web1", "p", "ssh web1:22"),
    check("web1", "p", "disk", 2643.0, "MB", "warning", [d.as_record() for d in PERFDATA]),
    check("web1", "p", "load", 0.5, "", "ok"),
    check("web1", "p", "mem", 97.0, "%", "critical", [PerfDatum("used", 97.0, "%").as_record()]),
    remediation(
        "web1",
        "p",
        "mem",
        "restart",
        "verified",
        verified=(40.0, "ok", [PerfDatum("used", 40.0, "%").as_record()]),
    ),
    unreachable("db1", "p", "refused", "ssh db1:22"),
    finished(
        {"web1": {"ok": 1, "warning": 1}, "db1": {"unreachable": 1}, "web2": {}},
        [
            {"host": "web1", "play": "p", "outcome": "changed"},
            {"host": "db1", "play": "p", "outcome": "unreachable"},
            {"host": "web2", "play": "p", "outcome": "skipped"},
            {"host": "web3", "play": "p", "outcome": "interrupted"},
        ],
        seconds=4.0,
    ),
]

Series = dict[str, dict[tuple[tuple[str, str], ...], float]]


def series(text: str, drop: str = "") -> tuple[Series, dict[str, str]]:
    """name -> {sorted labels (without `drop`) -> value}, and each family's type."""
    found: Series = {}
    types = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != drop))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found, types


@pytest.fixture
def both(tmp_path: Path) -> tuple[str, str]:
    """The same run as the metrics file writes it and as the daemon serves it."""
    with record_run(tmp_path, RUN, frozenset(), Observations(EventLog(io.StringIO()))) as rec:
        rec.events.emit(raw(RUN_STARTED, data={"run_id": RUN, "mode": "run", "pid": 1}))
        for event in EVENTS:
            rec.events.emit(event)
    file_text = metrics_text(load_document(tmp_path, RUN), "nightly")
    seen = Observations(EventLog(io.StringIO()))
    for event in EVENTS:
        seen.emit(event)
    snapshot = Snapshot(2e9, 2e9 - 10, True, 60.0, (), seen.hosts(), connections_open=0)
    return file_text, render_metrics(snapshot).decode()


def test_the_file_and_the_daemon_say_the_same_in_the_same_names(both: tuple[str, str]) -> None:
    file_text, daemon_text = both
    in_file, file_types = series(file_text, drop="source")
    in_daemon, daemon_types = series(daemon_text)
    shared = {f.name for f in FAMILIES if f.where == "both"}
    found = set(in_file) & set(in_daemon)
    assert "jarvisctl_check_status" in found and "jarvisctl_host_outcome" in found
    for name in found:
        assert in_file[name] == in_daemon[name], name  # labels and values alike
        assert name in shared, f"{name} is exported by both but documented for one"
    for name in found & set(file_types):
        assert file_types[name] == daemon_types[name], name
    disk = (("check", "disk"), ("host", "web1"), ("play", "p"))
    # a 0/1 flag per status in both (today the daemon's was a 0-3 code)
    assert in_daemon["jarvisctl_check_status"][(*disk, ("status", "warning"))] == 1
    assert in_daemon["jarvisctl_check_status"][(*disk, ("status", "ok"))] == 0
    assert in_daemon["jarvisctl_check_status_code"][disk] == 1
    # a verified remediation's re-run is the check's last word in both
    mem = (("check", "mem"), ("host", "web1"), ("play", "p"))
    assert in_daemon["jarvisctl_check_status_code"][mem] == 0
    used = tuple(sorted((*mem, ("perf_label", "used"))))
    assert in_daemon["jarvisctl_check_perfdata_ratio"][used] == pytest.approx(0.40)
    # skipped and interrupted hosts are counted, and called neither reachable nor unreachable
    for host, outcome in (("web2", "skipped"), ("web3", "interrupted")):
        flags = (("host", host), ("outcome", outcome), ("play", "p"))
        assert in_daemon["jarvisctl_host_outcome"][flags] == 1
    assert set(in_daemon["jarvisctl_host_reachable"]) == {(("host", "db1"),), (("host", "web1"),)}
    assert in_file["jarvisctl_run_hosts"][(("outcome", "interrupted"),)] == 1
    assert in_file["jarvisctl_run_hosts"][(("outcome", "skipped"),)] == 1
    # every series of the file carries its source, so that two files never collide
    assert all('source="nightly"' in x for x in file_text.splitlines() if x.startswith("jarv"))


def test_perfdata_becomes_one_family_per_base_unit(both: tuple[str, str]) -> None:
    found, types = series(both[0], drop="source")
    disk = (("check", "disk"), ("host", "web1"))
    label = "perf_label"

    def value(name: str, perf: str, *extra: tuple[str, str]) -> float:
        return found[name][tuple(sorted((*disk, (label, perf), ("play", "p"), *extra)))]

    assert value("jarvisctl_check_perfdata_bytes", "/") == 2643 * 1024**2
    assert value("jarvisctl_check_perfdata_max_bytes", "/") == 4000 * 1024**2
    assert value("jarvisctl_check_perfdata_min_bytes", "/") == 0
    assert value("jarvisctl_check_perfdata_seconds", "time") == pytest.approx(0.012)
    assert value("jarvisctl_check_perfdata_ratio", "used") == pytest.approx(0.875)
    assert value("jarvisctl_check_perfdata_count_total", "pkts") == 1234
    assert types["jarvisctl_check_perfdata_count"] == "counter"
    assert value("jarvisctl_check_perfdata", "fan", ("unit", "rpm")) == 2400
    assert value("jarvisctl_check_perfdata", "load1", ("unit", "")) == 0.5
    assert "idle" not in both[0]  # U: no value to show
    assert "jarvisctl_check_perfdata_max_seconds" not in found  # not given


def test_the_daemon_exports_its_process_metrics(both: tuple[str, str]) -> None:
    found, _ = series(both[1])
    assert found["process_resident_memory_bytes"][()] > 0
    assert found["process_open_fds"][()] > 0
    assert "python_info" in found


def test_the_readme_table_is_the_scheme() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(jarvisctl_\w+)` \| (\w+) \| ([^|]*) \| (\w+) \|", readme, re.M)
    documented = [(n, t, re.findall(r"`(\w+)`", labels), w) for n, t, labels, w in rows]
    assert documented == [(f.name, f.type, list(f.labels), f.where) for f in FAMILIES]


def test_a_metrics_file_must_be_named_for_node_exporter() -> None:
    assert metrics_source(Path("/var/lib/node_exporter/jarvis-nightly.prom")) == "jarvis-nightly"
    assert metrics_source(Path("-")) == "stdout"  # standard output: no name to go by
    for name in ("metrics.txt", "jarvis.prom.tmp", ".prom", "jarvis.PROM"):
        with pytest.raises(MetricsFileNameError, match=r"reads only files named \*\.prom"):
            metrics_source(Path(name))
