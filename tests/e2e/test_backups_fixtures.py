"""The backup tests' own instruments, checked before they are trusted: the host-side
fingerprint tells apart every difference the round trips must rule out (content, mode, owner,
type, symlink target, a missing or extra entry, a newline in a name), and killing a host's sshd
really ends a transfer in flight."""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from dataclasses import replace

import pytest

from tests.e2e.backup_hosts import (
    NEWLINE_NAME,
    TREE_LINK,
    build_tree,
    expected_paths,
    fingerprint,
    kill_sshd,
    on_host,
    ssh_argv,
)
from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e


def scratch_root(host: SshdHost) -> str:
    return str(host.fleet.directory / f"tree-{uuid.uuid4().hex[:8]}")


def test_the_fingerprint_reads_the_tree_and_sees_every_difference(
    sshd_hosts: list[SshdHost],
) -> None:
    host = sshd_hosts[0]
    root = scratch_root(host)
    build_tree(host, root)
    before = fingerprint(host, root)
    assert set(before) == expected_paths()
    newline = before[f"data/{NEWLINE_NAME}"]
    assert newline.type == "f" and newline.mode == "640" and newline.sha256
    assert before["etc/secret.key"].mode == "600" and before["bin/run.sh"].mode == "755"
    assert before["data/empty"].size == 0
    assert before[TREE_LINK[0]] == replace(before[TREE_LINK[0]], type="l", target=TREE_LINK[1])
    assert before["data/nobody.txt"].owner == "nobody:nogroup"
    assert before["data"].type == "d" and before["data"].mode == "750"

    q = shlex.quote
    changes = [
        f"printf x | dd of={q(root + '/etc/app.conf')} bs=1 seek=3 conv=notrunc 2>/dev/null",
        f"chmod 0644 {q(root + '/etc/secret.key')}",
        f"chown root:root {q(root + '/data/nobody.txt')}",
        f"ln -sfn ../bin/run.sh {q(root + '/' + TREE_LINK[0])}",
        f"rm {q(root + '/data/' + NEWLINE_NAME)}",
        f"touch {q(root + '/data/nested/new')}",
    ]
    on_host(host, "; ".join(changes))
    after = fingerprint(host, root)
    differing = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert differing == {
        "etc/app.conf",
        "etc/secret.key",
        "data/nobody.txt",
        TREE_LINK[0],
        f"data/{NEWLINE_NAME}",
        "data/nested/new",
    }
    on_host(host, f"rm -rf {q(root)}")


def test_killing_sshd_ends_a_transfer_in_flight(
    sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    host = sshd_hosts[1]
    stream = subprocess.Popen(
        # ends by itself once its output is gone (head dies of SIGPIPE): nothing left behind
        ssh_argv(host, "while head -c 65536 /dev/zero; do sleep 0.01; done"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert stream.stdout is not None
        assert len(stream.stdout.read(65536)) == 65536  # the transfer is under way
        killed = kill_sshd(host)
        assert len(killed) >= 2, "the listener and at least one session process"
        started = time.monotonic()
        while stream.stdout.read(65536):
            assert time.monotonic() - started < 20, "the stream went on after sshd was killed"
        assert stream.wait(timeout=20) == 255  # ssh: the connection was lost
        assert not host.is_running
    finally:
        stream.kill()
        stream.wait()
        sshd_fleet.reset()
    assert on_host(host, "echo back") == b"back\n"
