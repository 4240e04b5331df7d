"""What a run imports before its first host: the start-up is serial wall time on every run, so
what a run does not use is not imported (each of these cost 10-15 ms)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PLAYBOOK = """\
- name: local health
  hosts: all
  checks:
    - name: tmp
      use: command
      with: {command: "test -d /tmp", parse: exit_code}
"""
TEMPLATED = PLAYBOOK.replace("test -d /tmp", "test -d {{ '/tmp' }}")

PROBE = """
import atexit, json, sys
from jarvisctl.cli.main import main
atexit.register(lambda: print(json.dumps(sorted(
    m for m in ("jinja2", "jarvisctl.render.reports.render") if m in sys.modules)),
    file=sys.stderr))
sys.argv = ["jarvisctl", *sys.argv[1:]]
main()
"""


def imported_by_run(tmp_path: Path, playbook: str) -> list[str]:
    (tmp_path / "site.yml").write_text(playbook)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "site.yml"],  # on the local default
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return found


def test_a_playbook_without_templates_does_not_import_jinja2(tmp_path: Path) -> None:
    assert imported_by_run(tmp_path, PLAYBOOK) == []


def test_a_template_still_imports_jinja2_and_renders(tmp_path: Path) -> None:
    assert imported_by_run(tmp_path, TEMPLATED) == ["jinja2"]
