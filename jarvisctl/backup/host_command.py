"""The host's side of a backup: one POSIX `sh` script that writes the stream on stdout.

The script travels on the channel's stdin to `sh -s` (HostSide.command): the exec command line,
which every user of the host sees in its process list, holds no part of the backup's command
(which may carry a password) nor its paths. The whole script is one `{ ...; } </dev/null`
compound, read whole before it runs, so nothing it runs can read the rest of it from stdin.

`paths`: `tar -c -f - [--exclude=GLOB...] -- PATH...` piped into the compressor (none: no
pipe). Besides the plan's own excludes, tar leaves out what jarvisctl itself leaves beside files
when it is cut off (OWN_LEFTOVERS): a restore's `.jarvisctl-new-<8 hex>-<N>` temporary files and
`.jarvisctl-old-<8 hex>-<N>` kept-aside ones, and a copy step's `DEST.jarvisctl-new-XXXXXX`,
matched by the same globs the restore's own sweep uses (restore_host.py), so an operator's
`.jarvisctl-new-mine` is kept. GNU tar matches an unanchored `--exclude` against the member's
last components at any depth (as does busybox's, when built with it: its exclude_file tries
each component start); a tar without `--exclude` (Debian's busybox builds) stores them, and
refuses a backup that has `exclude:` of its own with a message saying so, not tar's usage.
 `command`: the command's own stdout, compressed the same way. The command is one quoted
word run by `eval` in a subshell, as `sh -c` ran it before: its syntax cannot break the script
and its `exit` ends only itself, and no process is started with it as an argument. Only `sh`,
`tar` and the compressor are needed, and nothing is written on the host.

A pipeline's status is the last command's in POSIX sh, so each side of the pipe reports its own
status on a descriptor that a command substitution collects (`echo "a $?" >&3`), and the script
exits with the first failure's: a tar that fails mid-way (a path it cannot read) fails the
backup even though the compressor ended well. GNU tar's status 1 ("file changed as we read
it", "file removed before we read it") is a warning, as restic and borg treat it: the archive
is whole, each member as tar read it, so the snapshot is kept and the warning reported.
"""

from __future__ import annotations

import shlex

from jarvisctl.backup.compression import HOST_COMPRESSOR
from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.core.frozen import frozen
from jarvisctl.plan.model import BackupPlan

# Lines the script writes on stderr, before the exit, to say which side failed.
TRAILER = "jarvisctl-backup:"
# The line it writes when GNU tar warned (status 1) and the snapshot is kept all the same.
WARNING = f"{TRAILER} warning:"
# The script's own shell at the lowest CPU and I/O priority where the host allows it (a
# container may refuse an I/O class): everything it starts inherits both.
_NICE = (
    "command -v renice >/dev/null 2>&1 && renice -n 19 -p $$ >/dev/null 2>&1; "
    "command -v ionice >/dev/null 2>&1 && ionice -c 3 -p $$ >/dev/null 2>&1; "
)
# GNU tar's status 1 is a warning (some file changed while it was read); any other tar's 1 is
# its only failure status.
_GNU_TAR = 'w=; case "$(tar --version 2>/dev/null)" in *"GNU tar"*) w=1;; esac; '
_SCRIPT_SHELL = "sh -s"
_HEX8 = "[0-9a-f]" * 8
_MKTEMP6 = "[A-Za-z0-9]" * 6
# What jarvisctl leaves beside files when cut off (restore_plan.py's names, restore_host.py's
# globs for them; kinds/steps_copy.py's mktemp name): never stored in a backup.
OWN_LEFTOVERS = (
    f".jarvisctl-new-{_HEX8}-[0-9]*",
    f".jarvisctl-old-{_HEX8}-[0-9]*",
    f"*.jarvisctl-new-{_MKTEMP6}",
)
# Whether this tar takes --exclude ($x): GNU tar does; any other is tried on /dev/null.
_CAN_EXCLUDE = (
    'x=; if [ -n "$w" ] || tar -c -f /dev/null --exclude=x -- /dev/null >/dev/null 2>&1; '
    "then x=1; fi; "
)
_CANNOT_EXCLUDE = (
    f'[ -n "$x" ] || {{ echo "{TRAILER} this host\'s tar has no --exclude (busybox built '
    "without it): it cannot leave out the backup's exclude: patterns; install GNU tar there, "
    'or drop exclude:" >&2; exit 2; }; '
)


# jarvisctl's own excludes as the script's positional parameters ("$@" after the plan's), when
# the tar takes them: no quoting of a list inside a ${x:+...} expansion to rely on.
_OWN = (
    "set --; "
    + '[ -z "$x" ] || set --'
    + "".join(f" {shlex.quote('--exclude=' + glob)}" for glob in OWN_LEFTOVERS)
    + "; "
)


