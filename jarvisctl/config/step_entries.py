"""A play's `tasks:` and its rollout's `steps:`/`rollback:`, loaded one step at a time like its
checks: a wrong step is reported (located at the key that is wrong) and dropped, the others
kept for resolution, which checks each kind and its parameters against the kind registry.

Steps need not have distinct names: a rollout's durable progress counts them by position
(StepPlan.key), and two `run:` steps with no name are both called after their command.
"""

from __future__ import annotations

import difflib
from typing import Any

from jarvisctl.config.models.steps import STEP_EXAMPLE, STEP_KEYS, RolloutSpec, StepSpec
from jarvisctl.config.validation import validate_salvaging
from jarvisctl.config.yamlsrc import NodePath, SourceMap
from jarvisctl.core.errors import Problem, short_repr

_COMMON = ", ".join(sorted(STEP_KEYS))
_ROLLOUT_LISTS = ("steps", "rollback")


def load_steps(
    raw: Any, path: NodePath, source: SourceMap, out: list[Problem]
) -> tuple[list[StepSpec], list[int]]:
    """The steps of the list at `path` that validated, with their positions in it; a value
    that is not a list is left to the owning model's validation to report."""
    steps: list[StepSpec] = []
    positions: list[int] = []
    if not isinstance(raw, list):
        return steps, positions
    for position, entry in enumerate(raw):
        step = load_step(entry, (*path, position), source, out)
        if step is not None:
            steps.append(step)
            positions.append(position)
    return steps, positions


def load_step(entry: Any, path: NodePath, source: SourceMap, out: list[Problem]) -> StepSpec | None:
    if not isinstance(entry, dict):
        out.append(
            Problem(
                source.locate(path),
                f"a step must be a mapping with one key naming its kind, got {short_repr(entry)}",
                STEP_EXAMPLE,
            )
        )
        return None
    reported = _kind_key_problems(entry, path, source)
    if reported:
        out.extend(reported)
        return None
    return validate_salvaging(StepSpec, entry, source.sub(path), out)


def _kind_key_problems(entry: dict[Any, Any], path: NodePath, source: SourceMap) -> list[Problem]:
    """A step names its kind by exactly one key besides the common ones: each extra key is
    reported where it is written, as a misspelt common key when it is close to one."""
    if "kind" in entry:
        return [
            Problem(
                source.locate((*path, "kind"), key=True),
                "'kind' is not a step key: name the kind by its own key",
                STEP_EXAMPLE,
            )
        ]
    kinds = [key for key in entry if key not in STEP_KEYS]
    if not kinds:
        return [
            Problem(
                source.locate(path),
                "a step needs one key naming its kind (run, copy, package, service, ...)",
                STEP_EXAMPLE,
            )
        ]
    if len(kinds) == 1:
        kind = kinds[0]
        if isinstance(kind, str) and kind.strip():
            return []
        return [
            Problem(
                source.locate((*path, kind), key=True),
                f"{short_repr(kind)} is not the name of a step kind",
                "the kind's name as the key, " + STEP_EXAMPLE,
            )
        ]
    misspelt = [k for k in kinds if difflib.get_close_matches(str(k), STEP_KEYS, n=1)]
    if misspelt and len(misspelt) < len(kinds):
        return [
            Problem(
                source.locate((*path, key), key=True),
                f"unknown step key '{key}'",
                f"did you mean '{difflib.get_close_matches(str(key), STEP_KEYS, n=1)[0]}'? "
                f"the keys every step may have: {_COMMON}",
            )
            for key in misspelt
        ]
    first = kinds[0]
    return [
        Problem(
            source.locate((*path, key), key=True),
            f"a step has exactly one kind key: '{key}' is a second one (after '{first}')",
            f"one kind per step; the keys every step may have besides it: {_COMMON}",
        )
        for key in kinds[1:]
    ]


# validates the rest of a rollout whose steps are all wrong (reported already); never kept
_STAND_IN = StepSpec(kind="run", params="true")


def load_rollout(
    raw: Any, index: int, source: SourceMap, out: list[Problem]
) -> tuple[RolloutSpec | None, dict[str, list[int]]]:
    """The play's rollout (None: it has none, or it is wrong: reported) and the positions in
    the file of the steps of its `steps` and `rollback` lists that validated."""
    positions: dict[str, list[int]] = {name: [] for name in _ROLLOUT_LISTS}
    if raw is None:
        return None, positions
    path: NodePath = (index, "rollout")
    if not isinstance(raw, dict):
        out.append(
            Problem(
                source.locate(path),
                f"rollout: expected a mapping, got {short_repr(raw)}",
                "e.g. {batches: [1, '25%', '100%'], gate: [api health], steps: [...]}",
            )
        )
        return None, positions
    candidate = dict(raw)
    stand_in = False
    if "steps" not in raw:  # said at `rollout:`, where the model would say it at a sibling key
        out.append(
            Problem(
                source.locate(path, key=True),
                "rollout: missing required key 'steps'",
                "the steps each host runs in its turn, e.g. steps: [{run: systemctl restart app}]",
            )
        )
        candidate["steps"], stand_in = [_STAND_IN], True
    for name in _ROLLOUT_LISTS:
        given = raw.get(name)
        steps, found = load_steps(given, (*path, name), source, out)
        positions[name] = found
        if isinstance(given, list):
            candidate[name] = steps
            if name == "steps" and given and not steps:
                candidate[name], stand_in = [_STAND_IN], True
    rollout = validate_salvaging(RolloutSpec, candidate, source.sub(path), out)
    if rollout is not None and stand_in:
        rollout = rollout.model_copy(update={"steps": []})
    return rollout, positions
