"""`kind: restic`: a restic repository through the real `restic` binary (deduplicated, encrypted,
off-site capable). The uncompressed stream is fed to `restic backup --stdin`; restic compresses
and encrypts it itself. The password travels in the subprocess environment only (never argv,
never a message). An aborted transfer is interrupted before restic sees the end of its input,
so it makes no snapshot; one that was made anyway (found by its tag) is forgotten.

Another process (a second jarvisctl, an operator's restic) may hold the repository's lock.
restic 0.16 and later wait for it themselves (`--retry-lock`); 0.14 (Debian's) fails at once,
so a command that failed because the repository is locked is run again, with a growing pause,
for up to LOCK_WAIT seconds, and `backup` and `dump`, whose input or output cannot be replayed,
start only once a shared lock could be taken. The message when it stays locked is restic's:
who holds the lock, since when.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO

from jarvisctl.backup.compression import Inflow, inflow, process_reader
from jarvisctl.backup.errors import BackupStoreError
from jarvisctl.plan.model import BackupPlan
from jarvisctl.store.snapshots import Snapshot

# Seconds for restic's bookkeeping commands (init, snapshots, forget --prune, check).
_COMMAND_TIMEOUT = 3600.0
# Seconds restic gets to clean up after SIGINT before it is killed.
_INTERRUPT_GRACE = 10.0
_TAIL = 8192
# Variables that would point restic at another repository or password than ours.
_FOREIGN = frozenset(
    {
        "RESTIC_REPOSITORY",
        "RESTIC_REPOSITORY_FILE",
        "RESTIC_PASSWORD_FILE",
        "RESTIC_PASSWORD_COMMAND",
    }
)
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=:-]")
# Seconds a command waits for a lock that another process holds on the repository.
LOCK_WAIT = 60.0
# Pauses between attempts when restic does not wait itself: doubling from the first, at most
# the last.
_LOCK_PAUSE = (0.5, 5.0)
# restic's words when another process holds a lock that conflicts with the one it needs.
_LOCKED = "repository is already locked"
# The first restic that waits for a lock itself (`--retry-lock DURATION`).
_RETRY_LOCK_SINCE = (0, 16)
_VERSION = re.compile(r"^restic (\d+)\.(\d+)")


class _Access:
    """Restic's repository lock, kept in the process as well: a run's hosts share one store,
    and restic 0.14 does not wait for a lock, it fails. Transfers and dumps share the
    repository (restic's own lock for them is shared); `forget --prune` and `check` wait until
    none runs, and hold it alone."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._sharing = 0
        self._alone = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone)
            self._sharing += 1
        try:
            yield
        finally:
            with self._changed:
                self._sharing -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone and not self._sharing)
            self._alone = True
        try:
            yield
        finally:
            with self._changed:
                self._alone = False
                self._changed.notify_all()


