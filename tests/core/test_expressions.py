"""when: expressions: exact decimals, the names and mappings the robots provide, and nothing else: no Python
internals, no lambdas or comprehensions, no unbounded work; a bad expression is refused when the config loads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from robots.config import load_config
from robots.core.errors import ConfigError
from robots.core.expressions import FUNCTIONS, NAMES, ExpressionError, check, evaluate, truth
from tests.worlds import workflow_root

ENV = {
    "debt": Decimal("1250.50"),
    "penalty": Decimal("125.05"),
    "group": "default",
    "invoices": 2,
    "thresholds": {"lawsuit": Decimal("5000.00"), "small": Decimal("0.3")},
    "steps": {"decision": {"kind": "condition", "value": True}, "penalty": {"kind": "penalty", "total": "125.05",
                                                                           "periods": [{"days": 3}]}},
}


def test_decimal_literals_are_exact():
    assert truth("0.1 + 0.2 == 0.3", ENV)
    assert evaluate("0.1 + 0.2", ENV) == Decimal("0.3")
    assert evaluate("5000.50", ENV) == Decimal("5000.50") and str(evaluate("5000.50", ENV)) == "5000.50"
    assert evaluate("5_000.50", ENV) == Decimal("5000.50")


def test_dividing_whole_numbers_gives_an_exact_decimal_not_a_float():
    assert evaluate("1 / 10", ENV) == Decimal("0.1") and isinstance(evaluate("1 / 10", ENV), Decimal)
    assert truth("1 / 10 == 0.1", ENV)
    assert evaluate("7 // 2", ENV) == 3


def test_money_compares_exactly_with_thresholds_and_arithmetic():
    assert truth("debt + penalty > 1375.54", ENV)
    assert not truth("debt + penalty > 1375.55", ENV)
    assert truth("debt + penalty < thresholds.lawsuit", ENV)
    assert truth("thresholds.small == 0.1 + 0.2", ENV)
    assert evaluate("max(debt, thresholds.lawsuit)", ENV) == Decimal("5000.00")
    assert evaluate("round(debt / 3, 2)", ENV) == Decimal("416.83")


def test_floats_handed_in_become_decimals():
    assert truth("rate == 0.1", {**ENV, "rate": 0.1})


def test_earlier_steps_outputs_read_as_attributes_and_items():
    assert truth("steps.decision.value", ENV)
    assert truth("steps['decision']['value'] and group == 'default'", ENV)
    assert evaluate("len(steps.penalty.periods)", ENV) == 1
    assert truth('group in ("default", "key_accounts") and invoices >= 2', ENV)
    assert truth("true and not false", ENV)


def test_a_missing_key_of_a_mapping_names_the_ones_there_are():
    with pytest.raises(ExpressionError, match=r"'lawsiut' is not defined here \(defined: lawsuit, small\)"):
        evaluate("thresholds.lawsiut > 1", ENV)
    with pytest.raises(ExpressionError, match=r"'get' is not defined here"):
        evaluate("thresholds.get", ENV)


def test_unknown_names_are_refused_at_check_time_with_the_known_names():
    problems = check("debt > treshold and debt > treshold")
    assert problems == [f"unknown name 'treshold'; known: {', '.join(sorted(NAMES))}"]  # once, with the list
    assert "thresholds" in problems[0] and "days_overdue" in problems[0]


def test_unknown_functions_are_refused_at_check_time_with_the_known_functions():
    assert check("eval('1')") == [f"only these functions may be called: {', '.join(sorted(FUNCTIONS))} (got 'eval')"]
    assert check("__import__('os')")[0].endswith("(got '__import__')")
    assert check("open('/etc/passwd')")[0].endswith("(got 'open')")


def test_every_documented_name_passes_the_check():
    for name in NAMES:
        assert check(f"{name} == {name}") == [], name


@pytest.mark.parametrize("expression", [
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "thresholds.__class__",
    "steps.decision.__dict__",
    "debt.__class__",
    "group._private",
])
def test_dunder_and_private_attributes_are_refused(expression):
    problems = check(expression)
    assert any("is not allowed" in p for p in problems), problems
    with pytest.raises(ExpressionError):
        evaluate(expression, ENV)


@pytest.mark.parametrize("expression", ['"".join', "debt.sqrt", "group.upper", "(1).real"])
def test_attributes_of_plain_values_are_refused_when_evaluated(expression):
    with pytest.raises(ExpressionError, match="only thresholds.* and steps.* have attributes"):
        evaluate(expression, ENV)


@pytest.mark.parametrize("expression", ['"".join(["a"])', "group.upper()", "steps.decision.get('value')"])
def test_method_calls_are_refused_at_check_time(expression):
    assert any("only these functions may be called" in p for p in check(expression))


@pytest.mark.parametrize("expression, node", [
    ("(lambda: 1)()", "Lambda"),
    ("[x for x in (1, 2)]", "ListComp"),
    ("{x for x in (1, 2)}", "SetComp"),
    ("{x: 1 for x in (1, 2)}", "DictComp"),
    ("sum(x for x in (1, 2))", "GeneratorExp"),
    ("(y := 1)", "NamedExpr"),
])
def test_lambdas_comprehensions_and_assignments_are_refused(expression, node):
    assert f"{node} is not allowed in a condition" in check(expression)
    with pytest.raises(ExpressionError):
        evaluate(expression, ENV)


@pytest.mark.parametrize("expression", ["9**9**9", "2.0 ** 5000000", "'a' * 10**8"])
def test_unbounded_work_is_refused(expression):
    with pytest.raises(ExpressionError):
        evaluate(expression, ENV)


def test_runtime_errors_become_expression_errors():
    for expression in ("debt / 0", "1 / 0", "debt / (debt - debt)"):
        with pytest.raises(ExpressionError, match=r"^cannot evaluate: division by zero$"):
            evaluate(expression, ENV)
    with pytest.raises(ExpressionError, match=r"^cannot evaluate: an undefined decimal operation \(such as 0 / 0\)$"):
        evaluate("0.0 / 0", ENV)
    with pytest.raises(ExpressionError, match="cannot evaluate: TypeError"):
        evaluate("group + 1", ENV)


def test_syntax_errors_say_where():
    assert check("debt >")[0].startswith("not a valid expression: invalid syntax (at column")
    with pytest.raises(ExpressionError, match="not a valid expression"):
        evaluate("debt >", ENV)


def test_a_bad_when_in_a_scenario_file_is_a_config_error_naming_file_line_and_path(tmp_path):
    steps = """  - kind: task
    role: account_manager
    title: call
  - kind: task
    role: account_manager
    title: call again
    when: debt > thresholds.lawsuit and dbt > 1
"""
    root = workflow_root(tmp_path, steps)
    with pytest.raises(ConfigError) as exc:
        load_config(root / "schedules.yaml")
    text = str(exc.value)
    assert "scenarios/pretrial_demand.yaml:9 steps[1].when: unknown name 'dbt'; known: blocked," in text
    assert "steps[0]" not in text


def test_a_when_naming_a_missing_threshold_is_a_config_error(tmp_path):
    steps = "  - kind: task\n    role: account_manager\n    title: call\n    when: debt > thresholds.lawsiut\n"
    root = workflow_root(tmp_path, steps)
    with pytest.raises(ConfigError) as exc:
        load_config(root / "schedules.yaml")
    assert "scenarios/pretrial_demand.yaml:6 steps[0].when: thresholds.lawsiut is not defined under thresholds: " \
           "in schedules.yaml (defined: block_on_day_1, lawsuit)" in str(exc.value)
