"""Host key checking: strict by default, `accept-new` on request, OpenSSH-style messages."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import re
import shlex
import stat
from pathlib import Path
from typing import Any

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.core.errors import HostKeyError
from jarvisctl.core.filecache import FileCache
from jarvisctl.core.frozen import frozen

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


def known_keys(settings: ConnectionSettings, files: tuple[Path, ...], name: str) -> KnownKeys:
    """Every line of `files` that names `name` (a missing file names nothing).

    Only this host's lines are decoded: a fleet's file is parsed once per process, and each
    connection looks its own name up in it.
    """
    name = name.lower()  # as OpenSSH looks names up
    listings: list[Listing] = []
    for path in files:
        try:
            listings += _known_hosts(path).listings(name)
        except OSError as exc:
            raise HostKeyError(
                f"{settings.host}: cannot read known_hosts file {path}: {exc.strerror or exc}; "
                f"fix its permissions, or point known_hosts at a readable file"
            ) from exc
        except ValueError as exc:
            raise HostKeyError(f"{settings.host}: {exc}; fix or remove that line") from exc
    return KnownKeys(name, tuple(listings))


_MARKERS = ("@cert-authority", "@revoked")


@frozen
class Listing:
    """One known_hosts line naming a host: a key it is trusted with, unless marked."""

    path: Path
    number: int
    marker: str  # "" for a host key, else "@revoked" or "@cert-authority"
    key_type: str  # as written: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...
    blob: bytes  # the public key, as the host presents it
    by_pattern: bool = False  # named by a wildcard or negation, not by the host's own name

    @property
    def where(self) -> str:
        return f"{self.path}:{self.number}"

    def describe(self) -> str:
        return f"{_short_type(self.key_type)} key {_fingerprint(self.blob)}"


@frozen
class KnownKeys:
    """What the known_hosts files say about one host name, in the order OpenSSH reads them."""

    name: str
    listings: tuple[Listing, ...]

    @property
    def trusted(self) -> tuple[Listing, ...]:
        return tuple(listing for listing in self.listings if not listing.marker)

    def revoked(self, blob: bytes) -> Listing | None:
        """The `@revoked` line for this key, if any: such a key is refused, whatever else."""
        return next((x for x in self.listings if x.marker == "@revoked" and x.blob == blob), None)

    def trusts(self, key_type: str, blob: bytes) -> bool:
        """Whether any line, in any file, lists this very key (as OpenSSH: not the first one)."""
        return any(x.key_type == key_type and x.blob == blob for x in self.trusted)

    def of_type(self, key_type: str) -> tuple[Listing, ...]:
        """The keys of this type listed, which a different key of that type contradicts."""
        return tuple(x for x in self.trusted if x.key_type == key_type)

    def key_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(listing.key_type for listing in self.trusted))

    def preferred(self, algorithms: tuple[str, ...]) -> tuple[str, ...]:
        """The host key algorithms in the order to offer them: those of the keys listed first,
        so that a host with several keys presents one that is known (as OpenSSH orders them)."""
        known = set(self.key_types())
        if "ssh-rsa" in known:
            known.update(("rsa-sha2-512", "rsa-sha2-256"))
        return (
            *(a for a in algorithms if a in known),
            *(a for a in algorithms if a not in known),
        )


@frozen
class _Line:
    """One key line of a known_hosts file, without its host field (kept by name, hash or
    pattern apart, to match a host against); `marker`: @cert-authority, @revoked or ""."""

    number: int
    marker: str
    key_type: str
    key: str  # base64, decoded only when the line names a host being connected to
    by_pattern: bool = False


@frozen
class _Patterns:
    """A host field with wildcards (`*`, `?`) or negations (`!`), as OpenSSH matches it: a name
    matches when a pattern does and no negated one does, ignoring case."""

    positive: re.Pattern[str] | None
    negative: re.Pattern[str] | None

    @staticmethod
    def parse(field: str) -> _Patterns:
        positive: list[str] = []
        negative: list[str] = []
        for pattern in field.lower().split(","):
            negated = pattern.startswith("!")
            regex = "".join(
                ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern[negated:]
            )
            (negative if negated else positive).append(regex)

        def compiled(parts: list[str]) -> re.Pattern[str] | None:
            return re.compile("|".join(f"(?:{p})" for p in parts), re.DOTALL) if parts else None

        return _Patterns(compiled(positive), compiled(negative))

    def match(self, name: str) -> bool:
        if self.negative is not None and self.negative.fullmatch(name):
            return False
        return self.positive is not None and self.positive.fullmatch(name) is not None


def _hashed_name(name: str, salt: bytes) -> bytes:
    return hmac.new(salt, name.encode(), hashlib.sha1).digest()


class KnownHosts:
    """One known_hosts file, indexed by host name once per process (and again when it changes).

    Read as OpenSSH reads it: names listed as is (any case), hashed (`|1|salt|hash`) or as
    patterns (`*.example.com`, `10.0.0.?`, `!10.0.0.9`); a `@revoked` or `@cert-authority`
    marker kept with its line; a line of too few fields or an unknown marker skipped.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._plain: dict[str, list[_Line]] = {}
        self._hashed: list[tuple[bytes, bytes, _Line]] = []  # salt, hash, line
        self._patterns: list[tuple[_Patterns, _Line]] = []
        for number, raw in enumerate(text.splitlines(), 1):
            fields = raw.split()
            if not fields or fields[0].startswith("#"):
                continue
            marker = fields.pop(0) if fields[0].startswith("@") else ""
            if len(fields) < 3 or (marker and marker not in _MARKERS):
                continue
            hosts = fields[0]
            hashed, pattern = hosts.startswith("|1|"), any(c in hosts for c in "*?!")
            line = _Line(number, marker, fields[1], fields[2], pattern and not hashed)
            if hashed:
                self._add_hashed(hosts, line)
            elif pattern:
                self._patterns.append((_Patterns.parse(hosts), line))
            else:
                for host in hosts.lower().split(","):
                    self._plain.setdefault(host, []).append(line)

    def _add_hashed(self, hosts: str, line: _Line) -> None:
        _, _, salt, digest = [*hosts.split("|"), "", ""][:4]
        # as OpenSSH: a hash it cannot decode names no host
        with contextlib.suppress(binascii.Error):
            self._hashed.append((base64.b64decode(salt), base64.b64decode(digest), line))

    def listings(self, name: str) -> list[Listing]:
        """The lines that name `name` (lower case), in file order."""
        lines = list(self._plain.get(name, ()))
        lines += [line for salt, digest, line in self._hashed if _hashed_name(name, salt) == digest]
        lines += [line for patterns, line in self._patterns if patterns.match(name)]
        return [self._listing(line) for line in sorted(lines, key=lambda line: line.number)]

    def _listing(self, line: _Line) -> Listing:
        try:
            blob = base64.b64decode(line.key, validate=True)
        except binascii.Error:
            raise ValueError(f"{self.path}:{line.number}: the key is not valid base64") from None
        return Listing(self.path, line.number, line.marker, line.key_type, blob, line.by_pattern)


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
    return _fingerprint(key.asbytes())