class ResticBackupStore:
    def __init__(
        self,
        name: str,
        repository: str,
        password: str,
        state_dir: Path,
        lock_wait: float = LOCK_WAIT,
    ) -> None:
        self.name = name
        self.repository = repository
        self._password = password
        self._cache = state_dir / "restic-cache"
        self._ready = False
        self._lock = threading.Lock()
        self.access = _Access()
        self.lock_wait = lock_wait
        self._waits_itself: bool | None = None  # restic's --retry-lock; known on first use

    def writer(self, snapshot_id: str, plan: BackupPlan, host: str) -> ResticSnapshotWriter:
        filename = f"{plan.name}.tar" if plan.source == "paths" else (plan.file or plan.name)
        return ResticSnapshotWriter(self, snapshot_id, filename, host, plan)

    @contextlib.contextmanager
    def open(self, snapshot: Snapshot) -> Iterator[BinaryIO]:
        path = self._stored_path(snapshot)
        argv = self.argv("dump", "--", snapshot.location, path)
        what = f"restic dump of snapshot {snapshot.id}"
        with self.access.shared():
            self.await_unlocked()
            with process_reader(argv, what, self.env()) as data:
                yield data

    def delete(self, snapshot: Snapshot) -> None:
        with self.access.alone():
            self.forget(snapshot.location, f"snapshot {snapshot.id}")

    def forget(self, location: str, what: str) -> None:
        """`restic forget --prune` of one snapshot; the caller holds the repository alone."""
        self.unlock_stale()
        done = self.run("forget", "--prune", "--", location, check=False)
        if done.returncode != 0 and "no matching ID found" not in done.stderr:
            raise self.error(f"cannot forget {what}", done)

    def check(self, expected: Iterable[Snapshot] = ()) -> tuple[str, ...]:
        """`restic check`'s errors, and each expected snapshot the repository does not hold."""
        with self.access.alone():
            self.unlock_stale()
            done = self.run("check", check=False)
        problems = []
        if done.returncode != 0:
            lines = [line.strip() for line in (done.stdout + done.stderr).splitlines()]
            found = [ln for ln in lines if ln and ("error" in ln.lower() or "Fatal" in ln)]
            if _LOCKED in done.stderr:  # it did not check: nor can the snapshots be listed
                locked = f"{self.locked_text(done.stderr)} (waited {self.lock_wait:g}s)"
                return (f"backup store {self.name!r}: cannot check: {locked}",)
            detail = found or [f"restic check exited with status {done.returncode}"]
            problems = [f"backup store {self.name!r}: {self.redact(line)}" for line in detail]
        wanted = list(expected)
        if wanted:
            listed = self.run("snapshots", "--json", check=False)
            if listed.returncode != 0:  # cannot list: no snapshot is said to be missing
                return (*problems, str(self.error("cannot list the snapshots", listed)))
            held = {entry["id"] for entry in json.loads(listed.stdout or "[]")}
            problems += [
                f"snapshot {s.id}: restic snapshot {s.location} is missing from the repository"
                for s in wanted
                if s.location not in held
            ]
        return tuple(problems)

    def await_unlocked(self) -> None:
        """Wait (up to lock_wait) until a shared lock can be taken, before a command whose
        stream cannot be replayed starts; restic that waits itself needs no such wait."""
        if not self.waits_for_locks():
            self.run("cat", "config")

    def unlock_stale(self) -> None:
        """Remove the locks of restic processes that are gone (restic's own `unlock`, which
        leaves live ones): a `dump` ended early (a verification's tar reader stops at the
        archive's end blocks, and the reader's close kills it) leaves its lock behind, and
        `forget` and `check` need the repository to themselves."""
        self.run("unlock", check=False)

    # -- running restic --

    def argv(self, *args: str) -> list[str]:
        binary = shutil.which("restic")
        if binary is None:
            raise BackupStoreError(
                f"backup store {self.name!r} is a restic repository, and `restic` is not on "
                f"this controller's PATH: install it (Debian: apt-get install restic)"
            )
        waits = ["--retry-lock", f"{self.lock_wait:g}s"] if self.waits_for_locks() else []
        return [binary, "-r", self.repository, "--cache-dir", str(self._cache), *waits, *args]

    def waits_for_locks(self) -> bool:
        """Whether this controller's restic waits for a lock itself (0.16+: --retry-lock)."""
        if self._waits_itself is None:
            binary = shutil.which("restic")
            try:
                said = subprocess.run(
                    [binary or "restic", "version"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    stdin=subprocess.DEVNULL,
                ).stdout
            except (OSError, subprocess.SubprocessError):
                said = ""  # argv() says what is missing
            found = _VERSION.match(said)
            version = (int(found[1]), int(found[2])) if found else (0, 0)
            self._waits_itself = version >= _RETRY_LOCK_SINCE
        return self._waits_itself

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
        env["RESTIC_PASSWORD"] = self._password
        return env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`restic ARGS`; while it fails because another process holds the repository's lock
        (and restic does not wait itself), again after a pause, for up to lock_wait seconds."""
        deadline = time.monotonic() + self.lock_wait
        pause, longest = _LOCK_PAUSE
        while True:
            done = self._run_once(args)
            left = deadline - time.monotonic()
            if done.returncode == 0 or _LOCKED not in done.stderr or left <= 0:
                break
            if self.waits_for_locks():
                break
            time.sleep(min(pause, left))
            pause = min(pause * 2, longest)
        if check and done.returncode != 0:
            raise self.error(f"`restic {args[0]}` failed", done)
        return done

    def _run_once(self, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                self.argv(*args),
                env=self.env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=_COMMAND_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise BackupStoreError(
                f"backup store {self.name!r}: `restic {args[0]}` did not finish in "
                f"{_COMMAND_TIMEOUT:.0f}s"
            ) from exc
        return done

    def error(self, what: str, done: subprocess.CompletedProcess[str]) -> BackupStoreError:
        detail = self.redact(done.stderr.strip()[-_TAIL:]) or f"exit status {done.returncode}"
        if _LOCKED in done.stderr:
            detail = f"{self.locked_text(done.stderr)} (waited {self.lock_wait:g}s)"
        return BackupStoreError(
            f"backup store {self.name!r} (restic repository {self.repository}): {what}: {detail}"
        )

    def locked_text(self, stderr: str) -> str:
        """restic's words on who holds the lock and since when, on one line."""
        lines = [ln.strip() for ln in stderr.splitlines()]
        start = next(i for i, ln in enumerate(lines) if _LOCKED in ln)
        said = [ln for ln in lines[start : start + 2] if ln and "`unlock`" not in ln]
        return self.redact("; ".join(said))

    def redact(self, text: str) -> str:
        """restic never prints the password; this makes sure no message of ours does either."""
        return text.replace(self._password, "***") if len(self._password) >= 3 else text

    def ensure_repository(self) -> None:
        """`restic init` where there is no repository yet (never over a foreign or locked one)."""
        with self._lock:
            if self._ready:
                return
            probe = self.run("cat", "config", check=False)
            if probe.returncode != 0:
                if "Is there a repository at the following location?" not in probe.stderr:
                    raise self.error("cannot open the repository", probe)
                self.run("init")
            self._ready = True

    def snapshot_ids_tagged(self, tag: str) -> list[str]:
        done = self.run("snapshots", "--json", "--tag", tag)
        return [entry["id"] for entry in json.loads(done.stdout or "[]")]

    def _stored_path(self, snapshot: Snapshot) -> str:
        done = self.run("snapshots", "--json", "--", snapshot.location, check=False)
        if _LOCKED in done.stderr:  # not a missing snapshot: one that cannot be read now
            raise self.error(f"cannot read snapshot {snapshot.id}", done)
        entries: list[dict[str, Any]] = json.loads(done.stdout or "[]") if done.stdout else []
        if done.returncode != 0 or len(entries) != 1 or len(entries[0].get("paths", ())) != 1:
            raise BackupStoreError(
                f"snapshot {snapshot.id}: restic snapshot {snapshot.location} is missing from "
                f"backup store {self.name!r} ({self.redact(done.stderr.strip()) or 'not found'})"
            )
        return str(entries[0]["paths"][0])


class ResticSnapshotWriter:
    """`restic backup --stdin`, fed the uncompressed stream as it arrives."""

    compress = "none"  # restic is handed the plain stream and compresses it itself

    def __init__(
        self,
        store: ResticBackupStore,
        snapshot_id: str,
        filename: str,
        host: str,
        plan: BackupPlan,
    ) -> None:
        self._store, self._filename, self._host, self._plan = store, filename, host, plan
        self._tag = "snapshot=" + _TAG_UNSAFE.sub("_", snapshot_id)
        self._process: subprocess.Popen[bytes] | None = None
        self._inflow: Inflow | None = None
        self._readers: list[_TailReader] = []
        self._committed = False
        self._held = contextlib.ExitStack()

    def __enter__(self) -> ResticSnapshotWriter:
        self._store.ensure_repository()
        # the repository shared until __exit__, which lets go before it needs it alone
        self._held.enter_context(self._store.access.shared())
        try:
            self._store.await_unlocked()  # the stream cannot be sent twice: start once it can
            return self._start()
        except BaseException:
            self._held.close()
            raise

    def _start(self) -> ResticSnapshotWriter:
        argv = self._store.argv(
            "backup", "--stdin", "--stdin-filename", self._filename, "--host", self._host,
            "--tag", "jarvisctl", "--tag", f"backup={_TAG_UNSAFE.sub('_', self._plan.name)}",
            "--tag", self._tag, "--json",
        )  # fmt: skip
        self._process = subprocess.Popen(
            argv, env=self._store.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # its own session: a terminal's Ctrl-C reaches jarvisctl, which ends restic itself
            start_new_session=True,
        )  # fmt: skip
        assert self._process.stdout and self._process.stderr and self._process.stdin
        self._readers = [_TailReader(self._process.stdout), _TailReader(self._process.stderr)]
        self._inflow = inflow(self._plan.compress, self._process.stdin)  # type: ignore[arg-type]
        return self

    def write(self, data: bytes) -> None:
        assert self._inflow is not None, "write() outside the writer's block"
        try:
            self._inflow.write(data)
        except (BrokenPipeError, ValueError) as exc:  # restic stopped reading: it failed
            raise self._failure("stopped reading the stream") from exc

    def commit(self) -> tuple[str, int]:
        assert self._inflow is not None and self._process is not None
        self._inflow.close()  # the stream was whole: a truncated one raises here, before EOF
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.close()
        self._process.wait()
        for reader in self._readers:
            reader.join()
        if self._process.returncode != 0:
            raise self._failure(f"exited with status {self._process.returncode}")
        summary = _summary(self._readers[0].text())
        if summary is None:
            raise self._failure("reported no snapshot")
        (snapshot,) = self._store.snapshot_ids_tagged(self._tag) or [summary["snapshot_id"]]
        self._committed = True
        return snapshot, int(summary.get("data_added", 0))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._committed or self._process is None:
                return
            self._interrupt()
        finally:
            self._held.close()
        # a snapshot restic completed anyway (the end of the stream had reached it) is forgotten
        with contextlib.suppress(BackupStoreError), self._store.access.alone():
            for made in self._store.snapshot_ids_tagged(self._tag):
                self._store.forget(made, f"the interrupted snapshot {made}")

    def _interrupt(self) -> None:
        """SIGINT while restic's input is still open: it cleans up and makes no snapshot."""
        process = self._process
        assert process is not None and process.stdin is not None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        if self._inflow is not None:
            self._inflow.abort()
        try:
            process.wait(_INTERRUPT_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            self._store.run("unlock", check=False)  # the lock a killed restic left behind
        with contextlib.suppress(BrokenPipeError, OSError):
            process.stdin.close()
        for reader in self._readers:
            reader.join()

    def _failure(self, what: str) -> BackupStoreError:
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1.0)
        stderr = self._readers[1].text().strip() if self._readers else ""
        detail = self._store.redact(stderr[-_TAIL:]) or "no message"
        return BackupStoreError(
            f"backup store {self._store.name!r}: `restic backup` {what}: {detail}; "
            f"nothing was kept of this snapshot"
        )


class _TailReader:
    """Reads a pipe to its end in a thread (restic must never block on a full pipe), keeping
    the last bytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._tail = bytearray()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with self._stream:
            while chunk := self._stream.read1(65536):  # type: ignore[attr-defined]
                self._tail += chunk
                del self._tail[: -4 * _TAIL]

    def join(self) -> None:
        self._thread.join()

    def text(self) -> str:
        return bytes(self._tail).decode(errors="replace")


def _summary(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("message_type") == "summary":
                return message
    return None
