"""Resolve a play's `backups:` for one host into BackupPlans, and the freshness check each
`max_age` derives.

Paths and excludes are rendered as values (the taking side quotes them for the shell); a
`command` is rendered as a shell template, every substitution quoted for where it stands, as
a check's command is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field, replace
from typing import Any

from jarvisctl.config.models.backups import BackupSpec
from jarvisctl.config.models.playbook import CheckSpec
from jarvisctl.config.models.values import Threshold, format_duration
from jarvisctl.config.playbooks import LoadedPlay
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.config.yamlsrc import NodePath, SourceMap
from jarvisctl.core.errors import ConfigError, Location, Problem, ProblemCollector, known_list
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.backups import BackupAgeParams
from jarvisctl.kinds.registry import BACKUP_AGE
from jarvisctl.plan.backup_stores import BackupStores
from jarvisctl.plan.model import (
    BackupPlan,
    BackupStorePlan,
    CheckPlan,
    PlaybookPlan,
    Retention,
)
from jarvisctl.plan.resolve import HostProblems


def derived_check_name(backup: str) -> str:
    return f"backup {backup}"


@frozen
class PlayBackups:
    """The backups of one play that the run's tags select, and how they resolve."""

    selected: tuple[tuple[NodePath, BackupSpec], ...]
    resolver: BackupResolver | None = None

    @classmethod
    def select(cls, item: LoadedPlay, tags: frozenset[str]) -> PlayBackups:
        """As checks are: all without --tags, else those the play's or their own tags name."""
        play = item.play
        return cls(
            tuple(
                (item.backup_path(number), backup)
                for number, backup in enumerate(play.backups)
                if not tags or tags & {*play.tags, *backup.tags}
            )
        )

    def resolving(self, resolver: BackupResolver) -> PlayBackups:
        return replace(self, resolver=resolver)

    def check_references(self, problems: ProblemCollector) -> None:
        if self.resolver is not None:
            for path, spec in self.selected:
                self.resolver.check_references(spec, path, problems)

    def plan(
        self, host: str, variables: Mapping[str, Any], become: bool, problems: HostProblems
    ) -> tuple[BackupPlan, ...]:
        if self.resolver is None:
            return ()
        planned = [
            self.resolver.plan(spec, path, host, variables, become, problems)
            for path, spec in self.selected
        ]
        return tuple(p for p in planned if p is not None)

    def checks(self) -> tuple[CheckPlan, ...]:
        """The freshness checks of the selected backups with `max_age`, after the play's own."""
        if self.resolver is None:
            return ()
        made = [self.resolver.freshness_check(spec, path) for path, spec in self.selected]
        return tuple(c for c in made if c is not None)


def check_age_references(
    selected: Sequence[tuple[NodePath, CheckSpec]],
    planned: Sequence[CheckPlan | None],
    backups: frozenset[str],
    source: SourceMap,
    host: str,
    problems: HostProblems,
) -> None:
    """A `backup_age` check must name a backup some play declares: a misspelt name would
    read no snapshot and stay CRITICAL for a reason nobody would look for."""
    for (path, _), check in zip(selected, planned, strict=True):
        if check is None or check.kind != BACKUP_AGE:
            continue
        name = getattr(check.params, "backup", "")
        if name not in backups:
            hint = f"a backup declared in a play's backups:; {known_list(backups, near=name)}"
            text = f"{BACKUP_AGE}: unknown backup {name!r} ({hint})"
            problems.add(source.locate((*path, "with", "backup")), text, host)


@frozen
class BackupResolver:
    """Resolves the backups of one play, host by host."""

    templates: Templates
    stores: BackupStores
    source: SourceMap
    play: str
    # per play: the store of each backup path (None: it cannot be used, reported once)
    store_of: dict[NodePath, BackupStorePlan | None] = field(default_factory=dict, compare=False)
    checks: dict[NodePath, CheckPlan] = field(default_factory=dict, compare=False, repr=False)

    def check_references(
        self, spec: BackupSpec, path: NodePath, problems: ProblemCollector
    ) -> None:
        """The store, once per play (even when the play selects no host)."""
        if spec.store not in self.stores:
            self.store_of[path] = None
            problems.add(
                self.source.locate((*path, "store")),
                f"backup '{spec.name}': unknown store '{spec.store}'",
                f"'local' or a name in jarvisctl.yml's backup_stores; "
                f"{self.stores.known(near=spec.store)}",
            )
            return
        try:
            self.store_of[path] = self.stores[spec.store]
        except ConfigError as exc:
            self.store_of[path] = None
            problems.absorb(exc)

    def plan(
        self,
        spec: BackupSpec,
        path: NodePath,
        host: str,
        variables: Mapping[str, Any],
        become: bool,
        problems: HostProblems,
    ) -> BackupPlan | None:
        """The backup for this host; None when something is wrong (reported in `problems`)."""
        store = self.store_of.get(path)
        rendered = _Rendering(self.templates, self.source, path, host, variables, problems)
        paths = rendered.paths(spec.paths or [])
        exclude = rendered.globs(spec.exclude)
        rendered_ok, command = rendered.command(spec.command)
        if store is None or paths is None or exclude is None or not rendered_ok:
            return None
        keep = spec.keep
        return BackupPlan(
            name=spec.name,
            play=self.play,
            source=spec.source,
            paths=paths,
            exclude=exclude,
            command=command,
            file=spec.file,
            keep=Retention(keep.last, keep.daily, keep.weekly, keep.monthly),
            max_age=spec.max_age,
            verify=spec.verify,
            store=store,
            compress=spec.compress,
            timeout=spec.timeout,
            # a host whose connection becomes root runs everything as root, its backups too
            become=spec.become or become,
            bandwidth=spec.bandwidth,
            nice=spec.nice,
            tags=tuple(spec.tags),
            location=self.source.locate(path),
        )

    def freshness_check(self, spec: BackupSpec, path: NodePath) -> CheckPlan | None:
        """The check `max_age` derives: one plan for every host (measured on the controller)."""
        if spec.max_age is None:
            return None
        made = self.checks.get(path)
        if made is None:
            made = self.checks[path] = freshness_check(spec, self.source.locate((*path, "max_age")))
        return made


