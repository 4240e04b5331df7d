"""Rewrite a parsed template before it is compiled. Imports Jinja2: import this module lazily.

For shell templates, each `{{ expression }}` becomes `expression | jarvisctl:shell(N)`, where slot
N says which shell context the template's literal text puts it in (shell_context, shell_quoting).
The context is told once, from the text alone, so a template is refused for every host alike, and
a branch or loop body must end in the context it started in. In every template, loops and `~`
concatenations are wrapped so that the render's budget counts them (template_limits).
"""

from __future__ import annotations

from dataclasses import replace

import jinja2
from jinja2 import nodes
from jinja2.visitor import NodeTransformer

from jarvisctl.config.templating.environment import ITERATE, SIZED
from jarvisctl.config.templating.shell_context import advance, unknown_line
from jarvisctl.config.templating.shell_quoting import Slot, UnsafeContextError, context_of
from jarvisctl.config.templating.shell_state import ShellState, merge
from jarvisctl.core.frozen import frozen

SHELL = "jarvisctl:shell"


class ShellTemplateError(UnsafeContextError):
    """A shell template whose substitutions cannot all be quoted safely."""


@frozen
class Prepared:
    template: jinja2.Template
    slots: tuple[Slot, ...]  # the shell context of each substitution, by the index it is given


def prepare(env: jinja2.Environment, source: str, *, shell: bool) -> Prepared:
    tree = env.parse(source)
    slots = _ShellWalk(env, source).run(tree) if shell else ()
    _Bound().visit(tree)
    return Prepared(env.from_string(tree), slots)


