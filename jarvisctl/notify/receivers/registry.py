"""Which receiver kinds exist: the built-in ones (each module imported on first use) and the
ones third parties declare in the `jarvisctl.receivers` entry point group, as

    [project.entry-points."jarvisctl.receivers"]
    pager = "my_package.pager:Pager"   (a ReceiverKind subclass with its own params_model)

A plugin of a built-in's name wins over it, as with check kinds."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from jarvisctl.config.notify import RECEIVER_GROUP
from jarvisctl.core.entry_points import entry_points_of
from jarvisctl.core.errors import ConfigError, Location
from jarvisctl.notify.receivers.base import ReceiverKind

BUILTIN_RECEIVERS: Mapping[str, str] = {
    "email": "email:Email",
    "slack": "slack:Slack",
    "webhook": "webhook:Webhook",
    "alertmanager": "alertmanager:Alertmanager",
    "apprise": "apprise_urls:Apprise",
}


def receiver_kind(name: str) -> ReceiverKind[Any]:
    """The kind called `name`; KeyError when there is none."""
    plugin = _plugins().get(name)
    if plugin is not None:
        return plugin
    return _builtin(name)


@cache  # a kind is stateless: one instance per process
def _builtin(name: str) -> ReceiverKind[Any]:
    module, cls = BUILTIN_RECEIVERS[name].split(":")
    kind: Any = getattr(importlib.import_module(f"jarvisctl.notify.receivers.{module}"), cls)
    return kind()  # type: ignore[no-any-return]


@cache
def _plugins() -> dict[str, ReceiverKind[Any]]:
    found: dict[str, ReceiverKind[Any]] = {}
    for point in entry_points_of(RECEIVER_GROUP):
        where = Location(f"entry point {point.name} = {point.value} ({RECEIVER_GROUP})")
        try:
            cls = point.load()
        except Exception as exc:  # a broken plugin must not crash the tool with a traceback
            raise ConfigError.at(where, f"cannot load plugin: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, ReceiverKind)):
            raise ConfigError.at(where, "is not a subclass of ReceiverKind")
        found[point.name] = cls()
    return found
