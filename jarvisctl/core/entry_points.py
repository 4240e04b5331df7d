"""The installed distributions' entry points (plugins: check and remediation kinds, event sinks),
read once per process: scanning every installed distribution is most of what loading a plugin
group costs, and a run needs several groups. A plugin installed later is seen by the next process
(for the daemon: after a restart)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points


def entry_points_of(group: str) -> tuple[EntryPoint, ...]:
    return tuple(_installed().select(group=group))


@cache  # a pure function's memo: the installed distributions, as this process found them
def _installed():  # type: ignore[no-untyped-def]  # EntryPoints, or SelectableGroups on 3.10
    return entry_points()
