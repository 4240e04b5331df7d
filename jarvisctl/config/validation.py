"""Validate loaded YAML against a model, turning every pydantic error into a located Problem."""

from __future__ import annotations

import copy
import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, RootModel, ValidationError
from pydantic_core import ErrorDetails

from jarvisctl.config.yamlsrc import Document, NodePath, SourceMap
from jarvisctl.core.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)


def validate_document(model: type[M], document: Document, what: str) -> M:
    """The model built from the document, or a ConfigError listing every mistake in it."""
    if document.data is None:
        raise ConfigError.at(document.source.locate(()), f"the file is empty (expected {what})")
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, model, document.source)) from None


def problems_from(exc: ValidationError, model: type[BaseModel], source: SourceMap) -> list[Problem]:
    errors = _most_specific(list(_deduplicated(exc.errors())), source)
    by_node: dict[NodePath, list[ErrorDetails]] = {}
    for error in errors:
        if error["type"] in _TYPE_NAMES:
            by_node.setdefault(_node_path(tuple(error["loc"]), source), []).append(error)
    unions = {node: found for node, found in by_node.items() if len(found) > 1}
    problems = [_union_problem(node, found, source) for node, found in unions.items()]
    return problems + [
        _problem(error, model, source)
        for error in errors
        if not (error["type"] in _TYPE_NAMES and _node_path(tuple(error["loc"]), source) in unions)
    ]


# What a wrong-type error of each kind asked for, in the operator's words.
_TYPE_NAMES = {
    "string_type": "a string",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
}


def _union_problem(node: NodePath, errors: list[ErrorDetails], source: SourceMap) -> Problem:
    """One message for a value that fits none of the forms a union allows (`schedule: 5`),
    instead of one per form named after pydantic's member types."""
    wanted = list(dict.fromkeys(_TYPE_NAMES[e["type"]] for e in errors))
    field = _field_name(node) or "value"
    got = _short(errors[0].get("input"))
    return Problem(source.locate(node), f"{field}: expected {' or '.join(wanted)}, got {got}")


def _most_specific(errors: list[ErrorDetails], source: SourceMap) -> list[ErrorDetails]:
    """Drop a wrong-type error about a value when another error says what is wrong inside it or
    with it: for a union such as `str | IntervalSchedule`, a mapping with a bad key is reported at
    the key, not also as "should be a valid string" (the form it was never meant to take)."""
    paths = [_node_path(tuple(e["loc"]), source) for e in errors]

    def explained(index: int) -> bool:
        path = paths[index]
        return any(
            other[: len(path)] == path
            and (len(other) > len(path) or not errors[number]["type"].endswith("_type"))
            for number, other in enumerate(paths)
            if number != index
        )

    return [
        error
        for index, error in enumerate(errors)
        if not error["type"].endswith("_type") or not explained(index)
    ]


def _node_path(loc: NodePath, source: SourceMap) -> NodePath:
    """The parts of `loc` that are nodes of the document (without union member names)."""
    path: NodePath = ()
    for part in loc:
        candidate = (*path, part)
        if candidate in source.values or candidate in source.keys:
            path = candidate
    return path


def _deduplicated(errors: list[ErrorDetails]) -> Iterator[ErrorDetails]:
    seen: set[tuple[Any, ...]] = set()
    for error in errors:
        key = (tuple(error["loc"]), error["type"])
        if key not in seen:
            seen.add(key)
            yield error


def _problem(error: ErrorDetails, model: type[BaseModel], source: SourceMap) -> Problem:
    loc = _yaml_path(tuple(error["loc"]), source)
    kind = error["type"]
    field = _field_name(loc)
    if kind == "extra_forbidden":
        valid = _valid_keys(model, loc[:-1])
        hint = _suggestion(str(loc[-1]), valid) + (f"valid: {', '.join(valid)}" if valid else "")
        return Problem(source.locate(loc, key=True), f"unknown key '{loc[-1]}'", hint)
    if kind == "missing":
        where = _field_name(loc[:-1])
        place = f" in {where}" if where else ""
        return Problem(source.locate(loc[:-1]), f"missing required key '{loc[-1]}'{place}")
    message = error["msg"].removeprefix("Value error, ")
    # named after the node: a union's member name is no key; a jarvisctl_ error (a custom
    # one) says what is wrong itself, without repeating the value (it may hold a secret)
    if kind == "value_error" or kind.startswith("jarvisctl_"):
        field = _field_name(_node_path(tuple(error["loc"]), source))
        # a mapping's key that is wrong (`labels: {host: x}`) is shown at the key
        at_key = loc[-1:] == ("[key]",)
        spot = source.locate(loc[:-1], key=True) if at_key else source.locate(loc)
        return Problem(spot, message if not field else f"{field}: {message}")
    got = _short(error.get("input"))
    return Problem(source.locate(loc), f"{field or 'value'}: {_lower_first(message)}, got {got}")


