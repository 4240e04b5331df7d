"""Finding and ending what a check script started on a host, by the value in its environment.

Every command of a check script (engine/script.py) carries RUN_TOKEN in its environment,
inherited by whatever it starts, `setsid` or not. The script sweeps with it at its end; the
connection KILLs with it when a script has to be ended and will not end by itself
(`end_script_command`), and the local connection does the same in-process (`kill_marked`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal

# The environment variable that marks every process a script started.
RUN_TOKEN = "JARVIS_RUN_TOKEN"

# `_jk FIRST`: KILL the processes whose environment carries the marker ($_jm), among those started
# since PID FIRST (0: all): PIDs after it up to the last one now, wrapping past pid_max when the
# counter did. Never the sweeping shell itself (its own PID, from /proc/self: a subshell's $$ is its
# parent's) nor the script's shell ($$): both carry the marker when the script shell was started
# with it (connection/shell.py marker_assignment), and the one that sweeps is still needed; the
# script's shell, when the watchdog sweeps, is KILLed just before unless its PID is another
# process's by then. When there are none, no grep runs (grep itself runs without the marker). Then
# again, up to 10 passes. After a pass that killed something, over the same PIDs: what a process
# forked between the look and its KILL has a PID the pass did not cover. After one that found
# nothing (and saw no process in an execve, `_jp`), over the PIDs started since its look, and only
# if any of those is alive: a marked process can fork and exit between the look (the last PID) and
# the grep, leaving marked children the pass never looked at.
# `_jp ENVIRON_FILES`: whether one of these processes is in the middle of an execve: between
# its new memory and its new arguments and environment, it shows an empty command line and
# environment (a zombie or a kernel thread, flag PF_KTHREAD, shows them empty too, forever).
# Such a process may carry the marker (a check's `sh -c` starting a forker, say) and fork once
# its execve is done, so a pass that found nothing keeps its PIDs if one was there just before
# its look or just after it. Shell builtins only (command lines are short); a process started
# with an empty environment has arguments.
_PENDING = (
    '_jp() { for p; do x=; read -r x <"${p%environ}cmdline"; [ -z "$x" ] || continue; '
    'read -r x <"${p%environ}stat" || continue; x=${x##*) }; set -- $x; '
    "case $1 in Z|X) continue;; esac; [ $(($7 & 2097152)) -ne 0 ] || return 0; done; "
    "return 1; } 2>/dev/null"
)
SWEEP = (
    _PENDING
    + "\n"
    + (
        "_jk() { _js=$1; _ji=0; { read -r _jo _ </proc/self/stat; } || _jo=$$; "
        "while [ $_ji -lt 10 ]; do _ji=$((_ji + 1)); "
        "{ read -r _ _ _ _ n; } </proc/loadavg || return 0; "
        'w=; [ "$n" -ge "$_js" ] && [ "$_js" -gt 0 ] || w=1; '
        'set --; for d in /proc/[0-9]*; do p=${d#/proc/}; if [ "$p" -gt "$_js" ]; then '
        '[ "$w" ] || [ "$p" -le "$n" ] || continue; elif [ -z "$w" ] || [ "$p" -gt "$n" ]; then '
        'continue; fi; set -- "$@" "$d/environ"; done; [ $# -gt 0 ] || return 0; '
        'k=; _jp "$@" && k=1; '
        f'for p in $({RUN_TOKEN}= grep -lsxzF "{RUN_TOKEN}=$_jm" "$@" </dev/null); do '
        'p=${p#/proc/}; p=${p%/environ}; [ "$p" = $$ ] || [ "$p" = "$_jo" ] || '
        '{ kill -9 "$p" && k=1; }; done; [ "$k" ] || _jp "$@" || _js=$n; '
        "done; } 2>/dev/null"
    )
)


def _hex(value: str, what: str) -> str:
    if not re.fullmatch(r"[0-9a-f]+", value):
        raise ValueError(f"a {what} is lowercase hex, got {value!r}")
    return value


def kill_marked_command(marker: str, since: str = "") -> str:
    """A command that KILLs every process whose environment carries `marker` (the sweep):
    among those started after the PID in the shell variable `since`, else all."""
    first = f'"${{{since}:-0}}"' if since else "0"
    return f"_jm={_hex(marker, 'run marker')}\n{SWEEP}\n_jk {first}\n"


def kill_marked(marker: str, passes: int = 10) -> int:
    """KILL this machine's processes whose environment carries `marker`, as the sweep does on
    a host, until a pass finds none (a process may fork between a look and its KILL); how many
    were KILLed. For the local connection: its scripts run on this machine."""
    wanted = f"{RUN_TOKEN}={_hex(marker, 'run marker')}".encode()
    killed = 0
    for _ in range(passes):
        found = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as environ:
                    carried = wanted in environ.read().split(b"\0")
            except OSError:
                continue
            if carried:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    found += 1
        killed += found
        if not found:
            break
    return killed
