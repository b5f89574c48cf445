"""Field expressions of the REST connector: paths, JSONPath, explode, filters, empty values and date formats."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connectors.mapping import MISSING, ConstField, EntityMapping, MappingError, PathField, compile_path

INVOICE = {"id": "id", "number": "number", "contract_id": "contract_id", "date": "date", "amount": "amount"}


def test_a_dotted_path_reads_nested_objects_and_list_indices():
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "n": None}
    assert compile_path("a.b.1.c")(doc) == 2
    assert compile_path("a.b.-1.c")(doc) == 2
    assert compile_path("n")(doc) is None


def test_a_path_that_leads_nowhere_is_missing_not_an_error():
    doc = {"a": {"b": [1]}, "s": "text"}
    for expr in ("x", "a.x", "a.b.5", "a.b.x", "s.x", "$.a.zz"):
        assert compile_path(expr)(doc) is MISSING, expr


def test_jsonpath_gives_one_value_or_the_list_of_matches():
    doc = {"data": {"types": [{"name": "date"}, {"name": "amount"}]}}
    assert compile_path("$.data.types[0].name")(doc) == "date"
    assert compile_path("data.types[*].name")(doc) == ["date", "amount"]


def test_jsonpath_accepts_cyrillic_names_unquoted():
    doc = {"РасшифровкаПлатежа": [{"Сумма": Decimal("10.50"), "Вид": "Аванс"},
                                  {"Сумма": Decimal("7"), "Вид": "Оплата"}]}
    assert compile_path("$.РасшифровкаПлатежа[1].Сумма")(doc) == Decimal("7")
    assert compile_path('$.РасшифровкаПлатежа[?(@.Вид == "Аванс")].Сумма')(doc) == Decimal("10.50")


def test_bad_expressions_are_refused_when_compiled():
    for expr in ("", "a..b", "$.[[", "^.x"):
        with pytest.raises(ValueError):
            compile_path(expr)


def test_records_default_to_the_whole_answer_and_may_sit_at_a_path():
    assert EntityMapping("invoices", INVOICE).rows([{"id": 1}]) == [{"id": 1}]
    assert EntityMapping("invoices", INVOICE, records="value").rows({"value": [{"id": 1}]}) == [{"id": 1}]
    assert EntityMapping("invoices", INVOICE, records="$.d.results[*]").rows({"d": {"results": []}}) == []


def test_a_missing_records_path_names_what_the_answer_has():
    with pytest.raises(MappingError, match=r"no records at 'data' \(it has: value, odata.metadata\)"):
        EntityMapping("invoices", INVOICE, records="data").rows({"value": [], "odata.metadata": "x"})


def test_records_that_are_not_a_list_are_refused():
    with pytest.raises(MappingError, match="are an object, not a list"):
        EntityMapping("invoices", INVOICE, records="data").rows({"data": {"id": 1}})


def test_table_rows_are_zipped_with_the_column_names():
    m = EntityMapping("invoices", {"id": "id", "number": "n", "contract_id": "c", "date": "d", "amount": "a"},
                      records="data.rows", columns="data.types[*].name")
    body = {"data": {"types": [{"name": "id"}, {"name": "a"}], "rows": [["I1", Decimal("5.00")]]}}
    rows = m.rows(body)
    assert rows == [{"id": "I1", "a": Decimal("5.00")}]
    assert m.map_rows(rows)[0] == [(0, {"id": "I1", "amount": Decimal("5.00")})]


def test_fields_map_paths_consts_and_leave_missing_ones_out():
    m = EntityMapping("contracts", {"id": "Ref_Key", "number": "Номер", "counterparty_id": "Owner.Ref_Key",
                                    "currency": ConstField(const="RUB"), "payment_days": "Срок"})
    mapped, bad = m.map_rows([{"Ref_Key": "K1", "Номер": "Д-1", "Owner": {"Ref_Key": "CP1"}}])
    assert bad == []
    assert mapped == [(0, {"id": "K1", "number": "Д-1", "counterparty_id": "CP1", "currency": "RUB"})]


def test_numbers_pass_through_untouched():
    m = EntityMapping("invoices", INVOICE)
    (_, values), = m.map_rows([{"id": 7, "amount": Decimal("1234.50")}])[0]
    assert values == {"id": 7, "amount": Decimal("1234.50")}
    assert str(values["amount"]) == "1234.50"


def test_empty_values_are_read_as_empty():
    m = EntityMapping("payments", {"id": "id", "contract_id": "c", "invoice_id": "i", "date": "d", "amount": "a"},
                      empty_values=["00000000-0000-0000-0000-000000000000", "0001-01-01T00:00:00"])
    (_, values), = m.map_rows([{"id": "P", "i": "00000000-0000-0000-0000-000000000000",
                                "d": "0001-01-01T00:00:00", "c": "C"}])[0]
    assert values == {"id": "P", "contract_id": "C", "invoice_id": None, "date": None}


def test_date_formats_are_tried_on_date_fields_and_give_dates():
    m = EntityMapping("invoices", {**INVOICE, "due_date": PathField(path="due", format="%Y%m%d")},
                      date_formats=["%d.%m.%Y %H:%M", "%d/%m/%Y"])
    (_, v1), (_, v2), (_, v3) = m.map_rows([{"date": "31.03.2026 10:15", "due": "20260430"},
                                            {"date": "01/04/2026", "number": "01/04/2026"},
                                            {"date": "2026-04-02"}])[0]
    assert v1["date"] == date(2026, 3, 31) and v1["due_date"] == date(2026, 4, 30)
    assert v2["date"] == date(2026, 4, 1) and v2["number"] == "01/04/2026"  # not a date field: untouched
    assert v3["date"] == "2026-04-02"  # no format matched: build_ledger reads (or reports) it


def test_where_keeps_records_whose_fields_equal_the_values():
    m = EntityMapping("invoices", INVOICE, where={"Posted": True, "DeletionMark": False, "Kind": ["a", "b"]})
    rows = [{"id": 1, "Posted": True, "DeletionMark": False, "Kind": "a"},
            {"id": 2, "Posted": True, "DeletionMark": True, "Kind": "a"},
            {"id": 3, "Posted": 1, "DeletionMark": False, "Kind": "b"},  # 1 is not true
            {"id": 4, "Posted": True, "DeletionMark": False, "Kind": "c"},
            {"id": 5, "DeletionMark": False, "Kind": "b"}]
    assert [i for i, _ in m.map_rows(rows)[0]] == [0]


def test_explode_gives_a_record_per_line_with_the_parents_fields():
    m = EntityMapping("payments", {"id": "Ref", "contract_id": "^.Договор_Key", "invoice_id": "Сделка",
                                   "date": PathField(path="^.Date", format="%Y-%m-%dT%H:%M:%S"), "amount": "Сумма"},
                      explode="РасшифровкаПлатежа", where={"Posted": True})
    docs = [{"Posted": True, "Date": "2026-03-02T12:00:00", "Договор_Key": "K1",
             "РасшифровкаПлатежа": [{"Ref": "L1", "Сумма": Decimal("1.00"), "Сделка": "S1"},
                                    {"Ref": "L2", "Сумма": Decimal("2.00"), "Posted": False}]},
            {"Posted": False, "РасшифровкаПлатежа": [{"Ref": "L3"}]},
            {"Posted": True, "РасшифровкаПлатежа": []},
            {"Posted": True}]
    mapped, bad = m.map_rows(docs)
    assert bad == []
    # L2's own Posted (false) wins over its parent's; the line's index is its document's
    assert mapped == [(0, {"id": "L1", "invoice_id": "S1", "amount": Decimal("1.00"), "contract_id": "K1",
                           "date": date(2026, 3, 2)})]


def test_a_record_that_is_not_an_object_is_a_problem():
    mapped, bad = EntityMapping("invoices", INVOICE).map_rows([{"id": 1}, "oops", 3])
    assert [i for i, _ in mapped] == [0]
    assert bad == [(1, "the record is text, not an object"), (2, "the record is a number, not an object")]


@pytest.mark.parametrize("fields, message", [
    ({"id": "x", "colour": "y"}, "'colour' is not a field of invoices"),
    ({"id": "^.x"}, "exists only with explode"),
    ({"amount": PathField(path="a", format="%d")}, "format applies to date fields"),
])
def test_bad_field_mappings_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        EntityMapping("invoices", fields)
