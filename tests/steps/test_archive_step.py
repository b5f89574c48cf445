"""The archive sidecar records the penalty the letter states: the run's compute_penalty output, statutory too."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from robots.steps.archive_step import penalties_of

STATUTORY = {
    "kind": "penalty", "basis": "statutory", "through": "2028-01-15", "total": "5967.45", "capped": True,
    "cap_share": "0.10",
    "invoices": [{"id": "A", "number": "СЧ-7", "due_date": "2027-12-20", "accrues_from": "2027-12-21",
                  "shifted": False, "principal": "500000.00", "total": "5967.45", "capped": True,
                  "periods": [
                      {"start": "2027-12-21", "end": "2027-12-31", "base": "500000.00", "days": 11, "rate": "0.165",
                       "rate_text": "16,5 % годовых / 365", "year_days": 365, "amount": "2486.30", "capped": False},
                      {"start": "2028-01-01", "end": "2028-01-15", "base": "500000.00", "days": 15, "rate": "0.165",
                       "rate_text": "16,5 % годовых / 366", "year_days": 366, "amount": "3481.15", "capped": True}]}],
}


def test_a_statutory_calculation_goes_into_the_sidecar_with_annual_rates_and_the_cap_marks():
    ctx = SimpleNamespace(outputs={"penalty": STATUTORY}, contract=SimpleNamespace(penalty_rate_per_day=None))
    side = penalties_of(ctx)
    assert (side["method"], side["rate_per_day"], side["through"], side["total"], side["capped"]) == (
        "statutory", None, "2028-01-15", "5967.45", True)
    (inv,) = side["invoices"]
    assert (inv["number"], inv["amount"], inv["days"]) == ("СЧ-7", "5967.45", 26)
    assert inv["periods"][0] == {"start": "2027-12-21", "end": "2027-12-31", "base": "500000.00", "days": 11,
                                 "rate_per_year": "0.165", "year_days": 365, "amount": "2486.30"}
    assert inv["periods"][1]["capped"] is True and inv["periods"][1]["year_days"] == 366


def test_a_run_without_a_penalty_anywhere_records_none():
    none = {**STATUTORY, "basis": "none", "invoices": []}
    ctx = SimpleNamespace(outputs={"penalty": none}, contract=SimpleNamespace(penalty_rate_per_day=Decimal("0.001")))
    assert penalties_of(ctx) is None
