"""Field expressions of the REST connector: paths, JSONPath, explode, filters, empty values and date formats."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from connectors.base import Problem, Record, Where
from connectors.rest.mapping.entity import EntityMapping, MappingError
from connectors.rest.mapping.fields import ConstField, PathField, TemplateField, negate, template_parts
from connectors.rest.mapping.paths import MISSING, compile_path

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


def test_map_page_locates_each_record_by_source_page_and_number():
    m = EntityMapping("invoices", INVOICE, where={"ok": True})
    records, problems = m.map_page([{"id": "A", "ok": True}, "oops", {"id": "B", "ok": False}, {"id": "C", "ok": True}],
                                   "erp: GET invoices", 3)
    assert records == [Record(Where("erp: GET invoices", None, 3, 1), {"id": "A"}),
                       Record(Where("erp: GET invoices", None, 3, 4), {"id": "C"})]
    assert problems == [Problem("erp: GET invoices", "the record is text, not an object", page=3, record=2)]
    assert type(records[0].where) is Where and str(records[1].where) == "erp: GET invoices page 3 record 4"


# ---- templates -------------------------------------------------------------------------------------------------

PAYMENT = {"contract_id": "c", "date": "d", "amount": "a"}
LINES = [{"Ref_Key": "R1", "Date": "2026-03-02T00:00:00",
          "Lines": [{"LineNumber": "1", "a": Decimal("10.50"), "c": "K1"},
                    {"LineNumber": "2", "a": Decimal("4.00"), "c": "K2"}]},
         {"Ref_Key": "R2", "Date": "2026-03-03T00:00:00", "Lines": [{"LineNumber": 1, "a": Decimal("1.00")}]}]


def test_a_template_gives_each_line_of_a_document_its_own_id():
    m = EntityMapping("payments", {**PAYMENT, "id": TemplateField(template="{^.Ref_Key}/{LineNumber}")},
                      explode="Lines")
    mapped, bad = m.map_rows(LINES)
    assert bad == [] and [v["id"] for _, v in mapped] == ["R1/1", "R1/2", "R2/1"]  # a JSON number as digits


def test_a_template_formats_numbers_exactly_and_keeps_literal_braces():
    m = EntityMapping("invoices", {"id": TemplateField(template="{{{kind}-{n}}} {sum} {flag}"),
                                   "number": TemplateField(template="№ {meta.no}")})
    (_, v), = m.map_rows([{"kind": "СЧ", "n": 7, "sum": Decimal("0.10"), "flag": True, "meta": {"no": "12"}}])[0]
    assert v == {"id": "{СЧ-7} 0.10 true", "number": "№ 12"}


def test_a_template_with_a_missing_or_null_part_leaves_the_field_out():
    m = EntityMapping("invoices", {"id": TemplateField(template="{a}/{b}"), "number": "a"})
    rows = [{"a": "X"}, {"a": "X", "b": None}, {"a": "X", "b": {"nested": 1}}, {"a": "X", "b": ""}]
    assert [v for _, v in m.map_rows(rows)[0]] == [{"number": "X"}] * 3 + [{"number": "X", "id": "X/"}]


@pytest.mark.parametrize("template, message", [
    ("{a", "is not closed"),
    ("a}", "closes nothing"),
    ("x{ }y", "an empty {}"),
    ("plain", "has no {path}; use const"),
    ("{^.Ref_Key}/{n}", "'^.' reads the parent record, which exists only with explode"),
    ("{a..b}", "empty segment"),
])
def test_bad_templates_are_refused(template, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        EntityMapping("invoices", {"id": TemplateField(template=template)})


def test_template_parts_split_literals_and_paths():
    assert template_parts("{^.Ref_Key}/{LineNumber}") == ([("", "^.Ref_Key"), ("/", "LineNumber")], "")
    assert template_parts("a{{b}}{$.x[0]}c") == ([("a{b}", "$.x[0]")], "c")


# ---- conditions ------------------------------------------------------------------------------------------------

SALE = "StandardODATA.Document_РеализацияТоваровУслуг"


def test_when_gives_the_value_only_for_records_that_match():
    deal = PathField(path="Сделка", when={"Сделка_Type": SALE})
    m = EntityMapping("payments", {"id": "id", "invoice_id": deal, "contract_id": ConstField(const="K", when={
        "kind": ["a", "b"]})})
    rows = [{"id": 1, "Сделка": "S1", "Сделка_Type": SALE, "kind": "a"},
            {"id": 2, "Сделка": "S2", "Сделка_Type": "StandardODATA.Document_СчетНаОплатуПокупателю", "kind": "c"},
            {"id": 3, "Сделка": "S3"}]
    assert [v for _, v in m.map_rows(rows)[0]] == [
        {"id": 1, "invoice_id": "S1", "contract_id": "K"},
        {"id": 2, "invoice_id": None, "contract_id": None},
        {"id": 3, "invoice_id": None, "contract_id": None}]


def test_when_after_explode_reads_the_line_then_the_parent_and_caret_reads_only_the_parent():
    m = EntityMapping("payments", {
        "id": "n", "invoice_id": PathField(path="deal", when={"kind": "sale"}),
        "contract_id": PathField(path="c", when={"^.kind": "sale"})}, explode="lines")
    docs = [{"kind": "sale", "lines": [{"n": 1, "deal": "S1", "c": "K1"},
                                       {"n": 2, "deal": "S2", "c": "K2", "kind": "order"}]}]
    assert [v for _, v in m.map_rows(docs)[0]] == [{"id": 1, "invoice_id": "S1", "contract_id": "K1"},
                                                   {"id": 2, "invoice_id": None, "contract_id": "K2"}]


def test_a_conditional_value_still_goes_through_empty_values():
    m = EntityMapping("payments", {"id": "id", "invoice_id": PathField(path="d", when={"t": SALE})},
                      empty_values=["00000000-0000-0000-0000-000000000000"])
    (_, v), = m.map_rows([{"id": 1, "d": "00000000-0000-0000-0000-000000000000", "t": SALE}])[0]
    assert v == {"id": 1, "invoice_id": None}


def test_a_when_list_of_objects_is_refused():
    with pytest.raises(ValueError, match="a list lists plain values"):
        EntityMapping("invoices", {"id": PathField(path="x", when={"k": [{"a": 1}]})})


# ---- negate and map --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, negated", [
    (Decimal("1500.50"), Decimal("-1500.50")),
    (Decimal("-0.10"), Decimal("0.10")),
    (Decimal("12345678901234567890123456789.01"), Decimal("-12345678901234567890123456789.01")),  # no rounding
    (7, -7),
    ("1 234,50", "-1 234,50"),
    (" -5 ", "5"),
    ("\u22125.00", "5.00"),
    ("+5", "-5"),
    ("", ""),
    (None, None),
    (True, True),
])
def test_negate_flips_the_sign_exactly(value, negated):
    got = negate(value)
    assert got == negated and type(got) is type(negated)
    if isinstance(value, Decimal):
        assert str(got).lstrip("-") == str(value).lstrip("-")  # the scale is kept: 1500.50, not 1500.5


def test_a_negated_field_goes_through_the_mapping():
    m = EntityMapping("invoices", {"id": "id", "amount": PathField(path="sum", negate=True)})
    mapped, _ = m.map_rows([{"id": 1, "sum": Decimal("99.90")}, {"id": 2, "sum": "-1 000,00"}, {"id": 3}])
    assert [v for _, v in mapped] == [{"id": 1, "amount": Decimal("-99.90")}, {"id": 2, "amount": "1 000,00"},
                                      {"id": 3}]


def test_map_looks_values_up_and_keeps_or_defaults_the_unlisted_ones():
    groups = {"Ключевые клиенты": "key_accounts", "7": "seven"}
    keep = EntityMapping("counterparties", {"id": "id", "group": PathField(path="g", map=groups)})
    fallback = EntityMapping("counterparties", {"id": "id", "group": PathField(path="g", map=groups,
                                                                               default="default")})
    rows = [{"id": 1, "g": " Ключевые клиенты "}, {"id": 2, "g": "Регион Юг"}, {"id": 3, "g": 7}, {"id": 4, "g": ""},
            {"id": 5, "g": None}, {"id": 6}]
    assert [v.get("group", "-") for _, v in keep.map_rows(rows)[0]] == ["key_accounts", "Регион Юг", "seven", "",
                                                                        None, "-"]
    assert [v.get("group", "-") for _, v in fallback.map_rows(rows)[0]] == ["key_accounts", "default", "seven", "",
                                                                            None, "-"]


def test_map_applies_after_empty_values_and_before_negate():
    m = EntityMapping("invoices", {"id": "id", "amount": PathField(path="a", map={"весь долг": "100"}, negate=True)},
                      empty_values=["n/a"])
    mapped, _ = m.map_rows([{"id": 1, "a": "весь долг"}, {"id": 2, "a": "n/a"}])
    assert [v["amount"] for _, v in mapped] == ["-100", None]


def test_default_without_map_is_refused():
    with pytest.raises(ValidationError, match="default is the value for what map does not list; give map too"):
        PathField(path="g", default="default")


# ---- map_page's fast paths give what the general way gives ------------------------------------------------------

ALL_INVOICE = {**INVOICE, "due_date": "due_date"}
GOOD = [{"id": f"I{n}", "number": str(n), "contract_id": "K", "date": "2026-03-02", "due_date": "2026-03-12",
         "amount": Decimal("1.50"), "posted": n != 2, "extra": [n]} for n in range(1, 5)]


@pytest.mark.parametrize("fields, kwargs", [
    (ALL_INVOICE, {}),  # every ledger field under its own name: the raw records serve as the values
    (ALL_INVOICE, {"where": {"posted": True}}),
    ({**INVOICE, "due_date": ConstField(const="2026-04-01")}, {"empty_values": ["K"]}),  # plain keys: one comprehension
    ({**INVOICE, "number": "$.extra[0]"}, {"where": {"posted": True}}),  # a JSONPath: record by record
])
@pytest.mark.parametrize("rows", [
    GOOD,
    [*GOOD[:2], {k: v for k, v in GOOD[2].items() if k != "amount"}, GOOD[3]],  # a key missing
    [GOOD[0], "oops", GOOD[1], ["a", "list"], None],  # records that are not objects
], ids=["good", "missing-key", "not-objects"])
def test_map_page_gives_what_map_rows_gives(fields, kwargs, rows):
    m = EntityMapping("invoices", fields, **kwargs)
    records, problems = m.map_page(rows, "erp: GET invoices", 2)
    mapped, bad = m.map_rows(rows)
    ledger_fields = set(ALL_INVOICE)
    assert [(r.where, {k: v for k, v in r.values.items() if k in ledger_fields}) for r in records] == \
        [(Where("erp: GET invoices", None, 2, i + 1), v) for i, v in mapped]
    assert problems == [Problem("erp: GET invoices", msg, page=2, record=i + 1) for i, msg in bad]
    assert all(type(r) is Record and type(r.where) is Where for r in records)


def test_a_mapping_of_every_field_to_its_own_name_copies_no_record():
    rows = [dict(r) for r in GOOD]
    records, _ = EntityMapping("invoices", ALL_INVOICE).map_page(rows, "s", 1)
    assert [r.values for r in records] == rows and all(r.values is raw for r, raw in zip(records, rows))
    renamed, _ = EntityMapping("invoices", {**ALL_INVOICE, "number": "id"}).map_page(rows, "s", 1)
    assert renamed[0].values == {**{k: rows[0][k] for k in ALL_INVOICE}, "number": "I1"}  # a copy, with its fields
