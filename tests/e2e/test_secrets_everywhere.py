"""A secret planted in every input that can carry one (env(), secret_file(), secret_vars of a
play and of the inventory, a host address), used in a check command, a `with:` parameter, a
remediation command and failing templates, against real sshd hosts; then every output is
grepped for it: stdout and stderr of every command, `plan --json` and `--junit`, `run --json`,
`--report` in every format, `--metrics-file`, `inventory`, `report`, the journals and the store,
the daemon's logs in both formats and its HTTP answers, before and after a SIGHUP that fails.

Each secret has a quote, a backslash, a double quote, a dollar, a backtick, a space and non-ASCII
letters, so its shell-quoted, JSON, repr, XML, HTML and Prometheus spellings all differ. The
grep looks for the secret's leading letters and digits (its "core"), which no encoding changes:
whatever the spelling, a leak shows the core. Marker files written by the checks on the hosts
prove the secrets were really rendered (and quoted right) on the way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.waiting import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHAPE = "'\\\"$x é/ü`"
SECRETS = {
    "env": "qEnv5" + SHAPE,
    "file": "qF1le" + SHAPE,
    "play": "qPl4y" + SHAPE,
    "inventory": "qInv3" + SHAPE,
    "address": "qH0st" + SHAPE + "/x",
}
CORES = tuple(secret[:5] for secret in SECRETS.values())
ENV_NAME = "JV_SECRET_TOKEN"

PLAYBOOK = """\
- name: secrets
  hosts: sshd
  schedule: {{every: 2s}}
  vars:
    api_key: {play}
    token: "{{{{ env('{env}') }}}}"
    at: "{marks}/{{{{ inventory_hostname }}}}"
  secret_vars: [api_key]
  checks:
    - name: plants
      use: command
      with:
        command: >-
          printf %s {{{{ token }}}} > {{{{ at }}}}.env;
          printf %s {{{{ api_key }}}} > {{{{ at }}}}.play;
          printf %s {{{{ db_password }}}} > {{{{ at }}}}.inventory;
          printf %s {{{{ secret_file('secrets/token') }}}} > {{{{ at }}}}.file;
          echo {{{{ token }}}} {{{{ api_key }}}} >&2; echo 95
      warn: 80
      crit: 90
      remediate:
        - use: run
          with:
            commands:
              - "echo {{{{ secret_file('secrets/token') }}}} {{{{ api_key }}}}"
              - "echo {{{{ db_password }}}} >&2"
          settle: 0s
    - name: quoted contexts
      use: command
      with:
        command: |
          printf %s "{{{{ token }}}}" > {{{{ at }}}}.double
          printf %s '{{{{ api_key }}}}' > {{{{ at }}}}.single
          cat > {{{{ at }}}}.heredoc <<EOF
          {{{{ db_password }}}}
          EOF
          echo "{{{{ token }}}} '{{{{ api_key }}}}'" >&2; echo 1
    - name: unparseable
      use: command
      with: {{command: "echo {{{{ db_password }}}} {{{{ token }}}}"}}
    - name: with parameter
      use: path_exists
      with: {{path: "/tmp/{{{{ token }}}}"}}
"""

BROKEN = """\
- name: secrets
  hosts: sshd
  schedule: {{every: 2s}}
  vars:
    api_key: {play}
    token: "{{{{ env('{env}') }}}}"
  secret_vars: [api_key]
  checks:
    - name: failing template
      use: command
      with: {{command: "echo {{{{ {{}}[token] }}}}"}}
    - name: failing file template
      use: command
      with: {{command: "echo {{{{ {{}}[secret_file('secrets/token')] }}}}"}}
    - name: failing play var
      use: command
      with: {{command: "echo {{{{ {{}}[api_key] }}}}"}}
    - name: bad with parameter
      use: tcp_port
      with: {{port: "{{{{ db_password }}}}"}}
    - name: shadow
      use: command
      with: {{command: "echo {{{{ secret_file('/etc/shadow') }}}}"}}
