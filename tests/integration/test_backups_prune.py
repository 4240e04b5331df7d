"""`jarvisctl backups prune` on a real project: each declared backup's `keep:` applied to
snapshots taken for real, what is kept (with its rule) and forgotten (store then index), a dry
run that deletes nothing, and each prune found afterwards as a run."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from jarvisctl.plan.model import BackupPlan
from jarvisctl.store.snapshots import SnapshotState
from tests.integration.backups_project import SCHEMA, Project, day_of, make_project, taken_daily


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def test_prune_keeps_what_keep_says_and_forgets_the_rest(project: Project) -> None:
    newest_first = taken_daily(project, "web1", 6)
    other = project.take("db1")
    dry = project.jarvisctl("backups", "prune", "--dry-run", "web1")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert dry.stdout.splitlines()[0] == "web1 files (keep last 2, daily 3): 3 kept, 3 would forget"
    kept = {line.split()[1]: line for line in dry.stdout.splitlines() if line.startswith("  keep")}
    assert list(kept) == [s.id for s in newest_first[:3]]
    assert kept[newest_first[0].id].endswith("last, daily " + day_of(newest_first[0]))
    assert kept[newest_first[2].id].endswith("daily " + day_of(newest_first[2]))
    assert len(project.snapshots("web1")) == 6  # a dry run deletes nothing

    done = project.jarvisctl("backups", "prune", "web1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "web1 files (keep last 2, daily 3): 3 kept, 3 forgot"
    assert [s.id for s in project.snapshots("web1")] == [s.id for s in newest_first[:3]]
    for gone in newest_first[3:]:
        assert not (project.state_dir / "backups" / gone.location).exists()
        assert f"  forgot  {gone.id}  " in done.stdout
    assert [s.id for s in project.snapshots("db1")] == [other.id]  # another host's: untouched

    runs = project.runs()
    assert [(r["mode"], r["status"]) for r in runs] == [("run", "ok"), ("check", "ok")]
    report = project.jarvisctl("report", runs[0]["run_id"], "--format", "json")
    document = json.loads(report.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    assert document["inventory"] == {"source": "inventory.yml"}
    journal = (project.state_dir / "runs" / f"{runs[0]['run_id']}.jsonl").read_text()
    (record,) = [json.loads(line) for line in journal.splitlines() if '"backup_prune"' in line]
    assert record["data"]["forgotten"] == [s.id for s in newest_first[3:]]
    assert set(record["data"]["rules"]) == {s.id for s in newest_first[:3]}


def test_prune_never_forgets_an_unusable_snapshot(project: Project) -> None:
    newest_first = taken_daily(project, "web1", 5)
    project.mark(newest_first[4], SnapshotState.UNUSABLE)
    done = project.jarvisctl("backups", "prune", "web1", "--backup", "files")
    assert done.returncode == 0, done.stdout + done.stderr
    left = [s.id for s in project.snapshots("web1")]
    assert left == [s.id for s in newest_first[:3]] + [newest_first[4].id]
    assert "unusable: counted by no rule, never pruned" in done.stdout


def test_prune_arguments(project: Project) -> None:
    done = project.jarvisctl("backups", "prune", "web9")
    assert done.returncode == 2 and "unknown host 'web9'" in done.stderr
    assert "did you mean 'web1'?" in done.stderr
    done = project.jarvisctl("backups", "prune", "web1", "--backup", "filez")
    assert done.returncode == 2 and "unknown backup 'filez' of host 'web1'" in done.stderr
    assert "did you mean 'files'?" in done.stderr
    assert project.runs() == []


def test_the_backup_plan_is_what_the_playbook_says(project: Project) -> None:
    (backup,) = project.host_plan("web1").backups
    assert isinstance(backup, BackupPlan) and backup.keep.last == 2 and backup.keep.daily == 3


RESTIC_PASSWORD = "r3st1c-S3cret-pw"
