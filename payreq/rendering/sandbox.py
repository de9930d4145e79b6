"""The sandbox email templates render in: Jinja2's SandboxedEnvironment with only the filters
that cannot blow a value up, and bounds on everything a template can build.

Every value a template builds (`~`, `+`, `*`, a filter's result) stays under MAX_VALUE_CHARS,
and a render stops at MAX_RENDERED_CHARS or RENDER_DEADLINE_SECONDS while it streams: a chain of
`{% set %}` doubling a string, or many copies of one, never gets big. `%` and collection
literals are refused before that, at save time (payreq/rendering/emails.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import jinja2
from jinja2 import StrictUndefined, nodes, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_RENDERED_CHARS = 200_000  # per part
MAX_REPEAT_CHARS = 10_000  # `"-" * 40` is fine; a multiplied note is not
# Every value a template builds (`~`, `+`, `*`, a filter's result) stays under this, and the
# render stops at MAX_RENDERED_CHARS or RENDER_DEADLINE_SECONDS while it streams: a chain of
# `{% set %}` doubling a string, or many copies of one, never gets big (refused at PUT, and
# the worker falls back to the default template).
MAX_VALUE_CHARS = 50_000
RENDER_DEADLINE_SECONDS = 2.0
# Placeholders and conditionals are all an email needs. Loops, macros, calls and includes are
# refused at save time, and only filters that cannot blow a value up are available, so a
# template cannot make rendering slow or huge (the sandbox alone does not bound either).
FILTERS = frozenset(
    {
        "capitalize",
        "default",
        "d",
        "e",
        "escape",
        "first",
        "last",
        "length",
        "lower",
        "striptags",
        "title",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "wordcount",
    }
)


class EmailSandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=autoescape)
        kept = {k: _bounded(v) for k, v in self.filters.items() if k in FILTERS}
        self.filters = {**kept, CONCAT_FILTER: _concat}
        self.globals.clear()

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        if operator in ("**", "%"):
            raise SecurityError(f"the {operator} operator is not available in email templates")
        for seq, times in ((left, right), (right, left)):
            repeated = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if repeated and len(seq) * times > MAX_REPEAT_CHARS:  # type: ignore[arg-type, operator]
                raise SecurityError(f"a repeated value may be at most {MAX_REPEAT_CHARS} long")
        return _checked_size(super().call_binop(context, operator, left, right))


def _checked_size(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise SecurityError(f"a value built by the template may be at most {MAX_VALUE_CHARS} long")
    return value


def _bounded(function: Callable[..., object]) -> Callable[..., object]:
    """A filter whose result is size-checked (keeps jinja's pass_* markers via wraps)."""

    @functools.wraps(function)
    def bounded(*args: object, **kwargs: object) -> object:
        return _checked_size(function(*args, **kwargs))

    return bounded


CONCAT_FILTER = "_payreq_concat"  # what `a ~ b` compiles to (see _BoundedConcat)


@pass_eval_context
def _concat(eval_ctx: EvalContext, *values: object) -> str:
    parts = [v if isinstance(v, str) else str(v) for v in values]
    if sum(map(len, parts)) > MAX_VALUE_CHARS:
        raise SecurityError(f"a value built by the template may be at most {MAX_VALUE_CHARS} long")
    joined: str = markup_join(parts) if eval_ctx.autoescape else str_join(parts)
    return joined  # still Markup when it should be: output must not escape it again


class BoundedConcat(NodeTransformer):
    """Jinja compiles `~` to a join the sandbox cannot intercept: make it a bounded filter."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        values = [self.visit(n) for n in node.nodes]
        return nodes.Filter(
            values[0], CONCAT_FILTER, values[1:], [], None, None, lineno=node.lineno
        )


class RenderTooBig(SecurityError):
    """The render passed MAX_RENDERED_CHARS or RENDER_DEADLINE_SECONDS."""


def render_bounded(template: jinja2.Template, context: dict[str, object]) -> str:
    """Streams the render, stopping as soon as it is too long or too slow."""
    deadline = time.monotonic() + RENDER_DEADLINE_SECONDS
    parts, size = [], 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise RenderTooBig(f"renders to more than {MAX_RENDERED_CHARS} characters")
        if time.monotonic() > deadline:
            raise RenderTooBig(f"takes more than {RENDER_DEADLINE_SECONDS:g} s to render")
        parts.append(chunk)
    return "".join(parts)