class _Bound(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        literal = sum(len(data.data) for data in node.find_all(nodes.TemplateData))
        node.iter = _filter(node.iter, ITERATE, nodes.Const(literal))
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(node, SIZED)


def _filter(node: nodes.Node, name: str, *args: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(node, name, list(args), [], None, None, lineno=node.lineno)


_WHERE = {
    "cmd": "outside quotes",
    "sq": "inside '...'",
    "dq": 'inside "..."',
    "dsq": "inside $'...'",
    "bq": "inside `...`",
    "param": "inside ${...}",
    "arith": "inside $((...))",
    "comment": "in a comment",
    "hd": "in a here-document",
    "hdq": "in a here-document",
    "delim": "in a here-document's delimiter",
}


def _where(state: ShellState) -> str:
    where = _WHERE[state.innermost.kind]
    if state.innermost.kind == "cmd" and len(state.frames) > 1:
        where = "inside $(...)"
    return where + (" with a here-document still to come" if state.pending else "")


class _ShellWalk:
    """Follows the shell state through a template's statements, in the order they write."""

    def __init__(self, env: jinja2.Environment, source: str) -> None:
        self.labels = _labels(env, source)
        self.found: dict[tuple[int, int], tuple[nodes.Output, int, Slot]] = {}

    def run(self, tree: nodes.Template) -> tuple[Slot, ...]:
        self._label_nodes(tree)
        self.body(tree.body, ShellState())
        slots = []
        for index, (output, position, slot) in enumerate(self.found.values()):
            output.nodes[position] = _filter(output.nodes[position], SHELL, nodes.Const(index))
            slots.append(slot)
        return tuple(slots)

    def _label_nodes(self, tree: nodes.Template) -> None:
        expressions = [
            child
            for output in tree.find_all(nodes.Output)
            for child in output.nodes
            if not isinstance(child, nodes.TemplateData)
        ]
        texts = self.labels if len(self.labels) == len(expressions) else []
        self.names = {
            id(expr): texts[i] if texts else f"the substitution on template line {expr.lineno}"
            for i, expr in enumerate(expressions)
        }

    def body(self, statements: list[nodes.Node], state: ShellState) -> ShellState:
        for node in statements:
            state = self.statement(node, state)
        return state

    def statement(self, node: nodes.Node, state: ShellState) -> ShellState:
        if isinstance(node, nodes.Output):
            return self.output(node, state)
        if isinstance(node, nodes.If):
            ends = [self.body(node.body, state)]
            ends += [self.body(branch.body, state) for branch in node.elif_]
            ends.append(self.body(node.else_, state))
            return self.join(node, "if", state, ends)
        if isinstance(node, nodes.For):
            return self.loop(node, state)
        if isinstance(node, nodes.Macro | nodes.AssignBlock):
            # their text becomes a value, quoted where it is written: a context of its own
            self.body(node.body, ShellState())
            return state
        if isinstance(node, nodes.CallBlock | nodes.FilterBlock):
            kind = "call" if isinstance(node, nodes.CallBlock) else "filter"
            raise ShellTemplateError(
                f"the {{% {kind} %}} block on template line {node.lineno} writes text that "
                f"cannot be quoted for where it stands; write {{{{ ... }}}} instead"
            )
        if isinstance(node, nodes.With | nodes.Scope | nodes.Block | nodes.OverlayScope):
            return self.body(node.body, state)
        if isinstance(node, nodes.ScopedEvalContextModifier):
            return self.body(node.body, state)
        return state

    def loop(self, node: nodes.For, state: ShellState) -> ShellState:
        # the body runs any number of times: twice is enough for the state to settle
        once = self.join(node, "for", state, [state, self.body(node.body, state)])
        again = self.join(node, "for", once, [once, self.body(node.body, once)])
        return self.join(node, "for", state, [again, self.body(node.else_, state)])

    def join(
        self, node: nodes.Node, kind: str, start: ShellState, ends: list[ShellState]
    ) -> ShellState:
        merged: ShellState | None = None
        for end in ends:
            joined = merge(start, end) and (end if merged is None else merge(merged, end))
            if joined is None:
                raise ShellTemplateError(
                    f"the {{% {kind} %}} block on template line {node.lineno} starts "
                    f"{_where(start)} but a branch of it ends {_where(end)}; each branch and "
                    "loop body must close the quotes, $(...), comments and here-documents it "
                    'opens (write {% if x %}"a"{% else %}"b"{% endif %}, not "{% if x %}a" ...)'
                )
            merged = joined
        return merged or start

    def output(self, node: nodes.Output, state: ShellState) -> ShellState:
        for position, child in enumerate(node.nodes):
            if isinstance(child, nodes.TemplateData):
                state = advance(state, child.data)
            else:
                state = self.substitution(node, position, child, state)
        return state

    def substitution(
        self, output: nodes.Output, position: int, expr: nodes.Expr, state: ShellState
    ) -> ShellState:
        name = self.names.get(id(expr), f"the substitution on template line {expr.lineno}")
        try:
            read, context = context_of(state)
        except UnsafeContextError as exc:
            if not (isinstance(expr, nodes.Filter) and expr.name == "raw"):
                raise ShellTemplateError(f"{name}: {exc}") from None
            read, context = advance(replace(state, carry=""), state.carry, final=True), "raw"
        following = output.nodes[position + 1 : position + 2]
        suffix = None
        if following and isinstance(following[0], nodes.TemplateData):
            suffix = following[0].data.split("\n", 1)[0] if "\n" in following[0].data else None
        slot = Slot(context, read, prefix=read.line, suffix=suffix)
        self.found[(id(output), position)] = (output, position, slot)
        return unknown_line(read)


def _labels(env: jinja2.Environment, source: str) -> list[str]:
    """The text of each `{{ ... }}` in the source, in order, with its line when not the first."""
    labels: list[str] = []
    current: list[str] | None = None
    line = 1
    for lineno, token, value in env.lex(source):
        if token == "variable_begin":
            current, line = [value], lineno
        elif current is not None:
            current.append(value)
            if token == "variable_end":
                text = " ".join("".join(current).split())
                labels.append(text if line == 1 else f"{text} (template line {line})")
                current = None
    return labels
