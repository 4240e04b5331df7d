"""The state store's faults, for real: a small tmpfs that fills up before and during a run, a
read-only bind mount of a state directory, a state database locked by another process for longer
than the lock timeout, and a `state_dir` that is a file.

The mounts live in a private mount namespace held open by a sleeping process: jarvisctl runs in it
through `nsenter`, the test reads its files through /proc/PID/root, and nothing outlives the test
(the namespace and its mounts go when the holder is killed). Hosts are local: a check that leaves
a marker file shows whether a host was touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXIT_STORE = 7
EXIT_INCOMPLETE = 5

INVENTORY = """\
all:
  hosts:
    a: {ansible_connection: local}
    b: {ansible_connection: local}
    c: {ansible_connection: local}
"""


def touching(marker: Path) -> str:
    """A playbook whose only check leaves `marker` on each host it runs on."""
    return f"""\
- name: touch
  hosts: all
  checks:
    - name: touched
      use: command
      with: {{command: "touch {marker}; echo 1"}}
"""


def filling(state_dir: Path, marker: Path) -> str:
    """Host a fills the state directory's filesystem; then b and c would leave `marker`."""
    return f"""\
- name: fill
  hosts: a
  checks:
    - name: fill the disk
      use: command
      with: {{command: "cat /dev/zero > {state_dir}/../fill 2>/dev/null; echo 1"}}
- name: after
  hosts: b:c
  checks:
    - name: touched
      use: command
      with: {{command: "touch {marker}; echo 1"}}
"""


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / "mnt" / "state"

    @property
    def marker(self) -> Path:
        return self.root / "touched"

    def write(self, name: str, text: str) -> str:
        (self.root / name).write_text(text)
        return name


def make_project(root: Path) -> Project:
    project = Project(root)
    project.state_dir.parent.mkdir(parents=True)
    project.write(
        "jarvisctl.yml",
        f"state_dir: {project.state_dir}\ninventory: inventory.yml\ntimeouts: {{state_lock: 1s}}\n",
    )
    project.write("inventory.yml", INVENTORY)
    project.write("touch.yml", touching(project.marker))
    return project


@dataclass(frozen=True)
class Namespace:
    """A private mount namespace, held by a sleeping process."""

    pid: int

    def path(self, inside: Path) -> Path:
        return Path(f"/proc/{self.pid}/root{inside}")

    def command(self, cwd: Path, *argv: str) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-m", f"--wd={cwd}", "--", *argv]


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", "sleep", "120"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
            assert time.monotonic() < deadline, "unshare did not make a mount namespace"
            time.sleep(0.01)
        yield Namespace(holder.pid)
    finally:
        holder.kill()  # the namespace, and every mount in it, ends with its last process
        holder.wait(timeout=10)


def inside(
    namespace: Namespace | None, project: Project, *argv: str
) -> subprocess.CompletedProcess[str]:
    command = [*argv] if namespace is None else namespace.command(project.root, *argv)
    return subprocess.run(
        command, cwd=project.root, capture_output=True, text=True, timeout=60, check=False
    )


