"""Which commands a host is sure to have, and a PATH that offers only those.

The kinds need nothing on a host beyond what every Debian installation has: the commands of the
packages Debian marks Essential (dash, bash, coreutils, findutils, grep, sed, util-linux...).
Everything else is optional: procps, systemd's tools, chrony, docker, curl, wget, nc, openssl,
busybox, the Jetson tools. A kind that needs one either falls back (tcp_port: nc, then bash's
/dev/tcp, then curl) or says which one is missing in an UNKNOWN reason.

`bare_path(directory)` builds a directory of symlinks to the Essential commands only; tests give
it as PATH to sshd test hosts and to the local runner, so the "optional tools absent" path runs
on this machine whatever it has installed. With JARVIS_TEST_HIDE_TOOLS=1 in the environment,
every sshd test host gets that PATH (`.ci/run` runs the end-to-end tests that way once more).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

HIDE_TOOLS_VARIABLE = "JARVIS_TEST_HIDE_TOOLS"
_COMMAND_DIRS = frozenset({"/bin", "/sbin", "/usr/bin", "/usr/sbin"})


def tools_hidden() -> bool:
    """Whether this test session was asked to give every sshd test host the bare PATH."""
    return os.environ.get(HIDE_TOOLS_VARIABLE, "") not in ("", "0")


def essential_commands() -> dict[str, str]:
    """Command name -> path, for every command of the packages Debian marks Essential (what a
    minimal Debian 12, `mmdebstrap --variant=minbase`, has on its PATH)."""
    listed = _dpkg_query("-W", "-f=${Essential} ${Package}\\n")
    packages = [line.split()[1] for line in listed.splitlines() if line.startswith("yes ")]
    if not packages:
        raise RuntimeError("dpkg lists no Essential package: is this a Debian system?")
    commands: dict[str, str] = {}
    for path in _dpkg_query("-L", *packages).splitlines():
        if os.path.dirname(path) in _COMMAND_DIRS and _is_command(path):
            commands.setdefault(os.path.basename(path), path)
    return commands


def bare_path(directory: Path) -> str:
    """A directory of symlinks to the Essential commands only, to use as a host's PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, target in sorted(essential_commands().items()):
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(target)
    return str(directory)


def _dpkg_query(*args: str) -> str:
    done = subprocess.run(
        ["dpkg-query", *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def _is_command(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)
