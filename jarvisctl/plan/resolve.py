"""Resolve one check (and its remediation ladder) for one host into a CheckPlan.

A check's `use` names a catalogue entry or a kind; its parameters are the entry's defaults with the
play's `with:` on top, rendered with the host's variables and validated by the kind. Thresholds
come from the play, else from the entry's defaults.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import field
from typing import Any

from pydantic import ValidationError

from jarvisctl.config.models.catalogue import CheckDefinition, RemediationDefinition
from jarvisctl.config.models.playbook import CheckSpec, RemediationBinding, ThresholdOverride
from jarvisctl.config.models.project import ProjectConfig
from jarvisctl.config.models.threshold_conflicts import find_conflict
from jarvisctl.config.models.values import Direction, Threshold
from jarvisctl.config.templating.cache import freeze
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.config.validation import problems_from
from jarvisctl.config.yamlsrc import NodePath, SourceMap
from jarvisctl.core.errors import Location, Problem, ProblemCollector, known_list
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import CheckKind, KindParams, RemediationKind
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.catalogue import Catalogue
from jarvisctl.plan.model import CheckPlan, RemediationPlan
from jarvisctl.plan.reuse import Recipe


class HostProblems:
    """Problems that repeat per host, reported once with the hosts they concern."""

    def __init__(self) -> None:
        # hosts as an ordered set: a mistake in a group's variable repeats on thousands of hosts
        self._hosts: dict[tuple[Location | None, str], dict[str, None]] = {}

    def add(self, location: Location | None, message: str, host: str) -> None:
        self._hosts.setdefault((location, message), {})[host] = None

    def problems(self) -> list[Problem]:
        return [
            Problem(location, f"{message} (host {_host_list(list(hosts))})")
            for (location, message), hosts in self._hosts.items()
        ]


def _host_list(hosts: list[str], limit: int = 3) -> str:
    shown = ", ".join(hosts[:limit])
    return shown + (f" and {len(hosts) - limit} more" if len(hosts) > limit else "")


@frozen
class _Origin:
    """Where a parameter's value was written: the play's `with:` or the catalogue entry."""

    source: SourceMap
    path: NodePath


@frozen
class CheckResolver:
    """Resolves the checks of one play, host by host.

    A check's plan depends on the host only through the values its templates render to (and
    the host's threshold overrides), and most hosts render a check alike: a plan made once is
    kept under those values and shared by every host that renders the same, so a fleet of
    10,000 hosts validates and builds each distinct plan once, not 10,000 times.
    """

    catalogue: Catalogue
    registry: KindRegistry
    templates: Templates
    config: ProjectConfig
    source: SourceMap
    # per play, filled as hosts are resolved: check path -> recipe, reuse key -> shared plan
    recipes: dict[NodePath, Recipe | None] = field(default_factory=dict, compare=False)
    made: dict[Hashable, CheckPlan] = field(default_factory=dict, compare=False, repr=False)

    def plan(
        self,
        spec: CheckSpec,
        path: NodePath,
        host: str,
        variables: Mapping[str, Any],
        problems: ProblemCollector,
        host_problems: HostProblems,
        overrides: Overrides | None = None,
    ) -> CheckPlan | None:
        params = _Params(self, host, variables, host_problems)
        override = _override_for(spec, overrides.values) if overrides else None
        key = self._reuse_key(spec, path, params, override)
        made = self.made.get(key) if key is not None else None
        if made is not None:
            return made
        planned = self._plan(spec, path, params, problems, override, overrides)
        if planned is not None and key is not None:
            self.made[key] = planned
        return planned

    def _reuse_key(
        self, spec: CheckSpec, path: NodePath, params: _Params, override: ThresholdOverride | None
    ) -> Hashable | None:
        if path not in self.recipes:
            self.recipes[path] = Recipe.of(spec, self.catalogue, self.registry)
        recipe = self.recipes[path]
        if recipe is None:
            return None
        return recipe.key(path, override, params.frozen)

    def _plan(
        self,
        spec: CheckSpec,
        path: NodePath,
        params: _Params,
        problems: ProblemCollector,
        override: ThresholdOverride | None,
        overrides: Overrides | None,
    ) -> CheckPlan | None:
        """The plan, every problem reported (for this host) on the way; `override` is the
        inventory's thresholds for this check, found in `overrides`."""
        if override is not None:
            spec = _apply_override(spec, override)
        found = self._definition(spec, path, problems)
        if found is None:
            return None
        definition, kind, entry_source = found
        values = params.resolve(
            kind,
            definition.param_defaults() if definition else {},
            spec.with_,
            _Origin(self.source, (*path, "with")),
            _Origin(entry_source, ("params",)),
        )
        ladder = self._ladder(spec, path, params, problems)
        if values is None or ladder is None:
            return None
        direction: Direction = (definition.direction if definition else None) or kind.direction
        if override is not None and overrides is not None:
            # a conflict the inventory's thresholds created is reported where they are written
            conflicts = ProblemCollector()
            thresholds = self._thresholds(spec, definition, direction, path, conflicts)
            for problem in conflicts.problems:
                text = f"{problem.message} ({problem.hint}; thresholds from the variable "
                params.host_problems.add(overrides.location, f"{text}'thresholds')", params.host)
        else:
            thresholds = self._thresholds(spec, definition, direction, path, problems)
        if thresholds is None:
            return None
        warn, crit, clear = thresholds
        unit = definition.unit if definition and definition.unit is not None else kind.unit
        if not self._durations_fit(spec, unit, path, problems):
            return None
        timeout = spec.timeout or (definition.defaults.timeout if definition else None)
        return CheckPlan(
            name=spec.display_name,
            use=spec.use,
            kind=kind.name,
            description=(definition.description if definition else "") or kind.description,
            command=kind.command(values),
            params=values,
            unit=unit,
            direction=direction,
            warn=warn,
            crit=crit,
            clear=clear,
            for_cycles=spec.for_,
            timeout=timeout or self.config.timeouts.command,
            tags=tuple(spec.tags),
            remediations=ladder,
            location=self.source.locate(path),
        )

    def _durations_fit(
        self, spec: CheckSpec, unit: str, path: NodePath, problems: ProblemCollector
    ) -> bool:
        """A threshold written as a duration (26h) is seconds: on a check measured in anything
        else it would compare 93600 with a percentage."""
        if unit == "s":
            return True
        for key in ("warn", "crit", "clear"):
            threshold = getattr(spec, key)
            if threshold is not None and threshold.duration:
                problems.add(
                    self.source.locate((*path, key)),
                    f"{key}: {threshold.text!r} is a duration, and '{spec.use}' is not measured "
                    f"in seconds (its unit: {unit or 'none'})",
                    "a number in the check's unit, e.g. 90",
                )
                return False
        return True

    def check_references(self, spec: CheckSpec, path: NodePath, problems: ProblemCollector) -> None:
        """Report unknown definitions once, even when the play selects no host."""
        self._definition(spec, path, problems)
        for i, binding in enumerate(spec.remediate):
            self._remediation_kind(binding, (*path, "remediate", i), problems)

    def _definition(
        self, spec: CheckSpec, path: NodePath, problems: ProblemCollector
    ) -> tuple[CheckDefinition | None, CheckKind[Any], SourceMap] | None:
        entry = self.catalogue.checks.get(spec.use)
        if entry is not None:
            return entry.definition, self.registry.checks[entry.definition.kind], entry.source
        kind = self.registry.checks.get(spec.use)
        if kind is not None:
            return None, kind, SourceMap("")
        known = {*self.catalogue.checks, *self.registry.checks}
        problems.add(
            self.source.locate((*path, "use")),
            f"unknown check '{spec.use}'",
            f"a definition in checks/ or a kind; {known_list(known, near=spec.use)}",
        )
        return None

    def _ladder(
        self, spec: CheckSpec, path: NodePath, params: _Params, problems: ProblemCollector
    ) -> tuple[RemediationPlan, ...] | None:
        planned = [
            self._remediation(binding, (*path, "remediate", i), params, problems)
            for i, binding in enumerate(spec.remediate)
        ]
        if any(p is None for p in planned):
            return None
        return tuple(p for p in planned if p is not None)

    def _remediation(
        self,
        binding: RemediationBinding,
        path: NodePath,
        params: _Params,
        problems: ProblemCollector,
    ) -> RemediationPlan | None:
        entry = self.catalogue.remediations.get(binding.use)
        definition: RemediationDefinition | None = entry.definition if entry else None
        kind = self._remediation_kind(binding, path, problems)
        if kind is None:
            return None
        values = params.resolve(
            kind,
            definition.param_defaults() if definition else {},
            binding.with_,
            _Origin(self.source, (*path, "with")),
            _Origin(entry.source if entry else SourceMap(""), ("params",)),
        )
        if values is None:
            return None
        on = binding.on if "on" in binding.model_fields_set or not definition else definition.on
        return RemediationPlan(
            use=binding.use,
            kind=kind.name,
            description=(definition.description if definition else "") or kind.description,
            on=tuple(on),
            commands=kind.commands(values),
            max_attempts=binding.max_attempts,
            window=binding.window,
            cooldown=binding.cooldown,
            settle=binding.settle,
            verify=tuple(binding.verify),
            timeout=binding.timeout,
            reconnect=kind.reconnect_seconds(values),
        )

    def _remediation_kind(
        self, binding: RemediationBinding, path: NodePath, problems: ProblemCollector
    ) -> RemediationKind[Any] | None:
        entry = self.catalogue.remediations.get(binding.use)
        kind = self.registry.remediations.get(entry.definition.kind if entry else binding.use)
        if kind is None:
            known = {*self.catalogue.remediations, *self.registry.remediations}
            problems.add(
                self.source.locate((*path, "use")),
                f"unknown remediation '{binding.use}'",
                f"a definition in remediations/ or a kind; {known_list(known, near=binding.use)}",
            )
        return kind

    def _thresholds(
        self,
        spec: CheckSpec,
        definition: CheckDefinition | None,
        direction: Direction,
        path: NodePath,
        problems: ProblemCollector,
    ) -> tuple[Threshold | None, Threshold | None, Threshold | None] | None:
        defaults = definition.defaults if definition else None
        chosen: dict[str, Threshold | None] = {}
        for key in ("warn", "crit", "clear"):
            chosen[key] = getattr(spec, key) or (getattr(defaults, key) if defaults else None)
        conflict = find_conflict(chosen, direction)
        if conflict is None:
            return chosen["warn"], chosen["crit"], chosen["clear"]
        message = conflict.message
        for key in conflict.culprits:
            if getattr(spec, key) is None and definition is not None:
                message = message.replace(f"{key} ", f"{key} (default of '{definition.name}') ", 1)
        given = [key for key in conflict.culprits if getattr(spec, key) is not None]
        where = (*path, given[0]) if given else path
        problems.add(self.source.locate(where), message, conflict.hint)
        return None


