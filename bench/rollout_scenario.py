"""The rollout benchmark's project (bench/rollout.py): a play whose rollout updates an "app" on
every host of a fleet, and the transient faults armed before each round.

Each host's app lives in a directory of its own, `ROOT/<host>/` (the sshd hosts share the
machine's file system; a host's commands find their directory by `inventory_hostname`):
`version` (the version installed by the copy step), `installed`, `schema`, `current` (what the
"running" app is), `restarts`, and `log` (one line per step execution on the host: the
benchmark's counters). The play's one check, `app healthy`, passes when the running version is
the installed one (`cmp -s current version`): the rollout's gate before and after each host.

The rollout's steps, each with `retries: 2` and `delay: 0s`:

1. `copy` of the round's version file to `version`;
2. `run: app HOST 2 install` (version -> installed);
3. `run: app HOST 3 migrate` (installed -> schema);
4. `run: app HOST 4 restart` (installed -> current, restarts + 1).

`ROOT/app` (a POSIX sh script) first looks for `ROOT/<host>/faults/<step>`: when there, it
removes it and exits 75 ("injected transient failure"), so that this execution fails once and
the retry succeeds. Before each round the benchmark arms faults on a seeded random choice of
(host, step) pairs among the `run` steps (a copy cannot be made to fail once without tampering
with jarvisctl): `FAIL_SHARE` of all step executions of the round (4 per host), 20 of 200 at
50 hosts.
"""

from __future__ import annotations

import json
import random
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLAYBOOK = "rollout.yml"
PLAY = "bench rollout"
CHECK = "app healthy"
BATCHES: tuple[int | str, ...] = (1, "10%", "100%")
MAX_FAIL_PERCENTAGE = 10
RETRIES = 2
STEP_COUNT = 4
FAULTY_STEPS = (2, 3, 4)  # the `run` steps (1-based): the ones a fault is armed on
FAIL_SHARE = 0.10  # of all step executions of a round
TRANSIENT_EXIT = 75
INITIAL_VERSION = "0"

_APP = """\
#!/bin/sh
# app HOST STEP ACTION: one step of the benchmark's update, in ROOT/HOST
set -eu
dir={root}/"$1"
if [ -e "$dir/faults/$2" ]; then
  rm -f -- "$dir/faults/$2"
  echo "$2 $3 failed" >> "$dir/log"
  echo "injected transient failure: $1 step $2" >&2
  exit {transient}
fi
case $3 in
  install) cp -- "$dir/version" "$dir/installed" ;;
  migrate) cp -- "$dir/installed" "$dir/schema" ;;
  restart)
    cp -- "$dir/installed" "$dir/current"
    echo $(( $(cat -- "$dir/restarts") + 1 )) > "$dir/restarts" ;;
  rollback) cp -- "$dir/current" "$dir/version"; cp -- "$dir/current" "$dir/installed" ;;
  *) echo "app: unknown action $3" >&2; exit 2 ;;
esac
echo "$2 $3 ok" >> "$dir/log"
"""


@dataclass(frozen=True)
class Scenario:
    """Where the project and the hosts' app directories are."""

    project: Path
    root: Path  # ROOT: the app script and one directory per host

    @property
    def app(self) -> Path:
        return self.root / "app"

    @property
    def version_file(self) -> Path:
        return self.project / "files" / "version"

    def host_dir(self, host: str) -> Path:
        return self.root / host


