"""Resolve playbooks against an inventory and the catalogues into a per-host plan.

Nothing here opens a connection: this is what `jarvisctl plan` prints and what the executor runs.
Every mistake found is collected with its location, so one pass reports all of them.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from pydantic import TypeAdapter, ValidationError

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.config.inventory import Host, Inventory
from jarvisctl.config.inventory.rendering import HostVariables
from jarvisctl.config.models.playbook import CheckSpec, Play, ThresholdOverride, schedule_spec
from jarvisctl.config.models.project import ProjectConfig
from jarvisctl.config.playbooks import (
    LoadedPlay,
    LoadedPlaybook,
    expand_playbook_paths,
    known_tags,
    load_playbook,
)
from jarvisctl.config.project import Project, resolve_inventory
from jarvisctl.config.schedule import next_fire_times
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.config.yamlsrc import NodePath, SourceMap, display_path
from jarvisctl.core.errors import (
    ConfigError,
    Location,
    PatternError,
    Problem,
    ProblemCollector,
    UsageError,
    known_list,
)
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.kinds.registry import BACKUP_AGE, KindRegistry, load_registry
from jarvisctl.plan.catalogue import Catalogue, load_catalogue, search_dirs
from jarvisctl.plan.model import (
    CheckPlan,
    HostPlan,
    Plan,
    PlaybookPlan,
    PlayPlan,
    ScheduledPlay,
    SchedulePlan,
)
from jarvisctl.plan.play_steps import PlaySteps
from jarvisctl.plan.resolve import CheckResolver, HostProblems, Overrides
from jarvisctl.plan.rollout import check_rollout, plan_rollout
from jarvisctl.plan.secret_vars import mark_secret_vars
from jarvisctl.plan.step_needs import (
    check_restores_on_host,
    check_waits_on_host,
    unplanned_checks,
    waited_by_steps,
    with_rollout_backups,
)
from jarvisctl.plan.step_target import StepTarget

if TYPE_CHECKING:  # a plan without steps (backups) does not import the step (backup) code
    from jarvisctl.config.models.steps import RolloutSpec
    from jarvisctl.plan.backup_stores import BackupStores
    from jarvisctl.plan.backups import PlayBackups
    from jarvisctl.plan.steps import StepResolver


@frozen
class PlanContext:
    """Everything resolution needs, passed explicitly."""

    inventory: Inventory
    catalogue: Catalogue
    registry: KindRegistry
    templates: Templates
    config: ProjectConfig
    now: datetime
    limit: str | None = None
    tags: frozenset[str] = frozenset()
    # what a key of the `thresholds` variable may name: a check's name or `use` in the project
    # (see _check_names), a catalogue definition or a check kind
    check_names: frozenset[str] = frozenset()
    # the stores backups may name, and the backups a `backup_age` check may name
    backup_stores: BackupStores | None = None
    backup_names: frozenset[str] = frozenset()


def plan_playbook(loaded: LoadedPlaybook, ctx: PlanContext, spent: float = 0.0) -> PlaybookPlan:
    """The plan of one playbook, or the problems that prevent it; `spent`: the seconds its
    loading took, counted in the plan's."""
    began = time.perf_counter() - spent
    problems = ProblemCollector()
    problems.extend(loaded.problems)
    host_problems = HostProblems()
    steps = _step_resolver(loaded, ctx)
    plays = []
    for item in loaded.plays:
        planned = _plan_play(item, loaded, ctx, steps, problems, host_problems)
        if planned is not None:
            plays.append(planned)
    problems.extend(host_problems.problems())
    seconds = time.perf_counter() - began
    book = PlaybookPlan(
        loaded.file, seconds=seconds, path=loaded.path, scheduled=_scheduled(loaded)
    )
    if problems.problems:
        return replace(book, problems=ConfigError(problems.problems).problems)
    return replace(book, plays=tuple(plays))


def _step_resolver(loaded: LoadedPlaybook, ctx: PlanContext) -> StepResolver | None:
    """None for a playbook without steps: its plan does not import the step kinds' code."""
    if not any(item.play.tasks or item.play.rollout for item in loaded.plays):
        return None
    from jarvisctl.plan.step_files import FileCache
    from jarvisctl.plan.steps import StepResolver

    directory = loaded.path.resolve().parent
    return StepResolver(ctx.registry, ctx.templates, loaded.source, directory, FileCache({}))