@frozen
class Overrides:
    """A host's `thresholds` variable: check or definition name -> thresholds."""

    values: Mapping[str, ThresholdOverride]
    location: Location | None


def _override_for(
    spec: CheckSpec, overrides: Mapping[str, ThresholdOverride]
) -> ThresholdOverride | None:
    """The inventory's thresholds for this check: by its name first, else by its definition."""
    return overrides.get(spec.display_name) or overrides.get(spec.use)


def _apply_override(spec: CheckSpec, override: ThresholdOverride) -> CheckSpec:
    given = {
        key: getattr(override, key)
        for key in ("warn", "crit", "clear", "for_")
        if getattr(override, key) is not None
    }
    return spec.model_copy(update=given)


def _with_defaults(given: SourceMap, defaults: _Origin, names: Mapping[str, Any]) -> SourceMap:
    """The locations of the parameters as written: a catalogue default the play does not
    override (`params: {command: {default: 5}}`) is located in the catalogue entry."""
    below = defaults.source.sub((*defaults.path,))
    kept = {
        (path[0], *path[2:]): location
        for path, location in below.values.items()
        if len(path) >= 2 and path[1] == "default" and path[0] not in names
    }
    return SourceMap(given.file, {**kept, **given.values}, given.keys)


_UNKNOWN = object()


