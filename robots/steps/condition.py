"""``condition``: evaluate a ``test:`` expression, record its value, and stop the run when it is false.

Unlike ``when:`` (which every step has, and which *skips* its step when false), a condition step always runs and
records ``{"kind": "condition", "test": ..., "value": true|false}``; later steps read it as
``steps.<id>.value``. With ``otherwise: stop`` (the default) a false test ends the run as done with the outcome
"condition not met: ..."; with ``otherwise: continue`` the run goes on and later steps decide with ``when:``.

The expression is its own key, ``test:``, so that the runner's skip-on-false ``when:`` and this step's meaning
never mix; ``when:`` is refused on a condition step (a skipped condition would leave no value to read).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any, Literal

from robots.core.errors import BusinessError
from robots.core.expressions import ExpressionError, truth, when_problems
from robots.steps.base import CheckContext, Step, StepConfig, Stop, register
from robots.steps.context import StepContext


class ConditionConfig(StepConfig):
    kind: str = "condition"
    #: The expression (robots/expressions.py), e.g. ``debt + penalty > thresholds.lawsuit``.
    test: str
    #: What a false test does: stop the run (done, later steps skipped) or continue with the value recorded.
    otherwise: Literal["stop", "continue"] = "stop"

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        problems: list[tuple[tuple[str, ...], str]] = []
        if self.when is not None:
            problems.append((("when",), "a condition step is never skipped; put the whole condition in test: "
                                        "(e.g. test: (A) and (B))"))
        found = when_problems(self.test, None if ctx.settings is None else ctx.settings.thresholds)
        problems += [(("test",), message) for message in found]
        if not found:
            problems += [(("test",), message) for message in step_reference_problems(self.test, earlier)]
        return problems


def step_reference_problems(expression: str, earlier: Sequence[StepConfig]) -> list[str]:
    """``steps.X`` in an expression must name an earlier step with ``id: X``."""
    ids = [s.id for s in earlier if s.id]
    problems = []
    for node in ast.walk(ast.parse(expression.strip(), mode="eval")):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "steps" \
                and node.attr not in ids:
            problems.append(f"steps.{node.attr}: no earlier step has id {node.attr!r} "
                            f"(earlier step ids: {', '.join(ids) or 'none'})")
    return problems


@register
class ConditionStep(Step):
    kind = "condition"
    config = ConditionConfig

    def run(self, cfg: ConditionConfig, ctx: StepContext) -> dict[str, Any]:
        try:
            value = truth(cfg.test, ctx.expression_names())
        except ExpressionError as exc:
            raise BusinessError(f"condition test {cfg.test!r}: {exc}") from exc
        output = {"kind": "condition", "test": cfg.test, "value": value}
        if not value and cfg.otherwise == "stop":
            raise Stop(f"condition not met: {cfg.test}", output=output)
        return output
