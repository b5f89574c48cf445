"""``when:`` expressions of scenarios, evaluated safely (pure: no I/O, no clock).

Ops engineers write conditions such as ``debt + penalty > thresholds.lawsuit`` or ``group == "key_accounts" and
letters >= 3``. They are parsed by :mod:`simpleeval`, never by ``eval``: only literals, the names listed in
:data:`NAMES`, arithmetic, comparisons, ``and``/``or``/``not``, ``in`` and the functions in :data:`FUNCTIONS` are
allowed; attribute access is limited to the mappings the robots provide (``thresholds.lawsuit``), and nothing can
reach Python internals. Numbers are exact decimals (``5000.50`` is ``Decimal("5000.50")``), so money compares
without float rounding.

An expression is checked when the config is loaded (syntax and names, with the YAML path of the step), so a typo
never waits for a debt to reach day 60 to show up.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from simpleeval import (
    DEFAULT_OPERATORS,
    AttributeDoesNotExist,
    EvalWithCompoundTypes,
    FunctionNotDefined,
    InvalidExpression,
    NameNotDefined,
)

#: The names a ``when:`` expression may use, with what they mean (docs/scenarios.md lists them).
NAMES: Mapping[str, str] = {
    "debt": "open amount of the invoices of this run (RUB, Decimal)",
    "contract_debt": "open amount of the whole contract on the run's day",
    "overdue_debt": "overdue open amount of the whole contract on the run's day",
    "penalty": "penalty total of the run's compute_penalty step (0 without one)",
    "days_overdue": "the largest days past due among the run's invoices (in the group's day count)",
    "invoices": "how many invoices this run is about",
    "group": "the debtor group of the counterparty (text)",
    "column": "the aging column of the run (text)",
    "currency": "the contract's currency code (text)",
    "letters": "documents already archived for this contract before this run",
    "runs": "scenario runs for this contract before this run",
    "promises_broken": "promises to pay of this contract that were broken",
    "blocked": "true while shipments to this contract are blocked by the robots",
    "has_penalty_rate": "true when the contract sets a contractual penalty rate",
    "has_email": "true when the counterparty has an e-mail address",
    "thresholds": "the thresholds: of schedules.yaml, e.g. thresholds.lawsuit",
    "steps": "earlier steps' outputs by step id, e.g. steps.decision.value",
}

FUNCTIONS: Mapping[str, Any] = {"min": min, "max": max, "abs": abs, "round": round, "len": len}


class ExpressionError(ValueError):
    """An expression is not valid or could not be evaluated; the message says why in plain words."""


class _Attrs(dict):
    """A mapping whose keys read as attributes (``thresholds.lawsuit``), and nothing else does."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def wrap(value: Any) -> Any:
    """Make nested mappings attribute-readable and floats exact, for the evaluator."""
    if isinstance(value, Mapping):
        return _Attrs({k: wrap(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(wrap(v) for v in value)
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _exact_div(a: Any, b: Any) -> Any:
    """``/`` of two whole numbers is a decimal too (``1/10 == 0.1``), never a binary float."""
    if isinstance(a, int) and isinstance(b, int):
        a, b = Decimal(a), Decimal(b)
    return a / b


_OPERATORS = {**DEFAULT_OPERATORS, ast.Div: _exact_div}


class _Evaluator(EvalWithCompoundTypes):
    def _eval_constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, float):  # 0.1 in an expression is the decimal 0.1, not the nearest float
            try:
                return Decimal(ast.get_source_segment(self._source, node) or repr(value))
            except InvalidOperation:
                return Decimal(repr(value))
        return super()._eval_constant(node)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        base = self._eval(node.value)
        if isinstance(base, _Attrs):
            if node.attr in base:
                return base[node.attr]
            known = ", ".join(sorted(base)) or "none"
            raise ExpressionError(f"{node.attr!r} is not defined here (defined: {known})")
        raise ExpressionError(f"attribute {node.attr!r}: only thresholds.* and steps.* have attributes")


def _parse(expression: str) -> ast.Expression:
    try:
        return ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression: {exc.msg} (at column {exc.offset})") from None


def check(expression: str, names: Mapping[str, Any] | None = None) -> list[str]:
    """Problems of an expression, without evaluating it: syntax, unknown names and functions."""
    try:
        tree = _parse(expression)
    except ExpressionError as exc:
        return [str(exc)]
    known = set(NAMES) | set(FUNCTIONS) | {"True", "False", "None", "true", "false"}
    if names:
        known |= set(names)
    problems: list[str] = []
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) in called:
            continue  # reported with its call below
        if isinstance(node, ast.Name) and node.id not in known:
            problems.append(f"unknown name {node.id!r}; known: {', '.join(sorted(NAMES))}")
        elif isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                               ast.NamedExpr, ast.Starred)):
            problems.append(f"{type(node).__name__} is not allowed in a condition")
        elif isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            got = f" (got {node.func.id!r})" if isinstance(node.func, ast.Name) else ""
            problems.append(f"only these functions may be called: {', '.join(sorted(FUNCTIONS))}{got}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            problems.append(f"attribute {node.attr!r} is not allowed")
    return list(dict.fromkeys(problems))  # each problem once (a name used twice is one typo)


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """The value of ``expression`` with ``names`` (plain values and mappings). Raises :class:`ExpressionError`."""
    problems = check(expression, names)
    if problems:
        raise ExpressionError("; ".join(problems))
    env = {k: wrap(v) for k, v in names.items()}
    env.update({"true": True, "false": False})
    evaluator = _Evaluator(operators=dict(_OPERATORS), names=env, functions=dict(FUNCTIONS))
    evaluator._source = expression.strip()
    try:
        return evaluator.eval(expression.strip())
    except ExpressionError:
        raise
    except (NameNotDefined, FunctionNotDefined, AttributeDoesNotExist, InvalidExpression) as exc:
        raise ExpressionError(str(exc)) from None
    except ZeroDivisionError:  # decimal's DivisionByZero has no readable message of its own
        raise ExpressionError("cannot evaluate: division by zero") from None
    except InvalidOperation:  # nor has decimal's InvalidOperation (0 / 0, a square root of -1)
        raise ExpressionError("cannot evaluate: an undefined decimal operation (such as 0 / 0)") from None
    except (TypeError, ArithmeticError) as exc:
        raise ExpressionError(f"cannot evaluate: {type(exc).__name__}: {exc}") from None


def truth(expression: str, names: Mapping[str, Any]) -> bool:
    """Evaluate a condition to a boolean."""
    return bool(evaluate(expression, names))


def when_problems(expression: str, thresholds: Collection[str] | None) -> list[str]:
    """Problems of a ``when:`` (or condition ``test:``) expression: syntax, names, and ``thresholds.X`` not among
    ``thresholds`` (schedules.yaml's; None when the settings have errors of their own: not checked then)."""
    problems = check(expression)
    if problems or thresholds is None:
        return problems
    for node in ast.walk(ast.parse(expression.strip(), mode="eval")):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "thresholds" \
                and node.attr not in thresholds:
            problems.append(f"thresholds.{node.attr} is not defined under thresholds: in schedules.yaml "
                            f"(defined: {', '.join(sorted(thresholds)) or 'none'})")
    return problems
