"""Host key checking: strict by default, `accept-new` on request, OpenSSH-style messages."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvisctl.connection.settings import ConnectionSettings
from jarvisctl.errors import HostKeyError
from jarvisctl.filecache import FileCache

# OpenSSH's short names, as `ssh-keyscan -t` takes them and `ssh -v` prints them.
_KEY_TYPES = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ssh-dss": "DSA"}


# OpenSSH's GlobalKnownHostsFile default: keys an administrator lists for every user.
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


def known_hosts_files(
    settings: ConnectionSettings,
    configured: tuple[str, ...] = (),
    configured_global: tuple[str, ...] = (),
) -> tuple[Path, ...]:
    """The files whose keys are trusted, as OpenSSH reads them: the user's file first (where
    `accept-new` records a key), then the system-wide ones.

    The user's file is the inventory's `known_hosts`, else ssh_config's UserKnownHostsFile
    (`configured`), else ~/.ssh/known_hosts; the system's are ssh_config's GlobalKnownHostsFile,
    else /etc/ssh/ssh_known_hosts and ssh_known_hosts2.
    """
    user = (
        (settings.known_hosts,) if settings.known_hosts else configured or ("~/.ssh/known_hosts",)
    )
    files = (*user, *(configured_global or GLOBAL_KNOWN_HOSTS))
    return tuple(dict.fromkeys(Path(os.path.expanduser(f)) for f in files))


def load_known_hosts(
    client: Any, settings: ConnectionSettings, files: tuple[Path, ...], name: str
) -> None:
    """Trust the keys `files` list for `name` (a missing file lists none); for each key type
    the first file that has one wins.

    Only this host's entries are handed to paramiko: `SSHClient.load_host_keys` would parse and
    de-duplicate the whole file for every connection, O(hosts²) per connection.
    """
    store, seen = client.get_host_keys(), set()
    for path in files:
        for key_type, key in _keys(settings, path, name).items():
            if key_type not in seen:
                seen.add(key_type)
                store.add(name, key_type, key)


def listing_file(
    settings: ConnectionSettings, files: tuple[Path, ...], name: str, key_type: str
) -> Path:
    """The first of `files` with a `key_type` key for `name` (where a changed key is listed)."""
    for path in files:
        if key_type in _keys(settings, path, name):
            return path
    return files[0]


def _keys(settings: ConnectionSettings, path: Path, name: str) -> dict[str, Any]:
    try:
        return _known_hosts(path).keys_for(name)
    except OSError as exc:
        raise HostKeyError(
            f"{settings.host}: cannot read known_hosts file {path}: {exc.strerror or exc}; "
            f"fix its permissions, or point known_hosts at a readable file"
        ) from exc
    except ValueError as exc:
        raise HostKeyError(f"{settings.host}: {exc}; fix or remove that line") from exc


@dataclass(frozen=True)
class _Line:
    number: int
    key_type: str
    key: str  # base64, decoded only when the line names a host being connected to


class KnownHosts:
    """One known_hosts file, indexed by host name once per process (and again when it changes).

    Matches like paramiko's HostKeys: a name listed as is, or hashed (`|1|salt|hash`); the first
    line naming the host wins for each key type; lines paramiko cannot read are skipped.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._plain: dict[str, list[_Line]] = {}
        self._hashed: list[tuple[str, _Line]] = []
        for number, raw in enumerate(text.splitlines(), 1):
            fields = re.split(" |\t", raw.strip())
            if len(fields) < 3 or fields[0].startswith("#") or fields[0].startswith("@"):
                continue
            line = _Line(number, fields[1], fields[2])
            for host in fields[0].split(","):
                if host.startswith("|1|"):
                    self._hashed.append((host, line))
                else:
                    self._plain.setdefault(host, []).append(line)

    def keys_for(self, name: str) -> dict[str, Any]:
        """Key type -> paramiko key, for the lines that name `name`."""
        from paramiko import HostKeys, PKey
        from paramiko.pkey import UnknownKeyType

        lines = list(self._plain.get(name, ()))
        for hashed, line in self._hashed:
            salt = hashed.split("|")[2]
            if hmac.compare_digest(HostKeys.hash_host(name, salt), hashed):
                lines.append(line)
        keys: dict[str, Any] = {}
        for line in sorted(lines, key=lambda line: line.number):
            if line.key_type in keys:
                continue
            try:
                data = base64.b64decode(line.key, validate=True)
            except binascii.Error:
                where = f"{self.path}:{line.number}"
                raise ValueError(f"{where}: the key is not valid base64") from None
            try:
                keys[line.key_type] = PKey.from_type_string(line.key_type, data)
            except UnknownKeyType:
                continue  # as paramiko: a key type it cannot use is not a key for this host
        return keys


