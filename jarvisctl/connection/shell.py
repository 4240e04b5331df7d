"""How a command is wrapped before it is sent to a host: `sudo -n`, coreutils `timeout`, `sh -c`."""

from __future__ import annotations

import re
import shlex

from jarvisctl.connection.base import KILL_AFTER
from jarvisctl.connection.sweep import RUN_TOKEN, kill_marked_command
from jarvisctl.core.durations import format_seconds

_TAG_PREFIX = "jarvisctl-run:"
# The command that runs a script sent on stdin. It is sent without `timeout` or an extra `sh -c`:
# the controller ends a command of such a script that overruns its own deadline (the script
# with it), and the script's own watchdog ends it and all it started at its budget
# (engine/script.py); the tag becomes its (unused) first argument, which is all
# `end_tagged_command` needs to find it.
SCRIPT_ON_STDIN = "sh -s"


def marker_assignment(marker: str | None) -> str:
    """`JARVIS_RUN_TOKEN=MARKER ` to put before the script shell's command (or `env`'s), so
    that the shell starts with a check script's marker in its environment; "" without one.

    A process's /proc/PID/environ is the environment it was exec'd with: a shell that only
    exported the marker would show none in a subshell of it, nor in a child between its fork
    and its exec, and the sweep (connection/sweep.py) would miss both: a pure shell loop
    (`while :; do :; done &`) for ever, a `setsid` child now and then (a loaded host schedules
    the exec late). An assignment costs no process; `env` (under sudo, which runs no shell)
    costs an exec, about 1 ms of the host's CPU."""
    if marker is None:
        return ""
    if not re.fullmatch(r"[0-9a-f]+", marker):
        raise ValueError(f"a run marker is lowercase hex, got {marker!r}")
    return f"{RUN_TOKEN}={marker} "


def become_prefix(become: bool, become_user: str | None, login_user: str | None) -> str:
    """`sudo -n [-u USER] -- ` when privilege escalation is asked for and actually changes user.

    `-n` makes sudo fail at once ("a password is required") instead of waiting for a password
    nobody will type. Already being the target user needs no sudo, so root hosts without sudo
    installed still work with `become: true`.
    """
    if not become:
        return ""
    target = become_user or "root"
    if login_user is not None and target == login_user:
        return ""
    user_option = f"-u {shlex.quote(become_user)} " if become_user else ""
    return f"sudo -n {user_option}-- "


def wrap_remote_command(
    command: str,
    *,
    timeout: float,
    become: bool,
    become_user: str | None,
    login_user: str | None,
    tag: str | None = None,
    marker: str | None = None,
) -> str:
    """The exact line sent on the exec channel.

    `timeout` puts itself and `sh -c COMMAND` in a new process group and signals the whole
    group: TERM at the deadline, KILL KILL_AFTER seconds later, so children of the command end
    too. It runs under sudo (not around it) so that it may signal the processes it started.
    A `tag` is a no-op (`: jarvisctl-run:TAG;`) that lets `end_tagged_command` find it later.
    The script shell (SCRIPT_ON_STDIN) is the exception: it is sent as is, with the script's
    `marker` in its environment (`marker_assignment`), tagged by argument.
    """
    sudo = become_prefix(become, become_user, login_user)
    if command == SCRIPT_ON_STDIN:
        format_seconds(timeout)  # still a positive duration: the controller waits that long
        marked = marker_assignment(marker)
        shell = ("env " if sudo and marked else "") + marked + command
        return sudo + (shell if tag is None else f"{shell} {_TAG_PREFIX}{tag}")
    body = command if tag is None else f": {_TAG_PREFIX}{tag}; {command}"
    limits = f"-s TERM -k {format_seconds(KILL_AFTER)} {format_seconds(timeout)}"
    return f"{sudo}timeout {limits} sh -c {shlex.quote(body)}"


def end_tagged_command(tag: str, signal: str = "TERM") -> str:
    """A command that sends `signal` to every process in the session of a tagged command.

    The session, not the process group: `timeout` (ours, and any the command runs itself) puts
    its child in a new process group, but every process of one SSH exec keeps the session sshd
    gave it. A plain command's `timeout` passes the TERM on and KILLs what is left KILL_AFTER
    seconds later; a check script's commands have no `timeout` of their own, and the controller
    sends `end_script_command` for what is left. Finds the tagged process with pgrep and signals
    the session with pkill where there are (procps), otherwise with a grep over the command
    lines in /proc, and one over the stat lines (the session is the 6th field, after the
    command name in parentheses); the patterns never match the killer's own line.
    """
    if not re.fullmatch(r"[0-9a-f]+", tag):
        raise ValueError(f"a command tag is lowercase hex, got {tag!r}")
    if signal not in ("TERM", "KILL"):
        raise ValueError(f"a command is ended with TERM or KILL, got {signal!r}")
    return (
        f"if command -v pgrep >/dev/null; then "
        f"pids=$(pgrep -f '{_TAG_PREFIX}[{tag[0]}]{tag[1:]}'); "
        f"else pids=; for f in $(grep -ls '{_TAG_PREFIX}[{tag[0]}]{tag[1:]}' "
        f'/proc/[0-9]*/cmdline); do f=${{f#/proc/}}; pids="$pids ${{f%/cmdline}}"; done; fi; '
        f"sids=; alt=; for p in $pids; do "
        f"{{ read -r s < /proc/$p/stat; }} 2>/dev/null || continue; "
        f's=${{s##*) }}; set -- $s; sids="${{sids:+$sids,}}$4"; alt="${{alt:+$alt|}}$4"; done; '
        f'if [ -z "$sids" ]; then :; elif command -v pkill >/dev/null; then '
        f'pkill -{signal} -s "$sids"; else '
        f'for f in $(grep -lsE "\\) [A-Za-z] -?[0-9]+ -?[0-9]+ ($alt) " /proc/[0-9]*/stat); '
        f'do f=${{f#/proc/}}; kill -{signal} "${{f%/stat}}"; done 2>/dev/null; fi; true'
    )


def end_script_command(tag: str, marker: str) -> str:
    """A command that KILLs what is left of a check script that did not end on TERM: every
    process of its session, then every process that carries its marker (what its commands
    started with `setsid`), as the script's own sweep would have: among the processes started
    since the script's shell (the first tagged process), else all of them."""
    return (
        f"{end_tagged_command(tag, 'KILL')}\n"
        'first=0; for p in $pids; do [ "$first" -eq 0 ] || [ "$p" -lt "$first" ] && first=$p; '
        f"done\n{kill_marked_command(marker, 'first')}"
    )