def _fingerprint(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def key_type(key: Any) -> str:
    return _short_type(key.get_name())


def _short_type(name: str) -> str:
    return "ECDSA" if name.startswith("ecdsa-") else _KEY_TYPES.get(name, name)


def describe_key(key: Any) -> str:
    return f"{key_type(key)} key {fingerprint(key)}"


def append_known_host(path: Path, name: str, key: Any, hashed: bool = False) -> None:
    """Add one `name type base64` line, creating the file (0600) and its directory (0700);
    with `hashed`, the name as OpenSSH's HashKnownHosts writes it (`|1|salt|hash`).
    Private whatever the umask, as ~/.ssh is: which hosts are reached is not for other users
    (the reason HashKnownHosts exists)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hashed:
        from paramiko import HostKeys

        name = HostKeys.hash_host(name)  # `|1|salt|hash`, a new salt each time
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size and not _ends_with_newline(path):
            line = "\n" + line
        # One write on an O_APPEND descriptor: parallel sessions never interleave their lines.
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _keeps_keys(path: Path) -> bool:
    """Whether keys appended to `path` are there to read the next time (not /dev/null)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        return True  # created on the first key
    except OSError:
        return True  # unreadable: appending reports the problem itself


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _keyscan_command(address: str, port: int, key: Any, known_hosts: Path, name: str) -> str:
    kind = key_type(key).lower()
    scan = f"ssh-keyscan -p {port} -t {kind} {shlex.quote(address)}"
    if name != known_hosts_name(address, port).lower():  # HostKeyAlias: list it under the alias
        scan += f" | sed {shlex.quote('s/^[^ ]*/' + _sed_literal(name) + '/')}"
    return f"{scan} >> {shlex.quote(str(known_hosts))}"


def _sed_literal(text: str) -> str:
    """Text as the replacement of a sed `s` command writes it literally: an alias holding `/`
    would otherwise end the command early, and what follows it (GNU sed's `e`) would run."""
    return "".join("\\" + c if c in "\\/&" else ("\\n" if c == "\n" else c) for c in text)


def _listed(listings: tuple[Listing, ...]) -> str:
    return ", ".join(f"{listing.describe()} at {listing.where}" for listing in listings)


def unknown_host_key_error(
    settings: ConnectionSettings,
    address: str,
    port: int,
    key: Any,
    files: tuple[Path, ...],
    known: KnownKeys,
) -> HostKeyError:
    kind = key_type(key).lower()
    known_hosts = files[0]
    looked = (
        f"{known_hosts} has no"
        if len(files) == 1
        else f"none of {', '.join(map(str, files))} has an"
    )
    notes = []
    if known.trusted:
        notes.append(
            f"Only other types of key are listed for it ({_listed(known.trusted)}), and the host "
            f"did not offer those (or paramiko cannot use them): if it no longer has them, its "
            f"identity changed; confirm before trusting the new key."
        )
    authorities = tuple(x for x in known.listings if x.marker == "@cert-authority")
    if authorities:
        notes.append(
            f"A @cert-authority line covers it ({', '.join(x.where for x in authorities)}), but "
            f"jarvisctl cannot check host certificates (paramiko does not support them): "
            f"list the host's own key instead."
        )
    first_time = (
        ""
        if known.trusted
        else "\nor set `host_key_policy: accept-new` for this host to trust a new host's key on "
        "first connection (a changed key is still refused)."
    )
    return HostKeyError(
        f"{settings.host}: the host key of {address}:{port} is not known, connection refused "
        f"(host_key_policy: {settings.host_key_policy}): the host presents {describe_key(key)}, "
        f"and {looked} entry of that type for {known.name!r}."
        + "".join(f" {note}" for note in notes)
        + "\nTo trust it, compare that fingerprint with the output of "
        f"`ssh-keygen -lf /etc/ssh/ssh_host_{kind}_key.pub` on the host, then run:\n"
        f"  {_keyscan_command(address, port, key, known_hosts, known.name)}" + first_time
    )


def changed_host_key_error(
    settings: ConnectionSettings,
    address: str,
    port: int,
    presented: Any,
    old: tuple[Listing, ...],
    name: str,
) -> HostKeyError:
    """`old`: every listing of a key of the presented type (all of them are now wrong)."""
    first = old[0]
    removals = dict.fromkeys(  # one ssh-keygen -R per file; a pattern line is edited by hand
        f"edit line {x.number} of {x.path} (a pattern: it names other hosts too)"
        if x.by_pattern
        else f"ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(x.path))}"
        for x in old
    )
    listed = (
        f"{first.path} has {first.describe()} for {name!r} (line {first.number})"
        if len(old) == 1
        else f"known_hosts lists {_listed(old)} for {name!r}"
    )
    return HostKeyError(
        f"{settings.host}: the host key of {address}:{port} has CHANGED, connection refused: "
        f"{listed}, but the host now presents {describe_key(presented)}. Someone could be "
        f"intercepting the connection, or the host was reinstalled or had its keys "
        f"regenerated.\n"
        f"If the change is expected, remove the old key and trust the new one:\n"
        + "".join(f"  {removal}\n" for removal in removals)
        + f"  {_keyscan_command(address, port, presented, first.path, name)}\n"
        f"(`host_key_policy: accept-new` never accepts a changed key.)"
    )


def revoked_host_key_error(
    settings: ConnectionSettings, address: str, port: int, key: Any, revoked: Listing
) -> HostKeyError:
    return HostKeyError(
        f"{settings.host}: the host key of {address}:{port}, {describe_key(key)}, is marked "
        f"@revoked at {revoked.where}, connection refused (under every host_key_policy): a "
        f"revoked key may have been stolen to impersonate this host. The host needs a new "
        f"host key; if the key was revoked by mistake, remove that line."
    )


class HostKeyPolicy:
    """Checks the key a host presents against what known_hosts says, as OpenSSH does.

    paramiko's own check is not used: it keeps one key per type and name (the first line wins,
    so a host listed with its old and new key during a rotation, or with a stale key in the
    user's file and the current one in the system's, would be refused as changed) and ignores
    patterns and markers. Every client is given no host keys, so that paramiko hands each
    presented key to `missing_host_key`; ProxyJump hosts are checked the same way.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        address: str,
        port: int,
        files: tuple[Path, ...],
        known: KnownKeys,
        hash_names: bool = False,
    ) -> None:
        self.settings = settings
        self.address = address
        self.port = port
        self.files = files
        self.known = known
        self.hash_names = hash_names  # ssh_config HashKnownHosts: record the name hashed
        self.accepted: str | None = None

    @property
    def known_hosts(self) -> Path:
        """The user's file, where accept-new records a key."""
        return self.files[0]

    def transport(self, sock: Any, **options: Any) -> Any:
        """A paramiko Transport that offers the host key types known_hosts lists first, and
        AES-GCM before the other ciphers (SSHClient's `transport_factory`)."""
        from paramiko import Transport

        transport = Transport(sock, **options)
        security = transport.get_security_options()
        security.key_types = self.known.preferred(tuple(security.key_types))
        security.ciphers = aead_first(tuple(security.ciphers))
        return transport

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        blob, name = key.asbytes(), key.get_name()
        revoked = self.known.revoked(blob)
        if revoked is not None:
            raise revoked_host_key_error(self.settings, self.address, self.port, key, revoked)
        if self.known.trusts(name, blob):
            return
        old = self.known.of_type(name)
        if old:
            raise changed_host_key_error(
                self.settings, self.address, self.port, key, old, self.known.name
            )
        if self.settings.host_key_policy != "accept-new" or self.known.trusted:
            raise unknown_host_key_error(
                self.settings, self.address, self.port, key, self.files, self.known
            )
        if not _keeps_keys(self.known_hosts):
            raise HostKeyError(
                f"{self.settings.host}: host_key_policy: accept-new would record the key of "
                f"{self.address}:{self.port} in {self.known_hosts}, which keeps nothing: every "
                f"connection would trust whatever key it is shown. Point known_hosts (or "
                f"UserKnownHostsFile) at a file, or use host_key_policy: strict."
            )
        try:
            append_known_host(self.known_hosts, self.known.name, key, self.hash_names)
        except OSError as exc:
            scan = _keyscan_command(self.address, self.port, key, self.known_hosts, self.known.name)
            raise HostKeyError(
                f"{self.settings.host}: cannot record the new host key of "
                f"{self.address}:{self.port} ({describe_key(key)}) in {self.known_hosts}: "
                f"{exc.strerror or exc}; make that file writable, or add the key yourself:\n"
                f"  {scan}"
            ) from exc
        self.accepted = fingerprint(key)


# OpenSSH offers both; paramiko lists them last. With AES-GCM, a packet is one AEAD call in C;
# with AES-CTR and HMAC, paramiko also computes an HMAC and compares it in a Python loop over
# its bytes, on every packet (a few per cent of a fresh 200-host run's CPU, measured).
AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def aead_first(ciphers: tuple[str, ...]) -> tuple[str, ...]:
    """`ciphers` (paramiko's, in its order) with the AES-GCM ones it has moved to the front."""
    return tuple(c for c in AEAD_CIPHERS if c in ciphers) + tuple(
        c for c in ciphers if c not in AEAD_CIPHERS
    )
