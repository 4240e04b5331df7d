"""JARVIS_TEST_NO_SKIPS=1 (set by .ci/run) makes a session that skipped a test fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = """\
import pytest

def test_runs():
    assert True

def test_needs_a_tool():
    pytest.skip("frobnicate is not installed")
"""


def pytest_run(tmp_path: Path, strict: bool, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if k != "JARVIS_TEST_NO_SKIPS"}
    env["PYTHONPATH"] = str(ROOT)
    if strict:
        env["JARVIS_TEST_NO_SKIPS"] = "1"
    plugins = ["-p", "tests.no_skips", "-p", "no:cacheprovider"]
    alone = ["--rootdir", str(tmp_path), "-c", os.devnull]  # not this project's conftest
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugins, *alone, *args, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_skip_fails_the_session_only_when_asked(tmp_path: Path) -> None:
    assert pytest_run(tmp_path, strict=False).returncode == 0
    done = pytest_run(tmp_path, strict=True)
    assert done.returncode == 1, done.stdout
    assert "JARVIS_TEST_NO_SKIPS=1 and 1 test(s) skipped" in done.stdout
    assert "test_sample.py::test_needs_a_tool" in done.stdout
    assert "frobnicate is not installed" in done.stdout


def test_a_session_without_skips_passes_when_asked(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, True, "-k", "runs")
    assert done.returncode == 0, done.stdout
