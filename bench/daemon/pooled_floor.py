"""What a bare paramiko client spends on one pooled cycle: `bench/daemon/pooled_floor.py`.

The daemon benchmark's remote work (run.py: --checks read-only commands a host, as one check
script over one exec channel on a connection kept open), done by paramiko alone: connections
opened once (key exchange, strict host key check, public key auth), then each cycle, from a
pool of --forks threads as the daemon's, every host runs the script jarvisctl composes for those
commands (engine/script.py, this tree's) on the exec line jarvisctl sends (`sh -s`), and its
output is read once the exit status is in: one wake a host, the least reading can cost. No plan,
no parsing, no evaluation, no state, no journal, no deadline watch.

It prints, and writes to bench/daemon/results/pooled-floor-<UTC time>.json, the controller CPU
(user+sys of this process, every thread) per cycle and per host, medians over --cycles after
one untimed cycle. Set beside the daemon benchmark's fresh run, it bounds the fresh ÷ pooled
ratio any paramiko-based daemon can reach: a fresh run costs at least what pooling saves (its
start and handshakes) plus this floor, and a pooled cycle at least this floor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.daemon.driver import ALL_COMMANDS
from bench.fleet import BenchFleet, sshd_unavailable_reason
from bench.pidns import pid_namespace_unavailable_reason

HERE = Path(__file__).resolve().parent
TIMEOUT = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--checks", type=int, default=20, help="commands a host (1-20)")
    parser.add_argument("--forks", type=int, default=100, help="threads, as the daemon's forks")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--shared-pid-namespace", action="store_true")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if not 1 <= args.checks <= len(ALL_COMMANDS):
        parser.error(f"--checks: 1 to {len(ALL_COMMANDS)}")
    reason = sshd_unavailable_reason() or (
        None if args.shared_pid_namespace else pid_namespace_unavailable_reason()
    )
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    import paramiko

    commands = [command for _, command in ALL_COMMANDS[: args.checks]]
    with tempfile.TemporaryDirectory(prefix="jb-pooled-", dir="/tmp") as work:
        fleet = BenchFleet(
            Path(work) / "fleet", args.hosts, own_pid_namespace=not args.shared_pid_namespace
        )
        fleet.start()
        try:
            key = paramiko.Ed25519Key.from_private_key_file(str(fleet.client_key))
            known = paramiko.HostKeys(str(fleet.known_hosts))
            transports = [_connect(paramiko, host, key, known) for host in fleet.hosts]
            # a script (token) of its own for each host and cycle, as jarvisctl's
            with ThreadPoolExecutor(args.forks) as pool:
                cycles = [_cycle(pool, transports, commands) for _ in range(args.cycles + 1)]
            for transport in transports:
                transport.close()
        finally:
            fleet.stop()
    timed = cycles[1:]
    cpu = round(statistics.median(c["cpu"] for c in timed), 4)
    result: dict[str, Any] = {
        "command": " ".join(["bench/daemon/pooled_floor.py", *(argv or sys.argv[1:])]),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hosts": args.hosts,
        "checks": args.checks,
        "forks": args.forks,
        "cycles": cycles,
        "cycle_cpu": cpu,
        "cpu_per_host_ms": round(cpu / args.hosts * 1000, 3),
        "load_average": os.getloadavg(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.results / f"pooled-floor-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.hosts} hosts x {args.checks} commands, bare paramiko, connections kept: "
        f"controller CPU {cpu:.3f} s a cycle, {result['cpu_per_host_ms']} ms a host "
        f"(median of {args.cycles}) -> {out}"
    )
    return 0


def _connect(paramiko: Any, host: Any, key: Any, known: Any) -> Any:
    import socket

    sock = socket.create_connection((host.address, host.port), 10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    transport.start_client(timeout=30)
    name = f"[{host.address}]:{host.port}" if host.port != 22 else host.address
    if not known.check(name, transport.get_remote_server_key()):
        raise SystemExit(f"{name}: host key not in known_hosts")
    transport.auth_publickey("root", key)
    # paramiko's reader looks for a close every 0.1 s of a quiet connection: 500 kept open
    # cost more than their checks; jarvisctl sets this too (connection/ssh.py)
    transport.sock.settimeout(60.0)
    return transport


def _cycle(pool: ThreadPoolExecutor, transports: list[Any], commands: list[str]) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    codes = list(pool.map(lambda t: _run(t, commands), transports))
    after = resource.getrusage(resource.RUSAGE_SELF)
    if codes != [0] * len(transports):
        raise SystemExit(f"not every host's script succeeded: {sorted(set(codes))}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"cpu": round(cpu, 4), "wall": round(time.monotonic() - started, 4)}


def script(commands: list[str], token: str) -> str:
    """The commands between marks, as jarvisctl's check script has them: `@@J<token>:B:<i>`
    before command i, `@@J<token>:E:<i>[:<status>]` after it, each after a newline, on stdout
    and on stderr; an end mark and the next begin mark in one `printf` per stream."""
    mark = f"@@J{token}"

    def marks(end: str, begin: str) -> str:
        out = err = args = ""
        if end:
            out, err, args = f"\\n{end}:%s", f"\\n{end}", ' "$?"'
        if begin:
            out, err = f"{out}\\n{begin}", f"{err}\\n{begin}"
        return f"printf '{out}\\n'{args}; printf '{err}\\n' >&2"

    lines = [marks("", f"{mark}:B:0")]
    for i, command in enumerate(commands):
        after = f"{mark}:B:{i + 1}" if i + 1 < len(commands) else ""
        lines += [f"{command} </dev/null", marks(f"{mark}:E:{i}", after)]
    return "\n".join(lines) + "\n"


def _run(transport: Any, commands: list[str]) -> int:
    token = secrets.token_hex(12)
    channel = transport.open_session(timeout=TIMEOUT)
    channel.exec_command("sh -s")
    channel.sendall(script(commands, token).encode())
    channel.shutdown_write()
    if not channel.status_event.wait(TIMEOUT):
        raise SystemExit("a script did not end")
    until = time.monotonic() + TIMEOUT
    while not (channel.eof_received or channel.closed) and time.monotonic() < until:
        time.sleep(0.002)
    out = channel.recv(1 << 24)
    channel.recv_stderr(1 << 24)
    channel.close()
    if out.count(f"@@J{token}:E:".encode()) != len(commands):
        raise SystemExit("a script's output lacks an end mark")
    return int(channel.exit_status)


if __name__ == "__main__":
    sys.exit(main())