_PARSED: FileCache[KnownHosts] = FileCache(
    lambda path: KnownHosts(path, path.read_text(encoding="utf-8", errors="replace"))
)


def _known_hosts(path: Path) -> KnownHosts:
    """The parsed file, shared by every connection of this process while it is unchanged."""
    try:
        return _PARSED.get(path)
    except FileNotFoundError:
        return KnownHosts(path, "")


def known_hosts_name(address: str, port: int) -> str:
    """How OpenSSH (and paramiko) name a host in known_hosts: `addr`, or `[addr]:port`."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: Any) -> str:
    """The key's SHA256 fingerprint exactly as OpenSSH prints it (unpadded base64)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def key_type(key: Any) -> str:
    name: str = key.get_name()
    return "ECDSA" if name.startswith("ecdsa-") else _KEY_TYPES.get(name, name)


def describe_key(key: Any) -> str:
    return f"{key_type(key)} key {fingerprint(key)}"


def append_known_host(path: Path, name: str, key: Any) -> None:
    """Add one `name type base64` line, creating the file (0600) and its directory (0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size and not _ends_with_newline(path):
            line = "\n" + line
        # One write on an O_APPEND descriptor: parallel sessions never interleave their lines.
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _keyscan_command(address: str, port: int, key: Any, known_hosts: Path) -> str:
    kind = key_type(key).lower()
    return (
        f"ssh-keyscan -p {port} -t {kind} {shlex.quote(address)} >> {shlex.quote(str(known_hosts))}"
    )


def unknown_host_key_error(
    settings: ConnectionSettings, address: str, port: int, key: Any, files: tuple[Path, ...]
) -> HostKeyError:
    name = known_hosts_name(address, port)
    kind = key_type(key).lower()
    known_hosts = files[0]
    looked = (
        f"{known_hosts} has" if len(files) == 1 else f"none of {', '.join(map(str, files))} has"
    )
    return HostKeyError(
        f"{settings.host}: the host key of {address}:{port} is not known, connection refused "
        f"(host_key_policy: strict): the host presents {describe_key(key)}, and {looked} "
        f"an entry for {name!r}.\n"
        f"To trust it, compare that fingerprint with the output of "
        f"`ssh-keygen -lf /etc/ssh/ssh_host_{kind}_key.pub` on the host, then run:\n"
        f"  {_keyscan_command(address, port, key, known_hosts)}\n"
        f"or set `host_key_policy: accept-new` for this host to trust a new host's key on first "
        f"connection (a changed key is still refused)."
    )


def changed_host_key_error(
    settings: ConnectionSettings,
    address: str,
    port: int,
    presented: Any,
    expected: Any,
    known_hosts: Path,
) -> HostKeyError:
    name = known_hosts_name(address, port)
    return HostKeyError(
        f"{settings.host}: the host key of {address}:{port} has CHANGED, connection refused: "
        f"{known_hosts} has {describe_key(expected)} for {name!r}, but the host now presents "
        f"{describe_key(presented)}. Someone could be intercepting the connection, or the host "
        f"was reinstalled or had its keys regenerated.\n"
        f"If the change is expected, remove the old key and trust the new one:\n"
        f"  ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(known_hosts))}\n"
        f"  {_keyscan_command(address, port, presented, known_hosts)}\n"
        f"(`host_key_policy: accept-new` never accepts a changed key.)"
    )


class HostKeyPolicy:
    """paramiko's missing-host-key hook, for keys that known_hosts does not list at all.

    A key that known_hosts lists differently never reaches this hook: paramiko raises
    BadHostKeyException for it, under every policy. It is installed on every client, ProxyJump
    hosts' included (Fabric's gateways, before, trusted any key).
    """

    def __init__(
        self, settings: ConnectionSettings, address: str, port: int, files: tuple[Path, ...]
    ) -> None:
        self.settings = settings
        self.address = address
        self.port = port
        self.files = files
        self.accepted: str | None = None

    @property
    def known_hosts(self) -> Path:
        """The user's file, where accept-new records a key."""
        return self.files[0]

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if self.settings.host_key_policy != "accept-new":
            raise unknown_host_key_error(self.settings, self.address, self.port, key, self.files)
        try:
            append_known_host(self.known_hosts, hostname, key)
        except OSError as exc:
            raise HostKeyError(
                f"{self.settings.host}: cannot record the new host key of "
                f"{self.address}:{self.port} ({describe_key(key)}) in {self.known_hosts}: "
                f"{exc.strerror or exc}; make that file writable, or add the key yourself:\n"
                f"  {_keyscan_command(self.address, self.port, key, self.known_hosts)}"
            ) from exc
        self.accepted = fingerprint(key)
