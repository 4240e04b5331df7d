"""A play's `backups:` entries, loaded one by one like its checks: a wrong entry is reported
(located at the key that is wrong) and dropped, the others kept for resolution; and the
`backup_stores:` of jarvisctl.yml.

Only a project or a play that declares them imports this module and the backup models
(building them costs a start-up about 10 ms): the models of a play and of jarvisctl.yml take
these values already validated.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from jarvisctl.config.models.backups import BackupSpec, BackupStoreSpec, source_problems
from jarvisctl.config.models.base import StrictModel
from jarvisctl.config.validation import problems_from, validate_salvaging
from jarvisctl.config.yamlsrc import NodePath, SourceMap
from jarvisctl.core.errors import ConfigError, Problem, ProblemCollector, short_repr

_SOURCE_KEYS = ("paths", "command", "file", "exclude")


def load_backups(
    raw: Any, index: int, source: SourceMap, out: list[Problem]
) -> tuple[list[BackupSpec], list[int]]:
    """The backups of play `index` that validated, with their positions in the file; a
    `backups:` that is not a list is left to the play's own validation to report."""
    backups: list[BackupSpec] = []
    positions: list[int] = []
    if not isinstance(raw, list):
        return backups, positions
    for position, entry in enumerate(raw):
        path: NodePath = (index, "backups", position)
        if not isinstance(entry, dict):
            out.append(
                Problem(
                    source.locate(path),
                    f"a backup must be a mapping, got {short_repr(entry)}",
                    "e.g. {name: config, paths: [/etc/app], keep: {daily: 7}}",
                )
            )
            continue
        reported = _source_problems(entry, path, source)
        out.extend(reported)
        found: list[Problem] = []
        backup = validate_salvaging(BackupSpec, entry, source.sub(path), found)
        # the model keeps the same rules: said once, where the key is
        out.extend(p for p in found if not any(r.message.endswith(p.message) for r in reported))
        if backup is not None and not reported:
            backups.append(backup)
            positions.append(position)
    return backups, positions


def _source_problems(entry: dict[Any, Any], path: NodePath, source: SourceMap) -> list[Problem]:
    """What is wrong with how the entry names its source, each at the key to change."""
    keys = {str(k) for k in entry if k in _SOURCE_KEYS and entry[k] is not None}
    name = entry.get("name")
    named = f"backup {name!r}: " if isinstance(name, str) else ""
    return [
        Problem(source.locate((*path, key), key=True) if key else source.locate(path), named + text)
        for key, text in source_problems(keys)
    ]


def check_unique_backups(
    play_name: str,
    names: list[str],
    paths: list[NodePath],
    source: SourceMap,
    out: ProblemCollector,
) -> None:
    """Snapshots are kept per host and backup name: two backups of one name in a play would
    share (and prune) each other's snapshots."""
    seen: dict[str, NodePath] = {}
    for name, path in zip(names, paths, strict=True):
        if name in seen:
            out.add(
                source.locate((*path, "name")),
                f"duplicate backup name '{name}' in play '{play_name}'",
                f"first at {source.locate(seen[name])}; give each backup a distinct 'name'",
            )
        seen.setdefault(name, path)


class _Stores(StrictModel):
    """`backup_stores:` where it stands in jarvisctl.yml, so that messages name it as elsewhere."""

    backup_stores: dict[str, BackupStoreSpec]


def load_backup_stores(data: dict[str, Any], source: SourceMap) -> dict[str, BackupStoreSpec]:
    """`backup_stores:` of jarvisctl.yml validated (its names are, by ProjectConfig), or a
    ConfigError listing every mistake in it, each at its line."""
    try:
        return _Stores.model_validate({"backup_stores": data}).backup_stores
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, _Stores, source)) from None
