"""Restoring a snapshot to a real sshd host: every file written beside its target and renamed
into place, only what differs written, nothing written through a symlink; `--to`, `--check`,
hard links, command backups, hostile names, and what is refused."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from jarvisctl.backup.restore import RestoreRefusedError
from jarvisctl.backup.restore_plan import Change
from jarvisctl.connection.base import Connection
from jarvisctl.store.snapshots import SnapshotState
from tests.e2e.backup_hosts import NEWLINE_NAME, build_tree, fingerprint
from tests.e2e.restore_bench import Bench, bench, connection, restore, tree_of

pytestmark = pytest.mark.e2e

__all__ = ["bench", "connection"]  # fixtures, used by name


HOSTILE_NAMES = [
    "-rf",
    "--help",
    'it\'s "quoted"',
    "back\\slash",
    "$(touch pwned)",
    "`touch pwned`",
    "*",
    "tab\there",
    "new\nline\n",
    " leading and trailing ",
]


def test_a_deleted_tree_comes_back_identical(bench: Bench, connection: Connection) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    bench.sh(f"rm -rf {shlex.quote(bench.root)}")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before
    assert {c.change for c in outcome.changes} == {Change.CREATE}
    assert outcome.files == outcome.changed == len(before)


def test_to_restores_under_another_root(
    bench: Bench, connection: Connection, tmp_path: Path
) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    elsewhere = tmp_path / "elsewhere with space"
    outcome = restore(bench, connection, snapshot, to=str(elsewhere), become=True)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, str(elsewhere) + bench.root) == before
    assert fingerprint(bench.host, bench.root) == before  # the original place is untouched


def test_check_lists_what_would_change_and_changes_nothing(
    bench: Bench, connection: Connection
) -> None:
    build_tree(bench.host, bench.root)
    snapshot = bench.snapshot()
    root = shlex.quote(bench.root)
    bench.sh(
        f"cd {root} && printf changed > etc/app.conf && chmod 0644 etc/secret.key && "
        f"rm {shlex.quote('data/' + NEWLINE_NAME)} && chown nobody bin/run.sh && "
        f"rm data/link-to-conf && ln -s /etc/passwd data/link-to-conf"
    )
    changed = fingerprint(bench.host, bench.root)
    outcome = restore(bench, connection, snapshot, check=True)
    assert outcome.ok and outcome.check
    listed = {c.path.removeprefix(bench.root + "/"): (c.change, c.differs) for c in outcome.changes}
    assert listed["etc/app.conf"] == (Change.REPLACE, ("content",))
    assert listed["etc/secret.key"] == (Change.REPLACE, ("mode",))
    assert listed[f"data/{NEWLINE_NAME}"] == (Change.CREATE, ())
    assert listed["bin/run.sh"] == (Change.REPLACE, ("owner",))
    assert listed["data/link-to-conf"] == (Change.REPLACE, ("target",))
    unchanged = {path for path, (change, _) in listed.items() if change is Change.UNCHANGED}
    assert unchanged == {
        "data/nested/deeper/leaf.txt",
        "data/empty",
        "data/nobody.txt",
        "etc",
        "bin",
        "data",
        "data/nested",
        "data/nested/deeper",
        bench.root,
    }
    assert outcome.changed == 5
    assert fingerprint(bench.host, bench.root) == changed  # nothing was written


def test_only_what_differs_is_written(bench: Bench, connection: Connection) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    leaf = Path(bench.root, "data/nested/deeper/leaf.txt")
    inode = leaf.stat().st_ino
    Path(bench.root, "etc/app.conf").write_text("changed\n")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert [c.path for c in outcome.changes if c.change is not Change.UNCHANGED] == [
        f"{bench.root}/etc/app.conf"
    ]
    assert fingerprint(bench.host, bench.root) == before
    assert leaf.stat().st_ino == inode  # an unchanged file is left alone
    again = restore(bench, connection, snapshot)
    assert again.ok and again.changed == 0


def test_a_symlink_planted_at_a_target_is_replaced_not_written_through(
    bench: Bench, connection: Connection, tmp_path: Path
) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    victim = tmp_path / "victim"
    victim.write_text("must stay\n")
    victim_dir = tmp_path / "victim-dir"
    victim_dir.mkdir()
    conf, nested = Path(bench.root, "etc/app.conf"), Path(bench.root, "data/nested")
    conf.unlink()
    conf.symlink_to(victim)
    bench.sh(f"rm -rf {shlex.quote(str(nested))}")
    nested.symlink_to(victim_dir)  # a directory replaced by a symlink to elsewhere
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before
    assert victim.read_text() == "must stay\n"
    assert list(victim_dir.iterdir()) == []


def test_a_hard_link_group_is_restored_linked(bench: Bench, connection: Connection) -> None:
    root = shlex.quote(bench.root)
    bench.sh(f"mkdir -p {root}/d && printf data > {root}/d/a && ln {root}/d/a {root}/d/b")
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot()
    bench.sh(f"rm {root}/d/a {root}/d/b")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before
    a, b = Path(bench.root, "d/a").stat(), Path(bench.root, "d/b").stat()
    assert a.st_ino == b.st_ino and a.st_nlink == 2


def test_a_command_backup_is_restored_to_the_file_given(
    bench: Bench, connection: Connection, tmp_path: Path
) -> None:
    dump = b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\n" * 1000
    source = tmp_path / "app.sql on the host"
    source.write_bytes(dump)
    snapshot = bench.snapshot(
        source="command", paths=(), command=f"cat {shlex.quote(str(source))}", file="app.sql"
    )
    assert snapshot.source == "command"
    with pytest.raises(RestoreRefusedError, match=r"command backup.*--to PATH"):
        restore(bench, connection, snapshot)
    target = tmp_path / "restored" / "app -dump.sql"
    outcome = restore(bench, connection, snapshot, to=str(target))
    assert outcome.ok, outcome.problem
    assert target.read_bytes() == dump and (target.stat().st_mode & 0o7777) == 0o600
    into = tmp_path / "a directory"
    into.mkdir()
    outcome = restore(bench, connection, snapshot, to=str(into))
    assert outcome.ok and (into / "app.sql").read_bytes() == dump


def test_refusals_say_why(bench: Bench, connection: Connection) -> None:
    build_tree(bench.host, bench.root)
    snapshot = bench.snapshot()
    with pytest.raises(RestoreRefusedError, match="absolute path"):
        restore(bench, connection, snapshot, to="relative/dir")
    bad = bench.index.mark(snapshot.id, SnapshotState.UNUSABLE, 1.0, "etc/app.conf differs")
    with pytest.raises(RestoreRefusedError, match=r"unusable: etc/app.conf differs.*--snapshot"):
        restore(bench, connection, bad, check=True)


def test_hostile_names_a_fifo_and_a_directory_at_a_file_path(
    bench: Bench, connection: Connection
) -> None:
    root = Path(bench.root)
    (root / "sub").mkdir(parents=True)
    for number, name in enumerate(HOSTILE_NAMES):
        (root / "sub" / name).write_text(f"file {number}\n")
    latin = os.path.join(os.fsencode(root / "sub"), b"caf\xe9 not utf-8")
    with open(latin, "wb") as out:
        out.write(b"bytes\n")
    os.mkfifo(root / "sub" / "a fifo", 0o640)
    (root / "sub" / "-rf").chmod(0o4755)
    before = tree_of(root)
    snapshot = bench.snapshot()
    bench.sh(f"rm -rf {shlex.quote(str(root / 'sub'))}/*")
    (root / "sub" / "-rf").mkdir()
    (root / "sub" / "-rf" / "inside").write_text("a directory where a file belongs\n")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert tree_of(root) == before
    assert not any(p.exists() for p in (Path("pwned"), Path.home() / "pwned", root / "pwned"))


def test_overlapping_backed_up_paths_restore_once(bench: Bench, connection: Connection) -> None:
    build_tree(bench.host, bench.root)
    before = fingerprint(bench.host, bench.root)
    snapshot = bench.snapshot(paths=(bench.root, f"{bench.root}/etc"))  # etc/ held twice
    paths = [e.path for e in bench.index.manifest(snapshot.id)]
    assert paths.count(f"{bench.root}/etc/app.conf") == 2
    bench.sh(f"rm -rf {shlex.quote(bench.root)}")
    outcome = restore(bench, connection, snapshot)
    assert outcome.ok, outcome.problem
    assert fingerprint(bench.host, bench.root) == before
