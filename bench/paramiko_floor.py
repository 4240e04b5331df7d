"""What a bare paramiko client spends on jarvisctl's remote work: `bench/paramiko_floor.py`.

One thread per host: TCP connect, key exchange, strict host key check, public key auth, one
exec channel running jarvisctl's own check script (the benchmark's 8 commands, each under its
`timeout`, between the delimiters) on the exec line jarvisctl sends (`sh -s`), read to the end;
both recorded from a real `jarvisctl run` of jarvisctl as committed at `--jarvisctl-ref`
(capture.py). No plan, no state, no audit, no evaluation: the least any paramiko-based tool
can spend on the same remote work. Prints the medians of wall time (process start to end,
paramiko's import included) and CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import capture_remote_work
from bench.fleet import BenchFleet
from bench.peers import export_jarvisctl, project_jarvisctl

_CLIENT = r"""
import json, os, socket, sys, threading, time
started = time.perf_counter()
import paramiko
hosts, key_file, known_hosts, command = json.loads(sys.argv[1])
key = paramiko.Ed25519Key.from_private_key_file(key_file)
known = paramiko.HostKeys(known_hosts)
codes = {}
def session(name, address, port, script):
    sock = socket.create_connection((address, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    transport.start_client()
    if not known.check(name, transport.get_remote_server_key()):
        raise SystemExit(f"{name}: host key not in known_hosts")
    transport.auth_publickey("root", key)
    channel = transport.open_session()
    channel.exec_command(command)
    channel.sendall(script.encode())
    channel.shutdown_write()
    while channel.recv(65536):
        pass
    codes[name] = channel.recv_exit_status()
    transport.close()
threads = [threading.Thread(target=session, args=host) for host in hosts]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
cpu = sum(os.times()[:2])
print(json.dumps({"wall": time.perf_counter() - started, "cpu": cpu, "codes": codes}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jarvisctl-ref", default="HEAD", help="whose script (or 'worktree')")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jb-pf-", dir="/tmp") as work:
        peers = export_jarvisctl(project_jarvisctl(), args.jarvisctl_ref, Path(work) / "src")
        remote = capture_remote_work(peers, Path(work) / "capture")
        fleet = BenchFleet(Path(work) / "fleet", args.hosts)
        fleet.start()
        try:
            hosts = [
                (
                    f"[{h.address}]:{h.port}" if h.port != 22 else h.address,
                    h.address,
                    h.port,
                    remote.for_one_host(),  # as jarvisctl does: a marker for each host
                )
                for h in fleet.hosts
            ]
            keys = [str(fleet.client_key), str(fleet.known_hosts)]
            payload = json.dumps([hosts, *keys, remote.command])
            runs = []
            for _ in range(args.repeat + 1):  # the first run warms the caches, untimed
                done = subprocess.run(
                    [sys.executable, "-c", _CLIENT, payload],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result = json.loads(done.stdout)
                if sorted(result["codes"].values()) != [0] * args.hosts:
                    raise SystemExit(f"not every host succeeded: {result['codes']}")
                runs.append(result)
        finally:
            fleet.stop()
    timed = runs[1:]
    wall = statistics.median(r["wall"] for r in timed)
    cpu = statistics.median(r["cpu"] for r in timed)
    print(f"N = {args.hosts}: bare paramiko client, medians of {args.repeat}: ", end="")
    print(f"wall {wall:.2f} s, controller CPU {cpu:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
