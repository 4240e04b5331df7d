"""What OpenSSH's configuration files say about a host: HostName, Port, User, IdentityFile,
IdentitiesOnly, ProxyJump, ProxyCommand, UserKnownHostsFile, GlobalKnownHostsFile, HostKeyAlias,
HashKnownHosts, ConnectTimeout, ServerAliveInterval.

~/.ssh/config, then /etc/ssh/ssh_config, matched by paramiko's own `SSHConfig` (Host and Match
blocks, the first value found wins, IdentityFile accumulates), parsed again only when a file
changed. paramiko does not follow `Include`; this module does (`_Sources`), as OpenSSH does,
except that an Include inside a conditional Host or Match block may only bring in plain settings:
a Host or Match block there is refused with its location rather than applied unconditionally.

The inventory's own settings win over the files, as OpenSSH's command-line options would:
`connect_timeout`, `port`, `user` and `identity_file` when they are set.
A ProxyJump host is not in the inventory: its Port and User come from here.
"""

from __future__ import annotations

import getpass
import glob
import io
import os
import re
import shlex
import threading
from pathlib import Path
from typing import Any, NamedTuple

from jarvisctl.config.ssh_options import CHECKED, parse_time
from jarvisctl.connection.paramiko_import import allow_match_exec, load_paramiko
from jarvisctl.core.errors import UnreachableError
from jarvisctl.core.frozen import frozen

SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
_MATCH_EXEC = re.compile(r"^\s*match\b.*\bexec\b", re.IGNORECASE | re.MULTILINE)
# The lines that matter for Include, read as paramiko reads a line (its SSHConfig.SETTINGS_REGEX:
# `Keyword value` or `Keyword=value`); any other line fails at its first letters.
_BLOCK_OR_INCLUDE = re.compile(r"\s*(host|match|include)(?:\s*=\s*|\s+)(.+)", re.IGNORECASE)
_MAX_DEPTH = 16  # OpenSSH's limit on nested Include (READCONF_MAX_DEPTH)


@frozen
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


@frozen
class Route:
    """Where and as whom to connect for one host, and through what."""

    address: str
    port: int | None  # the given port, else Port from the files, else None
    user: str
    identity_files: tuple[str, ...]  # IdentityFile lines; used when the inventory names none
    identities_only: bool  # IdentitiesOnly yes: no agent keys, no ~/.ssh/id_* beside those
    jumps: tuple[Hop, ...]  # ProxyJump hops, the first one connected to first
    proxy_command: str | None
    user_known_hosts: tuple[str, ...] = ()  # UserKnownHostsFile; () when not set
    global_known_hosts: tuple[str, ...] = ()  # GlobalKnownHostsFile; () when not set
    host_key_alias: str | None = None  # HostKeyAlias: the name to look its keys up by
    hash_known_hosts: bool = False  # HashKnownHosts yes: new known_hosts names are hashed
    connect_timeout: float | None = None  # ConnectTimeout, seconds
    server_alive_interval: int | None = None  # ServerAliveInterval, seconds; 0: none


def user_config() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


def lookup(
    name: str,
    user: str | None = None,
    port: int | None = None,
    options: tuple[tuple[str, str], ...] = (),
) -> Route:
    """The route to `name` (an inventory address or a ProxyJump host) by the ssh_config files.

    `user`, `port` and `options` (keyword, value), when given, act as OpenSSH's command-line
    options: they win over the files (the first value of a keyword wins), and the `%r` and `%p`
    of a ProxyCommand are them.
    """
    files = (user_config(), SYSTEM_CONFIG)
    lines = [("User", user), ("Port", str(port) if port else None), *options]
    given = "".join(f"  {keyword} {value}\n" for keyword, value in lines if value)
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
    route_user = found.get("user") or user or getpass.getuser()
    known = _KnownHostsFiles(name, found.get("hostname", name), route_user, configured_port)
    return Route(
        address=found.get("hostname", name),
        port=_value(name, found, "Port") or port,
        user=route_user,
        identity_files=tuple(found.get("identityfile", ())),
        identities_only=_value(name, found, "IdentitiesOnly") or False,
        jumps=(
            tuple(Hop.parse(h.strip()) for h in jumps.split(","))
            if jumps and jumps.lower() != "none"
            else ()
        ),
        proxy_command=None if command in (None, "none") else command,
        user_known_hosts=known.of(found.get("userknownhostsfile")),
        global_known_hosts=known.of(found.get("globalknownhostsfile")),
        host_key_alias=found.get("hostkeyalias"),
        hash_known_hosts=_value(name, found, "HashKnownHosts") or False,
        connect_timeout=_value(name, found, "ConnectTimeout"),
        server_alive_interval=_value(name, found, "ServerAliveInterval"),
    )


