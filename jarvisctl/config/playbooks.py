"""Load playbook files into validated plays, reporting every mistake with its location.

Each play and each check is validated on its own, and what is wrong in an optional part is
dropped after being reported, so that resolution (jarvisctl.plan.planner) can still find the
mistakes that need the inventory and the catalogues: all of a file's mistakes in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jarvisctl.config.configfile import is_config_dir, list_config_dir
from jarvisctl.config.models.playbook import CheckSpec, Play
from jarvisctl.config.validation import validate_salvaging
from jarvisctl.config.yamlsrc import NodePath, SourceMap, display_path, load_yaml_file
from jarvisctl.core.errors import ConfigError, Location, Problem, ProblemCollector
from jarvisctl.core.frozen import frozen


@frozen
class LoadedPlay:
    """A play that validated (possibly after its wrong optional parts were dropped)."""

    index: int  # position in the file
    play: Play
    check_positions: tuple[int, ...]  # position in the file of each of play.checks
    backup_positions: tuple[int, ...] = ()  # position in the file of each of play.backups
    task_positions: tuple[int, ...] = ()  # of each of play.tasks
    step_positions: tuple[int, ...] = ()  # of each of play.rollout.steps
    rollback_positions: tuple[int, ...] = ()  # of each of play.rollout.rollback
    # the names of the play's checks and backups as written, those dropped as wrong included:
    # a rollout naming one is not wrong too (the entry's own mistake is reported)
    declared_checks: frozenset[str] = frozenset()
    declared_backups: frozenset[str] = frozenset()

    def check_path(self, number: int) -> NodePath:
        return (self.index, "checks", self.check_positions[number])

    def backup_path(self, number: int) -> NodePath:
        return (self.index, "backups", self.backup_positions[number])

    def task_path(self, number: int) -> NodePath:
        return (self.index, "tasks", self.task_positions[number])

    def step_path(self, number: int) -> NodePath:
        return (self.index, "rollout", "steps", self.step_positions[number])

    def rollback_path(self, number: int) -> NodePath:
        return (self.index, "rollout", "rollback", self.rollback_positions[number])


@frozen
class LoadedPlaybook:
    """One playbook file as loaded: its plays that validated, where each of its values is written,
    and every problem found in it."""

    path: Path
    file: str
    plays: tuple[LoadedPlay, ...]
    source: SourceMap
    problems: tuple[Problem, ...] = ()


def load_playbook(path: Path) -> LoadedPlaybook:
    """Parse and validate one playbook file.

    Each play and each check is validated on its own, so one wrong check does not hide the
    mistakes in the others; what validated is kept for resolution, which finds the rest.
    """
    document = load_yaml_file(path)
    source = document.source
    if not isinstance(document.data, list) or not document.data:
        raise ConfigError.at(
            source.locate(()),
            "a playbook is a non-empty list of plays",
            "each play a mapping with name, hosts and checks",
        )
    found: list[Problem] = []
    plays = [_load_play(item, index, source, found) for index, item in enumerate(document.data)]
    valid = tuple(p for p in plays if p is not None)
    collector = ProblemCollector()
    collector.extend(found)
    for loaded in valid:
        _check_unique_names(loaded, source, collector)
        _check_rollback_tags(loaded, source, collector)
    return LoadedPlaybook(path, document.file, valid, source, tuple(collector.problems))


def _load_play(item: Any, index: int, source: SourceMap, out: list[Problem]) -> LoadedPlay | None:
    if not isinstance(item, dict):
        out.append(
            Problem(source.locate((index,)), "a play must be a mapping", "with name, hosts, checks")
        )
        return None
    checks: list[CheckSpec] = []
    positions: list[int] = []
    raw_checks = item.get("checks", [])
    if isinstance(raw_checks, list):
        for position, raw in enumerate(raw_checks):
            where = source.sub((index, "checks", position))
            check = validate_salvaging(CheckSpec, raw, where, out)
            if check is not None:
                checks.append(check)
                positions.append(position)
        item = {**item, "checks": []}
    raw_backups = item.get("backups")
    backups: list[Any] = []
    backup_positions: list[int] = []
    if isinstance(raw_backups, list):  # (not a list: the play's own validation says so)
        from jarvisctl.config.backup_entries import load_backups

        backups, backup_positions = load_backups(raw_backups, index, source, out)
        item = {**item, "backups": []}
    tasks: list[Any] = []
    task_positions: list[int] = []
    rollout: Any = None
    rollout_positions: dict[str, list[int]] = {"steps": [], "rollback": []}
    if isinstance(item.get("tasks"), list) or "rollout" in item:
        from jarvisctl.config.step_entries import load_rollout, load_steps

        tasks, task_positions = load_steps(item.get("tasks"), (index, "tasks"), source, out)
        if isinstance(item.get("tasks"), list):
            item = {**item, "tasks": []}
        rollout, rollout_positions = load_rollout(item.get("rollout"), index, source, out)
        item = {k: v for k, v in item.items() if k != "rollout"}
    play = validate_salvaging(Play, item, source.sub((index,)), out)
    if play is None:
        return None
    update = {"checks": checks, "backups": backups, "tasks": tasks, "rollout": rollout}
    return LoadedPlay(
        index,
        play.model_copy(update=update),
        tuple(positions),
        tuple(backup_positions),
        tuple(task_positions),
        tuple(rollout_positions["steps"]),
        tuple(rollout_positions["rollback"]),
        _declared_names(raw_checks),
        _declared_names(raw_backups),
    )


def _declared_names(entries: Any) -> frozenset[str]:
    """`name` (else `use`) of each mapping of a list of checks or backups."""
    if not isinstance(entries, list):
        return frozenset()
    named = (e.get("name") or e.get("use") for e in entries if isinstance(e, dict))
    return frozenset(n for n in named if isinstance(n, str))


def _check_unique_names(loaded: LoadedPlay, source: SourceMap, out: ProblemCollector) -> None:
    seen: dict[str, int] = {}
    for number, check in enumerate(loaded.play.checks):
        name = check.display_name
        path = loaded.check_path(number)
        if name in seen:
            out.add(
                source.locate((*path, "name" if check.name else "use")),
                f"duplicate check name '{name}' in play '{loaded.play.name}'",
                f"first at {source.locate(loaded.check_path(seen[name]))}; "
                "give each check a distinct 'name'",
            )
        seen.setdefault(name, number)
    backups = loaded.play.backups
    paths = [loaded.backup_path(n) for n in range(len(backups))]
    if backups:
        from jarvisctl.config.backup_entries import check_unique_backups

        check_unique_backups(loaded.play.name, [b.name for b in backups], paths, source, out)
    derived = {f"backup {b.name}": p for b, p in zip(backups, paths, strict=True) if b.max_age}
    for name, number in seen.items():  # a check may not take the name max_age gives one
        if name in derived:
            check = loaded.play.checks[number]
            out.add(
                source.locate((*loaded.check_path(number), "name" if check.name else "use")),
                f"check name '{name}' is the freshness check of the backup at "
                f"{source.locate(derived[name])} (its max_age)",
                "give this check another 'name'",
            )


def _check_rollback_tags(loaded: LoadedPlay, source: SourceMap, out: ProblemCollector) -> None:
    """A rollback runs whole on a host whose steps failed, whatever --tags selected: a tag on
    one of its steps would select nothing, so it is refused rather than ignored."""
    rollout = loaded.play.rollout
    for number, step in enumerate(rollout.rollback if rollout else []):
        if step.tags:
            out.add(
                source.locate((*loaded.rollback_path(number), "tags"), key=True),
                "a rollback step has no tags: the rollback runs whole on a host whose steps "
                "failed, whichever steps --tags selected",
                "tag the rollout's steps, or the play",
            )


def known_tags(playbooks: Sequence[LoadedPlaybook]) -> frozenset[str]:
    return frozenset(
        tag
        for loaded in playbooks
        for play in (p.play for p in loaded.plays)
        for tag in [
            *play.tags,
            *(t for check in play.checks for t in check.tags),
            *(t for backup in play.backups for t in backup.tags),
            *(t for step in play.tasks for t in step.tags),
            *(t for step in (play.rollout.steps if play.rollout else []) for t in step.tags),
        ]
    )


def expand_playbook_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a directory stands for the playbooks directly inside it (a directory
    with none is a mistake, not an empty run)."""
    files: list[Path] = []
    for path in paths:
        if not is_config_dir(path):
            files.append(path)
            continue
        # a directory or FIFO named x.yml is listed too: the reader reports it
        found = [p for p in list_config_dir(path) if p.suffix in (".yml", ".yaml")]
        if not found:
            raise ConfigError.at(
                Location(display_path(path)), "no playbooks in this directory", "*.yml or *.yaml"
            )
        files += found
    return files
