"""A command run as another user on a connection that does not itself run with `become`: a
step's or a backup's own `become: true` on a host whose connection logs in as someone else."""

from __future__ import annotations

import shlex


def as_become_user(script: str, become_user: str | None) -> str:
    """`script` as `become_user` (root when None): through `sudo -n` (never a password
    prompt: it fails at once instead), or as it is when the login already is that user, so
    that a root login on a host without sudo still works. stdin passes through to `script`."""
    target = become_user or "root"
    user = f"-u {shlex.quote(target)} " if become_user else ""
    quoted = shlex.quote(script)
    return (
        f'if [ "$(id -un)" = {shlex.quote(target)} ]; then exec sh -c {quoted}; '
        f"else exec sudo -n {user}-- sh -c {quoted}; fi"
    )