@frozen
class HostSide:
    """What is sent to the host: the exec `command` (no part of the backup in it) and the
    `script` it reads on its stdin."""

    command: str
    script: str


def host_command(plan: BackupPlan, settings: ConnectionSettings) -> HostSide:
    """The command and script for `plan` (`become`: the script's shell through sudo, unless
    the connection already runs everything with it)."""
    source, label = _source(plan)
    compressor = HOST_COMPRESSOR[plan.compress]
    needs = ["tar"] if plan.source == "paths" else []
    if compressor is not None:
        needs.append(compressor.split()[0])
    body = "".join(_require(tool) for tool in needs) + (_NICE if plan.nice else "")
    if plan.source == "paths":
        body += _GNU_TAR + _CAN_EXCLUDE + (_CANNOT_EXCLUDE if plan.exclude else "") + _OWN
    if compressor is None:
        body += _alone(source, label)
    else:
        body += _piped(source, label, compressor)
    script = "{\n" + body + "\n} </dev/null\n"
    command = _become(settings) if plan.become and not settings.become else _plain()
    return HostSide(command, script)


def _source(plan: BackupPlan) -> tuple[str, str]:
    """The command that writes the uncompressed stream, and what to call it in a message."""
    if plan.source == "command":
        if not plan.command:
            raise ValueError(f"backup {plan.name!r} has source command and no command")
        return f'c={shlex.quote(plan.command)}; ( eval "$c" )', "the backup's command"
    if not plan.paths:
        raise ValueError(f"backup {plan.name!r} has source paths and no path")
    excludes = "".join(f" {shlex.quote('--exclude=' + glob)}" for glob in plan.exclude)
    paths = " ".join(shlex.quote(path) for path in plan.paths)
    return f'tar -c -f -{excludes} "$@" -- {paths}', "tar"


def _require(tool: str) -> str:
    return (
        f"command -v {tool} >/dev/null 2>&1 || {{ "
        f"echo '{TRAILER} {tool} is not installed on this host' >&2; exit 127; }}; "
    )


def _alone(source: str, label: str) -> str:
    return f"{source}; a=$?; {_judge_source('a', label)}; exit 0"


def _piped(source: str, label: str, compressor: str) -> str:
    """`source | compressor`, each side's status collected through descriptor 3 while the data
    goes out on descriptor 4 (the script's stdout)."""
    return (
        "exec 4>&1; "
        f's=$( {{ {{ {source} 3>&- 4>&-; echo "a $?" >&3; }} | '
        f'{{ {compressor} 3>&- >&4 4>&-; echo "b $?" >&3; }}; }} 3>&1 ); '
        "exec 4>&-; "
        "a=${s#*a }; a=${a%%[!0-9]*}; b=${s#*b }; b=${b%%[!0-9]*}; "
        f"{_judge_source('a', label)}; {_fail_unless('b', compressor.split()[0])}; exit 0"
    )


def _judge_source(status: str, label: str) -> str:
    """The source's status: tar's 1 a warning when tar is GNU tar ($w), else as any other."""
    if label != "tar":
        return _fail_unless(status, label)
    warned = f"{WARNING} tar exited with status 1 (a file changed while it was read)"
    return (
        f'if [ -n "$w" ] && [ "${status}" = 1 ]; then echo "{warned}" >&2; '
        f"else {_fail_unless(status, label)}; fi"
    )


def _fail_unless(status: str, label: str) -> str:
    """Exit with the status in variable `status` (1 if empty) unless it is 0, saying whose."""
    message = f"{TRAILER} {label} exited with status ${status}"
    return f'[ "${status}" = 0 ] || {{ echo "{message}" >&2; exit "${{{status}:-1}}"; }}'


def _plain() -> str:
    # not SCRIPT_ON_STDIN itself: the connection then puts this under its `timeout`, which is
    # the backup's timeout (a check script has its own watchdog instead)
    return f"exec {_SCRIPT_SHELL}"


def _become(settings: ConnectionSettings) -> str:
    """The script's shell as the backup's `become` user (root unless the connection names
    another): through `sudo -n` (never a password prompt), or as it is when the login is that
    user. Its stdin, the script, passes through sudo."""
    target = settings.become_user or "root"
    user = f"-u {shlex.quote(target)} " if settings.become_user else ""
    return (
        f'if [ "$(id -un)" = {shlex.quote(target)} ]; then exec {_SCRIPT_SHELL}; '
        f"else exec sudo -n {user}-- {_SCRIPT_SHELL}; fi"
    )
