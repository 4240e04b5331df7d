"""Proof that every tool checks host keys strictly: with one host's key left out of the fleet's
known_hosts, each tool must fail on that host (and the benchmark must notice)."""

from __future__ import annotations

from pathlib import Path

from bench.fleet import BenchFleet
from bench.measure import ToolFailed, measure
from bench.peers import Peers
from bench.tools import Tool

HOSTS = 2


def check_strict_host_keys(
    tools: list[Tool], peers: Peers, work: Path, *, own_pid_namespace: bool = False
) -> dict[str, str]:
    """For each tool: how it failed when host2's key was unknown. Raises if one did not."""
    fleet = BenchFleet(work / "strict" / "fleet", HOSTS, own_pid_namespace=own_pid_namespace)
    outcome: dict[str, str] = {}
    try:
        fleet.start()
        trusted = fleet.known_hosts.read_text().splitlines()
        unknown = fleet.hosts[-1]
        kept = [line for line in trusted if line != unknown.known_hosts_line]
        fleet.known_hosts.write_text("".join(f"{line}\n" for line in kept))
        for tool in tools:
            prepared = tool.prepare(fleet, work / "strict" / tool.key, peers)
            try:
                measure(fleet, prepared, work / "strict" / "runs" / tool.key, tool.label)
            except ToolFailed as exc:
                problems = str(exc).split("\n--- stdout tail")[0].splitlines()[1:]
                outcome[tool.key] = "; ".join(problems)[:300]
                continue
            raise RuntimeError(f"{tool.label} reached {unknown.name} although its key is unknown")
    finally:
        fleet.stop()
    return outcome
