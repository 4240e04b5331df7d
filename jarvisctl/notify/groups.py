"""A notification group's state, as the dispatcher (notify/dispatch.py) keeps it in the store:
what its receiver was last told of it (Alertmanager's notification log), when it is looked at
next, and which of its alerts were escalated."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from jarvisctl.core.alerts import Labels
from jarvisctl.core.frozen import frozen


@frozen
class GroupState:
    """What a group was told, and when it is looked at next. Kept in the store (as JSON)."""

    key: str  # the group key (routing.group_key): its route node's place and its labels
    receiver: str
    route: str  # the node's path
    labels: Labels
    created_at: float
    next_flush: float
    sent_at: float | None = None  # the last notification (None: never told)
    sent_firing: frozenset[str] = frozenset()  # fingerprints told firing by it
    sent_resolved: frozenset[str] = frozenset()  # ... and resolved
    refreshed_at: float | None = None  # when its Alertmanager parts were last posted to
    escalated: Mapping[str, float] = field(default_factory=dict)  # fingerprint -> when

    def record(self) -> str:
        return json.dumps(
            {
                "key": self.key,
                "receiver": self.receiver,
                "route": self.route,
                "labels": dict(self.labels),
                "created_at": self.created_at,
                "next_flush": self.next_flush,
                "sent_at": self.sent_at,
                "sent_firing": sorted(self.sent_firing),
                "sent_resolved": sorted(self.sent_resolved),
                "refreshed_at": self.refreshed_at,
                "escalated": dict(sorted(self.escalated.items())),
            },
            sort_keys=True,
        )

    @classmethod
    def parse(cls, text: str) -> GroupState:
        data: dict[str, Any] = json.loads(text)
        return cls(
            key=str(data["key"]),
            receiver=str(data["receiver"]),
            route=str(data["route"]),
            labels=Labels(data["labels"]),
            created_at=float(data["created_at"]),
            next_flush=float(data["next_flush"]),
            sent_at=_float(data.get("sent_at")),
            sent_firing=frozenset(data.get("sent_firing", ())),
            sent_resolved=frozenset(data.get("sent_resolved", ())),
            refreshed_at=_float(data.get("refreshed_at")),
            escalated={str(k): float(v) for k, v in data.get("escalated", {}).items()},
        )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
