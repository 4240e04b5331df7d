"""`jarvisctl alerts [ack]` and `jarvisctl silence add|list|expire` on a real project and a real
SQLite store: the firing alerts the most severe first with what mutes them (a silence, a
maintenance window, inhibition by an unreachable host), resolved ones with --all, JSON valid
against its schema; an acknowledgement and a silence recorded as runs whose journals verify;
unknown, ambiguous and ended ids and bad matchers or durations as usage errors (exit 2) that
name what is valid, and record nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli
from jarvisctl.core.alerts import Alert, Labels
from jarvisctl.store.factory import open_store

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "jarvisctl/render/schemas"
ALERTS_SCHEMA = json.loads((SCHEMAS / "alerts.schema.json").read_text())
SILENCES_SCHEMA = json.loads((SCHEMAS / "silences.schema.json").read_text())
NOW = time.time()


def labels(name: str, host: str, severity: str, check: bool = True) -> Labels:
    found = {"alertname": name, "host": host, "severity": severity, "play": "health"}
    return Labels({**found, "check": name} if check else found)


DISK = Alert(
    labels("root disk", "jetson-01", "critical"), Labels({"value": "93"}), starts_at=NOW - 600
)
GPU = Alert(labels("gpu temperature", "jetson-02", "warning"), starts_at=NOW - 300)
DOWN = Alert(labels("host unreachable", "jetson-02", "critical", check=False), starts_at=NOW - 200)
SWAP = Alert(labels("swap", "db-01\x1b[31m", "warning"), starts_at=NOW - 100)
OLD = Alert(labels("uptime", "db-02", "warning"), starts_at=NOW - 5000)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "jarvisctl.yml").write_text("{}\n")
    alerts = open_store(tmp_path / ".jarvisctl").alerts
    for alert in (DISK, GPU, DOWN, SWAP, OLD):
        alerts.record(alert, alert.starts_at)
    alerts.record(OLD.resolved(NOW - 4000), NOW - 4000)
    return tmp_path / "jarvisctl.yml"


def jarvisctl(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "-c", str(config)])


def runs(config: Path) -> list[Path]:
    folder = config.parent / ".jarvisctl" / "runs"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def records(config: Path, run_id: str) -> list[dict[str, object]]:
    text = (config.parent / ".jarvisctl" / "runs" / f"{run_id}.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def run_id_of(done: Result) -> str:
    line = next(x for x in done.stderr.splitlines() if x.startswith("recorded as run "))
    return line.split()[3]


def test_alerts_lists_the_firing_most_severe_first_with_what_mutes_them(project: Path) -> None:
    done = jarvisctl(project, "alerts")
    assert done.exit_code == 0, done.output
    rows = [line for line in done.output.splitlines() if not line.startswith(" ")]
    assert rows[0].split()[:3] == ["fingerprint", "state", "severity"]
    order = [row.split()[0] for row in rows[1:]]
    assert order == [DISK.fingerprint, DOWN.fingerprint, GPU.fingerprint, SWAP.fingerprint]
    gpu = done.output.split(GPU.fingerprint, 1)[1]
    assert "inhibited" in gpu.splitlines()[0]
    assert f"    inhibited by firing alert {DOWN.fingerprint}" in gpu
    assert 'host="db-01\\x1b[31m"' in done.output and "\x1b" not in done.output  # escaped
    assert OLD.fingerprint not in done.output
    every = jarvisctl(project, "alerts", "--all")
    last = [line for line in every.output.splitlines() if not line.startswith(" ")][-1]
    assert last.startswith(f"{OLD.fingerprint}  resolved  warning")
    assert "resolved " in every.output and "after 16m" in every.output
    recent = jarvisctl(project, "alerts", "--all", "--since", "10m")
    assert OLD.fingerprint not in recent.output  # it resolved longer ago


def test_alerts_json_is_valid_and_says_what_mutes_each(project: Path) -> None:
    done = jarvisctl(project, "alerts", "--json", "--all")
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    jsonschema.validate(document, ALERTS_SCHEMA, format_checker=jsonschema.FormatChecker())
    by_print = {a["fingerprint"]: a for a in document}
    assert by_print[GPU.fingerprint]["inhibited_by"] == DOWN.fingerprint
    assert by_print[GPU.fingerprint]["muted"] and not by_print[GPU.fingerprint]["silenced"]
    assert by_print[DISK.fingerprint]["annotations"] == {"value": "93"}
    assert by_print[DISK.fingerprint]["acknowledged"] is None
    assert by_print[OLD.fingerprint]["state"] == "resolved"
    assert by_print[OLD.fingerprint]["ends_at"] is not None


def test_an_empty_store_has_no_alerts_and_a_reader_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text("{}\n")
    done = jarvisctl(tmp_path / "jarvisctl.yml", "alerts")
    assert (done.exit_code, done.output) == (0, "no alerts firing\n")
    listed = jarvisctl(tmp_path / "jarvisctl.yml", "silence", "list", "--json")
    assert (listed.exit_code, json.loads(listed.output)) == (0, [])
    assert not (tmp_path / ".jarvisctl" / "state.db").exists()


def test_ack_by_a_unique_start_is_kept_shown_and_journaled(project: Path) -> None:
    done = jarvisctl(
        project, "alerts", "ack", DISK.fingerprint[:6], "--comment", "on it", "--author", "ana"
    )
    assert done.exit_code == 0, done.output
    assert done.stdout == f"acknowledged {DISK.fingerprint} (root disk on jetson-01) by ana\n"
    (stored,) = [s for s in open_store(project.parent / ".jarvisctl").alerts.firing() if s.acked_at]
    assert (stored.alert.fingerprint, stored.acked_by, stored.ack_comment) == (
        DISK.fingerprint,
        "ana",
        "on it",
    )
    shown = jarvisctl(project, "alerts").output.split(DISK.fingerprint, 1)[1]
    assert "acknowledged" in shown.splitlines()[0]
    assert "    acknowledged by ana " in shown and shown.split("\n")[2].endswith("ago): on it")
    run_id = run_id_of(done)
    kinds = [(r["kind"], r["data"]) for r in records(project, run_id)]
    assert [k for k, _ in kinds] == ["run_started", "alert_ack", "run_finished"]
    ack = kinds[1][1]
    assert isinstance(ack, dict)
    assert (ack["fingerprint"], ack["by"], ack["comment"]) == (DISK.fingerprint, "ana", "on it")
    assert ack["labels"] == dict(DISK.labels)
    started = kinds[0][1]
    assert isinstance(started, dict) and started["source"] == "cli"
    assert jarvisctl(project, "audit", "verify", run_id).exit_code == 0
    document = json.loads(jarvisctl(project, "alerts", "--json").output)
    acked = next(a for a in document if a["fingerprint"] == DISK.fingerprint)["acknowledged"]
    assert (acked["by"], acked["comment"]) == ("ana", "on it")


def test_ack_of_an_unknown_ambiguous_or_resolved_alert_is_a_usage_error(project: Path) -> None:
    before = runs(project)
    unknown = jarvisctl(project, "alerts", "ack", "zzzz")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: no firing alert 'zzzz' (firing: ")
    assert f"{GPU.fingerprint} ('gpu temperature on jetson-02')" in unknown.stderr
    resolved = jarvisctl(project, "alerts", "ack", OLD.fingerprint)
    assert resolved.exit_code == 2
    assert f"alert {OLD.fingerprint} is not firing: it resolved" in resolved.stderr
    empty = jarvisctl(project, "alerts", "ack", "", "--author", "x")
    assert empty.exit_code == 2
    long = jarvisctl(project, "alerts", "ack", DISK.fingerprint, "--comment", "x" * 3000)
    assert long.exit_code == 2 and "'--comment': is 3000 characters long" in long.stderr
    assert runs(project) == before  # nothing recorded
    assert "Traceback" not in unknown.output + resolved.output + long.output


def test_ambiguous_start_names_the_candidates(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text("{}\n")
    alerts = open_store(tmp_path / ".jarvisctl").alerts
    made: dict[str, list[Alert]] = {}
    for n in range(40):  # 40 fingerprints: two share a first digit
        alert = Alert(labels(f"check {n}", "h1", "warning"), starts_at=NOW - n)
        made.setdefault(alert.fingerprint[0], []).append(alert)
        alerts.record(alert, NOW)
    start, pair = next((k, v) for k, v in made.items() if len(v) > 1)
    done = jarvisctl(tmp_path / "jarvisctl.yml", "alerts", "ack", start)
    assert done.exit_code == 2
    assert f"'{start}' is the start of {len(pair)} firing alerts' fingerprints (" in done.stderr
    assert all(a.fingerprint in done.stderr for a in pair[:8]) and "give more of it" in done.stderr


def test_a_silence_mutes_the_alerts_it_matches_until_expired(project: Path) -> None:
    done = jarvisctl(
        project,
        "silence",
        "add",
        "--match",
        'host=~"jetson-0.*"',
        "--match",
        'check="gpu temperature"',
        "--for",
        "2h",
        "--comment",
        "fan swap",
        "--author",
        "ana",
    )
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("silence ")
    silence_id = done.stdout.split()[1]
    assert 'added: host=~"jetson-0.*", check="gpu temperature"; from ' in done.stdout
    shown = jarvisctl(project, "alerts").output.split(GPU.fingerprint, 1)[1]
    assert "silenced, inhibited" in shown.splitlines()[0]
    assert f"    silenced by {silence_id} (ana, until " in shown and shown.count("fan swap") == 1
    assert "silenced" not in jarvisctl(project, "alerts").output.split(GPU.fingerprint)[0]
    listed = jarvisctl(project, "silence", "list")
    assert listed.exit_code == 0 and listed.output.splitlines()[1].startswith(silence_id)
    assert '    matchers: host=~"jetson-0.*", check="gpu temperature"' in listed.output
    document = json.loads(jarvisctl(project, "silence", "list", "--json").output)
    jsonschema.validate(document, SILENCES_SCHEMA, format_checker=jsonschema.FormatChecker())
    (only,) = document
    assert (only["id"], only["state"], only["created_by"]) == (silence_id, "active", "ana")
    added = records(project, run_id_of(done))
    assert [r["kind"] for r in added] == ["run_started", "silence", "run_finished"]
    data = added[1]["data"]
    assert isinstance(data, dict) and data["action"] == "added" and data["id"] == silence_id
    assert data["matchers"] == ['host=~"jetson-0.*"', 'check="gpu temperature"']
    assert data["ends_at"] - data["starts_at"] == pytest.approx(7200)

    expired = jarvisctl(project, "silence", "expire", silence_id[:8])
    assert expired.exit_code == 0, expired.output
    assert expired.stdout.startswith(f"silence {silence_id} expired: ")
    assert "silenced" not in jarvisctl(project, "alerts").output
    assert jarvisctl(project, "silence", "list").output == "no silences active or pending\n"
    ended = json.loads(jarvisctl(project, "silence", "list", "--all", "--json").output)
    assert [(s["id"], s["state"]) for s in ended] == [(silence_id, "expired")]
    journal = records(project, run_id_of(expired))
    assert [r["kind"] for r in journal] == ["run_started", "silence", "run_finished"]
    assert isinstance(journal[1]["data"], dict) and journal[1]["data"]["action"] == "expired"
    again = jarvisctl(project, "silence", "expire", silence_id)
    assert again.exit_code == 2
    assert f"silence {silence_id} has already ended" in again.stderr


def test_a_pending_silence_is_listed_and_mutes_nothing_yet(project: Path) -> None:
    later = time.strftime("%Y-%m-%dT%H:%M", time.localtime(NOW + 7200))
    done = jarvisctl(
        project, "silence", "add", "--match", "host=jetson-02", "--start", later,
        "--for", "1h", "--comment", "planned",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    (pending,) = json.loads(jarvisctl(project, "silence", "list", "--json").output)
    assert pending["state"] == "pending"
    assert "silenced" not in jarvisctl(project, "alerts").output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("--match", 'host=~"jetson-0.*', "--for", "2h"),
            "Invalid value for '--match' 'host=~\"jetson-0.*': invalid matcher "
            "'host=~\"jetson-0.*': the value's closing quote is missing",
        ),
        (
            ("--match", "host=~'(unclosed'", "--for", "2h"),
            "Invalid value for '--match' \"host=~'(unclosed'\": invalid regex",
        ),
        (
            ("--match", 'host=~"(.+)+Z"', "--for", "2h"),
            "Invalid value for '--match' 'host=~\"(.+)+Z\"': invalid matcher "
            "'host=~\"(.+)+Z\"': its regex repeats without bound",
        ),
        (
            ("--match", "9host=x", "--for", "2h"),
            "invalid matcher '9host=x' (expected NAME=VALUE, NAME!=VALUE",
        ),
        (
            ("--match", "host=a", "--for", "2x"),
            "Invalid value for '--for': invalid duration '2x' (expected a number of seconds",
        ),
        (("--match", "host=a", "--for", "0s"), "Invalid value for '--for': must be longer than 0s"),
        (("--for", "2h"), "Invalid value for '--match': give at least one, e.g. host=~"),
        (
            ("--match", 'check!="uptime"', "--for", "2h"),
            "every one matches an alert without the labels it names",
        ),
        (
            ("--match", "host=a", "--for", "2h", "--start", "tomorrow"),
            "Invalid value for '--start': 'tomorrow' is not a time (now, or a date and time",
        ),
        (
            ("--match", "host=a", "--for", "2h", "--start", "2020-01-01T00:00Z"),
            "Invalid value for '--for': the silence would end 2020-01-01 02:00:00 UTC, in the past",
        ),
        (
            ("--match", "host=a", "--for", "2h", "--author", " "),
            "Invalid value for '--author': must not be empty",
        ),
    ],
)
def test_a_bad_silence_is_a_located_usage_error(
    project: Path, args: tuple[str, ...], said: str
) -> None:
    done = jarvisctl(project, "silence", "add", *args, "--comment", "why")
    assert done.exit_code == 2, done.output
    assert said in done.stderr, done.stderr
    assert "Traceback" not in done.output
    assert not (project.parent / ".jarvisctl" / "runs").exists()  # nothing recorded


def test_expire_of_an_unknown_id_names_the_silences(project: Path) -> None:
    added = jarvisctl(
        project, "silence", "add", "--match", "host=a", "--for", "1h", "--comment", "c"
    )
    silence_id = added.stdout.split()[1]
    done = jarvisctl(project, "silence", "expire", "nope")
    assert done.exit_code == 2
    assert done.stderr == f"error: no silence 'nope' (active or pending: {silence_id})\n"


def test_an_open_maintenance_window_of_jarvisctl_yml_silences_what_it_matches(
    project: Path,
) -> None:
    project.write_text(
        "notify:\n"
        "  receivers: {ops: {webhook: {url: http://127.0.0.1:9/hook}}}\n"
        "  route: {receiver: ops}\n"
        "  inhibit: []\n"  # no inhibition: the GPU alert is not muted any more
        "  maintenance:\n"
        '    - {name: db patching, cron: "* * * * *", duration: 2h,\n'
        "       matchers: ['host=~\"db-.*\"']}\n"
    )
    document = json.loads(jarvisctl(project, "alerts", "--json").output)
    by_print = {a["fingerprint"]: a for a in document}
    swap = by_print[SWAP.fingerprint]
    assert (swap["maintenance"], swap["silenced"], swap["muted"]) == (["db patching"], True, True)
    assert (
        not by_print[GPU.fingerprint]["muted"] and by_print[GPU.fingerprint]["inhibited_by"] is None
    )
    shown = jarvisctl(project, "alerts").output.split(SWAP.fingerprint, 1)[1]
    assert "maintenance" in shown.splitlines()[0]
    assert "    in maintenance window 'db patching'" in shown