def _scheduled(loaded: LoadedPlaybook) -> tuple[ScheduledPlay, ...]:
    """The plays the daemon makes jobs of, each located at its name."""
    return tuple(
        ScheduledPlay(
            item.play.name,
            schedule_spec(item.play.schedule),
            loaded.source.locate((item.index, "name")),
        )
        for item in loaded.plays
        if item.play.schedule is not None
    )


def _plan_play(
    item: LoadedPlay,
    loaded: LoadedPlaybook,
    ctx: PlanContext,
    step_resolver: StepResolver | None,
    problems: ProblemCollector,
    host_problems: HostProblems,
) -> PlayPlan | None:
    source, play, index = loaded.source, item.play, item.index
    hosts, play_hosts = _select_hosts(play, index, source, ctx, problems)
    steps = PlaySteps.select(item, ctx.tags)
    needed = steps.gate_checks()
    selected = [
        (item.check_path(number), check)
        for number, check in enumerate(play.checks)
        if not ctx.tags or ctx.tags & {*play.tags, *check.tags} or check.display_name in needed
    ]
    backups = _play_backups(item, ctx.tags, steps.rollout)
    if ctx.tags and not selected and backups is None and not steps.any:
        return None
    check_names = frozenset([*(c.display_name for c in play.checks), *_derived_names(play)])
    backup_names = frozenset(b.name for b in play.backups)
    # a name of an entry dropped as wrong is no second mistake (its own is reported)
    check_rollout(
        item,
        source,
        check_names | item.declared_checks,
        backup_names | item.declared_backups,
        play_hosts,
        problems,
    )
    if step_resolver is not None:
        steps.check_kinds(step_resolver, problems)
    resolver = CheckResolver(ctx.catalogue, ctx.registry, ctx.templates, ctx.config, source)
    for path, check in selected:
        resolver.check_references(check, path, problems)
    if backups is not None and ctx.backup_stores is not None:
        backups = _resolving(backups, ctx.backup_stores, ctx, source, play.name, problems)
    host_plans = []
    groups = _group_members(ctx.inventory) if hosts else {}
    for host in hosts:
        variables = _variables(host, play, index, groups, ctx, source, host_problems)
        overrides = _overrides(host, play, index, variables, source, host_problems, ctx)
        checks = [
            resolver.plan(check, path, host.name, variables, problems, host_problems, overrides)
            for path, check in selected
        ]
        if any(c is not None and c.kind == BACKUP_AGE for c in checks):
            _check_age_references(selected, checks, ctx, source, host.name, host_problems)
        settings = _settings(host, ctx, problems)
        if settings is not None:
            planned = [c for c in checks if c is not None]
            taken = (
                backups.plan(host.name, variables, settings.become, host_problems)
                if backups
                else ()
            )
            target = StepTarget(
                host.name,
                variables,
                settings.become,
                check_names | item.declared_checks,
                backup_names | item.declared_backups,
            )
            tasks, rollout_steps, rollback = (
                steps.plan(step_resolver, target, host_problems) if step_resolver else ((), (), ())
            )
            every_step = (*tasks, *rollout_steps, *rollback)
            waited = [name for _, name in waited_by_steps(every_step)]
            for path, check in unplanned_checks(item, planned, waited):  # left out by --tags
                made = resolver.plan(
                    check, path, host.name, variables, problems, host_problems, overrides
                )
                planned += [made] if made is not None else []
            host_checks = (*planned, *(backups.checks() if backups else ()))
            check_restores_on_host(backups, backup_names, every_step, host.name, host_problems)
            check_waits_on_host(
                host_checks,
                every_step,
                steps.rollout,
                (source, index),
                ctx.registry,
                host.name,
                host_problems,
            )
            host_plans.append(
                HostPlan(
                    host.name,
                    settings,
                    host_checks,
                    taken,
                    tasks,
                    rollout_steps,
                    rollback,
                )
            )
    rollout = None
    if steps.rollout is not None:
        names = [h.host for h in host_plans]
        rollout = plan_rollout(steps.rollout, names, source, index)
    return PlayPlan(
        name=play.name,
        hosts_pattern=play.hosts,
        location=source.locate((index,)),
        tags=tuple(play.tags),
        schedule=_schedule(play, ctx),
        hosts=tuple(host_plans),
        max_fleet_percent=play.max_fleet_percent,
        breaker_min_hosts=play.breaker_min_hosts,
        rollout=rollout,
        labels=tuple(sorted(play.labels.items())),
    )


