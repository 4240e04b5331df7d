"""How long `jarvisctl plan` takes on large inputs: `.venv/bin/python bench/plan_scale.py`.

Cases, generated in a temporary directory:

- `checks`: one play of N checks (default 8,000) on one local host, each check with templates
  of its own (6,000 distinct templates, each compiled); `shared`: the same with four templates;
- `range`: an INI inventory whose one line is a host range of N hosts (default 16,000), one check;
- `fleet`: a YAML inventory of N hosts (default 10,000) in sites and racks, with `group_vars/`
  files, and a playbook of 20 checks (templated parameters, play vars, a remediation ladder)
  over all of them; planned as text and as `--json`.

Each case runs `jarvisctl plan` as a subprocess `--repeat` times and prints the median wall time
and user CPU. Nothing here opens a connection.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Check entries that exercise the catalogue, templating, shell quoting and remediations.
_CHECK_SHAPES = (
    """    - name: disk {i}
      use: disk_usage
      with: {{path: "{{{{ data_mount }}}}/d{t}"}}
      warn: 80
      crit: 90
      tags: [disk]
      remediate:
        - use: vacuum_journal
          on: [critical]
          max_attempts: 2
          window: 1h
""",
    """    - name: memory {i}
      use: memory_available
      warn: 10
      crit: 5
      tags: [memory]
""",
    """    - name: unit {i}
      use: command
      with:
        command: "systemctl is-active --quiet {{{{ unit }}}}-{t}"
        parse: exit_code
      crit: 1
      tags: [service]
      remediate:
        - use: restart_service
          with: {{unit: "{{{{ unit }}}}-{t}"}}
          max_attempts: 3
          window: 1h
""",
    """    - name: load {i}
      use: load_per_core
      with: {{period: 5}}
      tags: [cpu]
""",
)


def checks_yaml(count: int, distinct: bool = True) -> str:
    """`count` check entries of a play's `checks:` list; with `distinct`, each check's templates
    differ from every other's (each is compiled), else all checks share four templates."""
    return "".join(
        _CHECK_SHAPES[i % len(_CHECK_SHAPES)].format(i=i, t=i if distinct else "x")
        for i in range(count)
    )


def playbook(count: int, hosts: str = "all", distinct: bool = True) -> str:
    return (
        f'- name: scale\n  hosts: {hosts}\n  vars:\n    unit: "{{{{ unit_prefix }}}}-svc"\n'
        f"  checks:\n{checks_yaml(count, distinct)}"
    )


def write_shared_case(root: Path, count: int) -> list[str]:
    """One play of `count` checks on one local host, all of them sharing four templates."""
    return write_checks_case(root, count, distinct=False)


def write_checks_case(root: Path, count: int, distinct: bool = True) -> list[str]:
    """One play of `count` checks on one local host, each with its own templates."""
    (root / "inventory.yml").write_text(
        "all:\n  vars: {unit_prefix: app, data_mount: /data}\n"
        "  hosts:\n    localhost:\n      ansible_connection: local\n"
    )
    (root / "playbook.yml").write_text(playbook(count, distinct=distinct))
    return ["playbook.yml", "-i", "inventory.yml"]


def write_range_case(root: Path, count: int) -> list[str]:
    """An INI inventory whose only line is a range of `count` hosts."""
    width = len(str(count))
    (root / "inventory.ini").write_text(
        f"[fleet]\nnode[{1:0{width}d}:{count:0{width}d}].example.com ansible_user=ops\n"
        "[fleet:vars]\nunit_prefix=app\ndata_mount=/data\n"
    )
    (root / "playbook.yml").write_text(playbook(1, hosts="fleet"))
    return ["playbook.yml", "-i", "inventory.ini"]


def write_fleet_case(root: Path, count: int, checks: int = 20) -> list[str]:
    """`count` hosts in 10 sites of racks of 100, group_vars per site, `checks` checks on all."""
    inventory = root / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    lines = ["all:", "  vars:", "    ansible_user: ops", "  children:"]
    sites = 10
    for site in range(sites):
        lines += [f"    site{site}:", "      children:"]
        for rack in range(site, (count + 99) // 100, sites):
            lines += [f"        rack{rack}:", "          hosts:"]
            for n in range(rack * 100, min(count, rack * 100 + 100)):
                lines.append(
                    f"            h{n:05d}: {{ansible_host: 10.{n >> 16}.{n >> 8 & 255}.{n & 255}}}"
                )
        (inventory / "group_vars" / f"site{site}.yml").write_text(
            f"data_mount: /srv/site{site}\nsite_name: site{site}\n"
        )
    (inventory / "group_vars" / "all.yml").write_text("unit_prefix: app\n")
    (inventory / "fleet.yml").write_text("\n".join(lines) + "\n")
    (root / "playbook.yml").write_text(playbook(checks))
    return ["playbook.yml", "-i", "inventory/fleet.yml"]


@dataclass(frozen=True)
class Timing:
    wall: float
    user: float
    output_bytes: int


def time_plan(args: Sequence[str], cwd: Path, python: str) -> Timing:
    """One `jarvisctl plan` in a subprocess: wall time and the child's user CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    started = time.perf_counter()
    done = subprocess.run(
        [python, "-m", "jarvisctl", "plan", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"plan exited {done.returncode}: {done.stderr[-2000:]!r}")
    user = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    return Timing(wall, user, len(done.stdout))


def _cases(sizes: argparse.Namespace) -> list[tuple[str, object, int, list[str]]]:
    return [
        ("checks", write_checks_case, sizes.checks, []),
        ("shared", write_shared_case, sizes.checks, []),
        ("range", write_range_case, sizes.range, []),
        ("fleet", write_fleet_case, sizes.hosts, []),
        ("fleet --json", write_fleet_case, sizes.hosts, ["--json"]),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=8000, help="checks in one play")
    parser.add_argument("--range", type=int, default=16000, help="hosts in one INI range")
    parser.add_argument("--hosts", type=int, default=10000, help="hosts for 20 checks")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--only", nargs="*", help="cases: checks shared range fleet")
    options = parser.parse_args(argv)
    print(f"{'case':<14} {'size':>7} {'wall s (median)':>16} {'user s':>8} {'out MB':>7}")
    for name, write, size, extra in _cases(options):
        if options.only and name.split()[0] not in options.only:
            continue
        with tempfile.TemporaryDirectory(prefix="plan-scale-") as tmp:
            args = write(Path(tmp), size)  # type: ignore[operator]
            runs = [
                time_plan([*args, *extra], Path(tmp), options.python) for _ in range(options.repeat)
            ]
        wall = statistics.median(r.wall for r in runs)
        user = statistics.median(r.user for r in runs)
        mb = runs[0].output_bytes / 1e6
        print(f"{name:<14} {size:>7} {wall:>16.2f} {user:>8.2f} {mb:>7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