def _value(name: str, found: dict[str, Any], keyword: str) -> Any:
    """The keyword's value as CHECKED reads it; a value it refuses is an error, as in OpenSSH."""
    parse, valid = CHECKED[keyword]
    value = found.get(keyword.lower())
    if value is None or (parse is parse_time and value == "none"):
        return None
    parsed = parse(str(value))
    if parsed is None:
        raise UnreachableError(
            f"{name}: ssh_config's `{keyword} {value}` is not valid; write {valid} "
            f"(in ~/.ssh/config, /etc/ssh/ssh_config or a file they include, or in the "
            f"inventory's ansible_ssh_*_args)"
        )
    return parsed


@frozen
class _KnownHostsFiles:
    """The files of a UserKnownHostsFile or GlobalKnownHostsFile line, as OpenSSH reads them:
    several separated by spaces, `~` and the tokens %d %u %h %n %p %r %% expanded, `none` for
    no file at all (paramiko leaves these values as written)."""

    name: str  # as given (%n)
    hostname: str  # after HostName (%h)
    user: str  # the remote user (%r)
    port: str | None

    def of(self, value: str | None) -> tuple[str, ...]:
        if not value:
            return ()
        if value.strip().lower() == "none":
            return (os.devnull,)
        tokens = {
            "d": os.path.expanduser("~"),
            "u": getpass.getuser(),
            "h": self.hostname,
            "n": self.name,
            "p": self.port or "22",
            "r": self.user,
            "%": "%",
        }
        files = []
        for word in value.split():
            unknown = [t for t in re.findall(r"%(.)", word) if t not in tokens]
            if unknown:
                raise UnreachableError(
                    f"{self.name}: ssh_config's known hosts file {word!r} uses %{unknown[0]}, "
                    f"which jarvisctl does not expand (it expands %d %u %h %n %p %r %%); "
                    f"write that part of the path out"
                )
            expanded = re.sub(r"%(.)", lambda m: tokens[m.group(1)], word)
            files.append(os.path.expanduser(expanded))
        return tuple(files)


_KEPT = 64  # configurations kept, one per distinct (user, port)


