"""`jarvisctl backups list|show` on a real project and a real SQLite snapshot index: the
snapshots newest first with their state, a manifest whose hostile names never break the table,
JSON for programs, and clear errors with README's exit codes for what names nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import EntryType, ManifestEntry, Snapshot, SnapshotState

INVENTORY = (
    "all:\n  hosts:\n    web1: {ansible_connection: local}\n    db1: {ansible_connection: local}\n"
)
PLAYBOOK = """\
- name: keep
  hosts: all
  backups:
    - {name: etc, paths: [/etc/hostname], keep: {last: 2}}
"""
HOSTILE = "/srv/a b\nc\\d\x1b[31m\udcff"  # a space, a newline, a backslash, ESC, a non-UTF-8 byte


def make_project(root: Path) -> Path:
    (root / "inventory.yml").write_text(INVENTORY)
    (root / "site.yml").write_text(PLAYBOOK)
    (root / "jarvisctl.yml").write_text("inventory: inventory.yml\nplaybooks: [site.yml]\n")
    return root / "jarvisctl.yml"


def snapshot(host: str, backup: str, taken: float, **changes: object) -> Snapshot:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(taken))
    fields: dict[str, object] = dict(
        id=f"{stamp}-{host}-{backup}-{int(taken) % 0xFFFF:04x}",
        host=host,
        backup=backup,
        play="keep",
        store="local",
        location=f"/state/backups/{host}/{backup}",
        taken_at=taken,
        seconds=1.5,
        source="paths",
        compress="gzip",
        files=3,
        bytes=3 * 1024 * 1024,
        stored_bytes=1024 * 1024,
    )
    fields.update(changes)
    return Snapshot(**fields)  # type: ignore[arg-type]


def manifest() -> list[ManifestEntry]:
    return [
        ManifestEntry("/srv", EntryType.DIR, 0o755, "root:root", 0, 0, 0, 1_700_000_000.0),
        ManifestEntry(
            HOSTILE, EntryType.FILE, 0o600, "app:app", 1000, 1000, 5, 1_700_000_001.0, "ab" * 32
        ),
        ManifestEntry(
            "/srv/link",
            EntryType.SYMLINK,
            0o777,
            "root:root",
            0,
            0,
            0,
            1_700_000_002.0,
            target="a b\nc",
        ),
    ]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    config = make_project(tmp_path)
    now = time.time()
    with open_store(tmp_path / ".jarvisctl") as store:
        store.snapshots.add(snapshot("web1", "etc", now - 7200), manifest())
        store.snapshots.add(snapshot("web1", "etc", now - 60), manifest())
        store.snapshots.add(
            snapshot(
                "db1",
                "etc",
                now - 3 * 86400,
                state=SnapshotState.UNUSABLE,
                problem="/etc/hostname: sha256 differs",
            ),
            manifest(),
        )
    return config


def jarvisctl(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "-c", str(config)])


def ids(config: Path, *args: str) -> list[str]:
    done = jarvisctl(config, "backups", "list", *args, "--json")
    assert done.exit_code == 0, done.output
    return [item["id"] for item in json.loads(done.output)]


def test_list_shows_snapshots_newest_first_with_their_state(project: Path) -> None:
    done = jarvisctl(project, "backups", "list")
    assert done.exit_code == 0, done.output
    header, newest, older, oldest = done.output.splitlines()
    assert header.split() == [
        "snapshot",
        "host",
        "backup",
        "taken",
        "(UTC)",
        "age",
        "files",
        "size",
        "stored",
        "store",
        "state",
    ]
    assert "-web1-etc-" in newest and newest.rstrip().endswith("local  unverified")
    assert " 1m " in newest and " 2h " in older and " 3d " in oldest
    assert "3.0 MiB" in newest and "1.0 MiB" in newest
    assert oldest.endswith("unusable: /etc/hostname: sha256 differs")


def test_list_filters_by_host_and_backup(project: Path) -> None:
    every = ids(project)
    assert len(every) == 3
    assert ids(project, "web1") == every[:2]
    assert ids(project, "db1", "--backup", "etc") == every[2:]


def test_list_json_is_the_index(project: Path) -> None:
    done = jarvisctl(project, "backups", "list", "db1", "--json")
    (item,) = json.loads(done.output)
    assert item["state"] == "unusable" and item["problem"] == "/etc/hostname: sha256 differs"
    assert item["bytes"] == 3 * 1024 * 1024 and item["stored_bytes"] == 1024 * 1024
    assert item["taken"].endswith("+00:00") and item["store"] == "local"


def test_a_known_host_without_snapshots_is_an_empty_answer(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    done = jarvisctl(config, "backups", "list", "web1")
    assert done.exit_code == 0, done.output
    assert done.output == "no snapshots of host 'web1' (none taken yet)\n"
    assert jarvisctl(config, "backups", "list", "--json").output == "[\n]\n"
    done = jarvisctl(config, "backups", "list", "web1", "--backup", "etc")  # declared, not taken
    assert done.exit_code == 0, done.output
    assert done.output == "no snapshots of backup 'etc' of host 'web1' (none taken yet)\n"


def test_an_unknown_host_or_backup_is_a_usage_error(project: Path) -> None:
    done = jarvisctl(project, "backups", "list", "web2")
    assert done.exit_code == 2
    assert "unknown host 'web2': not in the inventory" in done.output
    assert "did you mean 'web1'?" in done.output
    done = jarvisctl(project, "backups", "list", "web1", "--backup", "etcc")
    assert done.exit_code == 2
    assert "unknown backup 'etcc' of host 'web1'" in done.output
    assert "did you mean 'etc'?" in done.output


def test_show_prints_the_manifest_with_names_escaped(project: Path) -> None:
    newest = ids(project)[0]
    done = jarvisctl(project, "backups", "show", newest[:22])  # a unique start of the id
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == f"snapshot: {newest}"
    assert "state:    unverified" in lines
    files = lines[lines.index("") + 1 :]
    assert len(files) == 4, files  # the header and one line per file: no name broke a row
    assert files[1].startswith("drwxr-xr-x  root:root")
    assert files[2].startswith("-rw-------  app:app")
    assert " abababababab  /srv/a b\\nc\\\\d\\x1b[31m\\xff" in files[2]
    assert files[3].startswith("lrwxrwxrwx") and files[3].endswith("/srv/link -> a b\\nc")
    assert "\x1b" not in done.output


def test_show_json_streams_the_manifest(project: Path) -> None:
    newest = ids(project)[0]
    done = jarvisctl(project, "backups", "show", newest, "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    assert document["id"] == newest and document["state"] == "unverified"
    assert document["files"] == 3
    assert [f["path"] for f in document["manifest"]] == ["/srv", HOSTILE, "/srv/link"]
    second, third = document["manifest"][1:]
    assert second["mode"] == "0600" and second["sha256"] == "ab" * 32
    assert third["type"] == "symlink" and third["target"] == "a b\nc"


def test_show_of_an_unknown_or_ambiguous_id_says_so(project: Path) -> None:
    done = jarvisctl(project, "backups", "show", "nope")
    assert done.exit_code == 2
    assert "no snapshot 'nope'" in done.output
    done = jarvisctl(project, "backups", "show", "2")  # every id starts with the year
    assert done.exit_code == 2 and "give more of the id" in done.output


def test_restore_reaches_a_host_as_the_play_declaring_the_backup(tmp_path: Path) -> None:
    """A host in two plays: the one that declares backup NAME says how (and as whom) to
    restore it, whichever play comes first."""
    from jarvisctl.app.backup_restore import _host_plan
    from jarvisctl.app.plan import PlanRequest, plan_playbooks
    from jarvisctl.config.project import load_project
    from jarvisctl.core.secrets import SecretValues

    config = make_project(tmp_path)
    (tmp_path / "site.yml").write_text(
        PLAYBOOK
        + "- name: second\n  hosts: web1\n  backups:\n"
        + "    - {name: hosts, paths: [/etc/hosts], keep: {last: 1}, become: true}\n"
    )
    plan = plan_playbooks(load_project(config), PlanRequest(), SecretValues())
    assert plan.ok, plan.problems
    host = _host_plan(plan, "web1", "hosts")
    assert [(b.name, b.become) for b in host.backups] == [("hosts", True)]
    assert [b.name for b in _host_plan(plan, "web1", "etc").backups] == ["etc"]
