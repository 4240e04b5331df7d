"""The package, service and docker step kinds over SSH on an sshd test host whose PATH starts
with fake apt-get, dpkg-query, systemctl and docker (tests/fake_system_tools.py): the host is
this machine, as root, so nothing real may be installed, restarted or pulled; the fakes keep
their state in files, so probe → apply → verify runs for real and a second cycle finds
nothing to do."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from jarvisctl.connection import open_connection
from jarvisctl.connection.base import Connection
from jarvisctl.kinds.registry import load_registry
from jarvisctl.kinds.step_base import PROBE_CHANGE, PROBE_OK, ShellAction
from tests.e2e.sshd import SshdFleet, sshd_unavailable_reason
from tests.fake_system_tools import FakeTools

pytestmark = pytest.mark.e2e

STEPS = load_registry().steps
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def action(kind: str, value: dict[str, Any]) -> Any:
    kind_ = STEPS[kind]
    return kind_.action(kind_.params_model.model_validate(value), None)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def faked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshdFleet, FakeTools]]:
    reason = sshd_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("fake-tools-sshd")
    tools = FakeTools(directory / "fakes")
    fleet = SshdFleet(directory, 1, f"{tools.bin}:{SYSTEM_PATH}")
    try:
        fleet.start()
        yield fleet, tools
    finally:
        fleet.stop()


@pytest.fixture
def host(faked: tuple[SshdFleet, FakeTools]) -> Iterator[tuple[Connection, FakeTools]]:
    """The host, its fakes' state emptied (no package, unit, image, container or call)."""
    fleet, tools = faked
    shutil.rmtree(tools.state)
    tools = FakeTools(tools.bin.parent)
    with open_connection(fleet.hosts[0].settings()) as connection:
        yield connection, tools


def cycle(connection: Connection, made: ShellAction) -> tuple[int | None, int | None]:
    before = None if made.probe is None else connection.run(made.probe, timeout=60).exit_code
    if before is not None and before != PROBE_CHANGE:
        return before, None
    for command in made.apply:
        result = connection.run(command.command, timeout=60, stdin=command.stdin)
        assert result.ok, result.describe()
    assert made.verify is not None
    return before, connection.run(made.verify, timeout=60).exit_code


def test_the_host_runs_the_fakes_not_the_real_tools(
    host: tuple[Connection, FakeTools],
) -> None:
    connection, tools = host
    tools_on_path = "for t in apt-get dpkg-query systemctl docker; do command -v $t; done"
    found = connection.run(tools_on_path, timeout=30)
    assert found.stdout.split() == [
        str(tools.bin / n) for n in ("apt-get", "dpkg-query", "systemctl", "docker")
    ]


def test_package_install_a_version_then_remove(host: tuple[Connection, FakeTools]) -> None:
    connection, tools = host
    tools.offer("app", "1.0-1", "2.0-1")
    present = action("package", {"name": "app"})
    assert cycle(connection, present) == (PROBE_CHANGE, PROBE_OK)
    assert tools.installed("app") == "2.0-1"
    assert cycle(connection, present) == (PROBE_OK, None)
    pinned = action("package", {"name": "app", "version": "1.0-1"})
    assert cycle(connection, pinned) == (PROBE_CHANGE, PROBE_OK)
    assert tools.installed("app") == "1.0-1"
    latest = action("package", {"name": "app", "state": "latest", "update_cache": True})
    assert cycle(connection, latest) == (PROBE_CHANGE, PROBE_OK)
    assert tools.installed("app") == "2.0-1"
    assert cycle(connection, latest) == (PROBE_OK, None)
    absent = action("package", {"name": "app", "state": "absent"})
    assert cycle(connection, absent) == (PROBE_CHANGE, PROBE_OK)
    assert tools.installed("app") is None
    applied = [c for c in tools.calls() if c.startswith("DEBIAN_FRONTEND=noninteractive")]
    assert [c.split()[-2:] for c in applied if " -s " not in c] == [
        ["install", "app"],
        ["install", "app=1.0-1"],
        ["DPkg::Lock::Timeout=120", "update"],
        ["install", "app"],
        ["remove", "app"],
    ]


def test_service_cycle(host: tuple[Connection, FakeTools]) -> None:
    connection, tools = host
    tools.unit("web", active=False, enabled="disabled")
    started = action("service", {"name": "web", "state": "started", "enabled": True})
    assert cycle(connection, started) == (PROBE_CHANGE, PROBE_OK)
    assert cycle(connection, started) == (PROBE_OK, None)
    restarted = action("service", {"name": "web", "state": "restarted"})
    assert cycle(connection, restarted) == (None, PROBE_OK)
    stopped = action("service", {"name": "web", "state": "stopped"})
    assert cycle(connection, stopped) == (PROBE_CHANGE, PROBE_OK)
    assert tools.unit_state("web") == (False, "enabled", ["enable", "start", "restart", "stop"])


def test_docker_cycle(host: tuple[Connection, FakeTools]) -> None:
    connection, tools = host
    tools.publish("registry.local:5000/acme/app:2", "sha256:v2a")
    value = {
        "image": "registry.local:5000/acme/app:2",
        "container": "app",
        "run_args": ["-e", "GREETING=it's $(not run)", "-p", "8080:80"],
    }
    made = action("docker", value)
    assert cycle(connection, made) == (PROBE_CHANGE, PROBE_OK)
    assert cycle(connection, made) == (PROBE_OK, None)
    run = [c for c in tools.calls() if c.startswith("docker run")]
    assert len(run) == 1 and "GREETING=it's $(not run) -p 8080:80" in run[0]
    tools.publish("registry.local:5000/acme/app:2", "sha256:v2b")
    always = action("docker", {**value, "pull": "always"})
    assert cycle(connection, always) == (None, PROBE_OK)
    assert (tools.container("app") or {}).get("image") == "sha256:v2b"
