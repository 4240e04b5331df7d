"""The host's side of a backup: one POSIX `sh` script that writes the stream on stdout.

`paths`: `tar -c -f - [--exclude=GLOB...] -- PATH...` piped into the compressor (none: no
pipe); `command`: the command's own stdout, compressed the same way. Only `sh`, `tar` and the
compressor are needed, and nothing is written on the host: no temporary file, no status file.
A pipeline's status is the last command's in POSIX sh, so each side of the pipe reports its own
status on a descriptor that a command substitution collects (`echo "tar $?" >&3`), and the
script exits with the first failure's: a tar that fails mid-way (a path that vanished) fails
the backup even though the compressor ended well. Every path and glob is shell-quoted.
"""

from __future__ import annotations

import shlex

from jarvisctl.backup.compression import HOST_COMPRESSOR
from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.plan.model import BackupPlan

# Lines the script writes on stderr, before the exit, to say which side failed.
TRAILER = "jarvisctl-backup:"
# `nice`/`ionice` where the host has them and they are allowed (a container may refuse an I/O
# class): the words go into $N, expanded unquoted before each command of the stream.
_NICE = (
    "N=; command -v nice >/dev/null 2>&1 && N='nice -n 19'; "
    'command -v ionice >/dev/null 2>&1 && ionice -c 3 true 2>/dev/null && N="$N ionice -c 3"; '
)


def host_command(plan: BackupPlan, settings: ConnectionSettings) -> str:
    """The script sent to the host for `plan` (`become` wraps it in sudo unless the connection
    already runs everything with it)."""
    source, label = _source(plan)
    compressor = HOST_COMPRESSOR[plan.compress]
    needs = ["tar"] if plan.source == "paths" else []
    if compressor is not None:
        needs.append(compressor.split()[0])
    script = "".join(_require(tool) for tool in needs) + (_NICE if plan.nice else "N=; ")
    if compressor is None:
        script += _alone(source, label)
    else:
        script += _piped(source, label, compressor)
    return _become(script, settings) if plan.become and not settings.become else script


def _source(plan: BackupPlan) -> tuple[str, str]:
    """The command that writes the uncompressed stream, and what to call it in a message."""
    if plan.source == "command":
        if not plan.command:
            raise ValueError(f"backup {plan.name!r} has source command and no command")
        return f"$N sh -c {shlex.quote(plan.command)}", "the backup's command"
    if not plan.paths:
        raise ValueError(f"backup {plan.name!r} has source paths and no path")
    excludes = "".join(f" {shlex.quote('--exclude=' + glob)}" for glob in plan.exclude)
    paths = " ".join(shlex.quote(path) for path in plan.paths)
    return f"$N tar -c -f -{excludes} -- {paths}", "tar"


def _require(tool: str) -> str:
    return (
        f"command -v {tool} >/dev/null 2>&1 || {{ "
        f"echo '{TRAILER} {tool} is not installed on this host' >&2; exit 127; }}; "
    )


def _alone(source: str, label: str) -> str:
    return f"{source}; s=$?; {_fail_unless('s', label)}; exit 0"


def _piped(source: str, label: str, compressor: str) -> str:
    """`source | compressor`, each side's status collected through descriptor 3 while the data
    goes out on descriptor 4 (the script's stdout)."""
    return (
        "exec 4>&1; "
        f's=$( {{ {{ {source} 3>&- 4>&-; echo "a $?" >&3; }} | '
        f'{{ $N {compressor} 3>&- >&4 4>&-; echo "b $?" >&3; }}; }} 3>&1 ); '
        "exec 4>&-; "
        "a=${s#*a }; a=${a%%[!0-9]*}; b=${s#*b }; b=${b%%[!0-9]*}; "
        f"{_fail_unless('a', label)}; {_fail_unless('b', compressor.split()[0])}; exit 0"
    )


def _fail_unless(status: str, label: str) -> str:
    """Exit with the status in variable `status` (1 if empty) unless it is 0, saying whose."""
    message = f"{TRAILER} {label} exited with status ${status}"
    return f'[ "${status}" = 0 ] || {{ echo "{message}" >&2; exit "${{{status}:-1}}"; }}'


def _become(script: str, settings: ConnectionSettings) -> str:
    """The script as the backup's `become` user (root unless the connection names another):
    through `sudo -n` (never a password prompt), or as it is when the login is that user."""
    target = settings.become_user or "root"
    user = f"-u {shlex.quote(target)} " if settings.become_user else ""
    quoted = shlex.quote(script)
    return (
        f'if [ "$(id -un)" = {shlex.quote(target)} ]; then exec sh -c {quoted}; '
        f"else exec sudo -n {user}-- sh -c {quoted}; fi"
    )
