"""What the backup end-to-end tests do to the sshd test hosts, apart from jarvisctl itself.

- `build_tree` makes the issue's tree on a host over ssh: nested directories, a relative
  symlink, an empty file, a file with spaces and a newline in its name, modes 0600/0755/0750,
  a file owned by nobody, and (only where the issue asks) a 50 MiB file of random bytes.
- `fingerprint` reads a tree back ON THE HOST over ssh: `find -printf` (path, type, mode,
  owner, size, symlink target) and `sha256sum` per file, all NUL-separated so that a newline in
  a name cannot split a record.
- `kill_sshd` kills a host's sshd (the listener named by its pid file and every sshd process
  serving a session under it) with SIGKILL, as a crash mid-transfer would.
- `small_tmpfs` mounts a small tmpfs (root only) for the controller's backup store, and
  unmounts it afterwards.

The ssh client is the system's OpenSSH client with the fleet's key and known_hosts, never
jarvisctl's own connection: what a test reads back does not depend on the code under test.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.sshd import SshdHost

BIG_FILE_BYTES = 50 * 1024 * 1024  # the 50 MiB file
NEWLINE_NAME = "with spaces\nand a newline.txt"

#: Paths of the tree, relative to its root, and what each is (what `build_tree` promises).
TREE_FILES = {
    "etc/app.conf": 0o644,
    "etc/secret.key": 0o600,
    "bin/run.sh": 0o755,
    "data/nested/deeper/leaf.txt": 0o644,
    "data/empty": 0o644,
    f"data/{NEWLINE_NAME}": 0o640,
    "data/nobody.txt": 0o640,
}
TREE_DIRS = {"etc": 0o755, "bin": 0o755, "data": 0o750, "data/nested": 0o755}
TREE_LINK = ("data/link-to-conf", "../etc/app.conf")
BIG_FILE = "big/blob.bin"


@dataclass(frozen=True)
class Entry:
    """One entry of a tree as the host's `find` and `sha256sum` see it."""

    type: str  # find's %y: f, d, l ...
    mode: str  # octal permission bits, as find's %m prints them
    owner: str  # "user:group"
    size: int | None  # None for directories (their size depends on the filesystem's history)
    target: str  # a symlink's target, "" otherwise
    sha256: str | None  # regular files only


