"""Steps (a play's `tasks:` and a rollout's `steps:`/`rollback:`) and a play's `rollout:`.

A step is a mapping with exactly one key naming its kind (`run`, `copy`, `package`, `service`,
`docker`, `wait_for`, `reboot`, `restore`, `fabric`, or a plugin's) whose value is the kind's
parameters (a scalar is the kind's shorthand: `run: CMD`, `restore: NAME`), beside the keys
every step has. The kind's name and parameters are checked by plan/ against the kind registry,
as a check's `use` and `with` are; here only the common keys are.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from jarvisctl.config.models.base import StrictModel
from jarvisctl.config.models.values import (
    Count,
    Duration,
    NonEmptyText,
    PositiveDuration,
    Timeout,
    parse_batch_size,
    validate_tags,
)
from jarvisctl.core.regex_bounds import backtracking_hazard

# the keys every step may have; any other key names the step's kind
STEP_KEYS = frozenset(
    {
        "name",
        "retries",
        "delay",
        "timeout",
        "once",
        "creates",
        "removes",
        "unless",
        "changed_when",
        "become",
        "tags",
    }
)
STEP_EXAMPLE = "e.g. {run: systemctl restart app, retries: 2, delay: 10s}"
MAX_RETRIES = 100


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class StepSpec(StrictModel):
    """One step as a play declares it; `kind` and `params` come from its one kind key."""

    kind: NonEmptyText
    params: Any = None  # the kind key's value, validated by the kind's model in plan/
    name: NonEmptyText | None = None
    retries: Count = Field(default=0, ge=0, le=MAX_RETRIES)  # more attempts after a failure
    delay: Duration = 5.0  # between attempts
    timeout: Timeout | None = None  # each command of the step; None: the kind's default
    # never run twice: a resume after a crash in the middle of it asks for a decision instead
    once: bool = False
    creates: NonEmptyText | None = None  # skipped (ok) when this path exists on the host
    removes: NonEmptyText | None = None  # skipped (ok) when this path does not exist
    unless: NonEmptyText | None = None  # skipped (ok) when this command exits 0 on the host
    # run steps: false (never changed), true (always), or a regular expression that the
    # command's stdout must match for the step to count as changed
    changed_when: bool | str | None = None
    become: bool | None = None  # None: the host's own setting
    tags: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(default_factory=list)

    _tags_ok = field_validator("tags")(validate_tags)

    @model_validator(mode="before")
    @classmethod
    def _kind_key(cls, data: Any) -> Any:
        """`{run: CMD, retries: 2}` -> `{kind: run, params: CMD, retries: 2}`."""
        if not isinstance(data, dict) or "kind" in data:
            if isinstance(data, dict) and "kind" in data and "params" not in data:
                raise ValueError(
                    "'kind' is not a step key: name the kind by its own key, " + STEP_EXAMPLE
                )
            return data
        kinds = [k for k in data if k not in STEP_KEYS]
        if not kinds:
            raise ValueError(f"a step needs one key naming its kind ({STEP_EXAMPLE})")
        if len(kinds) > 1:
            names = ", ".join(repr(str(k)) for k in kinds)
            raise ValueError(
                f"a step has exactly one kind key, this one has {names} "
                f"(the keys every step may have: {', '.join(sorted(STEP_KEYS))})"
            )
        kind = kinds[0]
        rest = {k: v for k, v in data.items() if k != kind}
        return {"kind": kind if isinstance(kind, str) else str(kind), "params": data[kind], **rest}

    @field_validator("changed_when")
    @classmethod
    def _regex(cls, value: bool | str | None) -> bool | str | None:
        if isinstance(value, str):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
            if why := backtracking_hazard(value):
                raise ValueError(f"{value!r} {why}")
        return value


def _all_at_once() -> list[int | str]:
    return ["100%"]


def _batch_size(size: Any) -> Any:
    parse_batch_size(size)  # raises ValueError, located at this item of the list
    return size


def _batch_number(number: int) -> int:
    if number < 1:
        raise ValueError(f"batch number {number} is not 1 or more (batches count from 1)")
    return number


# each checked where it is written: `batches: [1, 0, "abc"]` is two mistakes, each at its item
BatchSize = Annotated[int | str, BeforeValidator(_batch_size)]
BatchNumber = Annotated[Count, AfterValidator(_batch_number)]


class RolloutSpec(StrictModel):
    """A play's `rollout:` (steps in health-gated batches); see DESIGN.md."""

    # sizes of the batches in order: a count of hosts or a share ("25%", of the play's hosts);
    # the last size repeats until every host has had its turn
    batches: list[BatchSize] = Field(default_factory=_all_at_once, min_length=1)
    # of the hosts attempted so far; crossing it halts the rollout (0: any failure halts)
    max_fail_percentage: float = Field(default=0.0, ge=0, le=100)
    unreachable: Literal["defer", "fail"] = "defer"
    pause_after: list[BatchNumber] = Field(default_factory=list)  # batch numbers, 1-based
    gate: Annotated[list[NonEmptyText], BeforeValidator(_one_or_many)] = Field(
        default_factory=list
    )  # names of the play's checks: OK before the host's steps and again after them
    settle: Duration = 0.0  # wait after the steps before the gate is checked again
    gate_timeout: PositiveDuration = 300.0  # the gate is re-checked until then
    wait_for: Annotated[list[NonEmptyText], BeforeValidator(_one_or_many)] = Field(
        default_factory=list
    )  # names of the play's checks that must be OK before a host starts (held, then deferred)
    wait_timeout: PositiveDuration = 600.0  # how long a host is held before it is deferred
    backup: Annotated[list[NonEmptyText], BeforeValidator(_one_or_many)] = Field(
        default_factory=list
    )  # names of the play's backups, taken on each host before its steps
    steps: list[StepSpec] = Field(min_length=1)
    rollback: list[StepSpec] = Field(default_factory=list)
    defer_for: PositiveDuration = 7 * 86400.0  # a deferred host is finished within this
