"""What a run imports before its first host: the start-up is serial wall time on every run, so
what a run does not use is not imported (each of these cost 10-15 ms); a plan without backups
never imports the backup stage (jarvisctl.backup and its stores), nor the modules of the other
stages that only backups, their derived `backup NAME` checks and snapshot queries use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PLAYBOOK = """\
- name: local health
  hosts: all
  checks:
    - name: tmp
      use: command
      with: {command: "test -d /tmp", parse: exit_code}
"""
TEMPLATED = PLAYBOOK.replace("test -d /tmp", "test -d {{ '/tmp' }}")

# what a run imports only when a play has backups (about 0.6 MiB and 30 ms of start-up): their
# models and loader too (building the models alone cost every run some 12 ms)
BACKUP_MODULES = (
    "jarvisctl.config.backup_entries",
    "jarvisctl.config.models.backups",
    "jarvisctl.core.backup_events",
    "jarvisctl.engine.after",
    "jarvisctl.engine.backups",
    "jarvisctl.engine.freshness",
    "jarvisctl.kinds.backups",  # the parameters of the freshness checks plan/ derives
    "jarvisctl.plan.backup_stores",
    "jarvisctl.plan.backups",
    "jarvisctl.render.reports.backup_entries",
    "jarvisctl.store.snapshots",
    "jarvisctl.store.sqlite.snapshots",
)
# what only a play with tasks or a rollout imports (a run that changes nothing builds none of
# their models), and only a rollout
STEP_MODULES = (
    "jarvisctl.config.models.steps",
    "jarvisctl.config.step_entries",
    "jarvisctl.render.reports.step_entries",
)
ROLLOUT_MODULES = (
    "jarvisctl.render.reports.rollout_entries",
    "jarvisctl.store.rollouts",
    "jarvisctl.store.sqlite.rollouts",
)

WATCHED = (
    "jinja2",
    "jarvisctl.render.reports.render",
    "jarvisctl.backup",
    *BACKUP_MODULES,
    *STEP_MODULES,
    *ROLLOUT_MODULES,
)
PROBE = f"""
import atexit, json, sys
from jarvisctl.cli.main import main
WATCHED = {WATCHED!r}
atexit.register(lambda: print(json.dumps(sorted(
    m for m in sys.modules if m in WATCHED or m.startswith("jarvisctl.kinds."))),
    file=sys.stderr))
sys.argv = ["jarvisctl", *sys.argv[1:]]
main()
"""


def probe(
    code: str,
    *args: str,
    cwd: Path | None = None,
    exits: tuple[int, ...] = (0,),
    out: str = "stderr",
) -> Any:
    """Run `code` in a fresh interpreter with `args`; what it printed last (JSON) on `out`."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in exits, done.stdout + done.stderr
    return json.loads(getattr(done, out).strip().splitlines()[-1])


def imported_by_run(tmp_path: Path, playbook: str) -> list[str]:
    (tmp_path / "site.yml").write_text(playbook)
    found: list[str] = probe(PROBE, "run", "site.yml", cwd=tmp_path)  # on the local default
    # the kinds' shared code, and the one kind these playbooks use
    always = {
        "jarvisctl.kinds.base",
        "jarvisctl.kinds.registry",
        "jarvisctl.kinds.command",
        "jarvisctl.kinds.exits",
    }
    assert always <= set(found), found
    return [m for m in found if m not in always]


def test_a_playbook_without_templates_does_not_import_jinja2(tmp_path: Path) -> None:
    assert imported_by_run(tmp_path, PLAYBOOK) == []


def test_a_template_still_imports_jinja2_and_renders(tmp_path: Path) -> None:
    assert imported_by_run(tmp_path, TEMPLATED) == ["jinja2"]


DISK = PLAYBOOK.replace(
    'use: command\n      with: {command: "test -d /tmp", parse: exit_code}',
    "use: disk_usage\n      with: {path: /tmp}",
)


def test_a_run_imports_the_kinds_it_uses_and_no_other(tmp_path: Path) -> None:
    """Each kind's module is imported when a plan uses it: a `command` run loads none of the
    other twenty-five (above), a disk_usage run loads that one's module too."""
    (tmp_path / "site.yml").write_text(DISK)
    found = probe(PROBE, "run", "site.yml", cwd=tmp_path, exits=(0, 1))  # or a disk filling up
    kinds = {m for m in found if m.startswith("jarvisctl.kinds.")}
    assert kinds == {
        "jarvisctl.kinds.base",
        "jarvisctl.kinds.registry",
        "jarvisctl.kinds.system",
    }