class _ConfigCache:
    """The files parsed into one SSHConfig, again only when one of them changed (by content,
    as FileCache: an edit within the filesystem's timestamp granularity is seen; an included
    file that appears, changes or goes away counts too); one per set of command-line-like
    options put first, which shares the files' parsed blocks (a fleet whose hosts each listen
    on a port of their own parses the files once, not once per port)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: tuple[_Part, ...] | None = None
        self._files: Any = None  # the files' SSHConfig, without options
        self._configs: dict[str, Any] = {}

    def get(self, files: tuple[Path, ...], first: str) -> Any:
        parts = _Sources(files).parts()
        with self._lock:
            if parts != self._parts:
                # parsed before it is kept: files that do not parse are read again next time
                self._files = _parse(parts) if parts else None
                self._parts, self._configs = parts, {}
            if first not in self._configs:
                if len(self._configs) >= _KEPT:
                    self._configs.clear()  # a fleet of many users and ports: never grow
                self._configs[first] = _with_options(first, self._files)
            return self._configs[first]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None  # missing or unreadable: as OpenSSH, go on without it


class _Line(NamedTuple):
    path: Path
    number: int
    text: str


class _Lines(NamedTuple):
    """Consecutive lines of one file, from line `first` on (tuples: the cache compares them
    all on every lookup, and a file without Include is a single one)."""

    path: Path
    first: int
    text: str


# What paramiko parses in one go: it starts with paramiko's implicit `Host *` block, which is
# what OpenSSH's state is again after a top-level Include.
_Part = tuple[_Lines, ...]
_INCLUDE = re.compile(r"^\s*include\b", re.IGNORECASE | re.MULTILINE)


class _Sources:
    """The lines of the files in the order OpenSSH reads them, Include lines followed.

    An Include at the top level of a file (or in a `Host *` block, which matches every host)
    reads its files as if they were parsed in its place, each on its own, the including file
    going on afterwards as it was: it becomes a new part. An Include inside any other Host or
    Match block is conditional in OpenSSH; its files' lines go into that block, which is right
    for plain settings, so a Host or Match line in them is refused with both locations.
    """

    def __init__(self, files: tuple[Path, ...]) -> None:
        self._files = files
        self._done: list[_Part] = []
        self._current: list[_Lines] = []

    def parts(self) -> tuple[_Part, ...]:
        for path in self._files:
            text = _read(path)
            if text is not None:
                self._file(path, text, path.parent, 0, inside=None)
                self._cut()
        return tuple(self._done)

    def _cut(self) -> None:
        if self._current:
            self._done.append(tuple(self._current))
        self._current = []

    def _file(self, path: Path, text: str, base: Path, depth: int, inside: _Line | None) -> None:
        """Read one file; `inside` is the conditional block header of an including file."""
        if inside is None and not _INCLUDE.search(text):
            self._current.append(_Lines(path, 1, text))
            return
        header: _Line | None = None  # this file's current Host or Match line
        lines = text.splitlines()
        start = 0  # the first line not added yet
        for index, raw in enumerate(lines):
            found = _BLOCK_OR_INCLUDE.match(raw)
            keyword = found.group(1).lower() if found else ""
            if keyword in ("host", "match"):
                if inside is not None:
                    raise _include_error(
                        _Line(path, index + 1, raw),
                        f"`{raw.strip()}` is in a file included from inside the conditional "
                        f"`{inside.text.strip()}` block at {_where(inside)}; jarvisctl follows an "
                        "Include inside a Host or Match block only to files of plain settings: "
                        "move that Include before the first Host line, or into a `Host *` block",
                    )
                header = _Line(path, index + 1, raw)
            if found is None or keyword != "include":
                continue
            self._add(path, start, lines[start:index])
            start = index + 1
            line = _Line(path, index + 1, raw)
            if depth >= _MAX_DEPTH:
                message = f"Include nested over {_MAX_DEPTH} deep (does a file include itself?)"
                raise _include_error(line, message)
            block = inside or header
            conditional = block is not None and not _matches_every_host(block.text)
            for included in _included(found.group(2), base, line):
                content = _read(included)
                if content is None:
                    continue  # as OpenSSH: a file that is not there is skipped
                if conditional:
                    self._file(included, content, base, depth + 1, inside=block)
                else:
                    self._cut()
                    self._file(included, content, base, depth + 1, inside=None)
                    self._cut()
        self._add(path, start, lines[start:])

    def _add(self, path: Path, start: int, lines: list[str]) -> None:
        if lines:
            self._current.append(_Lines(path, start + 1, "\n".join(lines)))


def _included(value: str, base: Path, line: _Line) -> list[Path]:
    """The files an Include names: `~` expanded, relative to ~/.ssh (from the user's file) or
    /etc/ssh (from the system's), glob patterns in lexical order, as OpenSSH reads them."""
    try:
        words = shlex.split(value) if any(c in value for c in "\"'\\") else value.split()
    except ValueError as exc:
        raise _include_error(line, f"cannot split the Include's file names: {exc}") from exc
    paths: list[Path] = []
    for word in words:
        pattern = os.path.join(base, os.path.expanduser(word))  # an absolute word stays itself
        paths += [Path(p) for p in sorted(glob.glob(pattern))]
    return paths


def _matches_every_host(header: str) -> bool:
    found = _BLOCK_OR_INCLUDE.match(header)
    return found is not None and (found.group(1).lower(), found.group(2).strip()) in {
        ("host", "*"),
        ("match", "all"),
    }


def _where(line: _Line) -> str:
    return f"{line.path}:{line.number}"


def _include_error(line: _Line, message: str) -> UnreachableError:
    return UnreachableError(f"cannot read the ssh_config file {_where(line)}: {message}")


def _parse(parts: tuple[_Part, ...]) -> Any:
    load_paramiko()  # without Invoke, whoever looks a host up first
    from paramiko import SSHConfig
    from paramiko.ssh_exception import ConfigParseError

    config = SSHConfig()
    for part in parts:
        text = "\n".join(lines.text for lines in part)
        try:
            config.parse(io.StringIO(text))
        except ConfigParseError as exc:
            raise UnreachableError(
                f"cannot read the ssh_config file {_located(part, exc)}: {exc}; fix that line"
            ) from exc
        if _MATCH_EXEC.search(text):
            allow_match_exec()
    return config


def _with_options(first: str, files: Any) -> Any:
    """The options' `Host *` block, then the files' blocks: what parsing the options and then
    the files into one SSHConfig gives (each parse appends its blocks to `_config`, which a
    lookup reads in order and never changes), without parsing the files again."""
    if not first:
        return files
    load_paramiko()
    from paramiko import SSHConfig
    from paramiko.ssh_exception import ConfigParseError

    config = SSHConfig()
    try:
        config.parse(io.StringIO(first))
    except ConfigParseError as exc:  # an ssh option from the inventory (ansible_ssh_*_args)
        raise UnreachableError(f"the inventory's ssh options cannot be used: {exc}") from exc
    if files is not None:
        config._config.extend(files._config)
    return config


def _located(part: _Part, error: Exception) -> str:
    """`FILE:N`, where the line paramiko could not parse is (its message quotes the line)."""
    quoted = str(error).removeprefix("Unparsable line ").strip()
    for lines in part:
        for offset, text in enumerate(lines.text.splitlines()):
            if quoted and text.strip() == quoted:
                return f"{lines.path}:{lines.first + offset}"
    return str(part[0].path)


_CONFIGS = _ConfigCache()
