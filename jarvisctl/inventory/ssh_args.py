"""Ansible's `ansible_ssh_common_args` and `ansible_ssh_extra_args`, read as OpenSSH reads them.

Ansible hands these to the `ssh` command line. jarvisctl takes the options that say where, as
whom and how trusted to connect (`-o Keyword=value` for the ssh_config keywords it reads, and
`-J`, `-i`, `-p`, `-l`), as OpenSSH does: ahead of the ssh_config files, the first value of a
keyword winning. Options that only tune OpenSSH's own client (connection sharing, compression,
logging) have no counterpart and are passed over. Anything else is refused, naming the option:
connecting differently from what the inventory says, in silence, would be worse.
"""

from __future__ import annotations

import re
import shlex

# The ssh_config keywords jarvisctl applies (connection/ssh_config.py), by lower-case name.
APPLIED = {
    word.lower(): word
    for word in (
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
}
# OpenSSH client tuning with no effect on where, as whom or how trusted: jarvisctl keeps its own
# connections open, and logs and compresses nothing on its own terms.
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
        "ForwardX11",
        "RequestTTY",
        "AddKeysToAgent",
        "VisualHostKey",
    )
)
_FLAGS = {"-J": "ProxyJump", "-i": "IdentityFile", "-p": "Port", "-l": "User"}
_PASSED_OVER_FLAGS = re.compile(r"^-[CqvTtxXaAkgN46]+$")


class SshArgsError(ValueError):
    """An option jarvisctl cannot honour; the message names it and what to do instead."""


def ssh_options(text: str) -> tuple[tuple[str, str], ...]:
    """(ssh_config keyword, value) for each option of an `ssh` argument string, in order."""
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
            option = _option(inline) if flag == "-o" else (_FLAGS[flag], inline)
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
    if not text.strip():
        raise SshArgsError("`-o` has an empty option")
    keyword, _, value = text.partition("=") if "=" in text.split()[0] else text.partition(" ")
    keyword, value = keyword.strip(), value.strip()
    lower = keyword.lower()
    if lower == "stricthostkeychecking":
        if value.lower() in ("yes", "true"):
            return None  # what jarvisctl does anyway
        raise SshArgsError(
            f"`-o {text}`: jarvisctl sets host key checks with host_key_policy (strict, the "
            f"default, or accept-new) and never turns them off"
        )
    if lower in APPLIED:
        if not value:
            raise SshArgsError(f"`-o {text}` has no value")
        return APPLIED[lower], value
    if lower in PASSED_OVER:
        return None
    raise SshArgsError(
        f"`-o {text}`: {keyword} is not an ssh_config keyword jarvisctl applies; it applies "
        f"{', '.join(sorted(APPLIED.values()))}"
    )
