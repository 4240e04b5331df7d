"""Isolate every test from the operator's HOME, environment and SSH configuration."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvisctl.config.project import find_config
from jarvisctl.connection import hostkeys, ssh_config

pytest_plugins = ["tests.no_skips"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """A `jarvisctl.yml` above the tests' temporary directories would be every test project's
    configuration (the nearest one upward wins): stop with its name, not with dozens of failures."""
    given = session.config.option.basetemp
    stray = find_config(Path(given or tempfile.gettempdir()).resolve())
    if stray is not None:
        pytest.exit(
            f"{stray} is above the tests' temporary directories, so every test project would "
            "take it as its configuration: move it away, or give --basetemp elsewhere",
            returncode=4,
        )


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("JARVISCTL_CONFIG", "JARVISCTL_STATE_DIR", "ANSIBLE_CONFIG", "SSH_AUTH_SOCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(home / ".ansible-tmp"))
    # Nor from this machine's /etc/ssh (Debian's ssh_config says HashKnownHosts yes, say)
    monkeypatch.setattr(ssh_config, "SYSTEM_CONFIG", home / "etc-ssh" / "ssh_config")
    monkeypatch.setattr(hostkeys, "GLOBAL_KNOWN_HOSTS", (str(home / "etc-ssh" / "known_hosts"),))
    yield home
