"""Resolve one step (of a play's `tasks:` or its rollout's `steps:`/`rollback:`) for one host
into a StepPlan.

The step's one kind key names a step kind of the registry; its value is the kind's parameters:
a mapping, or a scalar that fills the kind's `shorthand` parameter (`run: CMD`); nothing and
`{}` take the kind's defaults, and so does `true` for a kind that has a default for every
parameter (`reboot: true`); `false` is an error. Parameters the kind lists in
`shell_params` are shell templates (every substitution quoted for where it stands), the others
values; the kind's model validates them and its `action` turns them into what the engine does.
Guards: `unless` is a shell template, `creates`/`removes` absolute paths (values: the engine
quotes them). Every mistake is located at the key that is wrong, per host where it depends on
the host's variables.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jarvisctl.config.models.steps import StepSpec
from jarvisctl.config.templating.cache import freeze
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.config.validation import problems_from
from jarvisctl.config.yamlsrc import NodePath, SourceMap
from jarvisctl.core.errors import ProblemCollector, known_list, short_repr
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.kinds.step_base import (
    PLUGIN_ACTIONS,
    CheckWaitAction,
    RestoreAction,
    ShellAction,
    StepAction,
    StepKind,
)
from jarvisctl.plan.model import StepPlan
from jarvisctl.plan.resolve import HostProblems
from jarvisctl.plan.step_files import FileCache, HostFiles, StepFileError
from jarvisctl.plan.step_target import StepTarget

_BUILTIN_MODULE = "jarvisctl.kinds."


@frozen
class StepResolver:
    """Resolves the steps of one playbook's plays, host by host."""

    registry: KindRegistry
    templates: Templates
    source: SourceMap
    directory: Path  # the playbook's: a copy's relative `src` is read from it
    files: FileCache
    # each distinct plan once: hosts that render a step alike share one StepPlan (frozen), so
    # a fleet's plan holds, and its outputs encode, a few steps rather than one per host
    made: dict[Hashable, StepPlan] = field(default_factory=dict, compare=False, repr=False)

    def check_kind(self, spec: StepSpec, path: NodePath, problems: ProblemCollector) -> None:
        """An unknown kind, reported once (even when the play selects no host)."""
        if spec.kind not in self.registry.steps:
            problems.add(
                self.source.locate((*path, spec.kind), key=True),
                f"unknown step kind '{spec.kind}'",
                f"a step kind; {known_list(self.registry.steps, near=spec.kind)}",
            )

    def plan(
        self,
        spec: StepSpec,
        path: NodePath,
        phase: str,
        index: int,
        target: StepTarget,
        problems: HostProblems,
    ) -> StepPlan | None:
        if spec.kind not in self.registry.steps:
            return None  # check_kind reported it
        kind = self.registry.steps[spec.kind]
        step = _Step(self, spec, path, target, problems)
        params = step.params(kind)
        guards = step.guards()
        name = step.name()
        if params is None or guards is None or name is None:
            return None
        action = step.action(kind, params)
        if action is None:
            return None
        creates, removes, unless = guards
        planned = StepPlan(
            phase=phase,
            index=index,
            name=name or kind.summary(params),
            kind=kind.name,
            action=action,
            params=params,
            retries=spec.retries,
            delay=spec.delay,
            timeout=spec.timeout or kind.default_timeout,
            once=spec.once,
            creates=creates,
            removes=removes,
            unless=unless,
            changed_when=spec.changed_when,
            become=target.become if spec.become is None else spec.become,
            tags=tuple(spec.tags),
            location=self.source.locate(path),
        )
        return self._shared(planned)

    def _shared(self, planned: StepPlan) -> StepPlan:
        """The plan made before that equals this one, else this one (kept for the next host)."""
        values = freeze(planned.params.model_dump())
        if values is None:  # too large to key, or not plain data: not shared
            return planned
        key = (type(planned.params), values, replace(planned, params=_NO_PARAMS))
        try:
            return self.made.setdefault(key, planned)
        except TypeError:  # an action holding a mapping (a Fabric task's arguments)
            return planned