def playbook(root: Path, *, gate: bool = True) -> list[dict[str, Any]]:
    """The play: one check, the rollout of 4 steps with retries, its rollback; `gate`: the
    check gates each host before and after its steps (without it, the check only runs as any
    run's checks do)."""
    app = shlex.quote(str(root / "app"))
    host_dir = f"{root}/{{{{ inventory_hostname }}}}"

    def run(step: int, action: str) -> dict[str, Any]:
        return {
            "name": f"app {action}",
            "run": f"{app} {{{{ inventory_hostname }}}} {step} {action}",
            "retries": RETRIES,
            "delay": "0s",
        }

    return [
        {
            "name": PLAY,
            "hosts": "all",
            "checks": [
                {
                    "name": CHECK,
                    "use": "command",
                    "with": {
                        "command": f"cmp -s {host_dir}/current {host_dir}/version",
                        "parse": "exit_code",
                    },
                }
            ],
            "rollout": {
                "batches": list(BATCHES),
                "max_fail_percentage": MAX_FAIL_PERCENTAGE,
                **({"gate": [CHECK], "settle": "0s"} if gate else {}),
                "steps": [
                    {
                        "name": "version file",
                        "copy": {"src": "files/version", "dest": f"{host_dir}/version"},
                        "retries": RETRIES,
                        "delay": "0s",
                    },
                    run(2, "install"),
                    run(3, "migrate"),
                    run(4, "restart"),
                ],
                "rollback": [run(9, "rollback"), run(10, "restart")],
            },
        }
    ]


def write_project(scenario: Scenario, inventory: dict[str, Any], hosts: list[str]) -> None:
    """The project (jarvisctl.yml, inventory.yml, rollout.yml with the gate, files/version) and
    each host's app directory at version INITIAL_VERSION, healthy."""
    project, root = scenario.project, scenario.root
    (project / "files").mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    (project / "jarvisctl.yml").write_text(
        json.dumps(
            {
                "state_dir": str(project / "state"),
                "inventory": "inventory.yml",
                "playbooks": [PLAYBOOK],
            }
        )
    )
    (project / "inventory.yml").write_text(json.dumps(inventory))
    write_playbook(scenario, gate=True)
    scenario.version_file.write_text(INITIAL_VERSION + "\n")
    scenario.app.write_text(_APP.format(root=shlex.quote(str(root)), transient=TRANSIENT_EXIT))
    scenario.app.chmod(0o755)
    for host in hosts:
        directory = scenario.host_dir(host)
        (directory / "faults").mkdir(parents=True, exist_ok=True)
        for name in ("version", "installed", "schema", "current"):
            (directory / name).write_text(INITIAL_VERSION + "\n")
        (directory / "restarts").write_text("0\n")
        (directory / "log").write_text("")


def write_playbook(scenario: Scenario, *, gate: bool) -> None:
    text = json.dumps(playbook(scenario.root, gate=gate), indent=1) + "\n"
    (scenario.project / PLAYBOOK).write_text(text)


def fault_count(hosts: int, share: float = FAIL_SHARE) -> int:
    """How many step executions of a round fail once: `share` of all of them, rounded."""
    return min(round(share * hosts * STEP_COUNT), hosts * len(FAULTY_STEPS))


def choose_faults(hosts: list[str], seed: int, share: float = FAIL_SHARE) -> list[tuple[str, int]]:
    """The (host, step) pairs that fail once this round: a seeded choice among the run steps."""
    pairs = [(host, step) for host in hosts for step in FAULTY_STEPS]
    return sorted(random.Random(seed).sample(pairs, fault_count(len(hosts), share)))


def prepare_round(
    scenario: Scenario, hosts: list[str], version: str, faults: list[tuple[str, int]]
) -> None:
    """The round's version to roll out, each host's log emptied, the faults armed."""
    scenario.version_file.write_text(version + "\n")
    for host in hosts:
        directory = scenario.host_dir(host)
        (directory / "log").write_text("")
        for stale in (directory / "faults").iterdir():
            stale.unlink()
    for host, step in faults:
        (scenario.host_dir(host) / "faults" / str(step)).write_text("")


@dataclass(frozen=True)
class HostCheck:
    """What a host's app directory says after a round."""

    host: str
    current: str  # the running version
    log: tuple[str, ...]  # "STEP ACTION ok|failed", in order
    faults_left: int  # armed faults that never fired


def inspect_host(scenario: Scenario, host: str) -> HostCheck:
    directory = scenario.host_dir(host)
    return HostCheck(
        host=host,
        current=(directory / "current").read_text().strip(),
        log=tuple((directory / "log").read_text().splitlines()),
        faults_left=sum(1 for _ in (directory / "faults").iterdir()),
    )
