"""What OpenSSH's configuration files say about a host: HostName, Port, User, IdentityFile,
ProxyJump, ProxyCommand.

~/.ssh/config, then /etc/ssh/ssh_config, matched by paramiko's own `SSHConfig` (Host and Match
blocks, the first value found wins, IdentityFile accumulates), read once per process while the
files are unchanged. The inventory's own settings win over them, as OpenSSH's command-line
options would: `port` and `connect_timeout` always (they have defaults), `user` and
`identity_file` when they are set. A ProxyJump host is not in the inventory: its Port and User
come from here.
"""

from __future__ import annotations

import getpass
import io
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvisctl.connection.paramiko_import import allow_match_exec
from jarvisctl.errors import UnreachableError

SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
_MATCH_EXEC = re.compile(r"^\s*match\b.*\bexec\b", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Hop:
    """One ProxyJump host, as written: `[user@]host[:port]`."""

    host: str
    user: str | None
    port: int | None
    text: str  # as written, for messages

    @staticmethod
    def parse(text: str) -> Hop:
        user, _, rest = text.rpartition("@")
        host, port = rest, None
        if rest.startswith("[") and "]" in rest:  # [v6 address]:port
            host, _, tail = rest[1:].partition("]")
            port = int(tail[1:]) if tail.startswith(":") and tail[1:].isdigit() else None
        elif rest.count(":") == 1:
            name, _, tail = rest.partition(":")
            if tail.isdigit():
                host, port = name, int(tail)
        return Hop(host, user or None, port, text)


@dataclass(frozen=True)
class Route:
    """Where and as whom to connect for one host, and through what."""

    address: str
    port: int | None  # the given port, else Port from the files, else None
    user: str
    identity_files: tuple[str, ...]  # IdentityFile lines; used when the inventory names none
    jumps: tuple[Hop, ...]  # ProxyJump hops, the first one connected to first
    proxy_command: str | None


def user_config() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


def lookup(name: str, user: str | None = None, port: int | None = None) -> Route:
    """The route to `name` (an inventory address or a ProxyJump host) by the ssh_config files.

    `user` and `port`, when given, act as OpenSSH's command-line options: they win over the
    files, and the `%r` and `%p` of a ProxyCommand are them.
    """
    files = (user_config(), SYSTEM_CONFIG)
    given = "".join([f"  User {user}\n" if user else "", f"  Port {port}\n" if port else ""])
    config = _CONFIGS.get(files, f"Host *\n{given}" if given else "")
    try:
        found: dict[str, Any] = dict(config.lookup(name)) if config is not None else {}
    except ImportError as exc:  # paramiko < 4 without Invoke installed, and a `Match exec`
        raise UnreachableError(
            f"{name}: an ssh_config file ({' or '.join(map(str, files))}) uses `Match exec`, "
            f"which paramiko can only evaluate with the Python package invoke ({exc}); "
            f"install invoke, or rewrite that Match block"
        ) from exc
    jumps = found.get("proxyjump")
    configured_port = found.get("port")
    command = found.get("proxycommand")
    return Route(
        address=found.get("hostname", name),
        port=int(configured_port) if configured_port and configured_port.isdigit() else port,
        user=found.get("user") or user or getpass.getuser(),
        identity_files=tuple(found.get("identityfile", ())),
        jumps=(
            tuple(Hop.parse(h.strip()) for h in jumps.split(","))
            if jumps and jumps.lower() != "none"
            else ()
        ),
        proxy_command=None if command in (None, "none") else command,
    )


_KEPT = 64  # parsed configurations kept, one per distinct (user, port)


class _ConfigCache:
    """The files parsed into one SSHConfig, again only when one of them changed (by content,
    as FileCache: an edit within the filesystem's timestamp granularity is seen); one per set
    of command-line-like options put first (a fleet has few users and ports)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contents: tuple[tuple[Path, str | None], ...] | None = None
        self._configs: dict[str, Any] = {}

    def get(self, files: tuple[Path, ...], first: str) -> Any:
        contents = tuple((path, _read(path)) for path in files)
        with self._lock:
            if contents != self._contents:
                self._contents, self._configs = contents, {}
            if first not in self._configs:
                if len(self._configs) >= _KEPT:
                    self._configs.clear()  # a fleet of many ports: parse again, never grow
                present = [(p, text) for p, text in contents if text is not None]
                self._configs[first] = _parse(present, first) if present else None
            return self._configs[first]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None  # missing or unreadable: as OpenSSH, go on without it


def _parse(files: list[tuple[Path, str]], first: str) -> Any:
    from paramiko import SSHConfig
    from paramiko.ssh_exception import ConfigParseError

    config = SSHConfig()
    config.parse(io.StringIO(first))
    for path, text in files:
        try:
            config.parse(io.StringIO(text))
        except ConfigParseError as exc:
            raise UnreachableError(
                f"cannot read the ssh_config file {path}{_line_of(text, exc)}: {exc}; fix that line"
            ) from exc
        if _MATCH_EXEC.search(text):
            allow_match_exec()
    return config


def _line_of(text: str, error: Exception) -> str:
    """`:N`, the number of the line paramiko could not parse (its message quotes the line)."""
    quoted = str(error).removeprefix("Unparsable line ").strip()
    for number, line in enumerate(text.splitlines(), start=1):
        if quoted and line.strip() == quoted:
            return f":{number}"
    return ""


_CONFIGS = _ConfigCache()
