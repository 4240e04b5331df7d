"""known_hosts as OpenSSH reads it: names, hashes, patterns, markers, several files, one check."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from jarvisctl.connection import ConnectionSettings, hostkeys
from jarvisctl.connection.hostkeys import (
    HostKeyPolicy,
    KnownKeys,
    append_known_host,
    known_hosts_files,
    known_keys,
)
from jarvisctl.core.errors import HostKeyError

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


def _key(line: str) -> Any:
    """The paramiko key a host presents, from its `type base64`."""
    kind, data = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(data))


def _listed(path: Path, name: str) -> list[tuple[int, str, str]]:
    """(line, marker, `type base64`) of each line naming `name`."""
    found = known_keys(SETTINGS, (path,), name).listings
    return [
        (x.number, x.marker, f"{x.key_type} {base64.b64encode(x.blob).decode()}") for x in found
    ]


def test_names_hashes_and_patterns_name_hosts_as_openssh_reads_them(tmp_path: Path) -> None:
    keys = [_ed25519() for _ in range(11)]
    hashed = paramiko.HostKeys.hash_host("10.0.0.9")
    lines = [
        "# a comment",
        "",
        f"10.0.0.5 {keys[0]}",  # 3
        f"10.0.0.5 {keys[1]}",  # 4: a second key of the same type is listed too
        f"[10.0.0.5]:2222,Alias {keys[2]}",  # 5
        f"{hashed} {keys[3]}",  # 6
        f"*.example.com {keys[4]}",  # 7
        f"10.0.1.*,!10.0.1.9 {keys[5]}",  # 8: all of 10.0.1.* but .9
        f"[10.0.2.?]:2222 {keys[6]}",  # 9: brackets are literal, not a character class
        f"@revoked * {keys[7]}",  # 10
        f"@cert-authority *.example.com {keys[8]}",  # 11
        f"@bogus 10.0.0.5 {keys[9]}",  # 12: an unknown marker: skipped, as OpenSSH does
        "10.0.0.8 too-few-fields",  # 13
        f"\t10.0.0.6\t{keys[10].replace(' ', chr(9))}",  # 14
    ]
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    revoked = (10, "@revoked", keys[7])
    assert _listed(path, "10.0.0.5") == [(3, "", keys[0]), (4, "", keys[1]), revoked]
    assert _listed(path, "[10.0.0.5]:2222") == [(5, "", keys[2]), revoked]
    assert _listed(path, "ALIAS") == [(5, "", keys[2]), revoked]  # names ignore case
    assert _listed(path, "10.0.0.9") == [(6, "", keys[3]), revoked]
    assert _listed(path, "Db.Example.COM") == [
        (7, "", keys[4]),
        revoked,
        (11, "@cert-authority", keys[8]),
    ]
    assert _listed(path, "example.com") == [revoked]
    assert _listed(path, "10.0.1.7") == [(8, "", keys[5]), revoked]
    assert _listed(path, "10.0.1.9") == [revoked]  # negated
    assert _listed(path, "[10.0.2.1]:2222") == [(9, "", keys[6]), revoked]
    assert _listed(path, "[10.0.2.10]:2222") == [revoked]  # `?` is one character
    assert _listed(path, "10.0.0.6") == [revoked, (14, "", keys[10])]  # in file order
    assert _listed(path, "10.0.0.8") == [revoked]


def test_a_missing_file_lists_nothing(tmp_path: Path) -> None:
    assert known_keys(SETTINGS, (tmp_path / "absent",), "10.0.0.5").listings == ()


def test_a_corrupt_key_for_the_host_is_a_located_error_and_for_others_ignored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"10.0.0.5 {_ed25519()}\n10.0.0.6 ssh-ed25519 not*base64\n")
    assert _listed(path, "10.0.0.5")
    with pytest.raises(HostKeyError, match=rf"web1: {path}:2: the key is not valid base64"):
        _listed(path, "10.0.0.6")


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
        assert _listed(path, f"10.0.1.{i}")
    assert len(parses) == 1
    # accept-new appends a key: the next connection sees it
    new = _ed25519()
    append_known_host(path, "10.0.2.1", _key(new))
    assert _listed(path, "10.0.2.1") == [(51, "", new)]
    assert len(parses) == 2


def test_the_user_file_then_the_system_files_are_read(
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
    shared.write_text(f"10.0.0.5 {_ecdsa()}\n10.0.0.6 {_ed25519()}\n")
    known = known_keys(SETTINGS, (user, shared, Path(system[1])), "10.0.0.5")
    assert [(x.path, x.number) for x in known.listings] == [(user, 1), (shared, 1)]


def _policy(files: tuple[Path, ...], name: str = "10.0.0.5", **settings: Any) -> HostKeyPolicy:
    chosen = ConnectionSettings(host="web1", address="10.0.0.5", **settings)
    return HostKeyPolicy(chosen, "10.0.0.5", 22, files, known_keys(chosen, files, name))


def _check(policy: HostKeyPolicy, presented: str) -> None:
    policy.missing_host_key(None, "ignored", _key(presented))


def test_a_key_listed_on_any_line_of_any_file_is_trusted(tmp_path: Path) -> None:
    old, new, ecdsa = _ed25519(), _ed25519(), _ecdsa()
    user, system = tmp_path / "user", tmp_path / "system"
    user.write_text(f"10.0.0.5 {old}\n10.0.0.5 {ecdsa}\n")
    system.write_text(f"10.0.0.5 {new}\n")
    for presented in (old, new, ecdsa):
        policy = _policy((user, system))
        _check(policy, presented)
        assert policy.accepted is None
    assert user.read_text() == f"10.0.0.5 {old}\n10.0.0.5 {ecdsa}\n"  # nothing recorded


def test_a_different_key_of_a_listed_type_is_a_change_naming_where_the_old_one_is(
    tmp_path: Path,
) -> None:
    old, presented = _ed25519(), _ed25519()
    user, system = tmp_path / "user", tmp_path / "system"
    user.write_text(f"10.0.0.9 {_ed25519()}\n")
    system.write_text(f"# fleet keys\n10.0.0.5 {old}\n")
    for policy_name in ("strict", "accept-new"):
        with pytest.raises(HostKeyError) as caught:
            _check(_policy((user, system), host_key_policy=policy_name), presented)
        message = str(caught.value)
        assert "has CHANGED" in message
        assert f"{system} has ED25519 key {hostkeys.fingerprint(_key(old))}" in message
        assert "(line 2)" in message
        assert f"ssh-keygen -R 10.0.0.5 -f {system}" in message
    user.write_text("")
    system.write_text(f"10.0.0.* {old}\n")  # ssh-keygen -R leaves pattern lines alone
    with pytest.raises(HostKeyError, match=f"edit line 1 of {system} \\(a pattern"):
        _check(_policy((user, system)), presented)


def test_a_revoked_key_is_refused_even_where_it_is_also_trusted(tmp_path: Path) -> None:
    key = _ed25519()
    user, system = tmp_path / "user", tmp_path / "system"
    user.write_text(f"10.0.0.5 {key}\n")
    system.write_text(f"@revoked 10.0.0.* {key}\n")
    for policy_name in ("strict", "accept-new"):
        with pytest.raises(HostKeyError, match=f"is marked @revoked at {system}:1"):
            _check(_policy((user, system), host_key_policy=policy_name), key)
    other = _ed25519()
    user.write_text(f"10.0.0.5 {other}\n")
    _check(_policy((user, system)), other)  # another key is not revoked


def test_an_unknown_key_says_what_is_listed_instead(tmp_path: Path) -> None:
    ecdsa, presented = _ecdsa(), _ed25519()
    path = tmp_path / "known_hosts"
    path.write_text(f"@cert-authority 10.0.0.* {_ed25519()}\n")
    with pytest.raises(HostKeyError) as caught:
        _check(_policy((path,)), presented)
    message = str(caught.value)
    assert f"{path} has no entry of that type for '10.0.0.5'" in message
    assert f"A @cert-authority line covers it ({path}:1)" in message
    assert "cannot check host certificates" in message
    assert "host_key_policy: accept-new" in message  # a first-time host: accept-new would do

    path.write_text(f"10.0.0.5 {ecdsa}\n")
    for policy_name in ("strict", "accept-new"):
        with pytest.raises(HostKeyError) as caught:
            _check(_policy((path,), host_key_policy=policy_name), presented)
        message = str(caught.value)
        listed = f"ECDSA key {hostkeys.fingerprint(_key(ecdsa))} at {path}:1"
        assert f"Only other types of key are listed for it ({listed})" in message
        assert "set `host_key_policy: accept-new`" not in message  # it would not help
    assert path.read_text() == f"10.0.0.5 {ecdsa}\n"


def test_accept_new_records_a_first_time_host_under_its_known_hosts_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ssh" / "known_hosts"
    key = _ed25519()
    policy = _policy((path,), name="Jetson-07", host_key_policy="accept-new")
    _check(policy, key)
    assert policy.accepted == hostkeys.fingerprint(_key(key))
    assert path.read_text() == f"jetson-07 {key}\n"  # lower case, as OpenSSH writes names
    _check(_policy((path,), name="JETSON-07"), key)  # and found again, whatever the case


def test_host_key_algorithms_offer_the_known_types_first() -> None:
    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")

    def known(*types: str) -> KnownKeys:
        listings = tuple(
            hostkeys.Listing(Path("k"), n, "", kind, b"") for n, kind in enumerate(types, 1)
        )
        return KnownKeys("h", listings)

    assert known().preferred(offered) == offered
    assert known("ecdsa-sha2-nistp256").preferred(offered) == (
        "ecdsa-sha2-nistp256",
        "ssh-ed25519",
        "rsa-sha2-512",
        "rsa-sha2-256",
    )
    assert known("ssh-rsa", "ssh-ed25519").preferred(offered) == (
        "ssh-ed25519",
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ecdsa-sha2-nistp256",
    )
    revoked_only = KnownKeys("h", (hostkeys.Listing(Path("k"), 1, "@revoked", "ssh-rsa", b""),))
    assert revoked_only.preferred(offered) == offered


def test_accept_new_hashes_the_name_when_ssh_config_says_hash_known_hosts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "known_hosts"
    key = _ed25519()
    chosen = ConnectionSettings(host="web1", address="10.0.0.5", host_key_policy="accept-new")
    files = (path,)
    policy = HostKeyPolicy(
        chosen, "10.0.0.5", 22, files, known_keys(chosen, files, "10.0.0.5"), True
    )
    _check(policy, key)
    listed = path.read_text()
    assert listed.startswith("|1|") and "10.0.0.5" not in listed
    assert listed.split(" ", 1)[1] == f"{key}\n"
    assert _listed(path, "10.0.0.5") == [(1, "", key)]  # found again by its hash
    assert _listed(path, "10.0.0.6") == []


def test_every_listing_of_the_old_key_is_named_for_removal(tmp_path: Path) -> None:
    user, system = tmp_path / "user", tmp_path / "system"
    user.write_text(f"10.0.0.5 {_ed25519()}\n")
    system.write_text(f"10.0.0.* {_ed25519()}\n10.0.0.5 {_ed25519()}\n")
    with pytest.raises(HostKeyError) as caught:
        _check(_policy((user, system)), _ed25519())
    message = str(caught.value)
    assert f"at {user}:1, ED25519 key" in message and f"at {system}:2 for '10.0.0.5'" in message
    assert f"  ssh-keygen -R 10.0.0.5 -f {user}\n" in message
    assert f"  edit line 1 of {system} (a pattern" in message
    assert f"  ssh-keygen -R 10.0.0.5 -f {system}\n" in message


def test_accept_new_refuses_to_record_into_a_file_that_keeps_nothing(tmp_path: Path) -> None:
    key = _ed25519()
    with pytest.raises(HostKeyError, match=f"in {os.devnull}, which keeps nothing"):
        _check(_policy((Path(os.devnull),), host_key_policy="accept-new"), key)
    system = tmp_path / "system"
    system.write_text(f"10.0.0.5 {key}\n")  # a key listed elsewhere is still trusted
    _check(_policy((Path(os.devnull), system), host_key_policy="accept-new"), key)