@frozen
class _Step:
    """One step being resolved for one host; each method reports what it finds wrong."""

    resolver: StepResolver
    spec: StepSpec
    path: NodePath
    target: StepTarget
    problems: HostProblems

    @property
    def _templates(self) -> Templates:
        return self.resolver.templates

    def _report(self, where: NodePath, text: str, hint: str = "", *, key: bool = False) -> None:
        location = self.resolver.source.locate((*self.path, *where), key=key)
        self.problems.add(location, f"{text} ({hint})" if hint else text, self.target.host)

    def params(self, kind: StepKind[Any]) -> KindParams | None:
        raw = self._raw_params(kind)
        if raw is None:
            return None
        given, shorthand = raw
        rendered: dict[str, Any] = {}
        ok = True
        for name, value in given.items():
            where: NodePath = (self.spec.kind,) if shorthand else (self.spec.kind, name)
            try:
                rendered[name] = self._render_param(kind, name, value, where)
            except TemplateError as exc:
                self._report(where, str(exc))
                ok = False
            except _ItemError:
                ok = False  # reported at the item
        if not ok:
            return None
        try:
            return kind.params_model.model_validate(rendered)
        except ValidationError as exc:
            sub = self.resolver.source.sub((*self.path, self.spec.kind))
            for problem in problems_from(exc, kind.params_model, sub):
                text = problem.message.replace("unknown key", "unknown parameter")
                hint = f" ({problem.hint})" if problem.hint else ""
                self.problems.add(problem.location, f"{kind.name}: {text}{hint}", self.target.host)
            return None

    def _raw_params(self, kind: StepKind[Any]) -> tuple[dict[str, Any], bool] | None:
        """The parameters as written, and whether they came from the shorthand."""
        value = self.spec.params
        if value is None:
            return {}, False
        if value is True:  # `reboot: true`: the defaults, for a kind that has one for each
            needed = [n for n, f in kind.params_model.model_fields.items() if f.is_required()]
            if not needed:
                return {}, False
            self._report(
                (self.spec.kind,),
                f"{kind.name}: true stands for the kind's defaults, and it has none for "
                f"{', '.join(needed)}",
                f"give {'its ' + kind.shorthand if kind.shorthand else 'a mapping'}; "
                "quote 'true' to mean the text",
            )
            return None
        if isinstance(value, dict):
            return value, False
        where = (self.spec.kind,)
        if value is False:
            self._report(
                where,
                f"'{self.spec.kind}: false' does not switch a step off",
                "remove the step, or select steps with tags",
            )
            return None
        if kind.shorthand is None:
            names = ", ".join(kind.params_model.model_fields) or "none"
            self._report(
                where,
                f"{kind.name}: expected a mapping of parameters, got {short_repr(value)} "
                f"(this kind has no shorthand)",
                f"its parameters: {names}",
            )
            return None
        return {kind.shorthand: value}, True

    def _render_param(self, kind: StepKind[Any], name: str, value: Any, where: NodePath) -> Any:
        if name not in kind.shell_params:
            return self._templates.render_value(value, self.target.variables)
        if not isinstance(value, list):
            return self._render_command(value)
        rendered = []
        failed = False
        for number, item in enumerate(value):
            try:
                rendered.append(self._render_command(item))
            except TemplateError as exc:
                self._report((*where, number), str(exc))
                failed = True
        if failed:
            raise _ItemError
        return rendered

    def _render_command(self, value: Any) -> Any:
        # only text is a command: anything else is left for the kind's model to refuse
        if not isinstance(value, str):
            return value
        return self._templates.render_shell(value, self.target.variables)

    def guards(self) -> tuple[str | None, str | None, str | None] | None:
        """`creates`, `removes` (paths) and `unless` (a command) rendered for the host."""
        spec = self.spec
        creates = self._path("creates", spec.creates)
        removes = self._path("removes", spec.removes)
        unless: str | None = None
        ok = creates is not _FAILED and removes is not _FAILED
        if spec.unless is not None:
            try:
                unless = self._templates.render_shell(spec.unless, self.target.variables)
            except TemplateError as exc:
                self._report(("unless",), str(exc))
                ok = False
        if not ok:
            return None
        return _text(creates), _text(removes), unless

    def _path(self, key: str, given: str | None) -> str | object | None:
        if given is None:
            return None
        try:
            value = self._templates.render_value(given, self.target.variables)
        except TemplateError as exc:
            self._report((key,), str(exc))
            return _FAILED
        if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
            # relative to what? the login directory differs with become: said explicitly
            self._report(
                (key,),
                f"{key}: {short_repr(value)} is not an absolute path on the host",
                "e.g. /var/backups/etc.tgz",
            )
            return _FAILED
        return value

    def name(self) -> str | None:
        """The step's `name:` rendered ("" when it has none: the kind's summary is used)."""
        if self.spec.name is None:
            return ""
        try:
            rendered = self._templates.render_value(self.spec.name, self.target.variables)
        except TemplateError as exc:
            self._report(("name",), str(exc))
            return None
        return str(rendered)

    def action(self, kind: StepKind[Any], params: KindParams) -> StepAction | None:
        files = HostFiles(
            self.resolver.directory, self._templates, self.target.variables, self.resolver.files
        )
        where: NodePath = (self.spec.kind,)
        try:
            action = kind.action(params, files)
        except StepFileError as exc:
            self._report((*where, "src"), f"{kind.name}: {exc}")
            return None
        except ValueError as exc:
            self._report(where, f"{kind.name}: {exc}")
            return None
        if isinstance(action, ShellAction):  # data for the host (a copy's content)
            for command in action.apply:
                if command.stdin is not None:
                    files.digest_secret(command.stdin)
        if not type(kind).__module__.startswith(_BUILTIN_MODULE) and not isinstance(
            action, PLUGIN_ACTIONS
        ):
            self._report(
                where,
                f"step kind '{kind.name}' (a plugin) gave a {type(action).__name__}",
                "a plugin's step gives a ShellAction or a PollAction",
            )
            return None
        return action if self._references_known(kind, action) else None

    def _references_known(self, kind: StepKind[Any], action: StepAction) -> bool:
        """A restore names a backup of the play, a wait names checks of the play: the engine
        finds them by name on the host's plan, where another play's are not."""
        where: NodePath = (self.spec.kind,)
        backups = self.target.backups
        if isinstance(action, RestoreAction) and action.backup not in backups:
            self._report(
                where,
                f"{kind.name}: '{action.backup}' is not a backup of this play",
                f"a name in the play's backups:; {known_list(backups, near=action.backup)}",
            )
            return False
        if isinstance(action, CheckWaitAction):
            unknown = [c for c in action.checks if c not in self.target.checks]
            for name in unknown:
                self._report(
                    where,
                    f"{kind.name}: '{name}' is not a check of this play",
                    f"a check's name; {known_list(self.target.checks, near=name)}",
                )
            return not unknown
        return True


_FAILED = object()
_NO_PARAMS = KindParams()  # stands for a plan's parameters in its key (they are keyed frozen)


def _text(value: str | object | None) -> str | None:
    return value if isinstance(value, str) else None


class _ItemError(Exception):
    """A template error in an item of a list of commands, reported at that item."""