@frozen
class _Params:
    """Renders and validates a check's or remediation's parameters for one host; each problem is
    reported for that host."""

    resolver: CheckResolver
    host: str
    variables: Mapping[str, Any]
    host_problems: HostProblems
    # what `frozen` rendered for this host, by (kind, parameter, value) identity: a plan not
    # made before is resolved with these instead of rendering each template a second time
    known: dict[tuple[int, str, int], Any] = field(default_factory=dict)

    def resolve(
        self,
        kind: CheckKind[Any] | RemediationKind[Any],
        defaults: Mapping[str, Any],
        given: Mapping[str, Any],
        given_origin: _Origin,
        default_origin: _Origin,
    ) -> KindParams | None:
        rendered: dict[str, Any] = {}
        ok = True
        for name, value in {**defaults, **given}.items():
            origin = given_origin if name in given else default_origin
            try:
                known = self.known.get((id(kind), name, id(value)), _UNKNOWN)
                rendered[name] = self._render(kind, name, value) if known is _UNKNOWN else known
            except _ItemTemplateError as exc:  # located at the list item that failed
                where = origin.source.locate((*origin.path, name, exc.index))
                self.host_problems.add(where, str(exc.error), self.host)
                ok = False
            except TemplateError as exc:
                where = origin.source.locate((*origin.path, name))
                self.host_problems.add(where, str(exc), self.host)
                ok = False
        if not ok:
            return None
        try:
            return kind.params_model.model_validate(rendered)
        except ValidationError as exc:
            sub = given_origin.source.sub(given_origin.path)
            if not sub.values:
                sub = given_origin.source.sub(given_origin.path[:-1])
            sub = _with_defaults(sub, default_origin, given)
            for problem in problems_from(exc, kind.params_model, sub):
                text = problem.message.replace("unknown key", "unknown parameter")
                hint = f" ({problem.hint})" if problem.hint else ""
                self.host_problems.add(problem.location, f"{kind.name}: {text}{hint}", self.host)
            return None

    def frozen(
        self, kind: CheckKind[Any] | RemediationKind[Any], name: str, value: Any
    ) -> Hashable:
        """A parameter as `resolve` renders it for this host, frozen (template_cache.freeze);
        None if its template fails (resolve reports it) or it is too large to key."""
        try:
            rendered = self.known[(id(kind), name, id(value))] = self._render(kind, name, value)
        except (TemplateError, _ItemTemplateError):
            return None
        return freeze(rendered)

    def _render(self, kind: CheckKind[Any] | RemediationKind[Any], name: str, value: Any) -> Any:
        templates = self.resolver.templates
        if name not in kind.shell_params:
            return templates.render_value(value, self.variables)
        # only text is a command: a number, mapping or boolean is left as it is, for the kind's
        # parameter model to refuse with its location (str() would have made it a "command")
        if not isinstance(value, list):
            return self._render_command(value)
        rendered = []
        for index, item in enumerate(value):
            try:
                rendered.append(self._render_command(item))
            except TemplateError as exc:
                raise _ItemTemplateError(index, exc) from None
        return rendered

    def _render_command(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return self.resolver.templates.render_shell(value, self.variables)


class _ItemTemplateError(Exception):
    """A template error in one item of a list of commands: located at that item."""

    def __init__(self, index: int, error: TemplateError) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error