def _play_backups(
    item: LoadedPlay, tags: frozenset[str], rollout: RolloutSpec | None
) -> PlayBackups | None:
    """The play's backups the run's tags select, and those its rollout takes; None
    (plan/backups not imported) if none."""
    if not item.play.backups:
        return None
    from jarvisctl.plan.backups import PlayBackups

    backups = with_rollout_backups(PlayBackups.select(item, tags), item, rollout)
    return backups if backups.selected else None


def _resolving(
    backups: PlayBackups,
    stores: BackupStores,
    ctx: PlanContext,
    source: SourceMap,
    play: str,
    problems: ProblemCollector,
) -> PlayBackups:
    from jarvisctl.plan.backups import BackupResolver

    backups = backups.resolving(BackupResolver(ctx.templates, stores, source, play))
    backups.check_references(problems)
    return backups


def _derived_names(play: Play) -> list[str]:
    """The names of the freshness checks the play's backups derive from their max_age."""
    if all(b.max_age is None for b in play.backups):
        return []
    from jarvisctl.plan.backups import derived_check_name

    return [derived_check_name(b.name) for b in play.backups if b.max_age is not None]


def _check_age_references(
    selected: Sequence[tuple[NodePath, CheckSpec]],
    planned: Sequence[CheckPlan | None],
    ctx: PlanContext,
    source: SourceMap,
    host: str,
    problems: HostProblems,
) -> None:
    from jarvisctl.plan.backups import check_age_references

    check_age_references(selected, planned, ctx.backup_names, source, host, problems)


def _select_hosts(
    play: Play, index: int, source: SourceMap, ctx: PlanContext, problems: ProblemCollector
) -> tuple[tuple[Host, ...], int]:
    """The play's hosts that --limit allows, and how many the play has without it."""
    try:
        hosts = ctx.inventory.select(play.hosts)
    except PatternError as exc:
        problems.add(source.locate((index, "hosts")), f"hosts: {exc}")
        return (), 0
    if not hosts:  # a play that would check nothing is never a silent success
        problems.add(
            source.locate((index, "hosts")),
            f"hosts: {play.hosts!r} matches no host in {ctx.inventory.source}",
            known_list(ctx.inventory.hosts),
        )
        return (), 0
    if ctx.limit is None:
        return hosts, len(hosts)
    allowed = {h.name for h in ctx.inventory.select_limit(ctx.limit)}  # checked by _check_limit
    return tuple(h for h in hosts if h.name in allowed), len(hosts)


def _check_limit(inventory: Inventory, limit: str) -> None:
    """A --limit that is not a valid pattern, or selects no host of the inventory, is a usage
    error (exit 2): the run would do nothing. A retry file (`@file`) that cannot be read is a
    ConfigError at the file."""
    try:
        selected = inventory.select_limit(limit)
    except PatternError as exc:
        raise UsageError(f"--limit {limit!r}: {exc}") from None
    if not selected:
        raise UsageError(
            f"--limit {limit!r} matches no host in {inventory.source} "
            f"({known_list(inventory.hosts)})"
        )


def _check_limit_targets(plan: Plan, limit: str | None) -> None:
    """Hosts the --limit selects that no play targets: nothing would run either."""
    if limit is None or not plan.ok or any(p.hosts for b in plan.playbooks for p in b.plays):
        return
    patterns = sorted({p.hosts_pattern for b in plan.playbooks for p in b.plays})
    raise UsageError(
        f"--limit {limit!r} leaves no host to work on: no play targets the hosts it selects "
        f"(the plays target: {', '.join(patterns) or 'nothing'})"
    )


def _variables(
    host: Host,
    play: Play,
    index: int,
    groups: Mapping[str, list[str]],
    ctx: PlanContext,
    source: SourceMap,
    host_problems: HostProblems,
) -> HostVariables:
    """Inventory vars (rendered when read, as Ansible does), the magic names Ansible users
    expect, then the play's vars (rendered)."""
    variables = HostVariables(host.name, host.vars, ctx.templates, host.var_locations)
    variables["inventory_hostname"] = host.name
    variables["group_names"] = sorted(g for g in host.groups if g not in ("all", "ungrouped"))
    variables["groups"] = groups
    for name, value in play.vars.items():
        try:
            variables[name] = ctx.templates.render_value(value, variables)
        except TemplateError as exc:
            host_problems.add(source.locate((index, "vars", name)), str(exc), host.name)
    mark_secret_vars(host, play, index, variables, source, host_problems, ctx.templates.secrets)
    return variables