def jarvisctl(
    project: Project, *args: str, namespace: Namespace | None = None, user_namespace: bool = False
) -> subprocess.CompletedProcess[str]:
    prefix = ["unshare", "--user", "--"] if user_namespace else []
    result = inside(namespace, project, *prefix, sys.executable, "-m", "jarvisctl", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def mount(namespace: Namespace, project: Project, *argv: str) -> None:
    done = inside(namespace, project, "mount", *argv)
    assert done.returncode == 0, done.stderr


def listed(project: Project, namespace: Namespace | None = None) -> list[dict[str, object]]:
    result = jarvisctl(project, "runs", "--json", namespace=namespace)
    assert result.returncode == 0, result.stderr
    runs: list[dict[str, object]] = json.loads(result.stdout)
    return runs


def project_on_a_small_tmpfs(tmp_path: Path, namespace: Namespace) -> Project:
    """A project whose state directory is on a 2 MiB tmpfs, with one run already recorded."""
    project = make_project(tmp_path)
    mount(
        namespace, project, "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(project.state_dir.parent)
    )
    first = jarvisctl(project, "run", "touch.yml", namespace=namespace)
    assert first.returncode == 0, first.stderr
    project.marker.unlink()
    return project


def test_a_full_disk_mid_run_stops_the_run_and_records_it_incomplete(
    tmp_path: Path, namespace: Namespace
) -> None:
    project = project_on_a_small_tmpfs(tmp_path, namespace)
    project.write("fill.yml", filling(project.state_dir, project.marker))

    run = jarvisctl(project, "run", "fill.yml", "-f", "1", namespace=namespace)

    assert run.returncode == EXIT_STORE, run.stdout + run.stderr
    assert f"the state directory {project.state_dir} is on a full filesystem (ENOSPC)" in run.stderr
    assert "free space there or set state_dir" in run.stderr
    assert "stopped (no further host was started) and is recorded as incomplete" in run.stderr
    assert not project.marker.exists(), "a host was started after the store failed"
    runs = listed(project, namespace)
    assert [r["status"] for r in runs] == ["incomplete", "ok"]
    run_id = str(runs[0]["run_id"])
    journal = namespace.path(project.state_dir / "runs" / f"{run_id}.jsonl").read_bytes()
    last = json.loads(journal.splitlines()[-1])
    assert last["kind"] == "run_incomplete"
    assert "full filesystem (ENOSPC)" in last["data"]["reason"]
    verified = jarvisctl(project, "audit", "verify", run_id, namespace=namespace)
    assert verified.returncode == EXIT_INCOMPLETE, verified.stdout + verified.stderr
    assert (
        "INCOMPLETE" in verified.stdout
        and "the run stopped: the state directory" in verified.stdout
    )
    report = jarvisctl(project, "report", run_id, namespace=namespace)
    assert report.returncode == 0, report.stderr
    assert f"jarvisctl run {run_id}: INCOMPLETE" in report.stdout


def test_a_full_disk_at_start_refuses_the_run_and_reading_still_works(
    tmp_path: Path, namespace: Namespace
) -> None:
    project = project_on_a_small_tmpfs(tmp_path, namespace)
    fill = namespace.path(project.state_dir.parent / "fill")
    with pytest.raises(OSError, match="No space left"), fill.open("wb") as filling_up:
        while True:
            filling_up.write(bytes(1 << 16))
    journals = sorted(namespace.path(project.state_dir / "runs").iterdir())

    run = jarvisctl(project, "run", "touch.yml", namespace=namespace)

    assert run.returncode == EXIT_STORE, run.stdout + run.stderr
    assert f"the state directory {project.state_dir} is on a full filesystem (ENOSPC)" in run.stderr
    assert "the run was refused before touching any host" in run.stderr
    assert not project.marker.exists()
    assert sorted(namespace.path(project.state_dir / "runs").iterdir()) == journals
    assert [r["status"] for r in listed(project, namespace)] == ["ok"]
    verified = jarvisctl(project, "audit", "verify", "last", namespace=namespace)
    assert verified.returncode == 0 and ": OK: " in verified.stdout, verified.stderr
    report = jarvisctl(project, "report", "last", namespace=namespace)
    assert report.returncode == 0 and ": OK" in report.stdout, report.stderr
    shown = jarvisctl(project, "runs", "show", "last", namespace=namespace)
    assert shown.returncode == 0 and "intact, complete" in shown.stdout, shown.stderr


def test_a_read_only_state_directory_is_read_and_refuses_runs(
    tmp_path: Path, namespace: Namespace
) -> None:
    project = make_project(tmp_path)
    first = jarvisctl(project, "run", "touch.yml")
    assert first.returncode == 0, first.stderr
    project.marker.unlink()
    state = str(project.state_dir)
    mount(namespace, project, "--bind", state, state)
    mount(namespace, project, "-o", "remount,bind,ro", state)

    run = jarvisctl(project, "run", "touch.yml", namespace=namespace)

    assert run.returncode == EXIT_STORE, run.stdout + run.stderr
    assert f"the state directory {state} is on a read-only filesystem (EROFS)" in run.stderr
    assert "the run was refused before touching any host" in run.stderr
    assert not project.marker.exists()
    assert [r["status"] for r in listed(project, namespace)] == ["ok"]
    for args in (
        ("audit", "verify", "last"),
        ("report", "last"),
        ("plan", "touch.yml"),
        ("inventory", "list"),
    ):
        result = jarvisctl(project, *args, namespace=namespace)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    # the readers created nothing (no -wal, no -shm)
    assert sorted(p.name for p in project.state_dir.iterdir()) == [".reserve", "runs", "state.db"]


def test_a_state_directory_this_user_cannot_write_is_read_and_refuses_runs(
    tmp_path: Path,
) -> None:
    """Root in a new user namespace has no CAP_DAC_OVERRIDE over this machine's files: a state
    directory of mode 555 is read-only to it, as to an operator without the rights."""
    project = make_project(tmp_path)
    first = jarvisctl(project, "run", "touch.yml")
    assert first.returncode == 0, first.stderr
    project.marker.unlink()
    project.state_dir.chmod(0o555)
    try:
        run = jarvisctl(project, "run", "touch.yml", user_namespace=True)
        runs = jarvisctl(project, "runs", "--json", user_namespace=True)
        verified = jarvisctl(project, "audit", "verify", "last", user_namespace=True)
    finally:
        project.state_dir.chmod(0o755)

    assert run.returncode == EXIT_STORE, run.stdout + run.stderr
    assert f"the state directory {project.state_dir} or its files are not writable" in run.stderr
    assert "by this user (EACCES): fix their ownership or mode" in run.stderr
    assert "the run was refused before touching any host" in run.stderr
    assert not project.marker.exists()
    assert runs.returncode == 0 and [r["status"] for r in json.loads(runs.stdout)] == ["ok"]
    assert verified.returncode == 0 and ": OK: " in verified.stdout, verified.stderr


def test_a_lock_held_past_the_timeout_names_its_holder(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = jarvisctl(project, "run", "touch.yml")
    assert first.returncode == 0, first.stderr
    project.marker.unlink()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(project.state_dir / "state.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        run = jarvisctl(project, "run", "touch.yml")
        took = time.monotonic() - started
        listed_meanwhile = listed(project)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)

    assert run.returncode == EXIT_STORE, run.stdout + run.stderr
    assert f"the state database {project.state_dir / 'state.db'} is locked by" in run.stderr
    assert f"(pid {holder.pid}: " in run.stderr
    assert "for longer than 1s (timeouts.state_lock)" in run.stderr
    assert "the run was refused before touching any host" in run.stderr
    assert not project.marker.exists()
    assert took < 10
    assert [r["status"] for r in listed_meanwhile] == ["ok"]  # readers do not wait for a writer


def test_a_lock_taken_mid_run_stops_the_run_and_records_it_incomplete(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = jarvisctl(project, "run", "touch.yml")
    assert first.returncode == 0, first.stderr
    project.marker.unlink()
    go = tmp_path / "go"
    project.write(
        "lock.yml",
        f"""\
- name: lock
  hosts: a
  checks:
    - name: let the holder lock the store
      use: command
      with: {{command: "touch {go}; sleep 1; echo 1"}}
- name: after
  hosts: b:c
  checks:
    - name: touched
      use: command
      with: {{command: "touch {project.marker}; echo 1"}}
""",
    )
    holder = subprocess.Popen(  # takes the lock once host a's check says so, then holds it
        [
            sys.executable,
            "-c",
            "import os, sqlite3, sys, time\n"
            "while not os.path.exists(sys.argv[2]): time.sleep(0.01)\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "time.sleep(30)\n",
            str(project.state_dir / "state.db"),
            str(go),
        ]
    )
    try:
        run = jarvisctl(project, "run", "lock.yml", "-f", "1")
        runs = listed(project)  # readers do not wait for the writer's lock
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)

    assert run.returncode == EXIT_STORE, run.stdout + run.stderr
    assert f"is locked by another process (pid {holder.pid}: " in run.stderr
    assert "stopped (no further host was started) and is recorded as incomplete" in run.stderr
    assert not project.marker.exists()
    assert [r["status"] for r in runs] == ["incomplete", "ok"]
    journal = (project.state_dir / "runs" / f"{runs[0]['run_id']}.jsonl").read_bytes()
    last = json.loads(journal.splitlines()[-1])
    assert last["kind"] == "run_incomplete" and "is locked by" in last["data"]["reason"]


def test_a_state_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.state_dir.write_text("not a directory\n")
    for args in (("run", "touch.yml"), ("runs",), ("report", "last")):
        result = jarvisctl(project, *args)
        assert result.returncode == EXIT_STORE, (args, result.stdout, result.stderr)
        assert f"the state directory {project.state_dir} is a file" in result.stderr, args
    config = (project.root / "jarvisctl.yml").read_text()
    project.write("jarvisctl.yml", config.replace("mnt/state", "mnt/state/below"))
    below = jarvisctl(project, "run", "touch.yml")
    assert below.returncode == EXIT_STORE, below.stdout + below.stderr
    assert f"the state directory {project.state_dir} is a file" in below.stderr
    assert not project.marker.exists()
    assert jarvisctl(project, "plan", "touch.yml").returncode == 0
