"""core/frozen.py: `@frozen` is `@dataclass(frozen=True)` with shared methods, and `evolve` is
`dataclasses.replace`, cheaper, for plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field, replace

import pytest

from jarvisctl.core.frozen import evolve, frozen
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


@frozen
class _Light:
    a: int
    b: str = "x"
    hidden: list[int] = field(default_factory=list, repr=False, compare=False)
    keyed: int = field(default=0, compare=False, hash=True)


@dataclass(frozen=True)
class _Standard:
    a: int
    b: str = "x"
    hidden: list[int] = field(default_factory=list, repr=False, compare=False)
    keyed: int = field(default=0, compare=False, hash=True)


def test_a_frozen_value_behaves_as_the_standard_frozen_dataclass() -> None:
    pairs = [(_Light(1), _Standard(1)), (_Light(2, "y", [3], 4), _Standard(2, "y", [3], 4))]
    for light, standard in pairs:
        assert repr(light).replace("_Light", "_Standard") == repr(standard)
        assert hash(light) == hash(standard)
        with pytest.raises(FrozenInstanceError):
            light.a = 5  # type: ignore[misc]
    assert _Light(1, hidden=[1]) == _Light(1, hidden=[2])  # not compared, as declared
    assert _Light(1) != _Light(2) and _Light(1) != _Standard(1)
    assert _Light(1).__eq__(_Standard(1)) is NotImplemented
    assert replace(_Light(1), b="z") == _Light(1, "z")
    assert _Light.__match_args__ == _Standard.__match_args__


@frozen
class _OwnEquality:
    a: int

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _OwnEquality)


@frozen
class _Unhashable:
    a: int
    __hash__ = None  # type: ignore[assignment]


def test_methods_a_class_defines_are_kept_and_hashing_follows_dataclasses_rules() -> None:
    assert _OwnEquality(1) == _OwnEquality(2)  # its own __eq__
    assert hash(_OwnEquality(1)) == hash((1,))  # dataclasses adds the fields' hash here too
    with pytest.raises(TypeError, match="unhashable"):
        hash(_Unhashable(1))
