"""Which routes of the tree take an alert, and how they group it: Alertmanager's semantics.

A node takes an alert its matchers match. Its children are tried in order: the first child that
takes the alert ends the search unless that child says `continue: true`; a node none of whose
children takes the alert takes it itself. Each node carries its effective settings (inherited,
config/notify.py), so the routes returned say everything a notification needs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from jarvisctl.core.alert_routes import Route
from jarvisctl.core.alerts import Labels, matches_all


def matching_routes(route: Route, labels: Mapping[str, str]) -> tuple[Route, ...]:
    """The nodes that take an alert with these labels, in tree order (empty when `route`'s
    own matchers do not match; the root has none, so it always takes an alert)."""
    if not matches_all(route.matchers, labels):
        return ()
    taken: list[Route] = []
    for child in route.routes:
        found = matching_routes(child, labels)
        taken.extend(found)
        if found and not child.continue_:
            break
    return tuple(taken) or (route,)


def receivers_for(route: Route, labels: Mapping[str, str]) -> tuple[str, ...]:
    """The receiver of each node that takes the alert, in order; a receiver two nodes take it
    for appears twice (each node groups and notifies on its own, as in Alertmanager)."""
    return tuple(node.receiver for node in matching_routes(route, labels))


def group_labels(route: Route, labels: Mapping[str, str]) -> Labels:
    """The labels an alert is grouped by at this node: the `group_by` ones it has, or all of
    them with `group_by: ['...']`."""
    if route.groups_by_all:
        return Labels(labels)
    return Labels({name: labels[name] for name in route.group_by if name in labels})


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """Identifies the group an alert joins at this node: the node's place in the tree, then
    its grouping labels (`1.0:{check="disk",host="db-01"}`)."""
    grouped = ",".join(f"{name}={json.dumps(v)}" for name, v in group_labels(route, labels).items())
    return f"{route.path or 'root'}:{{{grouped}}}"
