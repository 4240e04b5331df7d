"""Connection settings from host variables: jarvisctl's names, then Ansible's.

A jarvisctl name (`address`, `port`, ...) wins over the Ansible name for the same setting
(`ansible_host`, `ansible_port`, ...), so an inventory shared with Ansible can be refined for
jarvisctl without changing what Ansible sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from jarvisctl.config.connection_settings import ConnectionSettings, ConnectionType, HostKeyPolicy
from jarvisctl.config.inventory.ssh_args import SshArgsError, ssh_options
from jarvisctl.core.errors import ConfigError, Location

T = TypeVar("T")

ALIASES: dict[str, tuple[str, ...]] = {
    # ansible_ssh_host/port/user are Ansible's older names, still honoured below the current ones.
    "address": ("address", "ansible_host", "ansible_ssh_host"),
    "port": ("port", "ansible_port", "ansible_ssh_port"),
    "user": ("user", "ansible_user", "ansible_ssh_user"),
    "identity_file": ("identity_file", "ansible_ssh_private_key_file", "ansible_private_key_file"),
    "connection": ("connection", "ansible_connection"),
    "become": ("become", "ansible_become"),
    "become_user": ("become_user", "ansible_become_user"),
    "host_key_policy": ("host_key_policy",),
    "known_hosts": ("known_hosts",),
    "connect_timeout": ("connect_timeout",),
}
CONNECTIONS: dict[str, ConnectionType] = {
    "ssh": "ssh",
    "smart": "ssh",
    "paramiko": "ssh",
    "paramiko_ssh": "ssh",
    "local": "local",
}
HOST_KEY_POLICIES: tuple[HostKeyPolicy, ...] = ("strict", "accept-new")
# Ansible's ssh command-line arguments, in the order Ansible puts them on the command line.
SSH_ARGS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
# Ansible's password variables: jarvisctl authenticates with keys, and becomes with `sudo -n`.
PASSWORDS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
# Every variable connection_settings reads.
CONNECTION_VARS = (
    *(name for names in ALIASES.values() for name in names),
    *SSH_ARGS,
    *PASSWORDS,
    "ansible_become_method",
)
TRUE_WORDS = frozenset({"yes", "on", "1", "true", "y", "t"})
FALSE_WORDS = frozenset({"no", "off", "0", "false", "n", "f"})


class _Reader:
    """Reads one host's settings; every bad value is reported where it was set."""

    def __init__(self, host: str, variables: Mapping[str, Any], locations: Mapping[str, Location]):
        self.host = host
        self.variables = variables
        self.locations = locations

    def get(self, setting: str, convert: Callable[[Any], T | None], valid: str) -> T | None:
        for name in ALIASES[setting]:
            if name in self.variables and self.variables[name] is not None:
                value = self.variables[name]
                if isinstance(value, str):
                    self._not_templated(name, value)
                converted = convert(value)
                if converted is None:
                    raise ConfigError.at(
                        self.locations.get(name),
                        f"host '{self.host}': {name} cannot be {value!r}",
                        f"valid: {valid}",
                    )
                return converted
        return None

    def ssh_options(self) -> tuple[tuple[str, str], ...]:
        options: list[tuple[str, str]] = []
        for name in SSH_ARGS:
            value = self.variables.get(name)
            if value is None or value == "":
                continue
            try:
                if not isinstance(value, str):
                    raise SshArgsError("is not a string of ssh arguments")
                self._not_templated(name, value)
                options += ssh_options(value)
            except SshArgsError as exc:
                raise ConfigError.at(
                    self.locations.get(name),
                    f"host '{self.host}': {name}: {exc}",
                    "set what it does with jarvisctl's own variables or in ~/.ssh/config, or "
                    "remove it for the hosts jarvisctl runs on",
                ) from None
        return tuple(options)

    def policy_of(
        self, policy: HostKeyPolicy | None, options: tuple[tuple[str, str], ...]
    ) -> HostKeyPolicy | None:
        """The host_key_policy, or else the first StrictHostKeyChecking of the ssh arguments;
        both set and different is refused (which one was meant?)."""
        strict = next((value for key, value in options if key == "StrictHostKeyChecking"), None)
        if strict is None or policy == strict:
            return policy
        if policy is None:
            return _policy(strict)
        name = next(n for n in ALIASES["host_key_policy"] if n in self.variables)
        raise ConfigError.at(
            self.locations.get(name),
            f"host '{self.host}': {name} is {policy!r} but its ssh arguments say "
            f"StrictHostKeyChecking {'yes' if strict == 'strict' else strict}",
            "keep one of them",
        )

    def check_become_method(self) -> None:
        name = "ansible_become_method"
        method = self.variables.get(name)
        if method is not None and method != "sudo":
            raise ConfigError.at(
                self.locations.get(name),
                f"host '{self.host}': {name} is {method!r}; jarvisctl becomes another user with "
                f"sudo -n only",
                "use sudo (with NOPASSWD for the commands jarvisctl runs), or remove it",
            )

    def _not_templated(self, name: str, value: str) -> None:
        if "{{" in value or "{%" in value:
            raise ConfigError.at(
                self.locations.get(name),
                f"host '{self.host}': {name} is a template ({value!r}); "
                "connection variables are not templated",
                "write the value itself",
            )


def connection_settings(
    host: str, variables: Mapping[str, Any], locations: Mapping[str, Location]
) -> ConnectionSettings:
    """The settings to reach `host`; the host named `localhost` is local unless told otherwise."""
    read = _Reader(host, variables, locations)
    connection: ConnectionType | None = read.get("connection", _connection, ", ".join(CONNECTIONS))
    policy: HostKeyPolicy | None = read.get(
        "host_key_policy", _policy, ", ".join(HOST_KEY_POLICIES)
    )
    timeout = read.get("connect_timeout", _timeout, "a positive number of seconds")
    connection = connection or _default_connection(host)
    become = read.get("become", _boolean, "true or false") or False
    if become:
        read.check_become_method()
    over_ssh = connection == "ssh"  # a local host's ssh variables are not used at all
    options = read.ssh_options() if over_ssh else ()
    policy = read.policy_of(policy, options)
    return ConnectionSettings(
        host=host,
        address=read.get("address", _text, "a host name or IP address") or host,
        port=read.get("port", _port, "an integer from 1 to 65535"),
        user=read.get("user", _text, "a user name"),
        identity_file=read.get("identity_file", _text, "a path to a private key"),
        connection=connection,
        become=become,
        become_user=read.get("become_user", _text, "a user name"),
        host_key_policy=policy if policy is not None else "strict",
        known_hosts=read.get("known_hosts", _text, "a path to a known_hosts file"),
        connect_timeout=timeout,
        ssh_options=tuple(o for o in options if o[0] != "StrictHostKeyChecking"),
        password_variable=next((n for n in PASSWORDS if over_ssh and variables.get(n)), None),
    )


def _default_connection(host: str) -> ConnectionType:
    return "local" if host == "localhost" else "ssh"


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _connection(value: Any) -> ConnectionType | None:
    return CONNECTIONS.get(value) if isinstance(value, str) else None


def _port(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    return None


def _boolean(value: Any) -> bool | None:
    """Booleans as Ansible reads them: true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, (str, int, float)) else ""
    if word in TRUE_WORDS or word == "1.0":
        return True
    if word in FALSE_WORDS or word == "0.0":
        return False
    return None


def _policy(value: Any) -> HostKeyPolicy | None:
    for policy in HOST_KEY_POLICIES:
        if value == policy:
            return policy
    return None


def _timeout(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
