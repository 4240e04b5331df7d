"""`notify:` beyond what its models check alone: every receiver a route or an escalation names
exists, the root route is a root, each receiver has a kind that exists, maintenance windows'
cron expressions fire; and the policy as frozen values (the route tree with what each node
inherits, inhibition rules, maintenance windows)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import timezone
from typing import Any

from pydantic import ValidationError

from jarvisctl.config.models.base import StrictModel
from jarvisctl.config.models.notify import (
    BUILTIN_RECEIVER_KINDS,
    NotifySettings,
    RouteSpec,
)
from jarvisctl.config.validation import problems_from
from jarvisctl.config.yamlsrc import NodePath, SourceMap
from jarvisctl.core.alert_routes import (
    DEFAULT_INHIBIT_RULES,
    Escalation,
    InhibitRule,
    MaintenanceWindow,
    NotifyPolicy,
    Route,
)
from jarvisctl.core.alerts import Matcher, parse_matcher
from jarvisctl.core.entry_points import entry_points_of
from jarvisctl.core.errors import ConfigError, ProblemCollector, known_list

RECEIVER_GROUP = "jarvisctl.receivers"
BASE: NodePath = ("notify",)


def plugin_receiver_kinds() -> tuple[str, ...]:
    """The receiver kinds third parties declare (entry point names; nothing is imported)."""
    return tuple(sorted(point.name for point in entry_points_of(RECEIVER_GROUP)))


def load_notify(data: dict[str, Any], source: SourceMap) -> NotifySettings:
    """`notify:` of jarvisctl.yml validated, or a ConfigError listing every mistake in it, each
    at its line (those across the tree once the parts are valid)."""
    try:
        settings = _Section.model_validate({"notify": data}).notify
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, _Section, source)) from None
    check_notify(settings, source)
    return settings


class _Section(StrictModel):
    """`notify:` where it stands in the file, so that messages name it as elsewhere."""

    notify: NotifySettings


def check_notify(settings: NotifySettings, source: SourceMap) -> None:
    """Raise a ConfigError listing every mistake validation alone cannot see, each located."""
    problems = ProblemCollector()
    _check_receivers(settings, source, problems)
    _check_root(settings.route, source, problems)
    for path, route in _routes(settings.route, (*BASE, "route")):
        _check_names(settings, route, path, source, problems)
    _check_windows(settings, source, problems)
    problems.raise_if_any()


def _check_receivers(settings: NotifySettings, source: SourceMap, out: ProblemCollector) -> None:
    plugins: tuple[str, ...] | None = None
    for name, spec in settings.receivers.items():
        where: NodePath = (*BASE, "receivers", name)
        extra = spec.plugins()
        if extra and plugins is None:
            plugins = plugin_receiver_kinds()  # read only when a receiver names one
        for kind in extra:
            if kind not in (plugins or ()):
                out.add(
                    source.locate((*where, kind), key=True),
                    f"receiver {name!r}: unknown receiver kind {kind[:60]!r}",
                    known_list((*BUILTIN_RECEIVER_KINDS, *(plugins or ())), near=kind),
                )
        if not spec.builtin() and not extra:
            out.add(
                source.locate(where),
                f"receiver {name!r} sends nowhere",
                "give it a kind, e.g. {slack: {url: ...}} or {email: {to: [...], smtp: ...}}",
            )


def _check_root(route: RouteSpec, source: SourceMap, out: ProblemCollector) -> None:
    where: NodePath = (*BASE, "route")
    if route.receiver is None:
        out.add(
            source.locate(where),
            "the root route has no receiver",
            "every alert no other route takes goes to it: receiver: NAME",
        )
    for key in ("match", "matchers", "continue"):
        field = "continue_" if key == "continue" else key
        if field in route.model_fields_set:
            out.add(
                source.locate((*where, key), key=True),
                f"the root route takes every alert: it cannot have '{key}'",
                "put matchers on a route under routes:",
            )


def _routes(route: RouteSpec, path: NodePath) -> Iterator[tuple[NodePath, RouteSpec]]:
    yield path, route
    for index, child in enumerate(route.routes):
        yield from _routes(child, (*path, "routes", index))


def _check_names(
    settings: NotifySettings,
    route: RouteSpec,
    path: NodePath,
    source: SourceMap,
    out: ProblemCollector,
) -> None:
    known = settings.receivers
    if route.receiver is not None and route.receiver not in known:
        out.add(
            source.locate((*path, "receiver")),
            f"route: unknown receiver {route.receiver!r}",
            _declared(known, route.receiver),
        )
    if route.escalate is not None and route.escalate.to not in known:
        out.add(
            source.locate((*path, "escalate", "to")),
            f"escalate: unknown receiver {route.escalate.to!r}",
            _declared(known, route.escalate.to),
        )


def _declared(known: Iterable[str], near: str) -> str:
    return f"a receiver declared under notify: receivers:; {known_list(known, near=near)}"


def _check_windows(settings: NotifySettings, source: SourceMap, out: ProblemCollector) -> None:
    if not settings.maintenance:
        return
    from jarvisctl.config.schedule import check_cron  # imports APScheduler

    seen: set[str] = set()
    for index, window in enumerate(settings.maintenance):
        where: NodePath = (*BASE, "maintenance", index)
        if window.name in seen:
            out.add(source.locate((*where, "name")), f"maintenance window {window.name!r} twice")
        seen.add(window.name)
        try:
            check_cron(window.cron, timezone.utc)
        except ValueError as exc:
            out.add(source.locate((*where, "cron")), f"cron: {exc}")


def notify_policy(settings: NotifySettings) -> NotifyPolicy:
    """The policy as frozen values; `settings` passed check_notify."""
    rules: tuple[InhibitRule, ...] = DEFAULT_INHIBIT_RULES
    if settings.inhibit is not None:
        rules = tuple(
            InhibitRule(_matchers(rule.source), _matchers(rule.target), tuple(rule.equal))
            for rule in settings.inhibit
        )
    windows = tuple(
        MaintenanceWindow(w.name, w.cron, w.duration, _matchers(w.matchers), w.comment)
        for w in settings.maintenance
    )
    return NotifyPolicy(route_tree(settings.route), rules, windows)


def route_tree(spec: RouteSpec, parent: Route | None = None, path: str = "") -> Route:
    """A node with every setting it does not write taken from its parent (Alertmanager's
    inheritance); the root's unwritten timers are Alertmanager's defaults."""
    base = parent or Route(receiver="")
    escalate = spec.escalate
    node = Route(
        receiver=spec.receiver or base.receiver,
        group_by=tuple(spec.group_by) if spec.group_by is not None else base.group_by,
        group_wait=_given(spec.group_wait, base.group_wait),
        group_interval=_given(spec.group_interval, base.group_interval),
        repeat_interval=_given(spec.repeat_interval, base.repeat_interval),
        matchers=(
            *(Matcher(name, "=", value) for name, value in spec.match.items()),
            *_matchers(spec.matchers),
        ),
        continue_=spec.continue_,
        escalate=Escalation(escalate.after, escalate.to) if escalate else base.escalate,
        path=path,
    )
    children = tuple(
        route_tree(child, node, f"{path}.{index}" if path else str(index))
        for index, child in enumerate(spec.routes)
    )
    return replace(node, routes=children)


def _given(value: float | None, inherited: float) -> float:
    return inherited if value is None else value


def _matchers(texts: list[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(text) for text in texts)
