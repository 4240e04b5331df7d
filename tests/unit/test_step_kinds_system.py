"""The `package`, `service` and `docker` step kinds: parameters, and probe → apply → verify run
by dash and by busybox sh against fake apt-get/dpkg-query/systemctl/docker that keep their
state in files (tests/fake_system_tools.py): nothing real is installed, started or pulled."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from jarvisctl.kinds.registry import load_registry
from jarvisctl.kinds.step_base import PROBE_CHANGE, PROBE_OK, ShellAction
from tests.fake_system_tools import FakeTools

STEPS = load_registry().steps


def params(kind: str, value: Any) -> Any:
    return STEPS[kind].params_model.model_validate(value)


def action(kind: str, value: Any) -> Any:
    return STEPS[kind].action(params(kind, value), None)  # type: ignore[arg-type]


def refused(kind: str, value: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        params(kind, value)
    return str(caught.value)


@pytest.fixture(scope="module")
def busybox_applets(tmp_path_factory: pytest.TempPathFactory) -> str:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is not installed (Debian package busybox)")
    applets = tmp_path_factory.mktemp("applets")
    listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for name in listed.stdout.split():
        (applets / name).symlink_to(busybox)
    return str(applets)


class Host:
    """The fakes first in PATH, then dash with this machine's commands or busybox's alone."""

    def __init__(self, tools: FakeTools, shell: str, path: str) -> None:
        self.tools, self.shell, self.path = tools, shell, path

    def run(self, command: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.shell, "-c", command],
            input=None if stdin is None else stdin.decode(),
            capture_output=True,
            text=True,
            env={"PATH": f"{self.tools.bin}:{self.path}"},
            timeout=30,
        )

    def cycle(self, made: ShellAction) -> tuple[int | None, int | None]:
        """The engine's order: probe; when it says change (or there is none), apply then
        verify. (probe's exit or None, verify's exit or None when nothing was applied)."""
        before = None if made.probe is None else self.run(made.probe).returncode
        if before is not None and before != PROBE_CHANGE:
            return before, None
        for command in made.apply:
            done = self.run(command.command, command.stdin)
            assert done.returncode == 0, (command.command, done.stdout, done.stderr)
        assert made.verify is not None
        return before, self.run(made.verify).returncode


@pytest.fixture(params=["dash", "busybox sh"])
def host(request: pytest.FixtureRequest, tmp_path: Path, busybox_applets: str) -> Host:
    tools = FakeTools(tmp_path / "fakes")
    if request.param == "dash":
        return Host(tools, "/bin/dash", os.environ["PATH"])
    return Host(tools, f"{busybox_applets}/sh", busybox_applets)


# --- package ----------------------------------------------------------------------------------


def test_package_present_installs_once(host: Host) -> None:
    host.tools.offer("nginx", "1.22.1-9", "1.24.0-1")
    made = action("package", {"name": "nginx"})
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)
    assert host.tools.installed("nginx") == "1.24.0-1"
    assert host.cycle(made) == (PROBE_OK, None)
    installs = [c for c in host.tools.calls() if " install " in c and " -s " not in c]
    assert installs == [
        "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold "
        "-o DPkg::Lock::Timeout=120 install nginx"
    ]


def test_package_at_a_version_downgrades_and_upgrades(host: Host) -> None:
    host.tools.offer("app", "1.0-1", "2.0-1")
    host.tools.install("app", "2.0-1")
    older = action("package", {"name": "app", "version": "1.0-1"})
    assert host.cycle(older) == (PROBE_CHANGE, PROBE_OK)
    assert host.tools.installed("app") == "1.0-1"
    assert "--allow-downgrades install app=1.0-1" in host.tools.calls()[-2]
    assert host.cycle(older) == (PROBE_OK, None)
    missing = action("package", {"name": "app", "version": "9.9"})
    assert host.run(missing.probe).returncode == PROBE_CHANGE
    failed = host.run(missing.apply[0].command)
    assert failed.returncode == 100 and "Version '9.9' for 'app' was not found" in failed.stderr


def test_package_latest_upgrades_to_the_candidate(host: Host) -> None:
    host.tools.offer("app", "1.0-1")
    host.tools.install("app", "1.0-1")
    made = action("package", {"name": "app", "state": "latest", "update_cache": True})
    assert host.cycle(made) == (PROBE_OK, None)  # the newest: nothing to do
    host.tools.offer("app", "1.0-1", "1.1-1")
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)
    assert host.tools.installed("app") == "1.1-1"
    assert any(
        c.endswith(
            "apt-get -y -q -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=120 update"
        )
        for c in host.tools.calls()
    )
    host.tools.install("other", "1")
    host.tools.offer("other", "1")
    not_installed = action("package", {"name": "new-pkg", "state": "latest"})
    assert host.run(not_installed.probe).returncode == PROBE_CHANGE


def test_package_absent_removes_once(host: Host) -> None:
    host.tools.offer("telnet", "0.17-44")
    host.tools.install("telnet", "0.17-44")
    made = action("package", {"name": "telnet", "state": "absent"})
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)
    assert host.tools.installed("telnet") is None
    assert host.cycle(made) == (PROBE_OK, None)


def test_package_without_dpkg_says_so(host: Host) -> None:
    (host.tools.bin / "dpkg-query").unlink()
    host.path = str(host.tools.bin)  # nothing but the other fakes
    done = host.run(action("package", {"name": "nginx"}).probe)
    assert done.returncode == 3 and "dpkg-query is not on the host" in done.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"name": "Nginx"}, "invalid package name 'Nginx' (Debian: lowercase"),
        ({"name": "-o"}, "invalid package name '-o'"),
        ({"name": "a"}, "invalid package name 'a'"),
        ({"name": "nginx=1.2"}, "invalid package name 'nginx=1.2'"),
        ({"name": "nginx", "version": "1.0 x"}, "invalid version '1.0 x'"),
        ({"name": "nginx", "version": "-1"}, "invalid version '-1'"),
        (
            {"name": "nginx", "version": "1.0", "state": "latest"},
            "version goes with state: present",
        ),
        ({"name": "nginx", "state": "installed"}, "'present', 'absent' or 'latest'"),
        ({"name": "nginx", "purge": True}, "Extra inputs are not permitted"),
    ],
)
def test_package_refuses_bad_parameters(value: dict[str, Any], message: str) -> None:
    assert message in refused("package", value)


def test_package_names_and_summary() -> None:
    for good in ("libssl3:arm64", "g++", "python3.11", "libc6", "0ad"):
        params("package", {"name": good})
    assert params("package", {"name": "nginx", "version": "1:2.3~rc1-2+deb12u1"}).version
    summary = STEPS["package"].summary(params("package", {"name": "nginx", "version": "1.2"}))
    assert summary == "package nginx=1.2 present"
    assert STEPS["package"].shorthand == "name"


# --- service ----------------------------------------------------------------------------------


def test_service_started_and_enabled(host: Host) -> None:
    host.tools.unit("app", active=False, enabled="disabled")
    made = action("service", {"name": "app", "state": "started", "enabled": True})
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)
    assert host.tools.unit_state("app") == (True, "enabled", ["enable", "start"])
    assert host.cycle(made) == (PROBE_OK, None)
    assert host.tools.unit_state("app")[2] == ["enable", "start"]


def test_service_only_what_differs_is_done(host: Host) -> None:
    host.tools.unit("app", active=True, enabled="disabled")
    made = action("service", {"name": "app", "state": "started", "enabled": True})
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)
    assert host.tools.unit_state("app") == (True, "enabled", ["enable"])


def test_service_stopped_and_disabled(host: Host) -> None:
    host.tools.unit("app", active=True, enabled="enabled")
    made = action("service", {"name": "app", "state": "stopped", "enabled": False})
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)
    assert host.tools.unit_state("app") == (False, "disabled", ["disable", "stop"])
    assert host.cycle(made) == (PROBE_OK, None)


def test_service_restarted_and_reloaded_always_act(host: Host) -> None:
    host.tools.unit("app", active=True, enabled="enabled")
    restarted = action("service", {"name": "app", "state": "restarted", "daemon_reload": True})
    assert restarted.probe is None
    assert host.cycle(restarted) == (None, PROBE_OK)
    assert host.cycle(restarted) == (None, PROBE_OK)
    assert host.tools.unit_state("app")[2] == ["restart", "restart"]
    assert (host.tools.state / "daemon-reloaded").exists()
    reloaded = action("service", {"name": "app", "state": "reloaded"})
    assert host.cycle(reloaded) == (None, PROBE_OK)
    host.tools.unit("app", active=False, enabled="enabled")  # not running: started instead
    assert host.cycle(reloaded) == (None, PROBE_OK)
    assert host.tools.unit_state("app") == (
        True,
        "enabled",
        ["restart", "restart", "reload", "start"],
    )


def test_service_an_unknown_unit_fails_to_start(host: Host) -> None:
    made = action("service", {"name": "nope", "state": "started"})
    assert host.run(made.probe).returncode == PROBE_CHANGE
    done = host.run(made.apply[0].command)
    assert done.returncode == 5 and "Unit nope.service not found" in done.stderr
    stopped = action("service", {"name": "nope", "state": "stopped"})
    assert host.run(stopped.probe).returncode == PROBE_OK  # nothing runs: it is stopped


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"name": "app"}, "give state (started, stopped, restarted, reloaded), enabled, or both"),
        ({"name": "-app", "state": "started"}, "invalid unit '-app'"),
        ({"name": "a b", "state": "started"}, "invalid unit 'a b'"),
        ({"name": "app", "state": "running"}, "'started', 'stopped', 'restarted' or 'reloaded'"),
        ({"name": "app", "enabled": "sometimes"}, "valid boolean"),
    ],
)
def test_service_refuses_bad_parameters(value: dict[str, Any], message: str) -> None:
    assert message in refused("service", value)


def test_service_summary() -> None:
    made = params("service", {"name": "nginx", "state": "started", "enabled": True})
    assert STEPS["service"].summary(made) == "service nginx started and enabled"
    assert STEPS["service"].summary(params("service", {"name": "x@1", "enabled": False})) == (
        "service x@1 disabled"
    )


# --- docker -----------------------------------------------------------------------------------


def test_docker_pull_missing_then_nothing_to_do(host: Host) -> None:
    host.tools.publish("ghcr.io/acme/app:1.4", "sha256:aaa")
    made = action("docker", {"image": "ghcr.io/acme/app:1.4"})
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)
    assert host.tools.image("ghcr.io/acme/app:1.4") == "sha256:aaa"
    assert host.cycle(made) == (PROBE_OK, None)
    assert sum(c.startswith("docker pull") for c in host.tools.calls()) == 1


def test_docker_container_recreated_on_a_new_image_or_arguments(host: Host) -> None:
    host.tools.publish("app:1", "sha256:one")
    value = {"image": "app:1", "container": "web", "run_args": ["-p", "8080:80"]}
    made = action("docker", value)
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)
    first = host.tools.container("web")
    assert first is not None and first["image"] == "sha256:one" and first["running"] == "true"
    assert host.cycle(made) == (PROBE_OK, None)
    # other arguments: recreated
    other = action("docker", {**value, "run_args": ["-p", "9090:80"], "command": "serve --x 'a b'"})
    assert host.cycle(other) == (PROBE_CHANGE, PROBE_OK)
    runs = [c for c in host.tools.calls() if c.startswith("docker run")]
    assert runs[-1].endswith("-p 9090:80 app:1 serve --x a b")
    # pull: always, and the registry moved the tag: pulled and recreated on the new id
    host.tools.publish("app:1", "sha256:two")
    always = action("docker", {**value, "pull": "always"})
    assert always.probe is None
    assert host.cycle(always) == (None, PROBE_OK)
    assert host.tools.container("web")["image"] == "sha256:two"  # type: ignore[index]
    host.tools.forget_calls()
    assert host.cycle(always) == (None, PROBE_OK)  # pulled again, not recreated
    assert not any(c.startswith(("docker run", "docker rm")) for c in host.tools.calls())


def test_docker_a_stopped_container_is_recreated(host: Host) -> None:
    host.tools.publish("app:1", "sha256:one")
    made = action("docker", {"image": "app:1", "container": "web"})
    host.cycle(made)
    (host.tools.state / "containers" / "web" / "running").write_text("false\n")
    assert host.cycle(made) == (PROBE_CHANGE, PROBE_OK)


def test_docker_an_image_the_registry_lacks_fails(host: Host) -> None:
    made = action("docker", {"image": "nope:1"})
    assert host.run(made.probe).returncode == PROBE_CHANGE
    done = host.run(made.apply[0].command)
    assert done.returncode == 1 and "manifest for nope:1 not found" in done.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"image": "App:1"}, "invalid image 'App:1'"),
        ({"image": "app:1 --privileged"}, "invalid image"),
        ({"image": "-app"}, "invalid image"),
        ({"image": "app", "container": "-web"}, "invalid container name '-web'"),
        ({"image": "app", "container": "a/b"}, "invalid container name"),
        ({"image": "app", "pull": "never"}, "'always' or 'missing'"),
        ({"image": "app", "run_args": ["--name", "x"]}, "'--name' is jarvisctl's to set"),
        ({"image": "app", "run_args": ["--rm"]}, "'--rm' is jarvisctl's to set"),
        ({"image": "app", "command": "echo 'open"}, "cannot be split into words"),
    ],
)
def test_docker_refuses_bad_parameters(value: dict[str, Any], message: str) -> None:
    assert message in refused("docker", value)


def test_docker_images_and_summary() -> None:
    digest = "@sha256:" + "a" * 64
    for good in ("nginx", "nginx:1.25", "localhost:5000/a/b:x_1", "ghcr.io/acme/app" + digest):
        params("docker", {"image": good})
    assert STEPS["docker"].shorthand == "image"
    assert STEPS["docker"].summary(params("docker", {"image": "nginx"})) == "docker pull nginx"
    web = params("docker", {"image": "nginx", "container": "web"})
    assert STEPS["docker"].summary(web) == "docker web on nginx"