_OVERRIDES = TypeAdapter(dict[str, ThresholdOverride])
OVERRIDES_VAR = "thresholds"


def _overrides(
    host: Host,
    play: Play,
    index: int,
    variables: Mapping[str, Any],
    source: SourceMap,
    host_problems: HostProblems,
    ctx: PlanContext,
) -> Overrides | None:
    """Per-host and per-group thresholds from the `thresholds` variable (check name or
    definition name -> warn/crit/clear/for); like every variable, the most specific wins whole."""
    where: Location | None = host.var_locations.get(OVERRIDES_VAR)
    if OVERRIDES_VAR in play.vars:
        where = source.locate((index, "vars", OVERRIDES_VAR))
    try:
        raw = variables.get(OVERRIDES_VAR)
    except TemplateError as exc:
        host_problems.add(where, str(exc), host.name)
        return None
    if raw is None:
        return None
    try:
        values = _OVERRIDES.validate_python(raw)
    except ValidationError as exc:
        for error in exc.errors():
            path = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            text = f"variable '{OVERRIDES_VAR}': {path}: {message}"
            host_problems.add(where, text, host.name)
        return None
    for key in values.keys() - ctx.check_names:  # a typo would leave a check on its defaults
        text = f"variable '{OVERRIDES_VAR}': {key!r} names no check"
        hint = f"a check name or a definition; {known_list(ctx.check_names, near=key)}"
        host_problems.add(where, f"{text} ({hint})", host.name)
    return Overrides(values, where)


def _project_playbooks(project: Project, loaded: Sequence[LoadedPlaybook]) -> list[LoadedPlaybook]:
    """The playbooks planned and the project's own: a host's `thresholds` serve every
    playbook that targets the host, and a key for another playbook's check is no mistake;
    a `backup_age` check may watch a backup another playbook takes."""
    planned = {item.path.resolve() for item in loaded}
    others: list[LoadedPlaybook] = []
    try:
        paths = [project.root / p for p in project.config.playbooks]
        files = expand_playbook_paths([p for p in paths if p.is_dir() or p.is_file()])
    except (ConfigError, OSError):  # reported when they are planned (OSError: a name too long)
        files = []
    for path in files:
        if path.resolve() not in planned:
            with contextlib.suppress(ConfigError):
                others.append(load_playbook(path))
    return [*loaded, *others]


def _check_names(playbooks: Sequence[LoadedPlaybook]) -> frozenset[str]:
    """The names and definitions of the checks of `playbooks` (see _project_playbooks)."""
    return frozenset(
        name
        for playbook in playbooks
        for item in playbook.plays
        for check in item.play.checks
        for name in (check.display_name, check.use)
    )


def _group_members(inventory: Inventory) -> Mapping[str, list[str]]:
    """`groups['web']` as Ansible gives it: the hosts a pattern naming the group selects."""
    return {name: [h.name for h in inventory.select(name)] for name in inventory.groups}


def _settings(
    host: Host, ctx: PlanContext, problems: ProblemCollector
) -> ConnectionSettings | None:
    try:
        settings = ctx.inventory.settings(host.name, ctx.templates)
    except ConfigError as exc:
        problems.absorb(exc)
        return None
    # jarvisctl.yml's `timeouts.connect`: for a host whose inventory and ssh_config set none
    return replace(settings, default_connect_timeout=ctx.config.timeouts.connect)


def _schedule(play: Play, ctx: PlanContext) -> SchedulePlan | None:
    if play.schedule is None:
        return None
    spec = schedule_spec(play.schedule)
    return SchedulePlan(spec.describe(), next_fire_times(spec, ctx.now))


P = ParamSpec("P")
R = TypeVar("R")


def _collector_paused(function: Callable[P, R]) -> Callable[P, R]:
    """Planning builds millions of small objects that stay alive until the plan is printed
    (YAML nodes, source locations, plans) and makes next to no garbage cycles, so CPython's
    collector would traverse the growing heap again and again: 40% of the CPU of planning
    8,000 checks. Paused while planning (cycles made meanwhile are collected after)."""

    @functools.wraps(function)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused


@_collector_paused
def make_plan(
    project: Project,
    playbook_paths: Sequence[Path],
    inventory_paths: Sequence[Path] | None,
    now: datetime,
    limit: str | None = None,
    tags: Sequence[str] = (),
    *,
    secrets: SecretValues,
) -> Plan:
    """Load, validate and resolve; every problem ends up in the plan, attributed to its file.
    Secret values met while resolving are added to `secrets` (the caller's output redacts
    with it), before any problem that could show them is formatted."""
    started = time.perf_counter()
    files = expand_playbook_paths(playbook_paths)
    loaded: list[LoadedPlaybook] = []
    loading: list[float] = []  # the seconds each of `loaded` took to load
    broken: list[PlaybookPlan] = []
    for path in files:
        began = time.perf_counter()
        try:
            loaded.append(load_playbook(path))
            loading.append(time.perf_counter() - began)
        except ConfigError as exc:
            seconds = time.perf_counter() - began
            broken.append(
                PlaybookPlan(display_path(path), problems=exc.problems, seconds=seconds, path=path)
            )
    try:
        ctx = _context(project, loaded, inventory_paths or (), now, limit, tags, secrets)
    except ConfigError as exc:
        plan = _plan(project, inventory_paths, limit, tags, now, [*broken, *_by_file(exc)])
        return replace(plan, seconds=time.perf_counter() - started)
    if limit is not None:
        _check_limit(ctx.inventory, limit)
    planned = [plan_playbook(item, ctx, spent) for item, spent in zip(loaded, loading, strict=True)]
    if any(host.backups for book in planned for play in book.plays for host in play.hosts):
        from jarvisctl.plan.backups import shared_backups

        planned = shared_backups(planned)
    order = {display_path(p): i for i, p in enumerate(files)}
    results = sorted([*broken, *planned], key=lambda p: order.get(p.file, len(order)))
    plan = _plan(project, inventory_paths, limit, tags, now, results, ctx.inventory.source)
    _check_limit_targets(plan, limit)
    secret_values = ctx.templates.secrets.frozen()
    return replace(plan, secrets=secret_values, seconds=time.perf_counter() - started)


def _context(
    project: Project,
    loaded: Sequence[LoadedPlaybook],
    inventory_paths: Sequence[Path],
    now: datetime,
    limit: str | None,
    tags: Sequence[str],
    secrets: SecretValues,
) -> PlanContext:
    registry = load_registry()
    beside = sorted({item.path.resolve().parent for item in loaded})
    config = project.config
    catalogue = load_catalogue(
        search_dirs("checks", project.root, config.catalogue.checks, beside),
        search_dirs("remediations", project.root, config.catalogue.remediations, beside),
        registry,
    )
    inventory = resolve_inventory(project, inventory_paths)
    wanted = frozenset(t for item in tags for t in item.split(",") if t)
    unknown = wanted - known_tags(loaded)
    if unknown:  # a command-line option's value: a usage error, as --limit's (exit 2)
        raise UsageError(
            f"--tags: unknown tag {', '.join(sorted(unknown))} ({known_list(known_tags(loaded))})"
        )
    secret_dirs = tuple(project.root / d for d in config.secret_dirs)
    templates = Templates(project.root, secrets, secret_dirs)
    playbooks = _project_playbooks(project, loaded)
    return PlanContext(
        inventory,
        catalogue,
        registry,
        templates,
        config,
        now,
        limit,
        wanted,
        _check_names(playbooks) | catalogue.checks.keys() | registry.checks.keys(),
        _backup_stores(project, templates, loaded),
        frozenset(b.name for pb in playbooks for i in pb.plays for b in i.play.backups),
    )


def _backup_stores(
    project: Project, templates: Templates, loaded: Sequence[LoadedPlaybook]
) -> BackupStores | None:
    """The stores backups may name, for a plan that has backups (None, not imported, without)."""
    if not any(item.play.backups for book in loaded for item in book.plays):
        return None
    from jarvisctl.plan.backup_stores import BackupStores

    return BackupStores(project, templates)


def _by_file(error: ConfigError) -> list[PlaybookPlan]:
    files: dict[str, list[Problem]] = {}
    for problem in error.problems:
        files.setdefault(
            problem.location.file if problem.location else "<command line>", []
        ).append(problem)
    return [PlaybookPlan(file, problems=tuple(problems)) for file, problems in files.items()]


def _plan(
    project: Project,
    inventory_paths: Sequence[Path] | None,
    limit: str | None,
    tags: Sequence[str],
    now: datetime,
    playbooks: Sequence[PlaybookPlan],
    inventory: str | None = None,
) -> Plan:
    name = inventory or ", ".join(display_path(path) for path in inventory_paths or ())
    return Plan(tuple(playbooks), name, limit, tuple(tags), now)
