"""`pip install .` (a real wheel, not editable) into a fresh virtualenv, then plan from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_in_a_fresh_virtualenv_plans_the_health_playbook(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # the fresh virtualenv alone: a PYTHONPATH pointing at a source tree would shadow the wheel
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
        check=True,
        timeout=600,
        env=env,
    )
    jarvisctl = env_dir / "bin" / "jarvisctl"
    site = subprocess.run(
        [str(python), "-c", "import jarvisctl, sys; print(jarvisctl.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    ).stdout
    assert site.startswith(str(env_dir)), "the test must use the installed copy, not the source"

    # a copy far from the source tree: the catalogue must come from inside the wheel
    playbook = tmp_path / "project" / "health.yml"
    playbook.parent.mkdir()
    playbook.write_text((ROOT / "playbooks/health.yml").read_text())
    text = subprocess.run(
        [str(jarvisctl), "plan", str(playbook)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env=env,
    )
    assert text.returncode == 0, text.stderr
    assert "CHECK memory available  [memory_available]" in text.stdout
    assert "7 check(s) planned" in text.stdout

    result = subprocess.run(
        [str(jarvisctl), "plan", str(playbook), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    schema = json.loads((ROOT / "jarvisctl/render/schemas/plan.schema.json").read_text())
    jsonschema.validate(
        json.loads(result.stdout), schema, format_checker=jsonschema.FormatChecker()
    )
    assert sys.version_info >= (3, 10)
