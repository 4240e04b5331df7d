"""Playbooks: lists of plays that target hosts and declare checks and their remediations,
backups, maintenance tasks and rollouts."""

from __future__ import annotations

from datetime import timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    RootModel,
    field_validator,
    model_validator,
)

from jarvisctl.config.models.base import StrictModel
from jarvisctl.config.models.values import (
    Count,
    Duration,
    NonEmptyText,
    PositiveDuration,
    ThresholdValue,
    Timeout,
    format_duration,
    validate_tags,
)
from jarvisctl.config.schedule import CronSpec, IntervalSpec, ScheduleSpec, check_cron
from jarvisctl.core.labels import LABEL_NAME, LABEL_NAME_HINT, RESERVED_LABELS, RESERVED_PREFIX

if TYPE_CHECKING:
    from jarvisctl.config.models.backups import BackupSpec
    from jarvisctl.config.models.steps import RolloutSpec, StepSpec
else:
    # A play's backups, tasks and rollout are validated one entry at a time before the play
    # (config/playbooks.py: config/backup_entries.py, config/step_entries.py), which import
    # their models only for a play that has them: a run that takes no backup and changes
    # nothing does not build them (with the modules that only they use, 24 ms of its start, by
    # the one-host run's CPU). A Play holds them validated.
    BackupSpec = StepSpec = RolloutSpec = Any

Status = Literal["warning", "critical", "unknown"]
VerifiedStatus = Literal["ok", "warning", "critical", "unknown"]
_validate_tags = validate_tags


def _critical_only() -> list[Status]:
    return ["critical"]


def _ok_only() -> list[VerifiedStatus]:
    return ["ok"]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _label_name(value: str) -> str:
    if not LABEL_NAME.match(value):
        raise ValueError(f"invalid label name {value[:60]!r} ({LABEL_NAME_HINT}, e.g. team)")
    if value in RESERVED_LABELS:
        raise ValueError(
            f"label {value!r} is set by jarvisctl on every alert it makes (reserved: "
            f"{', '.join(RESERVED_LABELS)}): give yours another name, e.g. team or site"
        )
    if value.startswith(RESERVED_PREFIX):
        raise ValueError(f"label {value!r}: names starting with '__' are reserved")
    return value


def _label_value(value: Any) -> Any:
    """Text; a whole number is read as its digits (`rack: 3`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("a label's value is text (quote it, e.g. 'yes')")
    if not value.strip():
        raise ValueError("a label's value is empty (an alert without the label says the same)")
    if "{{" in value or "{%" in value:
        raise ValueError("a label's value is written as is, not a template")
    return value


LabelName = Annotated[str, AfterValidator(_label_name)]
LabelValue = Annotated[str, BeforeValidator(_label_value)]


class IntervalSchedule(StrictModel):
    every: Duration
    jitter: Duration = 0.0

    @field_validator("every")
    @classmethod
    def _at_least_a_second(cls, value: float) -> float:
        # the scheduler's resolution; a shorter interval would only pile up overlapping runs
        if value < 1:
            raise ValueError(f"{format_duration(value)} is under 1s (e.g. 30s, 5m, 1h)")
        return value

    @model_validator(mode="after")
    def _jitter_within_the_interval(self) -> IntervalSchedule:
        # each run is delayed by up to the jitter: as long as the interval, runs would bunch up
        # and overlap, the interval no longer meaning what it says
        if self.jitter >= self.every:
            raise ValueError(
                f"jitter {format_duration(self.jitter)} is not shorter than every "
                f"{format_duration(self.every)} (a jitter delays each run by up to that much, "
                f"e.g. every: 5m, jitter: 30s)"
            )
        return self

    def spec(self) -> ScheduleSpec:
        return IntervalSpec(self.every, self.jitter)


def _cron_schedule(value: Any) -> Any:
    if isinstance(value, str):
        check_cron(value, timezone.utc)  # raises ValueError with what is wrong
    return value


Schedule = Annotated[str | IntervalSchedule, BeforeValidator(_cron_schedule)]


def schedule_spec(schedule: str | IntervalSchedule) -> ScheduleSpec:
    return CronSpec(schedule) if isinstance(schedule, str) else schedule.spec()


class RemediationBinding(StrictModel):
    """One rung of a check's remediation ladder."""

    use: NonEmptyText
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    on: Annotated[list[Status], BeforeValidator(_one_or_many)] = Field(
        default_factory=_critical_only, min_length=1
    )
    max_attempts: Count = Field(default=3, ge=1)
    window: PositiveDuration = 3600.0
    cooldown: Duration = 0.0
    settle: Duration = 10.0
    # the statuses of the re-run check that count as recovered
    verify: Annotated[list[VerifiedStatus], BeforeValidator(_one_or_many)] = Field(
        default_factory=_ok_only, min_length=1
    )
    timeout: Timeout = 300.0  # for each of the remediation's commands


class CheckSpec(StrictModel):
    """A check as a play declares it: a definition or kind, parameters and thresholds."""

    name: NonEmptyText | None = None
    use: NonEmptyText
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    warn: ThresholdValue | None = None
    crit: ThresholdValue | None = None
    clear: ThresholdValue | None = None
    for_: Count = Field(default=1, ge=1, alias="for")
    timeout: Timeout | None = None
    tags: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    remediate: list[RemediationBinding] = Field(default_factory=list)

    _tags_ok = field_validator("tags")(_validate_tags)

    @property
    def display_name(self) -> str:
        return self.name or self.use


class ThresholdOverride(StrictModel):
    """Thresholds a host or group sets for one check, through the inventory variable
    `thresholds` (keyed by check name or definition name)."""

    warn: ThresholdValue | None = None
    crit: ThresholdValue | None = None
    clear: ThresholdValue | None = None
    for_: Count | None = Field(default=None, ge=1, alias="for")


class Play(StrictModel):
    name: NonEmptyText
    hosts: NonEmptyText
    vars: dict[str, Any] = Field(default_factory=dict)
    # variables (play or inventory) whose values are secret: redacted in every output
    secret_vars: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    tags: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    schedule: Schedule | None = None
    # added to every alert of the play (routing, grouping, what a message lists)
    labels: dict[LabelName, LabelValue] = Field(default_factory=dict)
    checks: list[CheckSpec] = Field(default_factory=list)
    # taken after the checks, on each host, in this order
    backups: list[BackupSpec] = Field(default_factory=list)
    # maintenance steps run on every selected host, in order, after the checks (and their
    # remediations), before the backups
    tasks: list[StepSpec] = Field(default_factory=list)
    # steps in health-gated batches (see DESIGN.md, "Changes: tasks and rollouts")
    rollout: RolloutSpec | None = None
    # fleet circuit breaker: when more than this share of the play's hosts need the same
    # remediation in one run (and at least breaker_min_hosts do), none is run
    max_fleet_percent: float = Field(default=30.0, gt=0, le=100)
    breaker_min_hosts: Count = Field(default=2, ge=1)

    _tags_ok = field_validator("tags")(_validate_tags)


class Playbook(RootModel[list[Play]]):
    """A playbook file: a list of plays."""

    model_config = {"frozen": True}
