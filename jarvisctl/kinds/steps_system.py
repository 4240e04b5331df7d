"""The `package` (apt/dpkg) and `service` (systemd) step kinds.

Each probe reads the host's state without changing it (dpkg-query, `apt-get -s`, systemctl
is-active/is-enabled) and exits PROBE_OK (0) when there is nothing to do, PROBE_CHANGE (1) when
the apply would change something, 3 with a message when it cannot tell (a missing tool).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator, model_validator

from jarvisctl.config.models.values import NonEmptyText
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.step_base import HostCommand, ShellAction, StepFiles, StepKind
from jarvisctl.kinds.steps_shell import plain_name, q

# Debian policy 5.6.1/5.6.12: lowercase letters, digits, + - . (two or more, starting with a
# letter or digit), an optional :arch; a version [epoch:]upstream[-revision]
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9][a-z0-9-]*)?$")
_VERSION = re.compile(r"^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$")
APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold "
    "-o DPkg::Lock::Timeout=120"
)


def _needs(tool: str, package: str) -> str:
    return (
        f"command -v {tool} >/dev/null 2>&1 || {{ echo '{tool} is not on the host "
        f"(the {package} package manages this step)' >&2; exit 3; }}"
    )


class PackageParams(KindParams):
    name: NonEmptyText
    state: Literal["present", "absent", "latest"] = "present"
    version: str | None = None  # with present: exactly this version (a downgrade too)
    update_cache: bool = False  # apt-get update before the apply (the probe reads the lists)

    @field_validator("name")
    @classmethod
    def _debian_name(cls, value: str) -> str:
        if not _PACKAGE.match(value):
            raise ValueError(
                f"invalid package name {value!r} (Debian: lowercase letters, digits, + - ., "
                "at least two, starting with a letter or digit; e.g. nginx, libssl3:arm64)"
            )
        return value

    @field_validator("version")
    @classmethod
    def _debian_version(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION.match(value):
            raise ValueError(
                f"invalid version {value!r} ([epoch:]upstream[-revision], e.g. 1.24.0-1, "
                "1:2.3~rc1-2)"
            )
        return value

    @model_validator(mode="after")
    def _version_with_present(self) -> PackageParams:
        if self.version is not None and self.state != "present":
            raise ValueError(f"version goes with state: present, not {self.state}")
        return self


class Package(StepKind[PackageParams]):
    name = "package"
    description = (
        "An apt/dpkg package present (at `version` when given, downgrades included), absent "
        "(removed), or latest (upgraded to the candidate of the host's package lists; "
        "`update_cache` runs apt-get update first)."
    )
    params_model = PackageParams
    shorthand = "name"
    default_timeout = 1800.0

    def action(self, params: PackageParams, files: StepFiles) -> ShellAction:
        probe = package_probe(params)
        apply = [HostCommand(f"{APT} update")] if params.update_cache else []
        apply.append(HostCommand(package_apply(params)))
        return ShellAction(apply=tuple(apply), probe=probe, verify=probe)

    def summary(self, params: PackageParams) -> str:
        version = f"={params.version}" if params.version else ""
        return f"package {params.name}{version} {params.state}"


def package_probe(params: PackageParams) -> str:
    """0: as wanted; 1: install, remove or upgrade needed; 3: no dpkg-query."""
    name = q(params.name)
    lines = [
        _needs("dpkg-query", "dpkg"),
        # "install ok installed 1.2-3"; nothing (exit 1) for a package dpkg never saw
        f"s=$(dpkg-query -W -f='${{Status}} ${{Version}}' {name} 2>/dev/null) || s=",
        'set -- $s; [ "$3" = installed ] && i=1 || i=',
    ]
    if params.state == "absent":
        lines.append('[ -z "$i" ]')
    elif params.version is not None:
        lines.append(f'[ -n "$i" ] && [ "$4" = {q(params.version)} ]')
    elif params.state == "present":
        lines.append('[ -n "$i" ]')
    else:  # latest: installed, and a simulated install would install or upgrade nothing
        lines += [
            '[ -n "$i" ] || exit 1',
            _needs("apt-get", "apt"),
            f"o=$(LC_ALL=C apt-get -s -q install {name} 2>&1) || {{ printf '%s\\n' \"$o\" >&2; "
            "exit 3; }",
            'case $o in Inst\\ *|*"\nInst "*) exit 1;; esac',
        ]
    return "\n".join(lines)


def package_apply(params: PackageParams) -> str:
    if params.state == "absent":
        return f"{APT} remove {q(params.name)}"
    if params.version is not None:
        return f"{APT} --allow-downgrades install {q(params.name + '=' + params.version)}"
    return f"{APT} install {q(params.name)}"


_ENABLED = "enabled|enabled-runtime|static|indirect|generated|alias"


class ServiceParams(KindParams):
    name: NonEmptyText  # a systemd unit (".service" when it names no type)
    state: Literal["started", "stopped", "restarted", "reloaded"] | None = None
    enabled: bool | None = None  # started at boot
    daemon_reload: bool = False  # systemctl daemon-reload first (after a unit file changed)

    @field_validator("name")
    @classmethod
    def _unit(cls, value: str) -> str:
        return plain_name("unit", value)

    @model_validator(mode="after")
    def _something(self) -> ServiceParams:
        if self.state is None and self.enabled is None:
            raise ValueError("give state (started, stopped, restarted, reloaded), enabled, or both")
        return self


class Service(StepKind[ServiceParams]):
    name = "service"
    description = (
        "A systemd unit started, stopped, restarted or reloaded (these two always act), and/or "
        "enabled or disabled at boot; `daemon_reload` reloads the unit files first."
    )
    params_model = ServiceParams

    def action(self, params: ServiceParams, files: StepFiles) -> ShellAction:
        return ShellAction(
            apply=tuple(HostCommand(c) for c in service_apply(params)),
            probe=service_probe(params),
            verify=service_verify(params),
        )

    def summary(self, params: ServiceParams) -> str:
        parts: list[str] = [params.state] if params.state else []
        if params.enabled is not None:
            parts.append("enabled" if params.enabled else "disabled")
        return f"service {params.name} {' and '.join(parts)}"


def _active(wanted: bool, unit: str) -> str:
    test = f"systemctl is-active --quiet {unit}"
    return test if wanted else f"! {test}"


def _enabled(wanted: bool, unit: str) -> str:
    read = f"e=$(systemctl is-enabled {unit} 2>/dev/null)"
    if wanted:
        return f"{{ {read}; case $e in {_ENABLED}) true;; *) false;; esac; }}"
    return f"{{ {read}; case $e in enabled|enabled-runtime|alias) false;; *) true;; esac; }}"


def _wanted(params: ServiceParams, *, verifying: bool) -> list[str]:
    unit = q(params.name)
    tests = []
    if params.state in ("started", "stopped") or (verifying and params.state):
        tests.append(_active(params.state != "stopped", unit))
    if params.enabled is not None:
        tests.append(_enabled(params.enabled, unit))
    return tests


def service_probe(params: ServiceParams) -> str | None:
    """None for restarted/reloaded: they always act (and count as changed)."""
    if params.state in ("restarted", "reloaded"):
        return None
    return _verdict(_wanted(params, verifying=False))


def service_verify(params: ServiceParams) -> str:
    return _verdict(_wanted(params, verifying=True))


def _verdict(tests: list[str]) -> str:
    """PROBE_OK when every test holds, else PROBE_CHANGE (is-active's own 3 is not an error)."""
    return f"{_needs('systemctl', 'systemd')}\nif {' && '.join(tests)}; then exit 0; fi\nexit 1"


def service_apply(params: ServiceParams) -> list[str]:
    unit = q(params.name)
    commands = ["systemctl daemon-reload"] if params.daemon_reload else []
    if params.enabled is not None:
        verb = "enable" if params.enabled else "disable"
        commands.append(f"{_enabled(params.enabled, unit)} || systemctl {verb} {unit}")
    if params.state == "started":
        commands.append(f"{_active(True, unit)} || systemctl start {unit}")
    elif params.state == "stopped":
        commands.append(f"{_active(False, unit)} || systemctl stop {unit}")
    elif params.state == "restarted":
        commands.append(f"systemctl restart {unit}")
    elif params.state == "reloaded":  # reload a running unit; start one that is not running
        commands.append(
            f"if {_active(True, unit)}; then systemctl reload {unit}; "
            f"else systemctl start {unit}; fi"
        )
    return commands
