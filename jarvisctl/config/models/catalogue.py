"""Catalogue entries: named, reusable check and remediation definitions (data in checks/ etc.)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from jarvisctl.config.models.base import StrictModel
from jarvisctl.config.models.playbook import Status, _critical_only, _one_or_many
from jarvisctl.config.models.values import Direction, NonEmptyText, ThresholdValue, Timeout

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _valid_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"invalid name {value!r} (lower-case letters, digits and '_')")
    return value


class ParamSpec(StrictModel):
    """A parameter's default and description, as the entry documents it."""

    default: Any = None
    description: str = ""


class CheckDefaults(StrictModel):
    warn: ThresholdValue | None = None
    crit: ThresholdValue | None = None
    clear: ThresholdValue | None = None
    timeout: Timeout | None = None


class CheckDefinition(StrictModel):
    name: str
    kind: NonEmptyText
    description: str = ""
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    unit: str | None = None
    direction: Direction | None = None
    defaults: CheckDefaults = Field(default_factory=CheckDefaults)

    _name_ok = field_validator("name")(_valid_name)

    def param_defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items() if p.default is not None}


class RemediationDefinition(StrictModel):
    name: str
    kind: NonEmptyText
    description: str = ""
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    on: list[Status] = Field(default_factory=_critical_only, min_length=1)

    _name_ok = field_validator("name")(_valid_name)
    _on_list = field_validator("on", mode="before")(_one_or_many)

    def param_defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items() if p.default is not None}
