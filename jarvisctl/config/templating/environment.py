"""The sandboxed Jinja2 environment, bounded. Imports Jinja2: import this module lazily."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import jinja2
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from jarvisctl.config.templating.limits import (
    CALL_STEPS,
    MAX_DEPTH,
    MAX_TEXT,
    TemplateLimitError,
    budget_of,
    check_built,
    check_container_call,
    check_format_spec,
    check_percent_format,
    check_power,
    check_product,
    check_text_call,
    counted,
)

# Names of the filters the template rewriter inserts. A template cannot write these (a filter's
# name in a template is an identifier), so it cannot call them itself.
ITERATE = "jarvisctl:iterate"
SIZED = "jarvisctl:sized"


class BoundedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox with every size-multiplying operation checked before it runs."""

    intercepted_binops = frozenset({"*", "%", "**", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.globals["lipsum"]  # lipsum(n=10**9) builds text without any of our checks
        self.filters = {
            name: bounded_filter(name, function) for name, function in self.filters.items()
        }
        self.filters[ITERATE] = _iterate
        self.filters[SIZED] = _sized

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            check_product(left, right)
        elif operator == "**":
            check_power(left, right)
        elif operator == "%":
            check_percent_format(left, right)
        result = super().call_binop(context, operator, left, right)
        return check_built(result, f"'{operator}'")

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = budget_of(__context)
        budget.step(CALL_STEPS)
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", None) or getattr(__obj, "name", None) or "a call"
        values = (*args, *kwargs.values())
        if owner is not None:
            check_text_call(owner, name, values)
            check_container_call(owner, name, values)
        budget.depth += 1
        if budget.depth > MAX_DEPTH:
            raise TemplateLimitError(f"the template nests calls more than {MAX_DEPTH} deep")
        try:
            result = SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        if isinstance(owner, list | dict | set):
            check_built(owner, f"{name}()")
        return check_built(result, f"{name}()")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__

        def bounded(*args: Any, **kwargs: Any) -> str:
            nested = False
            for _, _, spec, _ in string.Formatter().parse(text):
                if spec and "{" in spec:
                    nested = True
                elif spec:
                    check_format_spec(spec)
            if nested:  # a width from an argument: every int argument could be it
                for number in (*args, *kwargs.values(), *_mapping_values(args)):
                    if isinstance(number, int) and number > MAX_TEXT:
                        check_format_spec(str(number))
            return check_built(wrapped(*args, **kwargs), "format()")  # type: ignore[no-any-return]

        return bounded


def _mapping_values(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """format_map's mapping: its values are the arguments."""
    if len(args) == 1 and isinstance(args[0], dict):
        return tuple(args[0].values())
    return ()


def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks its arguments before it runs and its result after."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = [a for a in args if not isinstance(a, Context | EvalContext | jinja2.Environment)]
        if values:
            rest = (*values[1:], *kwargs.values())
            check_text_call(values[0], name, rest)
            if name == "format":
                check_percent_format(values[0], tuple(rest))
        return check_built(function(*args, **kwargs), f"the filter '{name}'")

    # Jinja reads how to call a filter (with the context, the environment...) from this mark
    mark = getattr(function, "jinja_pass_arg", None)
    if mark is not None:
        bounded.jinja_pass_arg = mark  # type: ignore[attr-defined]
    bounded.__name__ = getattr(function, "__name__", name)
    return bounded


@jinja2.pass_context
def _iterate(context: Context, items: Any, literal: int) -> Any:
    return counted(budget_of(context), items, literal)


def _sized(value: Any) -> Any:
    return check_built(value, "'~'")
