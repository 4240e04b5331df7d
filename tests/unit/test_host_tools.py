"""The bare PATH the tests give hosts: what every Debian has, and none of the optional tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jarvisctl.kinds.registry import load_registry
from tests.host_tools import bare_path

# Tools the kinds look for and fall back from, or name when missing: never on the bare PATH.
OPTIONAL = ("chronyc", "timedatectl", "systemctl", "journalctl", "docker", "pgrep", "ps")
OPTIONAL += ("curl", "wget", "nc", "openssl", "busybox", "tegrastats", "nvidia-smi", "python3")


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return bare_path(tmp_path_factory.mktemp("bare"))


def test_the_bare_path_has_the_shell_and_coreutils_only(path: str) -> None:
    present = {p.name for p in Path(path).iterdir()}
    assert {
        "sh",
        "bash",
        "timeout",
        "stat",
        "du",
        "df",
        "date",
        "setsid",
        "grep",
        "find",
    } <= present
    assert not present & set(OPTIONAL)
    seen = subprocess.run(
        ["/bin/sh", "-c", "command -v curl; command -v head; echo $PATH"],
        capture_output=True,
        text=True,
        env={"PATH": path},
    )
    assert seen.stdout.splitlines() == [f"{path}/head", path]


@pytest.mark.parametrize("name", ["disk_usage", "inode_usage", "file_age", "path_size", "uptime"])
def test_the_plain_kinds_run_on_the_bare_path(tmp_path: Path, path: str, name: str) -> None:
    kind = load_registry().checks[name]
    given = {"path": str(tmp_path)} if "path" in kind.params_model.model_fields else {}
    command = kind.command(kind.params_model.model_validate(given))
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        env={"PATH": path},
    )
    assert done.returncode == 0 and done.stdout.strip(), (command, done.stderr)