"""


class SecretProject:
    """A project whose every input carries a secret, and every output it produced."""

    def __init__(self, root: Path, fleet: SshdFleet) -> None:
        self.root, self.port = root, free_port()
        self.marks = root / "marks"
        self.marks.mkdir(parents=True)
        (root / "playbooks").mkdir()
        (root / "secrets").mkdir()
        (root / "secrets" / "token").write_text(SECRETS["file"] + "\n")
        inventory = fleet.write_inventory(root / "inventory.yml")
        document = yaml.safe_load(inventory.read_text())
        document["all"]["vars"] = {
            "db_password": SECRETS["inventory"],
            "secret_vars": ["db_password"],
        }
        inventory.write_text(yaml.safe_dump(document, allow_unicode=True))
        address = {"all": {"vars": {"secret_vars": ["ansible_host"]}, "hosts": {}}}
        address["all"]["hosts"] = {"far": {"ansible_host": SECRETS["address"]}}
        (root / "address.yml").write_text(yaml.safe_dump(address, allow_unicode=True))
        (root / "jarvisctl.yml").write_text(
            "playbooks: [playbooks]\ninventory: inventory.yml\n"
            f"daemon:\n  listen: 127.0.0.1:{self.port}\n  stop_timeout: 20s\n"
        )
        self.write(PLAYBOOK)
        self.outputs: dict[str, str] = {}

    def write(self, template: str) -> None:
        text = template.format(play=json.dumps(SECRETS["play"]), env=ENV_NAME, marks=self.marks)
        (self.root / "playbooks" / "site.yml").write_text(text)

    def env(self) -> dict[str, str]:
        return {**os.environ, ENV_NAME: SECRETS["env"]}

    def jarvisctl(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command; its stdout and stderr are outputs to grep."""
        done = subprocess.run(
            [sys.executable, "-m", "jarvisctl", *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert "Traceback" not in done.stderr, done.stderr
        self.outputs[f"{name}: stdout"] = done.stdout
        self.outputs[f"{name}: stderr"] = done.stderr
        return done

    def collect_files(self) -> None:
        """Every file the commands wrote: reports, metrics, JUnit, journals, the store."""
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            inputs = ("secrets", "playbooks", "marks", "inventory.yml", "address.yml")
            if path.is_file() and relative.parts[0] not in inputs:
                self.outputs[str(relative)] = path.read_bytes().decode("latin-1")

    def leaks(self) -> dict[str, list[str]]:
        found = {
            name: [core for core in CORES if core in text] for name, text in self.outputs.items()
        }
        return {name: cores for name, cores in found.items() if cores}


@pytest.fixture
def project(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[SecretProject]:
    made = SecretProject(tmp_path / "project", sshd_fleet)
    yield made


def test_a_run_with_secrets_everywhere_shows_none(
    project: SecretProject, sshd_hosts: list[SshdHost]
) -> None:
    assert project.jarvisctl("plan", "plan").returncode == 0
    assert "***" in project.outputs["plan: stdout"]
    plan = project.jarvisctl("plan --json", "plan", "--json", "--junit", "plan.xml")
    assert json.loads(plan.stdout)["playbooks"]
    for fmt, extra in [("md", ()), ("html", ("--json",)), ("json", ()), ("xml", ("--check",))]:
        metrics = ("--metrics-file", f"metrics-{fmt}.prom")
        done = project.jarvisctl(
            f"run {fmt}", "run", "playbooks/site.yml", "--report", f"report.{fmt}", *metrics, *extra
        )
        assert done.returncode == 1, done.stdout + done.stderr  # CRITICAL, unparseable
    # the secrets really were rendered and quoted into the commands that ran on the hosts
    for host in sshd_hosts:
        for source in ("env", "play", "inventory", "file"):
            assert (project.marks / f"{host.name}.{source}").read_text() == SECRETS[source]
        for context, source in [("double", "env"), ("single", "play"), ("heredoc", "inventory")]:
            written = (project.marks / f"{host.name}.{context}").read_text()
            assert written.rstrip("\n") == SECRETS[source]
    host = sshd_hosts[0].name
    for args in (("show", host), ("show", host, "--json"), ("list",), ("list", "--json")):
        done = project.jarvisctl(f"inventory {args}", "inventory", *args, "-i", "inventory.yml")
        assert done.returncode == 0, done.stderr
    shown = json.loads(project.outputs[f"inventory {('show', host, '--json')}: stdout"])
    assert shown["vars"]["db_password"]["value"] == "***"
    for fmt in ("md", "html", "json", "junit"):
        assert project.jarvisctl(f"report {fmt}", "report", "last", "--format", fmt).returncode == 0
    project.jarvisctl("report -o", "report", "last", "--format", "html", "-o", "last.html")
    project.jarvisctl("runs", "runs")
    project.jarvisctl("audit verify", "audit", "verify", "last")
    project.collect_files()
    journal = next(v for k, v in project.outputs.items() if k.endswith(".jsonl"))
    assert "***" in journal and "remediation" in journal
    assert "report.xml" in project.outputs and "metrics-md.prom" in project.outputs
    assert project.leaks() == {}


def test_configuration_errors_show_no_secret(project: SecretProject) -> None:
    project.write(BROKEN)
    for name, args in [
        ("plan", ("plan",)),
        ("plan --json", ("plan", "--json", "--junit", "broken.xml")),
        ("run", ("run", "playbooks/site.yml")),
        ("run --json", ("run", "playbooks/site.yml", "--json")),
        ("schedule", ("schedule", "list")),
    ]:
        done = project.jarvisctl(name, *args)
        assert done.returncode == 3, done.stdout + done.stderr
    errors = project.outputs["run: stderr"]
    assert "site.yml:11:" in errors and "'dict object' has no attribute '***'" in errors
    assert "tcp_port: 'port'" in errors and "got '***'" in errors
    assert "outside the directories secrets are read from" in errors
    assert "root:" not in errors  # /etc/shadow's content
    # a secret host address: unreachable, in every output
    project.write(PLAYBOOK.replace("hosts: sshd", "hosts: far"))
    done = project.jarvisctl("address", "run", "-i", "address.yml", "--json", "playbooks")
    assert done.returncode in (3, 4), done.stdout + done.stderr
    project.jarvisctl("address plan", "plan", "-i", "address.yml", "--junit", "address.xml")
    project.jarvisctl("address inventory", "inventory", "list", "-i", "address.yml")
    project.collect_files()
    assert "broken.xml" in project.outputs and "address.xml" in project.outputs
    assert project.leaks() == {}


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def log_events(log: Path, name: str) -> list[dict[str, Any]]:
    # Only whole lines: the daemon may be half-way through writing the last one.
    whole = log.read_text().split("\n")[:-1]
    lines = [json.loads(x) for x in whole if x.startswith("{")]
    return [line for line in lines if line.get("event") == name]


def test_the_daemon_shows_no_secret_in_logs_or_answers(project: SecretProject) -> None:
    log = project.root / "daemon.log"
    with log.open("w") as handle:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
            cwd=project.root,
            env=project.env(),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
        )
    try:
        wait_for(lambda: log_events(log, "job_finished"), 60, "a scheduled run")
        for path in ("/status", "/metrics", "/healthz"):
            project.outputs[f"GET {path}"] = get(project.port, path)[1]
        # a mistake: the next fire cannot plan (the job goes on with its last good plan)
        project.write(BROKEN)
        wait_for(lambda: log_events(log, "job_config_error"), 30, "a job's config error")
        # another mistake (every location moved), then SIGHUP: the reload fails
        project.write("# moved\n" + BROKEN)
        daemon.send_signal(signal.SIGHUP)
        failed = wait_for(lambda: log_events(log, "reload_failed"), 30, "the failed reload")
        assert any("'***'" in event["problem"] for event in failed), failed
        for path in ("/status", "/metrics", "/healthz"):
            project.outputs[f"GET {path} after"] = get(project.port, path)[1]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    project.outputs["daemon json log"] = log.read_text()
    # the text format, on the broken project (fatal at start) and on the good one (--once)
    project.jarvisctl("daemon text broken", "daemon", "--once", "--log-format", "text")
    project.write(PLAYBOOK)
    time.sleep(2.1)  # the job is due again
    project.jarvisctl("daemon text", "daemon", "--once", "--log-format", "text")
    assert "job_finished" in project.outputs["daemon text: stderr"]
    project.collect_files()
    assert project.leaks() == {}
