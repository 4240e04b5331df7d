"""Isolate every test from the operator's HOME and environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("JARVISCTL_CONFIG", "JARVISCTL_STATE_DIR", "ANSIBLE_CONFIG", "SSH_AUTH_SOCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(home / ".ansible-tmp"))
    yield home