def freshness_check(spec: BackupSpec, location: Any) -> CheckPlan:
    max_age = spec.max_age or 0.0
    crit = Threshold(format_duration(max_age), "level", value=max_age, duration=True)
    return CheckPlan(
        name=derived_check_name(spec.name),
        use=BACKUP_AGE,
        kind=BACKUP_AGE,
        description=(
            f"Seconds since the newest usable snapshot of backup '{spec.name}' "
            f"(CRITICAL past its max_age, {format_duration(max_age)})"
        ),
        command="",
        params=BackupAgeParams(backup=spec.name),
        unit="s",
        direction="above",
        warn=None,
        crit=crit,
        clear=None,
        for_cycles=1,
        timeout=spec.timeout,
        tags=tuple(spec.tags),
        remediations=(),
        location=location,
    )


@frozen
class _Rendering:
    templates: Templates
    source: SourceMap
    path: NodePath
    host: str
    variables: Mapping[str, Any]
    problems: HostProblems

    def paths(self, given: list[str]) -> tuple[str, ...] | None:
        rendered = self._each("paths", given)
        if rendered is None:
            return None
        ok = True
        for index, value in enumerate(rendered):
            if not value.startswith("/") or "\0" in value:
                where = self.source.locate((*self.path, "paths", index))
                text = f"paths: {value!r} is not an absolute path (e.g. /etc/app, /var/lib/app)"
                self.problems.add(where, text, self.host)
                ok = False
        return rendered if ok else None

    def globs(self, given: list[str]) -> tuple[str, ...] | None:
        return self._each("exclude", given)

    def command(self, given: str | None) -> tuple[bool, str | None]:
        """Whether the command rendered, and it (None: a backup of paths)."""
        if given is None:
            return True, None
        try:
            return True, self.templates.render_shell(given, self.variables)
        except TemplateError as exc:
            self.problems.add(self.source.locate((*self.path, "command")), str(exc), self.host)
            return False, None

    def _each(self, key: str, given: list[str]) -> tuple[str, ...] | None:
        """Each item rendered as a value; it must stay a piece of text that is not empty."""
        out: list[str] = []
        for index, item in enumerate(given):
            where = self.source.locate((*self.path, key, index))
            try:
                value = self.templates.render_value(item, self.variables)
            except TemplateError as exc:
                self.problems.add(where, str(exc), self.host)
                continue
            if not isinstance(value, str) or not value.strip() or "\0" in value:
                text = f"{key}: {item!r} renders to {value!r}, not a path or glob"
                self.problems.add(where, text, self.host)
                continue
            out.append(value)
        return tuple(out) if len(out) == len(given) else None


def shared_backups(books: Sequence[PlaybookPlan]) -> list[PlaybookPlan]:
    """`books` with a problem wherever a second declaration of a backup name reaches a host
    that an earlier one reaches already (another play, or another playbook planned with it).
    Snapshots are kept per (host, backup name): two declarations would share one history, so
    one's `keep` would prune the other's snapshots and a restore or `backup_age` would pick
    either one's newest."""
    first: dict[tuple[str, str], BackupPlan] = {}
    result = list(books)
    for number, book in enumerate(books):
        problems: dict[Location | None, Problem] = {}
        for play in book.plays:
            for host in play.hosts:
                for backup in host.backups:
                    earlier = first.setdefault((host.host, backup.name), backup)
                    if earlier is not backup and backup.location not in problems:
                        problems[backup.location] = _shared(backup, earlier, host.host)
        if problems:
            found = (*book.problems, *problems.values())
            result[number] = replace(book, plays=(), problems=found)
    return result


def _shared(backup: BackupPlan, earlier: BackupPlan, host: str) -> Problem:
    return Problem(
        backup.location,
        f"backup {backup.name!r} is declared for host {host} already, by play "
        f"{earlier.play!r} at {earlier.location}: snapshots are kept per host and backup "
        "name, so the two would share one history (one's keep pruning the other's snapshots)",
        "give one of them another name",
    )
