"""The resolved `notify:` policy as frozen values: the route tree (each node with its effective
settings, inherited from its parent where not written), inhibition rules and maintenance windows.

config/notify.py builds them from jarvisctl.yml; notify/routing.py and notify/muting.py read them.
"""

from __future__ import annotations

from collections.abc import Iterator

from jarvisctl.core.alerts import Matcher, parse_matcher
from jarvisctl.core.frozen import frozen

# Alertmanager's defaults
GROUP_WAIT = 30.0
GROUP_INTERVAL = 300.0
REPEAT_INTERVAL = 4 * 3600.0
ALL_LABELS = "..."  # group_by: ['...'] groups by every label (one group per alert)


@frozen
class Escalation:
    """Alerts a route took that are neither acknowledged nor resolved `after` seconds after they
    started firing are also sent to receiver `to`."""

    after: float
    to: str


@frozen
class Route:
    receiver: str
    group_by: tuple[str, ...] = ()
    group_wait: float = GROUP_WAIT
    group_interval: float = GROUP_INTERVAL
    repeat_interval: float = REPEAT_INTERVAL
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()
    escalate: Escalation | None = None
    path: str = ""  # "" for the root, "0", "0.2"...: the node's place, for group keys

    def walk(self) -> Iterator[Route]:
        yield self
        for child in self.routes:
            yield from child.walk()

    @property
    def groups_by_all(self) -> bool:
        return ALL_LABELS in self.group_by


@frozen
class InhibitRule:
    """While an alert matching `source` fires, alerts matching `target` that have the same
    values of the `equal` labels are muted (recorded, not sent)."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


# An unreachable host inhibits its own check alerts.
DEFAULT_INHIBIT_RULES = (
    InhibitRule(
        source=(parse_matcher('alertname="host unreachable"'),),
        target=(parse_matcher('check=~".+"'),),
        equal=("host",),
    ),
)


@frozen
class MaintenanceWindow:
    """A recurring window: from each time the cron expression names, for `duration` seconds,
    the alerts matching every matcher are muted."""

    name: str
    cron: str
    duration: float
    matchers: tuple[Matcher, ...]
    comment: str = ""


@frozen
class NotifyPolicy:
    """Everything `notify:` says except the receivers' parameters (which hold secrets)."""

    route: Route
    inhibit: tuple[InhibitRule, ...] = DEFAULT_INHIBIT_RULES
    maintenance: tuple[MaintenanceWindow, ...] = ()
