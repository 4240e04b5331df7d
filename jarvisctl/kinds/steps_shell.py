"""What the built-in step kinds share: validators for the values they put into commands, and
the small POSIX sh pieces (no bash, no GNU-only option) they are built from.

Every value a kind puts into a command goes through `q` (shlex.quote); the validators refuse
what would be a valid shell word but a wrong argument (a path that is not absolute, a name that
a tool would read as an option).
"""

from __future__ import annotations

import re
import shlex

q = shlex.quote

# a host name or an IP address; never an option, never two words
_HOST = re.compile(r"^[A-Za-z0-9_.:%-]+$")
# a systemd unit, a container, a user: never starts with '-', never a space or a slash
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@\\-]*$")


def absolute_path(value: str) -> str:
    """A pydantic validator: an absolute path, not `/`, not a directory (`/etc/`)."""
    if not value.startswith("/") or value.rstrip("/") == "" or value.endswith("/"):
        raise ValueError(f"path {value!r} is not an absolute path to a file (e.g. /etc/app.conf)")
    if "\0" in value:
        raise ValueError(f"path {value!r} holds a NUL character")
    return value


def plain_path(value: str) -> str:
    """A pydantic validator: a path on the host (absolute, or relative to the login's home)."""
    if not value or "\0" in value:
        raise ValueError(f"path {value!r} is empty or holds a NUL character")
    if value.startswith("~"):  # quoted, `~` is not expanded: it would name a directory "~"
        raise ValueError(
            f"path {value!r} starts with '~': give it absolute, or relative to the login's home "
            "without '~/'"
        )
    return value


def host_name(value: str) -> str:
    if not _HOST.match(value) or value.startswith("-"):
        raise ValueError(f"invalid host {value!r} (a host name or an IP address, e.g. 127.0.0.1)")
    return value


def plain_name(what: str, value: str) -> str:
    """A name a tool takes as one argument (a unit, a container, a user)."""
    if not _NAME.match(value):
        raise ValueError(
            f"invalid {what} {value!r} (letters, digits and _ . : @ \\ -, not starting with '-')"
        )
    return value


def sha256_of(path_variable: str) -> str:
    """Sets `s` to the sha256 of the file named by the shell variable (e.g. "$d"): coreutils
    sha256sum (Essential on Debian), else openssl, else busybox; exit 3 with a message when the
    host has none of them."""
    return (
        "if command -v sha256sum >/dev/null 2>&1; then "
        f"s=$(sha256sum < {path_variable}) || exit 3; s=${{s%% *}}; "
        "elif command -v openssl >/dev/null 2>&1; then "
        f"s=$(openssl dgst -sha256 < {path_variable}) || exit 3; s=${{s##* }}; "
        "elif command -v busybox >/dev/null 2>&1; then "
        f"s=$(busybox sha256sum < {path_variable}) || exit 3; s=${{s%% *}}; "
        "else echo 'no sha256 tool on the host: install coreutils (sha256sum) or openssl' >&2; "
        "exit 3; fi"
    )


def seconds(value: float) -> str:
    """Whole seconds for tools that take no fractions (nc -w, curl -m), never 0."""
    whole = int(value)
    return str(max(1, whole if whole == value else whole + 1))
