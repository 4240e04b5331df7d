"""Backups as a play declares them (`backups:`), and the stores jarvisctl.yml names
(`backup_stores:`).

Cross-field rules (`paths` or `command`, `file` with a command, `exclude` with paths) are
checked by the loader first (config/backup_entries.py), which knows where each key is written;
the model keeps them too, so that no BackupSpec breaks them whatever built it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from jarvisctl.config.models.base import StrictModel
from jarvisctl.config.models.values import (
    Count,
    NonEmptyText,
    PositiveDuration,
    Timeout,
    valid_backup_name,
    validate_tags,
)
from jarvisctl.core.errors import short_repr

BANDWIDTH_HINT = "bytes per second: a whole number, or e.g. 500KiB/s, 2MiB/s, 1MB/s"
_BANDWIDTH = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?(?:/s)?$")
_BANDWIDTH_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
MAX_BANDWIDTH = 100 * 1024**3  # 100 GiB/s: above any link, so a larger number is a typo


def parse_bandwidth(value: Any) -> int:
    """Bytes per second from `2097152`, `"2MiB/s"`, `"500KiB/s"`, `"1MB/s"`; ValueError with
    the valid forms otherwise. Zero is refused: it would mean "never send a byte"."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"invalid bandwidth {short_repr(value)} (expected {BANDWIDTH_HINT})")
    if isinstance(value, int):
        rate = value
    else:
        match = _BANDWIDTH.match(value.strip())
        if match is None:
            raise ValueError(f"invalid bandwidth {value!r} (expected {BANDWIDTH_HINT})")
        rate = round(float(match[1]) * _BANDWIDTH_UNITS[match[2]])
    if rate < 1 or rate > MAX_BANDWIDTH:
        raise ValueError(
            f"bandwidth {short_repr(value)} is out of range "
            f"(expected 1 byte/s to 100GiB/s; {BANDWIDTH_HINT}; omit it for no limit)"
        )
    return rate


Bandwidth = Annotated[int, BeforeValidator(parse_bandwidth)]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def valid_file_name(value: str) -> str:
    """The name a command's stream is stored under: one plain file name."""
    control = any(ord(c) < 32 or ord(c) == 127 for c in value)
    if "/" in value or control or value in (".", "..") or not value.strip():
        raise ValueError(
            f"invalid file name {short_repr(value)} (a plain file name such as app.dump: "
            "no '/', no control character, not '.' or '..')"
        )
    return value


KeepCount = Annotated[Count, Field(ge=0)]


class KeepRules(StrictModel):
    """`keep:` as restic's `forget --keep-*` counts: the last N, and one per day, ISO week,
    month for the last N of each."""

    last: KeepCount | None = None
    daily: KeepCount | None = None
    weekly: KeepCount | None = None
    monthly: KeepCount | None = None

    @model_validator(mode="after")
    def _keeps_something(self) -> KeepRules:
        # all zero (or none) would leave only "never the newest verified one": a keep that
        # says nothing is a mistake, not a policy
        if not any((self.last, self.daily, self.weekly, self.monthly)):
            raise ValueError(
                "at least one of last, daily, weekly, monthly must be above 0 "
                "(e.g. {last: 7, daily: 7, weekly: 4})"
            )
        return self


Compression = Literal["gzip", "zstd", "none"]
VerifyMode = Literal["checksum", "restore"]