def ssh_argv(host: SshdHost, command: str) -> list[str]:
    """The system ssh client's argv for running `command` on `host` as root."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(host.fleet.client_key),
        "-o",
        f"UserKnownHostsFile={host.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-p",
        str(host.port),
        f"root@{host.address}",
        command,
    ]


def on_host(host: SshdHost, command: str, *, check: bool = True, timeout: float = 120) -> bytes:
    """Run a shell command on the host over ssh; its stdout (raises with stderr on failure)."""
    done = subprocess.run(
        ssh_argv(host, command), capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"on {host.name}: {command!r} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace')}"
        )
    return done.stdout


def host_has(host: SshdHost, tool: str) -> bool:
    """Whether the host's sessions find `tool` on their PATH (a bare PATH hides optional ones)."""
    done = subprocess.run(
        ssh_argv(host, f"command -v {shlex.quote(tool)}"),
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode == 0


def build_tree(host: SshdHost, root: str, *, big: bool = False) -> None:
    """Make the issue's tree under `root` on the host (root must not exist yet)."""
    q = shlex.quote
    lines = ["set -eu", "umask 022", f"mkdir -p {q(root)}", f"cd {q(root)}"]
    for directory in TREE_DIRS:
        lines.append(f"mkdir -p {q(directory)}")
    lines.append("mkdir -p data/nested/deeper")
    for index, path in enumerate(TREE_FILES):
        if path != "data/empty":
            # each file's own text, so that a swap of two files' contents shows
            lines.append(f"printf '%s\\n' {q(f'line {index} of {path}')} > {q(path)}")
    lines.append(": > data/empty")
    lines.append("head -c 3000 /dev/urandom >> etc/secret.key")  # binary bytes too
    lines.append(f"ln -s {q(TREE_LINK[1])} {q(TREE_LINK[0])}")
    if big:
        lines.append("mkdir -p big")
        lines.append(f"head -c {BIG_FILE_BYTES} /dev/urandom > {q(BIG_FILE)}")
    for path, mode in TREE_FILES.items():
        lines.append(f"chmod {mode:o} {q(path)}")
    for directory, mode in TREE_DIRS.items():
        lines.append(f"chmod {mode:o} {q(directory)}")
    lines.append("chown nobody:nogroup data/nobody.txt")
    on_host(host, "\n".join(lines))


def fingerprint(host: SshdHost, root: str) -> dict[str, Entry]:
    """Every entry under `root` (itself as ""), read on the host: type, mode, owner, size,
    symlink target and, for files, sha256."""
    q = shlex.quote(root)
    listing = on_host(host, f"find {q} -printf '%P\\0%y\\0%m\\0%u:%g\\0%s\\0%l\\0'")
    digests = on_host(host, f"cd {q} && find . -type f -exec sha256sum -z -- {{}} +")
    sums: dict[str, str] = {}
    for record in digests.split(b"\0")[:-1]:
        digest, _, path = record.decode().partition("  ")
        sums[path.removeprefix("./")] = digest
    fields = listing.split(b"\0")[:-1]
    assert len(fields) % 6 == 0, f"find printed {len(fields)} fields: {fields[:12]!r}"
    entries: dict[str, Entry] = {}
    for at in range(0, len(fields), 6):
        path, kind, mode, owner, size, target = (f.decode() for f in fields[at : at + 6])
        entries[path] = Entry(
            type=kind,
            mode=mode,
            owner=owner,
            size=None if kind == "d" else int(size),
            target=target,
            sha256=sums.get(path) if kind == "f" else None,
        )
    missing = set(sums) - set(entries)
    assert not missing, f"sha256sum saw files find did not: {missing}"
    return entries


def expected_paths(*, big: bool = False) -> set[str]:
    """The paths `fingerprint` finds in a fresh `build_tree` tree."""
    paths = {"", *TREE_DIRS, "data/nested/deeper", *TREE_FILES, TREE_LINK[0]}
    return paths | {"big", BIG_FILE} if big else paths


def sshd_pids(host: SshdHost) -> list[int]:
    """The host's listening sshd (from its pid file) and every sshd process below it."""
    listener = int(host.pid_file.read_text().strip())
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        names[int(entry)] = comm
    found = [listener]
    for pid in found:  # grows while walking: breadth first over the children
        found += [child for child, parent in parents.items() if parent == pid]
    return [pid for pid in found if names.get(pid, "").startswith("sshd")]


def kill_sshd(host: SshdHost) -> list[int]:
    """SIGKILL the host's sshd and its session processes; return the pids killed. The host is
    down until `host.start()` (or the fleet's `reset()`)."""
    pids = sshd_pids(host)
    for pid in reversed(pids):  # sessions first, so that none is left without its listener
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"sshd processes {pids} outlived SIGKILL"
        time.sleep(0.02)
    host.stop()  # reaps the listener; the pid file goes
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"  # a zombie is dead, only not yet reaped


@contextmanager
def small_tmpfs(directory: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `directory` (created), unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield directory
    finally:
        done = subprocess.run(["umount", str(directory)], capture_output=True, timeout=30)
        if done.returncode != 0:  # still busy (a process that outlived its test): detach it
            subprocess.run(["umount", "-l", str(directory)], check=True, timeout=30)


def files_under(directory: Path) -> dict[str, int]:
    """Every regular file below `directory` and its size: what a failed backup must not add."""
    return {
        str(path.relative_to(directory)): path.stat().st_size
        for path in directory.rglob("*")
        if path.is_file() and not path.is_symlink()
    }
