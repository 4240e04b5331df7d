"""Ansible's `ansible_ssh_args`, `ansible_ssh_common_args` and `ansible_ssh_extra_args`, read as
OpenSSH reads its command line.

Ansible hands these to the `ssh` command. jarvisctl takes the options that say where, as whom
and how trusted to connect (`-o Keyword=value` for the ssh_config keywords it reads, and `-J`,
`-i`, `-p`, `-l`), as OpenSSH does: ahead of the ssh_config files, the first value of a keyword
winning; `StrictHostKeyChecking` becomes the host_key_policy. Options that only tune OpenSSH's
own client (connection sharing, compression, logging, forwarding) have no counterpart and are
passed over. Anything else, and any value OpenSSH would refuse, is refused naming the option:
connecting differently from what the inventory says, in silence, would be worse.
"""

from __future__ import annotations

import re
import shlex

from jarvisctl.config.ssh_options import CHECKED

# The ssh_config keywords jarvisctl applies (connection/ssh_config.py), their values checked by
# the same table (CHECKED).
_KEYWORDS = (
    "HostName",
    "Port",
    "User",
    "IdentityFile",
    "IdentitiesOnly",
    "ProxyJump",
    "ProxyCommand",
    "UserKnownHostsFile",
    "GlobalKnownHostsFile",
    "HostKeyAlias",
    "HashKnownHosts",
    "ConnectTimeout",
    "ServerAliveInterval",
)
APPLIED = {word.lower(): word for word in _KEYWORDS}
# OpenSSH client tuning with no effect on where, as whom or how trusted: jarvisctl keeps its own
# connections open, logs and compresses on its own terms, and forwards nothing.
PASSED_OVER = frozenset(
    word.lower()
    for word in (
        "ControlMaster",
        "ControlPath",
        "ControlPersist",
        "Compression",
        "LogLevel",
        "ServerAliveCountMax",
        "TCPKeepAlive",
        "ConnectionAttempts",
        "PreferredAuthentications",
        "PubkeyAuthentication",
        "PasswordAuthentication",
        "KbdInteractiveAuthentication",
        "GSSAPIAuthentication",
        "BatchMode",
        "ForwardAgent",
        "ForwardX11",
        "RequestTTY",
        "AddKeysToAgent",
        "VisualHostKey",
    )
)
# StrictHostKeyChecking values, as jarvisctl's host_key_policy.
POLICIES = {"yes": "strict", "true": "strict", "accept-new": "accept-new"}
_FLAGS = {"-J": "ProxyJump", "-i": "IdentityFile", "-p": "Port", "-l": "User"}
_PASSED_OVER_FLAGS = re.compile(r"^-[CqvTtxXaAkgN]+$")
_KEYWORD_VALUE = re.compile(r"\s*([^\s=]+)\s*(?:=\s*|\s+)(.*?)\s*$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SshArgsError(ValueError):
    """An option jarvisctl cannot honour; the message names it and what to do instead."""


def ssh_options(text: str) -> tuple[tuple[str, str], ...]:
    """(ssh_config keyword, value) for each option of an `ssh` argument string, in order;
    `StrictHostKeyChecking` with the host_key_policy it means."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SshArgsError(f"cannot be split into arguments ({exc})") from None
    options: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        flag, inline = word[:2], word[2:]
        if flag == "-o" or flag in _FLAGS:
            if not inline:
                index += 1
                if index == len(words):
                    raise SshArgsError(f"`{word}` needs a value")
                inline = words[index]
            option = (
                _option(inline)
                if flag == "-o"
                else _checked(_FLAGS[flag], inline, f"{flag} {inline}")
            )
            if option is not None:
                options.append(option)
        elif not _PASSED_OVER_FLAGS.match(word):
            raise SshArgsError(
                f"`{word}` is not an ssh option jarvisctl applies; it understands -o "
                f"Keyword=value, -J, -i, -p, -l"
            )
        index += 1
    return tuple(options)


def _option(text: str) -> tuple[str, str] | None:
    found = _KEYWORD_VALUE.fullmatch(text)
    if found is None:
        raise SshArgsError(f"`-o {text}` is not `Keyword=value`")
    keyword, value = found.groups()
    lower = keyword.lower()
    if lower == "stricthostkeychecking":
        policy = POLICIES.get(value.lower())
        if policy is None:
            raise SshArgsError(
                f"`-o {text}`: jarvisctl checks host keys strictly or with accept-new "
                f"(StrictHostKeyChecking yes or accept-new, or host_key_policy), and never turns "
                f"the check off or asks"
            )
        return "StrictHostKeyChecking", policy
    if lower in APPLIED:
        return _checked(APPLIED[lower], value, f"-o {text}")
    if lower in PASSED_OVER:
        return None
    raise SshArgsError(
        f"`-o {text}`: {keyword} is not an ssh_config keyword jarvisctl applies; it applies "
        f"{', '.join(sorted(APPLIED.values()))}"
    )


def _checked(keyword: str, value: str, written: str) -> tuple[str, str]:
    if not value:
        raise SshArgsError(f"`{written}` has no value")
    if _CONTROL.search(value):
        raise SshArgsError(f"`{written!r}` has a control character (a newline?) in its value")
    checked = CHECKED.get(keyword)
    if checked is not None and checked[0](value) is None:
        raise SshArgsError(f"`{written}`: {keyword} takes {checked[1]}")
    return keyword, value