class BackupSpec(StrictModel):
    """One entry of a play's `backups:`."""

    name: str
    paths: Annotated[list[NonEmptyText], BeforeValidator(_one_or_many)] | None = Field(
        default=None, min_length=1
    )
    exclude: Annotated[list[NonEmptyText], BeforeValidator(_one_or_many)] = Field(
        default_factory=list
    )
    command: NonEmptyText | None = None
    file: str | None = None
    keep: KeepRules
    max_age: PositiveDuration | None = None
    verify: VerifyMode = "checksum"
    store: NonEmptyText = "local"
    compress: Compression = "gzip"  # busybox has gzip, and it pays on slow links
    timeout: Timeout = 3600.0
    become: bool = False
    bandwidth: Bandwidth | None = None
    nice: bool = True
    tags: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(default_factory=list)

    _name_ok = field_validator("name")(valid_backup_name)

    @field_validator("file")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        return None if value is None else valid_file_name(value)

    _tags_ok = field_validator("tags")(validate_tags)

    @model_validator(mode="after")
    def _one_source(self) -> BackupSpec:
        given = {k for k in ("paths", "command", "file") if getattr(self, k) is not None}
        for _, message in source_problems(given | ({"exclude"} if self.exclude else set())):
            raise ValueError(message)
        return self

    @property
    def source(self) -> str:
        return "command" if self.command is not None else "paths"


def source_problems(keys: set[str]) -> list[tuple[str | None, str]]:
    """What is wrong with the keys a backup gives about its source, each with the key to point
    at (None: the entry itself)."""
    if "paths" in keys and "command" in keys:
        return [("command", "a backup takes either 'paths' or 'command', not both")]
    if "paths" not in keys and "command" not in keys:
        return [
            (
                None,
                "a backup needs 'paths' (files and directories, e.g. [/etc/app]) or "
                "'command' (a stream such as 'pg_dump -Fc app', with 'file')",
            )
        ]
    found: list[tuple[str | None, str]] = []
    if "command" in keys and "file" not in keys:
        found.append(
            (
                "command",
                "a command backup needs 'file': the name its stream is stored under "
                "(e.g. file: app.dump)",
            )
        )
    if "command" in keys and "exclude" in keys:
        found.append(("exclude", "'exclude' applies to 'paths' only, not to a 'command' stream"))
    if "paths" in keys and "file" in keys:
        found.append(("file", "'file' names a 'command' stream; 'paths' are stored as they are"))
    return found


class LocalStoreSpec(StrictModel):
    """A directory on the controller (relative paths: to the project root)."""

    type: Literal["local"]
    path: NonEmptyText

    @field_validator("path")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("path: a directory path cannot hold a NUL character")
        return _not_a_template(value, "a directory")


class ResticStoreSpec(StrictModel):
    """A restic repository; its password from env() or secret_file(), never written here."""

    type: Literal["restic"]
    repository: NonEmptyText
    password: str

    @field_validator("repository")
    @classmethod
    def _written_out(cls, value: str) -> str:
        return _not_a_template(
            value,
            "a directory or restic's sftp:, rest:, s3:... location",
            "; restic reads a backend's credentials from its own environment variables "
            "(AWS_ACCESS_KEY_ID, RESTIC_REST_USERNAME...)",
        )

    @field_validator("password", mode="before")
    @classmethod
    def _from_a_secret(cls, value: Any) -> Any:
        # never repeats the value: it may be the password itself, written by mistake
        if not isinstance(value, str) or "{{" not in value:
            raise ValueError(
                "write where it comes from, not the password itself: "
                "\"{{ env('RESTIC_PASSWORD') }}\" or \"{{ secret_file('secrets/restic') }}\""
            )
        return value


def _not_a_template(value: str, what: str, more: str = "") -> str:
    """Only the password is rendered: a template anywhere else would be taken as it is written
    (a directory literally named "{{ env('HOME') }}"), so it is refused."""
    if "{{" in value or "{%" in value:
        raise ValueError(
            f"is not a template (only 'password' is rendered): write {what} itself{more}"
        )
    return value


def _store_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("local", "restic") else None


# One message for a missing or unknown type, which never repeats the mapping (it may hold a
# password written by mistake).
BackupStoreSpec = Annotated[
    Annotated[LocalStoreSpec, Tag("local")] | Annotated[ResticStoreSpec, Tag("restic")],
    Discriminator(
        _store_type,
        custom_error_type="jarvisctl_store_type",
        custom_error_message=(
            "'type' must be local or restic: {type: local, path: DIR} or "
            "{type: restic, repository: PATH, password: \"{{ env('NAME') }}\"}"
        ),
    ),
]
