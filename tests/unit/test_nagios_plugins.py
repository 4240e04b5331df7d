"""Real Nagios plugins (Debian's monitoring-plugins-basic) through the `command` kind, parse:
nagios: the status jarvisctl reads is the plugin's own exit status, and perfdata is kept."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.core.results import Status
from jarvisctl.kinds.base import CommandOutput, ParseError, Reading
from jarvisctl.kinds.command import NAGIOS_STATUS, Command, CommandParams

PLUGINS = Path("/usr/lib/nagios/plugins")
pytestmark = pytest.mark.skipif(
    not PLUGINS.is_dir(),
    reason=f"{PLUGINS} is absent (Debian: apt-get install monitoring-plugins-basic)",
)
KIND = Command()


def plugin(name: str) -> str:
    path = PLUGINS / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not installed")
    return str(path)


def run(command: str, **params: Any) -> tuple[subprocess.CompletedProcess[str], Reading]:
    """The kind's command through `sh -c`, as on a host; then the kind's own reading of it."""
    model = CommandParams.model_validate({"command": command, "parse": "nagios", **params})
    done = subprocess.run(
        ["sh", "-c", KIND.command(model)], capture_output=True, text=True, timeout=30
    )
    output = CommandOutput(done.stdout, done.stderr, done.returncode)
    return done, KIND.read(output, model)


def perf_values(stdout: str) -> dict[str, float]:
    """label -> value straight from the plugin's text, independently of the kind's parser."""
    return {
        label.strip("'"): float(value)
        for label, value in re.findall(r"('[^']+'|[^\s'=|]+)=([-\d.]+)", stdout.partition("|")[2])
    }


def test_check_disk_ok_and_critical(tmp_path: Path) -> None:
    done, reading = run(f"{plugin('check_disk')} -w 0% -c 0% -p {shlex.quote(str(tmp_path))}")
    assert (done.returncode, reading.status) == (0, Status.OK)
    total = os.statvfs(tmp_path).f_blocks * os.statvfs(tmp_path).f_frsize
    (item,) = reading.perfdata
    assert item.max is not None
    assert abs(item.max - total) / total < 0.01  # the perfdata max is the filesystem's size
    assert item.value == perf_values(done.stdout)[item.label]
    done, reading = run(f"{plugin('check_disk')} -w 100% -c 100% -p {shlex.quote(str(tmp_path))}")
    assert (done.returncode, reading.status) == (2, Status.CRITICAL)
    assert reading.value == reading.perfdata[0].value


def test_check_load_keeps_the_three_averages() -> None:
    done, reading = run(f"{plugin('check_load')} -w 0,0,0 -c 1000,1000,1000", perf_label="load5")
    assert reading.status is NAGIOS_STATUS[done.returncode]
    assert [p.label for p in reading.perfdata] == ["load1", "load5", "load15"]
    assert {p.label: p.value for p in reading.perfdata} == perf_values(done.stdout)
    assert reading.value == perf_values(done.stdout)["load5"]
    assert (reading.perfdata[0].warn, reading.perfdata[0].crit) == ("0.000", "1000.000")
    assert reading.value is not None
    assert abs(reading.value - float(Path("/proc/loadavg").read_text().split()[1])) < 1.0


def test_check_procs_counts_a_process_we_started() -> None:
    marker = f"{time.time_ns() % 10**9}"
    sleeper = subprocess.Popen(["sleep", f"{marker}.5"])
    try:
        done, reading = run(f"{plugin('check_procs')} -w 1:1 -c 1:1 -C sleep -a {marker}.5")
        assert (done.returncode, reading.status, reading.value) == (0, Status.OK, 1.0)
        assert reading.perfdata[0].label == "procs"
        assert (reading.perfdata[0].warn, reading.perfdata[0].crit) == ("1:1", "1:1")
    finally:
        sleeper.kill()
        sleeper.wait()
    done, reading = run(f"{plugin('check_procs')} -c 1: -C sleep -a {marker}.5")
    assert (done.returncode, reading.status, reading.value) == (2, Status.CRITICAL, 0.0)


def test_check_file_age_warning_with_age_and_size(tmp_path: Path) -> None:
    backup = tmp_path / "db.tar"
    backup.write_bytes(b"x" * 1234)
    os.utime(backup, (time.time() - 300, time.time() - 300))
    done, reading = run(f"{plugin('check_file_age')} -w 60 -c 3600 -f {shlex.quote(str(backup))}")
    assert (done.returncode, reading.status) == (1, Status.WARNING)
    perf = {p.label: p for p in reading.perfdata}
    assert perf["size"].value == 1234.0 and perf["size"].uom == "B"
    assert perf["age"].value is not None and 299 <= perf["age"].value <= 330
    assert perf["age"].uom == "s"
    _, reading = run(f"{plugin('check_file_age')} -w 60 -c 3600 -f {backup}", perf_label="size")
    assert reading.value == 1234.0


def test_a_plugin_without_perfdata_still_gives_its_status() -> None:
    done, reading = run(f"{plugin('check_dummy')} 3 'sensor missing'")
    assert (done.returncode, reading.status, reading.value) == (3, Status.UNKNOWN, None)
    assert reading.summary == "UNKNOWN: sensor missing"
    model = CommandParams(command="x", parse="nagios")
    with pytest.raises(ParseError, match=r"no perfdata value \(UNKNOWN: UNKNOWN: sensor missing"):
        KIND.parse(CommandOutput(done.stdout, done.stderr, done.returncode), model)


def test_a_missing_plugin_names_itself() -> None:
    model = CommandParams(command=str(PLUGINS / "check_not_there"), parse="nagios")
    done = subprocess.run(["sh", "-c", model.command], capture_output=True, text=True)
    with pytest.raises(ParseError, match="check_not_there is not installed on the host"):
        KIND.read(CommandOutput(done.stdout, done.stderr, done.returncode), model)