def _yaml_path(loc: NodePath, source: SourceMap) -> NodePath:
    """Drop the parts pydantic adds to `loc` that are not YAML nodes (union member names)."""
    path: NodePath = ()
    for index, part in enumerate(loc):
        candidate = (*path, part)
        is_last = index == len(loc) - 1
        if is_last or candidate in source.values or candidate in source.keys:
            path = candidate
    return path


def _field_name(loc: NodePath) -> str:
    for part in reversed(loc):
        if isinstance(part, str):
            return f"'{part}'"
    return ""


def _short(value: Any) -> str:
    text = repr(value)
    kind = type(value).__name__ if not isinstance(value, dict | list) else "a mapping"
    if isinstance(value, list):
        kind = "a list"
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{kind} {text}" if isinstance(value, dict | list) else text


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _suggestion(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def _valid_keys(model: type[BaseModel], loc: NodePath) -> list[str]:
    target = _model_at(model, loc)
    if target is None:
        return []
    return [f.alias or name for name, f in target.model_fields.items()]


def _model_at(annotation: Any, loc: NodePath) -> type[BaseModel] | None:
    """Walk a model's type annotations along an error path to the model found there."""
    current = annotation
    for part in loc:
        current = _step(current, part)
        if current is None:
            return None
    models = [m for m in _unwrap(current) if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if models else None


def _step(annotation: Any, part: str | int) -> Any:
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, RootModel):
            option = option.model_fields["root"].annotation
            if isinstance(part, int):
                return _container_item(option)
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(part, str):
            for name, field in option.model_fields.items():
                if part in (name, field.alias):
                    return field.annotation
        if get_origin(option) in (list, tuple) and isinstance(part, int):
            return _container_item(option)
        if get_origin(option) is dict:
            return get_args(option)[1]
    return None


def _container_item(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not Ellipsis]
    return args[0] if args else None


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete alternatives of an annotation (through Optional, unions and Annotated)."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [alt for arg in get_args(annotation) for alt in _unwrap(arg)]
    return [annotation]


def validate_salvaging(
    model: type[M], data: Any, source: SourceMap, out: list[Problem]
) -> M | None:
    """Validate, reporting every problem; then drop the optional keys that were wrong and
    validate what remains, so later passes can still find the mistakes that need resolution.

    Returns None when a required part is wrong (nothing sound is left to resolve).
    """
    candidate = copy.deepcopy(data)
    for attempt in range(4):
        try:
            return model.model_validate(candidate)
        except ValidationError as exc:
            if attempt == 0:
                out.extend(problems_from(exc, model, source))
            for error in exc.errors():
                loc = _yaml_path(tuple(error["loc"]), source)
                if error["type"] == "extra_forbidden":
                    parent = _node(candidate, loc[:-1])  # None: an earlier error pruned it
                    if isinstance(parent, dict):
                        parent.pop(loc[-1], None)
                elif not _prune(model, candidate, loc):
                    return None
    return None


def _prune(model: type[BaseModel], data: Any, loc: NodePath) -> bool:
    """Delete the nearest optional mapping key at or above `loc`; False if there is none."""
    while loc:
        parent_loc, key = loc[:-1], loc[-1]
        parent = _node(data, parent_loc)
        owner = _model_at(model, parent_loc)
        field = owner.model_fields.get(str(key)) if owner else None
        if field is None and owner is not None:
            field = next((f for f in owner.model_fields.values() if f.alias == key), None)
        if (
            isinstance(parent, dict)
            and key in parent
            and field is not None
            and not field.is_required()
        ):
            del parent[key]
            return True
        loc = parent_loc
    return False


def _node(data: Any, loc: NodePath) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data
