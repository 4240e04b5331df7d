"""core/frozen.py: `evolve` is `dataclasses.replace`, cheaper, for plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field, replace

import pytest

from jarvisctl.core.frozen import evolve
from jarvisctl.core.results import CheckResult, Status
from jarvisctl.store.checks import CheckState


def test_a_check_result_evolves_as_replace_makes_it() -> None:
    result = CheckResult("disk", "disk_usage", "df -P /", Status.OK, 41.0, "%", "")
    changes = {"status": Status.WARNING, "reason": "held", "flapping": True}
    evolved = evolve(result, **changes)
    assert evolved == replace(result, **changes)
    assert hash(evolved) == hash(replace(result, **changes))
    assert result.status is Status.OK  # the original is untouched
    with pytest.raises(FrozenInstanceError):
        evolved.status = Status.OK  # type: ignore[misc]


def test_a_field_called_value_can_be_changed() -> None:
    state = CheckState(Status.OK, value=1.0)
    assert evolve(state, value=2.0, updated=5.0) == CheckState(Status.OK, value=2.0, updated=5.0)


def test_an_unknown_field_is_refused_as_replace_refuses_it() -> None:
    with pytest.raises(TypeError, match="nope"):
        evolve(CheckState(Status.OK), nope=1)


@dataclass(frozen=True)
class _Checked:
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low above high")


@dataclass(frozen=True, slots=True)
class _Slotted:
    a: int
    b: int = 0


@dataclass(frozen=True)
class _Derived:
    a: int
    twice: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "twice", 2 * self.a)


def test_what_needs_its_init_still_goes_through_it() -> None:
    with pytest.raises(ValueError, match="low above high"):
        evolve(_Checked(1, 2), low=3)
    assert evolve(_Slotted(1), b=2) == _Slotted(1, 2)
    assert evolve(_Derived(1), a=4).twice == 8
