"""known_hosts as jarvisctl reads it: the same answers as paramiko's HostKeys, parsed once."""

from __future__ import annotations

import os
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from jarvisctl.connection import ConnectionSettings, hostkeys
from jarvisctl.connection.hostkeys import (
    append_known_host,
    known_hosts_files,
    listing_file,
    load_known_hosts,
)
from jarvisctl.errors import HostKeyError

SETTINGS = ConnectionSettings(host="web1", address="10.0.0.5")


def _public(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """`type base64` as in known_hosts."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def _ed25519() -> str:
    return _public(ed25519.Ed25519PrivateKey.generate())


def _ecdsa() -> str:
    return _public(ec.generate_private_key(ec.SECP256R1()))


def _client_keys(path: Path, name: str) -> dict[str, str]:
    client = paramiko.SSHClient()
    load_known_hosts(client, SETTINGS, (path,), name)
    found = client.get_host_keys().lookup(name)
    return {} if found is None else {t: found[t].get_base64() for t in found}


def _paramiko_keys(path: Path, name: str) -> dict[str, str]:
    found = paramiko.HostKeys(str(path)).lookup(name)
    return {} if found is None else {t: found[t].get_base64() for t in found}


def test_every_name_gets_the_keys_paramiko_would_give_it(tmp_path: Path) -> None:
    hashed = paramiko.HostKeys.hash_host("10.0.0.9")
    first, second = _ed25519(), _ed25519()
    lines = [
        "# a comment",
        "",
        f"10.0.0.5 {first}",
        f"10.0.0.5 {second}",  # a second key of the same type: the first line wins
        f"10.0.0.5 {_ecdsa()}",
        f"[10.0.0.5]:2222,alias {_ed25519()}",
        f"{hashed} {_ed25519()}",
        "10.0.0.7 ssh-unknown-type AAAAB3NzaC1yc2E=",
        "10.0.0.8 too-few-fields",
        f"\t10.0.0.6\t{_ed25519().replace(' ', chr(9))}",
    ]
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    # paramiko cannot read @cert-authority/@revoked lines (InvalidHostKey); OpenSSH writes them
    ours = tmp_path / "with_markers"
    ours.write_text(f"@cert-authority *.example.com {_ed25519()}\n" + path.read_text())
    names = ["10.0.0.5", "[10.0.0.5]:2222", "alias", "10.0.0.9", "10.0.0.6", "10.0.0.7", "nope"]
    for name in names:
        assert _client_keys(ours, name) == _paramiko_keys(path, name), name
    assert _client_keys(path, "10.0.0.5")["ssh-ed25519"] == first.split()[1]
    assert set(_client_keys(path, "10.0.0.5")) == {"ssh-ed25519", "ecdsa-sha2-nistp256"}
    assert _client_keys(path, "10.0.0.9")  # found through its hash


def test_a_missing_file_lists_no_keys(tmp_path: Path) -> None:
    assert _client_keys(tmp_path / "absent", "10.0.0.5") == {}


def test_a_corrupt_key_for_the_host_is_a_located_error_and_for_others_ignored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"10.0.0.5 {_ed25519()}\n10.0.0.6 ssh-ed25519 not*base64\n")
    assert _client_keys(path, "10.0.0.5")
    with pytest.raises(HostKeyError, match=rf"web1: {path}:2: the key is not valid base64"):
        _client_keys(path, "10.0.0.6")


def test_the_file_is_parsed_once_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("".join(f"10.0.1.{i} {_ed25519()}\n" for i in range(50)))
    parses = []
    real = hostkeys.KnownHosts.__init__

    def counting(self: hostkeys.KnownHosts, where: Path, text: str) -> None:
        parses.append(where)
        real(self, where, text)

    monkeypatch.setattr(hostkeys.KnownHosts, "__init__", counting)
    for i in range(50):
        assert _client_keys(path, f"10.0.1.{i}")
    assert len(parses) == 1
    # accept-new appends a key: the next connection sees it
    key = paramiko.Ed25519Key(data=paramiko.Message(_b64(_ed25519())).asbytes())
    append_known_host(path, "10.0.2.1", key)
    assert _client_keys(path, "10.0.2.1") == {"ssh-ed25519": key.get_base64()}
    assert len(parses) == 2


def _b64(line: str) -> bytes:
    import base64

    return base64.b64decode(line.split()[1])


def test_the_user_file_then_the_system_files_are_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = (str(tmp_path / "ssh_known_hosts"), str(tmp_path / "ssh_known_hosts2"))
    monkeypatch.setattr(hostkeys, "GLOBAL_KNOWN_HOSTS", system)
    home = Path(os.path.expanduser("~"))
    assert known_hosts_files(SETTINGS) == (home / ".ssh/known_hosts", *map(Path, system))
    configured = known_hosts_files(SETTINGS, (f"{home}/a", "/etc/b"), ("/etc/c",))
    assert configured == (home / "a", Path("/etc/b"), Path("/etc/c"))
    inventory = ConnectionSettings(host="web1", address="10.0.0.5", known_hosts="~/fleet")
    assert known_hosts_files(inventory, (f"{home}/a",))[0] == home / "fleet"  # the inventory wins

    user, shared = tmp_path / "user", Path(system[0])
    user.write_text(f"10.0.0.5 {_ed25519()}\n")
    ed25519_line, ecdsa_line = _ed25519(), _ecdsa()
    shared.write_text(f"10.0.0.5 {ed25519_line}\n10.0.0.5 {ecdsa_line}\n10.0.0.6 {_ed25519()}\n")
    files = (user, shared, Path(system[1]))  # the second system file does not exist
    client = paramiko.SSHClient()
    load_known_hosts(client, SETTINGS, files, "10.0.0.5")
    found = client.get_host_keys().lookup("10.0.0.5")
    assert found is not None
    assert found["ssh-ed25519"].get_base64() == user.read_text().split()[2]  # the first file wins
    assert found["ecdsa-sha2-nistp256"].get_base64() == ecdsa_line.split()[1]  # from the system
    assert listing_file(SETTINGS, files, "10.0.0.5", "ecdsa-sha2-nistp256") == shared
    assert listing_file(SETTINGS, files, "10.0.0.6", "ssh-ed25519") == shared
    assert listing_file(SETTINGS, files, "10.0.0.5", "ssh-ed25519") == user
