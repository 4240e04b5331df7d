"""The `copy` step kind: a controller file, a rendered template or inline content written to a
path on the host beside it and renamed over it (readers never see half a file), with its mode
and owner. Unchanged content, mode and owner is `ok`, not `changed`.

The content goes to the host on the command's stdin, never on its command line (the host's
process list shows no data). The probe compares the file's sha256, mode and owner with the
wanted ones; the verification is the probe again.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import field_validator, model_validator

from jarvisctl.config.models.values import NonEmptyText
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.step_base import HostCommand, ShellAction, StepFiles, StepKind
from jarvisctl.kinds.steps_shell import absolute_path, plain_name, q, sha256_of

NEW_FILE_MODE = 0o644  # a new file's mode when the step sets none (an existing one keeps its own)
# the temporary file beside dest (mktemp wants six X at the end): backups exclude
# `.jarvisctl-new-*` (backup/host_command.py), so one left by a cut-off copy is never stored
TEMP_SUFFIX = ".jarvisctl-new-XXXXXX"
_MODE_TEXT = re.compile(r"^0?[0-7]{3,4}$")


def parse_mode(value: Any) -> int:
    """A mode from "0644"/"644"/"2755" (octal text) or a number (YAML's 0644 is 420)."""
    hint = 'octal digits as text ("0644", "0755", "2775") or YAML octal (0644)'
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"mode {value!r} is not {hint}")
    if isinstance(value, str):
        if not _MODE_TEXT.match(value):
            raise ValueError(f"mode {value!r} is not {hint}")
        return int(value, 8)
    if not 0 <= value <= 0o7777:
        raise ValueError(f"mode {value!r} is out of range ({hint})")
    if value > 0o777 and set(str(value)) <= set("01234567") and len(str(value)) in (3, 4):
        # `mode: 644` is the number 644 (0o1204: sticky bit, odd permissions), not 0o644
        raise ValueError(f'mode {value} is a decimal number: write it "0{value}" ({hint})')
    return value


class CopyParams(KindParams):
    src: NonEmptyText | None = None  # a controller file, relative to the playbook
    content: str | None = None  # or the content itself
    dest: NonEmptyText  # the file on the host (absolute)
    template: bool = False  # render src as a Jinja2 template with the host's variables
    mode: int | None = None  # None: an existing file keeps its mode, a new one gets 0644
    owner: str | None = None  # "user" or "user:group" (names or ids); None: as it is
    backup: bool = False  # keep the replaced file as DEST.<UTC time>~

    _dest_ok = field_validator("dest")(absolute_path)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        return None if value is None else parse_mode(value)

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        if value is not None:
            parts = value.split(":")
            if len(parts) > 2:
                raise ValueError(f"owner {value!r} is not 'user' or 'user:group'")
            for part in parts:
                plain_name("owner", part)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> CopyParams:
        if (self.src is None) == (self.content is None):
            raise ValueError("give exactly one of src (a controller file) and content")
        if self.template and self.src is None:
            raise ValueError("template: true renders src; content is written as it is")
        return self


class Copy(StepKind[CopyParams]):
    name = "copy"
    description = (
        "Write a controller file (`src`, a Jinja2 template with `template: true`) or `content` "
        "to `dest` on the host: into a temporary file beside it, then renamed over it, with "
        "`mode` and `owner`. Unchanged content, mode and owner is ok, not changed."
    )
    params_model = CopyParams

    def action(self, params: CopyParams, files: StepFiles) -> ShellAction:
        if params.src is not None:
            data = files.read(params.src, template=params.template)
        else:
            data = (params.content or "").encode()
        probe = copy_probe(params, hashlib.sha256(data).hexdigest())
        where = f"{params.src or 'content'} -> {params.dest}"  # plan shows the data's size
        apply = HostCommand(copy_apply(params), stdin=data, describe=where)
        return ShellAction(apply=(apply,), probe=probe, verify=probe)

    def summary(self, params: CopyParams) -> str:
        return f"copy {params.src or 'content'} -> {params.dest}"


def _is_file(variable: str) -> str:
    """Exit 3 when the path is a link or not a regular file: never written through, never
    replaced (a link may point anywhere; a directory is not a file)."""
    return (
        f"if [ -L {variable} ]; then printf '%s is a symbolic link: not written through nor "
        f"replaced\\n' {variable} >&2; exit 3; fi; "
        f"if [ -e {variable} ] && [ ! -f {variable} ]; then printf '%s exists and is not a "
        f"regular file\\n' {variable} >&2; exit 3; fi"
    )


def _owner_format(owner: str) -> str:
    """The stat -c format to compare with the owner: names with %U/%G, numeric ids %u/%g."""
    user, _, group = owner.partition(":")
    formats = ["%u" if user.isdigit() else "%U"]
    if group:
        formats.append("%g" if group.isdigit() else "%G")
    return ":".join(formats)


def copy_probe(params: CopyParams, digest: str) -> str:
    """Exit 0: dest has this content, mode and owner; 1: it differs or is absent; 3: error."""
    lines = [f"d={q(params.dest)}", _is_file('"$d"'), '[ -f "$d" ] || exit 1', sha256_of('"$d"')]
    lines.append(f'[ "$s" = {digest} ] || exit 1')
    if params.mode is not None:
        lines.append(f'm=$(stat -c %a "$d") || exit 3; [ "$m" = {params.mode:o} ] || exit 1')
    if params.owner is not None:
        fmt, wanted = _owner_format(params.owner), q(params.owner)
        lines.append(f'o=$(stat -c {fmt} "$d") || exit 3; [ "$o" = {wanted} ] || exit 1')
    lines.append("exit 0")
    return "\n".join(lines)


def copy_apply(params: CopyParams) -> str:
    """stdin into a temporary file beside dest (umask 077: nobody reads it half-written), its
    mode and owner set, the old file kept with `backup`, then renamed over dest."""
    mode = f"{params.mode:o}" if params.mode is not None else '"$m"'
    lines = [
        f"d={q(params.dest)}",
        _is_file('"$d"'),
        "umask 077",
        f't=$(mktemp "$d"{TEMP_SUFFIX}) || exit 1',
        "trap 'rm -f -- \"$t\"' EXIT",
        "trap 'exit 143' TERM HUP INT",
        'cat > "$t" || exit 1',
    ]
    if params.mode is None:  # an existing file keeps its mode, a new one gets NEW_FILE_MODE
        lines.append(
            f'if [ -e "$d" ]; then m=$(stat -c %a "$d") || exit 1; else m={NEW_FILE_MODE:o}; fi'
        )
    lines.append(f'chmod {mode} "$t" || exit 1')
    # an existing file's owner and group first, so that `owner: user` keeps the group
    lines.append(
        'if [ -e "$d" ]; then o=$(stat -c %u:%g "$d") || exit 1; '
        'if [ "$o" != "$(id -u):$(id -g)" ]; then chown "$o" "$t" || exit 1; fi; fi'
    )
    if params.owner is not None:
        lines.append(f'chown {q(params.owner)} "$t" || exit 1')
    if params.backup:
        lines.append(
            'if [ -e "$d" ]; then b="$d.$(date -u +%Y%m%dT%H%M%SZ)~"; '
            'ln -- "$d" "$b" 2>/dev/null || cp -p -- "$d" "$b" || exit 1; fi'
        )
    lines.append('mv -f -- "$t" "$d"')
    return "\n".join(lines)