def test_a_play_with_backups_imports_the_backup_stage_and_takes_them(tmp_path: Path) -> None:
    backed_up = tmp_path / "data"
    backed_up.mkdir()
    (backed_up / "file").write_text("x\n")
    entry = f"{{name: data, paths: ['{backed_up}'], keep: {{last: 1}}}}"
    play = PLAYBOOK + f"  backups:\n    - {entry}\n"
    assert imported_by_run(tmp_path, play) == sorted(["jarvisctl.backup", *BACKUP_MODULES])
    assert list((tmp_path / ".jarvisctl" / "backups").rglob("*.tar.gz"))


def test_a_play_with_tasks_imports_the_step_engine_but_no_backup_nor_fabric(
    tmp_path: Path,
) -> None:
    """A `run:` task needs the step engine and its kind, not the backup stage (a restore
    step's) nor Fabric (a fabric step's), each imported only when such a step runs. (The
    run's BackupWork is made for a host with tasks, engine/backup_work.py: its modules are.)"""
    marker = tmp_path / "done"
    play = PLAYBOOK + f"  tasks:\n    - {{run: 'touch {marker}', creates: '{marker}'}}\n"
    watching = PROBE.replace(
        "m in WATCHED or", "m in WATCHED or m == 'fabric' or m.startswith('jarvisctl.engine.st') or"
    )
    (tmp_path / "site.yml").write_text(play)
    found = set(probe(watching, "run", "site.yml", cwd=tmp_path))
    assert marker.exists()
    assert {"jarvisctl.engine.steps", "jarvisctl.kinds.step_base"} <= found
    assert {"jarvisctl.config.models.steps", "jarvisctl.config.step_entries"} <= found
    assert not found & {*ROLLOUT_MODULES, "jarvisctl.config.models.backups"}, found
    assert not found & {"fabric", "jarvisctl.engine.step_fabric", "jarvisctl.backup"}


GC_PROBE = """
import atexit, gc, json, sys
from jarvisctl.cli.main import main
seen = {}
import jarvisctl.cli.main as front
real = front.LazyGroup.get_command
def get_command(self, ctx, name):
    seen.setdefault("collecting while importing", gc.isenabled())
    return real(self, ctx, name)
front.LazyGroup.get_command = get_command
atexit.register(lambda: print(json.dumps(
    {**seen, "collecting after": gc.isenabled(), "frozen": gc.get_freeze_count()}
), file=sys.stderr))
sys.argv = ["jarvisctl", *sys.argv[1:]]
main()
"""


def test_the_collector_is_off_while_a_command_is_imported_and_on_once_it_runs(
    tmp_path: Path,
) -> None:
    """The imports make no garbage, and the collector walking them costs the start 20 ms; a
    command that runs for long (the daemon) must collect again once it is imported."""
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    seen = probe(GC_PROBE, "plan", "site.yml", cwd=tmp_path)
    assert seen["collecting while importing"] is False
    assert seen["collecting after"] is True
    assert seen["frozen"] > 10_000  # what the imports made is left out of every collection


UNDOCUMENTED_PROBE = """
import dataclasses, json, sys
import jarvisctl.app.run, jarvisctl.cli.run
print(json.dumps(sorted(
    f"{name}.{cls.__name__}"
    for name, module in list(sys.modules.items())
    if name.startswith("jarvisctl")
    for cls in vars(module).values()
    if isinstance(cls, type) and cls.__module__ == name and dataclasses.is_dataclass(cls)
    # the docstring dataclass made: its name and signature
    and (cls.__doc__ or cls.__name__ + "(").startswith(cls.__name__ + "(")
)))
"""


def test_every_dataclass_a_run_imports_has_a_docstring_of_its_own() -> None:
    """A dataclass with no docstring gets one made at import, from `inspect.signature(cls)`
    (Python 3.11's dataclasses): about 0.2 ms per class, and a run imports some fifty of them
    before its first host, serially, at every start."""
    missing = sorted(probe(UNDOCUMENTED_PROBE, out="stdout"))
    assert not missing, f"dataclasses with no docstring of their own: {', '.join(missing)}"
