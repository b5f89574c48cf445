"""The 1C OData simulator (demo.erp.onec) served for real and read with raw httpx, then with the REST connector
and the 1c-odata presets: what 1C sends, and that arbots reads it back into the same ledger."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.base import ConnectorUnavailable, SyncRejected
from connectors.records import build_ledger
from connectors.rest.config import RestConnectorConfig
from connectors.rest.connector import RestConnector
from demo.erp.onec import OnecState, create_onec_app
from demo.erp.onec_data import (
    BALANCE_RESOURCE,
    CONTRACTS,
    CORRECTIONS,
    COUNTERPARTIES,
    EMPTY_DATE,
    EMPTY_REF,
    ENTITY_TYPES,
    PENALTY_PROPERTY,
    RECEIPTS,
    SALES,
    onec_from_ledger,
    ref_key,
)
from demo.erp.onec_filter import ODataError, compile_filter
from demo.erp.server import serve
from demo.ledger import generate_demo_ledger
from robots.core.balances import open_balances
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from robots.engine.sync import pull

USER, PASSWORD = "Робот", "Пароль-секрет-42"
LEDGER = generate_demo_ledger(seed=11, days=12, counterparties=10)
ROOT = "buh/odata/standard.odata/"
GUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def _basic(user: str, password: str, encoding: str = "utf-8") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode()}


@dataclass
class Sim:
    url: str  # the service root: .../buh/odata/standard.odata/
    state: OnecState
    http: httpx.Client

    def get(self, resource: str, **params: str | int) -> httpx.Response:
        return self.http.get(resource, params=params)

    def json(self, resource: str, **params: str | int) -> dict:
        resp = self.get(resource, **{"$format": "json", **params})
        assert resp.status_code == 200, resp.text
        return json.loads(resp.content, parse_float=Decimal)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, OnecState]]:
    app = create_onec_app(LEDGER, username=USER, password=PASSWORD)
    with serve(app) as base:
        yield base + ROOT, app.state.onec


@pytest.fixture
def sim(served) -> Iterator[Sim]:
    url, state = served
    state.faults.clear()
    state.log.clear()
    state.set_ledger(LEDGER)
    with httpx.Client(base_url=url, headers=_basic(USER, PASSWORD)) as client:
        yield Sim(url, state, client)


def _error_of(resp: httpx.Response) -> str:
    body = resp.json()
    assert set(body) == {"odata.error"}
    assert body["odata.error"]["code"] == "-1" and body["odata.error"]["message"]["lang"] == "ru"
    return body["odata.error"]["message"]["value"]


# ---- the answers' shapes -----------------------------------------------------------------------------------------

def test_a_list_is_odata_metadata_and_value_with_cyrillic_set_names(sim):
    body = sim.json("Catalog_Контрагенты")
    assert list(body) == ["odata.metadata", "value"]
    assert body["odata.metadata"] == f"{sim.url}$metadata#Catalog_Контрагенты"
    items = [r for r in body["value"] if not r["IsFolder"] and not r["DeletionMark"]]
    assert sorted(r["Description"] for r in items) == sorted(c.name for c in LEDGER.counterparties)
    assert "odata.nextLink" not in body and "odata.count" not in body


def test_int64_values_are_strings_and_amounts_are_exact_numbers(sim):
    contract = sim.json("Catalog_ДоговорыКонтрагентов", **{"$filter": "ВидДоговора eq 'СПокупателем'"})["value"][0]
    assert isinstance(contract["СрокОплатыПокупателя"], str) and contract["СрокОплатыПокупателя"].isdigit()
    payment = sim.json("Document_ПоступлениеНаРасчетныйСчет")["value"][0]
    line = payment["РасшифровкаПлатежа"][0]
    assert line["LineNumber"] == "1" and line["КратностьВзаиморасчетов"] == "1"
    assert isinstance(line["СуммаПлатежа"], (Decimal, int)) and not isinstance(line["СуммаПлатежа"], bool)
    counted = sim.json("Document_РеализацияТоваровУслуг", **{"$inlinecount": "allpages"})
    assert counted["odata.count"] == str(len(counted["value"]))
    raw = sim.get("Document_РеализацияТоваровУслуг", **{"$format": "json"}).text
    assert '"odata.count"' not in raw and not re.search(r'"СуммаДокумента":\d+\.\d*0[,}]', raw)  # 1234.5, not .50


def test_empty_references_and_dates_and_dates_without_zone(sim):
    sales = {r["Ref_Key"]: r for r in sim.json("Document_РеализацияТоваровУслуг")["value"]}
    ordinary = next(i for i in LEDGER.invoices if not i.is_credit_note
                    and i.due_date == i.date + _term(i.contract_id))
    row = sales[ref_key(SALES, ordinary.id)]
    assert row["СрокОплаты"] == EMPTY_DATE
    assert row["Date"] == f"{ordinary.date.isoformat()}T00:00:00"
    assert all(DATE_RE.fullmatch(r["Date"]) for r in sales.values())  # no Z, no +03:00
    default = next(c for c in LEDGER.counterparties if c.group == "default")
    cp = sim.json(f"Catalog_Контрагенты(guid'{ref_key(COUNTERPARTIES, default.id)}')")
    assert cp["Parent_Key"] == EMPTY_REF and cp["odata.metadata"].endswith("#Catalog_Контрагенты/@Element")
    undirected = next(p for p in LEDGER.payments if p.invoice_id is None)
    doc = sim.json(f"Document_ПоступлениеНаРасчетныйСчет(guid'{ref_key(RECEIPTS, undirected.id)}')")
    assert doc["РасшифровкаПлатежа"][0]["Сделка"] == EMPTY_REF


def _term(contract_id: str):
    from datetime import timedelta

    return timedelta(days=next(c.payment_days for c in LEDGER.contracts if c.id == contract_id))


def test_without_format_json_the_answer_is_atom_as_in_1c(sim):
    resp = sim.get("Catalog_Контрагенты")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/atom+xml")
    assert ET.fromstring(resp.content).tag == "{http://www.w3.org/2005/Atom}feed"
    as_json = sim.http.get("Catalog_Контрагенты", headers={"Accept": "application/json"})
    assert "value" in as_json.json()
    assert sim.get("Catalog_Контрагенты", **{"$format": "csv"}).status_code == 400


def test_select_returns_only_the_named_properties(sim):
    body = sim.json("Catalog_Контрагенты", **{"$select": "Ref_Key,ИНН"})
    assert body["odata.metadata"].endswith("#Catalog_Контрагенты&$select=Ref_Key,ИНН")
    assert all(set(r) == {"Ref_Key", "ИНН"} for r in body["value"])
    resp = sim.get("Catalog_Контрагенты", **{"$format": "json", "$select": "Ref_Key,Email"})
    assert resp.status_code == 400 and "Email" in _error_of(resp)


# ---- $filter ---------------------------------------------------------------------------------------------------

SALES_ROWS = onec_from_ledger(LEDGER).sets[SALES]
A_CONTRACT = SALES_ROWS[0]["ДоговорКонтрагента_Key"]
FILTERS = [
    ("Posted eq true and DeletionMark eq false", lambda r: r["Posted"] and not r["DeletionMark"]),
    ("Posted and not DeletionMark", lambda r: r["Posted"] and not r["DeletionMark"]),
    ("not (Posted eq true)", lambda r: not r["Posted"]),
    ("DeletionMark eq true or Posted eq false and Number eq '9001'",  # and binds tighter than or
     lambda r: r["DeletionMark"] or (not r["Posted"] and r["Number"] == "9001")),
    ("(DeletionMark eq true or Posted eq false) and Number eq '9001'", lambda r: r["Number"] == "9001"),
    ("СуммаДокумента gt 100000 and СуммаДокумента le 500000.5",
     lambda r: Decimal(100000) < r["СуммаДокумента"] <= Decimal("500000.5")),
    ("Date ge datetime'2026-01-01T00:00:00' and Date lt datetime'2026-01-15T00:00'",
     lambda r: "2026-01-01" <= r["Date"][:10] < "2026-01-15"),
    (f"ДоговорКонтрагента_Key eq guid'{A_CONTRACT.upper()}'", lambda r: r["ДоговорКонтрагента_Key"] == A_CONTRACT),
    (f"ДоговорКонтрагента_Key ne guid'{A_CONTRACT}'", lambda r: r["ДоговорКонтрагента_Key"] != A_CONTRACT),
    ("СрокОплаты ne datetime'0001-01-01T00:00:00'", lambda r: r["СрокОплаты"] != EMPTY_DATE),
    ("Комментарий eq 'it''s'", lambda r: False),
    ("Number ge '1250' and Number lt '1260'", lambda r: "1250" <= r["Number"] < "1260"),
]


@pytest.mark.parametrize("expr, keep", FILTERS, ids=[f[0][:40] for f in FILTERS])
def test_filter_keeps_exactly_the_matching_rows(sim, expr, keep):
    got = {r["Ref_Key"] for r in sim.json("Document_РеализацияТоваровУслуг", **{"$filter": expr})["value"]}
    assert got == {r["Ref_Key"] for r in SALES_ROWS if keep(r)}


def test_filter_cases_are_not_vacuous():
    counts = [sum(1 for r in SALES_ROWS if keep(r)) for _, keep in FILTERS]
    assert sum(1 for n in counts if 0 < n < len(SALES_ROWS)) >= 8


BAD_FILTERS = [
    ("Posted eq", "операнд"),
    ("Posted eq 'true'", "несовместимые типы"),
    ("Нет eq 1", "неизвестное свойство 'Нет'"),
    ("Ref_Key eq guid'xyz'", "guid"),
    ("Date gt datetime'2026-13-01T00:00:00'", "datetime"),
    ("(Posted eq true", "')'"),
    ("Posted eq true Posted", "лишний текст"),
    ("substringof('а', Number)", "функция"),
    ("Number eq 'open", "неожиданный символ"),
    ("Number", "логическим"),
    ("Posted gt false", "не применима"),
    ("Posted eq true and 1", "логическим"),
]


@pytest.mark.parametrize("expr, said", BAD_FILTERS, ids=[b[0] for b in BAD_FILTERS])
def test_a_bad_filter_is_400_in_1c_error_format(sim, expr, said):
    resp = sim.get("Document_РеализацияТоваровУслуг", **{"$format": "json", "$filter": expr})
    assert resp.status_code == 400
    assert said in _error_of(resp)


def test_filter_parser_is_typed_and_handles_null_and_precedence():
    props = {"A": "Edm.Boolean", "B": "Edm.Boolean", "N": "Edm.Int64", "S": "Edm.String"}
    keep = compile_filter("not A or B and N ge 3", props)
    assert keep({"A": True, "B": True, "N": "3"}) and not keep({"A": True, "B": True, "N": "2"})
    assert keep({"A": False, "B": False, "N": "0"})
    assert compile_filter("S eq null", props)({"S": None}) and not compile_filter("S ne null", props)({"S": None})
    with pytest.raises(ODataError) as e:
        compile_filter("N lt null", props)
    assert e.value.status == 400


# ---- ordering, paging, counting -------------------------------------------------------------------------------

def test_orderby_defaults_to_ref_key_and_accepts_several_keys(sim):
    keys = [r["Ref_Key"] for r in sim.json("Document_РеализацияТоваровУслуг")["value"]]
    assert keys == sorted(keys)
    rows = sim.json("Document_РеализацияТоваровУслуг", **{"$orderby": "Date desc, Number"})["value"]
    expected = sorted(sorted(rows, key=lambda r: r["Number"]), key=lambda r: r["Date"], reverse=True)
    assert [r["Ref_Key"] for r in rows] == [r["Ref_Key"] for r in expected] and rows[0]["Date"] > rows[-1]["Date"]
    resp = sim.get("Document_РеализацияТоваровУслуг", **{"$format": "json", "$orderby": "Date sideways"})
    assert resp.status_code == 400 and "$orderby" in _error_of(resp)


def test_top_and_skip_page_through_the_whole_set_without_next_link(sim):
    everything = [r["Ref_Key"] for r in sim.json("Document_РеализацияТоваровУслуг")["value"]]
    pages, skip = [], 0
    while True:
        body = sim.json("Document_РеализацияТоваровУслуг", **{"$top": 7, "$skip": skip})
        assert "odata.nextLink" not in body
        if not body["value"]:
            break
        pages.append([r["Ref_Key"] for r in body["value"]])
        skip += 7
    assert len(pages) == -(-len(everything) // 7) > 2 and sum(pages, []) == everything
    assert sim.get("Document_РеализацияТоваровУслуг", **{"$format": "json", "$top": "-1"}).status_code == 400


def test_inlinecount_counts_after_filter_and_makes_1c_ignore_top_and_skip(sim):
    body = sim.json("Document_РеализацияТоваровУслуг", **{"$filter": "Posted eq true", "$inlinecount": "allpages",
                                                           "$top": 2, "$skip": 1})
    posted = [r for r in SALES_ROWS if r["Posted"]]
    assert body["odata.count"] == str(len(posted)) and len(body["value"]) == len(posted) > 2
    count = sim.get("Document_РеализацияТоваровУслуг/$count", **{"$filter": "Posted eq false"})
    assert count.text == str(sum(1 for r in SALES_ROWS if not r["Posted"])) == "2"


def test_expand_parent_embeds_the_group_folder(sim):
    rows = sim.json("Catalog_Контрагенты", **{"$expand": "Parent", "$filter": "IsFolder eq false"})["value"]
    groups = {r["Ref_Key"]: r.get("Parent", {}).get("Description", "default") for r in rows if not r["DeletionMark"]}
    assert groups == {ref_key(COUNTERPARTIES, c.id): c.group for c in LEDGER.counterparties}
    assert "key_accounts" in groups.values()
    assert sim.get("Catalog_Контрагенты", **{"$format": "json", "$expand": "Сделка"}).status_code == 400


# ---- auth, errors, metadata ------------------------------------------------------------------------------------

def test_basic_auth_takes_a_cyrillic_login_in_utf8_only(sim):
    ok = httpx.get(sim.url + "Catalog_Валюты?$format=json", headers=_basic(USER, PASSWORD))
    assert ok.status_code == 200 and ok.json()["value"][0]["Code"] == "643"
    for headers in (_basic(USER, "wrong"), _basic("Robot", PASSWORD), {}, {"Authorization": "Basic !!!"},
                    _basic(USER, PASSWORD, "cp1251")):
        resp = httpx.get(sim.url + "Catalog_Валюты?$format=json", headers=headers)
        assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Basic")
        assert "аутентификац" in _error_of(resp) and PASSWORD not in resp.text


def test_unknown_set_or_object_is_404_and_unknown_option_400(sim):
    resp = sim.get("Catalog_Нет", **{"$format": "json"})
    assert resp.status_code == 404 and "Catalog_Нет" in _error_of(resp)
    resp = sim.get(f"Catalog_Контрагенты(guid'{EMPTY_REF}')", **{"$format": "json"})
    assert resp.status_code == 404 and _error_of(resp) == "Объект не найден"
    resp = sim.get("Catalog_Контрагенты", **{"$format": "json", "$search": "x"})
    assert resp.status_code == 400 and "$search" in _error_of(resp)
    assert httpx.get(sim.url.replace("/buh/", "/zup/") + "Catalog_Контрагенты", headers=_basic(USER, PASSWORD)
                     ).status_code == 404
    assert sim.http.post("Catalog_Контрагенты?$format=json", json={}).status_code == 405


def test_metadata_is_an_edmx_v3_of_the_exposed_sets(sim):
    resp = sim.get("$metadata")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    edm = "{http://schemas.microsoft.com/ado/2009/11/edm}"
    schema = root.find(f".//{edm}Schema")
    assert schema is not None and schema.get("Namespace") == "StandardODATA"
    sets = {s.get("Name") for s in schema.iter(f"{edm}EntitySet")}
    assert set(ENTITY_TYPES) <= sets
    contract = next(t for t in schema.iter(f"{edm}EntityType") if t.get("Name") == CONTRACTS)
    types = {p.get("Name"): p.get("Type") for p in contract.iter(f"{edm}Property")}
    assert types["СрокОплатыПокупателя"] == "Edm.Int64" and types["Ref_Key"] == "Edm.Guid"
    service = sim.json("")
    assert {s["name"] for s in service["value"]} >= {SALES, RECEIPTS, COUNTERPARTIES}


# ---- the settlements register -----------------------------------------------------------------------------------

def _balance(sim: Sim, args: str = "", **params) -> list[dict]:
    return sim.json(f"AccumulationRegister_РасчетыСПокупателями/Balance{args}", **params)["value"]


def test_balance_rows_are_the_open_debts_per_document(sim):
    rows = _balance(sim)
    expected = open_balances(LEDGER, date.max)
    debts = {r["Сделка"]: r[BALANCE_RESOURCE] for r in rows if r[BALANCE_RESOURCE] > 0}
    assert debts == {ref_key(SALES, i): v for i, v in expected.open.items() if v}
    assert all(r["Сделка_Type"] == "StandardODATA." + SALES for r in rows if r[BALANCE_RESOURCE] > 0)
    credit = {r["ДоговорКонтрагента_Key"]: -r[BALANCE_RESOURCE] for r in rows if r[BALANCE_RESOURCE] < 0}
    assert credit == {ref_key(CONTRACTS, c): v for c, v in expected.credit.items()} and credit


def test_balance_period_excludes_its_own_moment_and_condition_and_dimensions_work(sim):
    day = sorted({i.date for i in LEDGER.invoices})[len(LEDGER.invoices) // 3]
    before = _balance(sim, f"(Period=datetime'{day.isoformat()}T00:00:00')")
    through = _balance(sim, f"(Period=datetime'{day.isoformat()}T23:59:59')")
    total = lambda rows: sum(r[BALANCE_RESOURCE] for r in rows)
    assert total(before) == open_balances(LEDGER, date.fromordinal(day.toordinal() - 1)).total_open() - sum(
        open_balances(LEDGER, date.fromordinal(day.toordinal() - 1)).credit.values())
    assert total(through) != total(before)
    contract = before[0]["ДоговорКонтрагента_Key"]
    one = _balance(sim, f"(Condition='ДоговорКонтрагента_Key eq guid''{contract}''')")
    assert one and {r["ДоговорКонтрагента_Key"] for r in one} == {contract}
    per_contract = _balance(sim, "(Dimensions='ДоговорКонтрагента')")
    assert all(set(r) == {"ДоговорКонтрагента_Key", BALANCE_RESOURCE} for r in per_contract)
    assert total(per_contract) == total(_balance(sim))
    resp = sim.get("AccumulationRegister_РасчетыСПокупателями/Balance(Period='вчера')", **{"$format": "json"})
    assert resp.status_code == 400


# ---- faults ------------------------------------------------------------------------------------------------------

def test_faults_fail_the_nth_request_and_serve_html(sim):
    sim.state.fail(2, 503)
    sim.state.html(4)
    codes = [sim.get("Catalog_Валюты", **{"$format": "json"}) for _ in range(5)]
    assert [r.status_code for r in codes] == [200, 503, 200, 200, 200]
    assert codes[3].headers["content-type"].startswith("text/html") and "<form" in codes[3].text
    assert len(sim.state.log) == 5


# ---- the data conversion ---------------------------------------------------------------------------------------

def test_conversion_is_deterministic_and_maps_back_to_ledger_ids():
    one, two = onec_from_ledger(LEDGER), onec_from_ledger(LEDGER)
    assert one.sets == two.sets
    assert one.ledger_ids[ref_key(SALES, LEDGER.invoices[0].id)] == LEDGER.invoices[0].id or \
        LEDGER.invoices[0].is_credit_note
    assert all(GUID_RE.fullmatch(k) for k in one.ledger_ids)
    assert len(one.ledger_ids) == sum(LEDGER.counts().values())


def test_installments_carry_their_due_date_and_credit_notes_are_corrections():
    data = onec_from_ledger(LEDGER, noise=False)
    sales = {r["Ref_Key"]: r for r in data.sets[SALES]}
    for inv in LEDGER.invoices:
        if inv.is_credit_note:
            continue
        due = sales[ref_key(SALES, inv.id)]["СрокОплаты"]
        assert due == (EMPTY_DATE if inv.due_date == inv.date + _term(inv.contract_id)
                       else f"{inv.due_date.isoformat()}T00:00:00")
    assert any(r["СрокОплаты"] != EMPTY_DATE for r in sales.values())  # the ledger has installments
    credits = [i for i in LEDGER.invoices if i.is_credit_note]
    rows = {r["Ref_Key"]: r for r in data.sets[CORRECTIONS]}
    assert credits and len(rows) == len(credits)
    for inv in credits:
        row = rows[ref_key(CORRECTIONS, inv.id)]
        assert row["СуммаДокумента"] == inv.amount < 0
        assert sales[row["ДокументОснование"]]["Number"] == inv.number.removesuffix("-К")


def test_penalty_is_an_additional_attribute_in_percent_per_day():
    rows = {r["Ref_Key"]: r for r in onec_from_ledger(LEDGER).sets[CONTRACTS]}
    for ct in LEDGER.contracts:
        extra = rows[ref_key(CONTRACTS, ct.id)]["ДополнительныеРеквизиты"]
        if ct.penalty_rate_per_day is None:
            assert extra == []
        else:
            assert extra[0]["Свойство_Key"] == PENALTY_PROPERTY
            assert Decimal(extra[0]["Значение"]) / 100 == ct.penalty_rate_per_day


# ---- the presets, end to end ------------------------------------------------------------------------------------

PENALTY = f"$.ДополнительныеРеквизиты[?(@.Свойство_Key == '{PENALTY_PROPERTY}')].Значение"
WITH_PENALTY = {"contracts": {"fields": {"penalty_rate_per_day": PENALTY}}}
GROUPS = {"default", "key_accounts"}


def _connector(sim: Sim, tmp_path: Path, preset: str = "1c-odata", cid: str = "buh", **extra) -> RestConnector:
    config = RestConnectorConfig.model_validate({
        "id": cid, "kind": "rest", "preset": preset, "base_url": sim.url,
        "auth": {"basic": {"username": USER, "password_env": "ONEC_TEST_PASSWORD"}},
        "retries": {"attempts": 3, "backoff": 0}, **extra})
    return RestConnector(config, base_dir=tmp_path, state_dir=tmp_path / cid, sleep=lambda s: None)


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv("ONEC_TEST_PASSWORD", PASSWORD)


def _back(ledger: Ledger, ids: dict[str, str]) -> Ledger:
    """The fetched ledger with 1C's GUIDs replaced by the ledger ids they were made from (a payment's id is
    "<document GUID>/<line number>": "<ledger id>/<line number>")."""
    def line(payment_id: str) -> str:
        key, _, number = payment_id.partition("/")
        return f"{ids[key]}/{number}"

    return Ledger(
        tuple(sorted((replace(c, id=ids[c.id]) for c in ledger.counterparties), key=lambda c: c.id)),
        tuple(sorted((replace(c, id=ids[c.id], counterparty_id=ids[c.counterparty_id]) for c in ledger.contracts),
                     key=lambda c: c.id)),
        tuple(sorted((replace(i, id=ids[i.id], contract_id=ids[i.contract_id]) for i in ledger.invoices),
                     key=lambda i: i.id)),
        tuple(sorted((replace(p, id=line(p.id), contract_id=ids[p.contract_id],
                              invoice_id=ids[p.invoice_id] if p.invoice_id else None) for p in ledger.payments),
                     key=lambda p: p.id)))


def _sorted(ledger: Ledger) -> Ledger:
    """The ledger sorted by id, each payment's id "<id>/1": in 1C the source's payments have one line each."""
    return Ledger(*(tuple(sorted(getattr(ledger, k), key=lambda x: x.id)) for k in
                    ("counterparties", "contracts", "invoices")),
                  tuple(sorted((replace(p, id=f"{p.id}/1") for p in ledger.payments), key=lambda p: p.id)))


def test_the_preset_validates_with_a_cyrillic_login_and_names_no_secret(sim, tmp_path, password):
    with _connector(sim, tmp_path) as conn:
        assert conn.entities == ("counterparties", "contracts", "invoices", "payments")
        cfg = conn.config
    assert cfg.auth.basic.username == USER and PASSWORD not in cfg.model_dump_json()
    assert cfg.empty_values == (EMPTY_REF, EMPTY_DATE)
    assert cfg.entities["payments"].explode == "РасшифровкаПлатежа"


def test_the_documents_preset_alone_gives_back_the_source_ledger_with_its_credit_notes(sim, tmp_path, password):
    with _connector(sim, tmp_path, entities=WITH_PENALTY) as conn:
        fetched = conn.fetch()
        ledger = pull([conn], known_groups=GROUPS)
    assert _back(ledger, sim.state.data.ledger_ids) == _sorted(LEDGER)
    assert any(i.is_credit_note for i in LEDGER.invoices) and any(c.group == "key_accounts"
                                                                   for c in LEDGER.counterparties)
    assert any(p.invoice_id is None for p in LEDGER.payments) and any(c.email for c in LEDGER.counterparties)
    # sales first, then the credit notes, each located in its own source
    sources = [r.where.source for r in fetched.tables["invoices"]]
    n_sales = sum(1 for i in LEDGER.invoices if not i.is_credit_note)
    assert sources == ["buh: GET Document_РеализацияТоваровУслуг"] * n_sales + \
        ["buh: GET Document_КорректировкаРеализации"] * (len(LEDGER.invoices) - n_sales)
    first_note = fetched.tables["invoices"][n_sales]
    assert (first_note.where.page, first_note.where.record) == (1, 1) and first_note.values["amount"] < 0


def test_the_preset_without_credit_notes_skips_noise_and_misses_only_them_and_penalties(sim, tmp_path, password):
    with _connector(sim, tmp_path, entities={"invoices": [{}, None]}) as conn:
        assert len(conn.config.entities["invoices"]) == 1
        fetched = conn.fetch()
    problems: list = []
    ledger = build_ledger(fetched.tables, problems, GROUPS)
    assert problems == [] and fetched.problems == []
    source = Ledger(LEDGER.counterparties, tuple(replace(c, penalty_rate_per_day=None) for c in LEDGER.contracts),
                    tuple(i for i in LEDGER.invoices if not i.is_credit_note), LEDGER.payments)
    assert _back(ledger, sim.state.data.ledger_ids) == _sorted(source)
    first = fetched.tables["invoices"][0].where
    assert first.source == "buh: GET Document_РеализацияТоваровУслуг" and (first.page, first.record) == (1, 1)
    assert CORRECTIONS not in {path for path, _ in sim.state.log}


def _receipt_of(sim: Sim, payment: Payment) -> dict:
    return next(r for r in sim.state.data.sets[RECEIPTS] if r["Ref_Key"] == ref_key(RECEIPTS, payment.id))


def test_a_payment_split_over_two_lines_gives_a_payment_per_line(sim, tmp_path, password):
    paid = next(p for p in LEDGER.payments if p.invoice_id is not None and p.amount >= Decimal("0.02"))
    doc = _receipt_of(sim, paid)
    (line,) = doc["РасшифровкаПлатежа"]
    half = (paid.amount / 2).quantize(Decimal("0.01"))
    # 1C: one receipt, two lines: part of it pays the invoice, the rest is an advance on the same contract
    doc["РасшифровкаПлатежа"] = [{**line, "СуммаПлатежа": half},
                                 {**line, "LineNumber": "2", "Сделка": EMPTY_REF, "СуммаПлатежа": paid.amount - half,
                                  "СпособПогашенияЗадолженности": "Автоматически"}]
    with _connector(sim, tmp_path, entities=WITH_PENALTY) as conn:
        ledger = pull([conn], known_groups=GROUPS)
    got = _back(ledger, sim.state.data.ledger_ids)
    expected = _sorted(LEDGER)
    others = tuple(p for p in expected.payments if p.id != f"{paid.id}/1")
    split = (replace(paid, id=f"{paid.id}/1", amount=half),
             replace(paid, id=f"{paid.id}/2", amount=paid.amount - half, invoice_id=None))
    assert got == replace(expected, payments=tuple(sorted(others + split, key=lambda p: p.id)))


def test_a_payment_line_for_another_kind_of_document_is_undirected(sim, tmp_path, password):
    # In BP a line's Сделка may be a Счёт на оплату (a pro-forma), not a sale: it is no invoice arbots knows.
    paid = next(p for p in LEDGER.payments if p.invoice_id is not None)
    (line,) = _receipt_of(sim, paid)["РасшифровкаПлатежа"]
    line["Сделка"] = ref_key("Document_СчетНаОплатуПокупателю", "proforma-1")
    line["Сделка_Type"] = "StandardODATA.Document_СчетНаОплатуПокупателю"
    with _connector(sim, tmp_path, entities=WITH_PENALTY) as conn:
        ledger = pull([conn], known_groups=GROUPS)
    got = {p.id: p for p in _back(ledger, sim.state.data.ledger_ids).payments}
    assert got[f"{paid.id}/1"] == replace(paid, id=f"{paid.id}/1", invoice_id=None)
    assert len(got) == len(LEDGER.payments)


def test_credit_notes_shown_positive_are_negated(sim, tmp_path, password):
    notes = sim.state.data.sets[CORRECTIONS]
    assert notes and all(r["СуммаДокумента"] < 0 for r in notes)
    for row in notes:  # a base where the correction's amount is the (positive) size of the reduction
        row["СуммаДокумента"] = -row["СуммаДокумента"]
    negated = {"invoices": [{}, {"fields": {"amount": {"path": "СуммаДокумента", "negate": True}}}], **WITH_PENALTY}
    with _connector(sim, tmp_path, entities=negated) as conn:
        ledger = pull([conn], known_groups=GROUPS)
    assert _back(ledger, sim.state.data.ledger_ids) == _sorted(LEDGER)
    with _connector(sim, tmp_path, entities=WITH_PENALTY) as conn:  # without negate: positive credit notes
        fetched = conn.fetch()
    notes_read = [r.values["amount"] for r in fetched.tables["invoices"] if CORRECTIONS in r.where.source]
    assert len(notes_read) == len(notes) and all(a > 0 for a in notes_read)


def test_folder_names_are_mapped_to_groups(sim, tmp_path, password):
    rows = sim.state.data.sets[COUNTERPARTIES]
    (folder,) = [r for r in rows if r["IsFolder"]]
    assert folder["Description"] == "key_accounts"
    folder["Description"] = "Ключевые клиенты"  # the folder as people in 1C name it
    region = {**folder, "Ref_Key": ref_key(COUNTERPARTIES, "group/Юг"), "Description": "Регион Юг"}
    rows.append(region)  # a folder that is no arbots group: its counterparties are default
    moved = next(c for c in LEDGER.counterparties if c.group == "default")
    next(r for r in rows if r["Ref_Key"] == ref_key(COUNTERPARTIES, moved.id))["Parent_Key"] = region["Ref_Key"]
    group = {"path": "Parent.Description", "map": {"Ключевые клиенты": "key_accounts"}, "default": "default"}
    with _connector(sim, tmp_path, entities={**WITH_PENALTY, "counterparties": {"fields": {"group": group}}}) as conn:
        ledger = pull([conn], known_groups=GROUPS)
    assert _back(ledger, sim.state.data.ledger_ids) == _sorted(LEDGER)


def test_balance_preset_gives_the_open_balances(sim, tmp_path, password):
    with _connector(sim, tmp_path, preset="1c-odata-balance") as conn:
        fetched = conn.fetch()
    problems: list = []
    ledger = build_ledger(fetched.tables, problems, GROUPS)
    assert problems == [] and ledger.payments == ()
    ids = sim.state.data.ledger_ids
    expected = open_balances(LEDGER, date.max)
    debts = {ids[i.id]: i.amount for i in ledger.invoices if i.amount > 0}
    assert debts == {k: v for k, v in expected.open.items() if v}
    credit = {ids[i.contract_id]: -i.amount for i in ledger.invoices if i.amount < 0}
    assert credit == expected.credit
    due = {i.id: i.due_date for i in LEDGER.invoices}
    assert all(i.due_date == due[ids[i.id]] for i in ledger.invoices if i.amount > 0)
    assert open_balances(ledger, date.max).total_open() == expected.total_open()  # arbots sees the same debt


def test_small_pages_are_read_with_top_and_skip_until_a_short_page(sim, tmp_path, password):
    sales = [i for i in LEDGER.invoices if not i.is_credit_note]
    with _connector(sim, tmp_path, entities={"invoices": {"paging": {"size": 4}}}) as conn:
        fetched = conn.fetch()
    asked = [q for path, q in sim.state.log if path == SALES]
    assert [int(q["$skip"]) for q in asked] == list(range(0, 4 * len(asked), 4))
    assert len(asked) == len(sales) // 4 + 1 > 3 and all(q["$top"] == "4" for q in asked)
    assert "$inlinecount" not in asked[0] and asked[0]["$orderby"] == "Ref_Key"
    records = [r for r in fetched.tables["invoices"] if r.where.source.endswith(SALES)]
    assert len(records) == len(sales) and records[-1].where.page == len(asked) - (len(sales) % 4 == 0)
    assert {sim.state.data.ledger_ids[r.values["id"]] for r in records} == {i.id for i in sales}
    notes = [q for path, q in sim.state.log if path == CORRECTIONS]  # the mapping merged into both sources
    assert notes and all(q["$top"] == "4" for q in notes)


def test_a_500_mid_paging_with_retries_spent_is_unavailable_and_returns_nothing(sim, tmp_path, password):
    sim.state.fail(2, 500, times=3, entity=SALES)  # page 2 of invoices, all three attempts
    conn = _connector(sim, tmp_path, entities={"invoices": {"paging": {"size": 4}}})
    fetched = None
    with conn, pytest.raises(ConnectorUnavailable) as e:
        fetched = conn.fetch()
    assert fetched is None
    assert "Document_РеализацияТоваровУслуг page 2: HTTP 500 after 3 attempts; the server said: Сервис временно " \
           "недоступен" in str(e.value)
    assert PASSWORD not in str(e.value)
    assert sum(1 for path, _ in sim.state.log if path == SALES) == 4  # page 1, then page 2 three times


def test_a_passing_503_is_retried(sim, tmp_path, password):
    sim.state.fail(1, 503, entity=RECEIPTS)
    with _connector(sim, tmp_path) as conn:
        fetched = conn.fetch()
    assert fetched.problems == [] and len(fetched.tables["payments"]) == len(LEDGER.payments)


def test_a_bad_password_is_a_clear_problem_without_the_password(sim, tmp_path, monkeypatch):
    monkeypatch.setenv("ONEC_TEST_PASSWORD", "неверный-пароль")
    with _connector(sim, tmp_path) as conn, pytest.raises(SyncRejected) as e:
        conn.pull()
    text = str(e.value)
    assert "HTTP 401" in text and "check auth" in text and f"user '{USER}'" in text and "ONEC_TEST_PASSWORD" in text
    assert "неверный-пароль" not in text and PASSWORD not in text
    assert len(e.value.problems) == 5  # one per source (invoices has two), and no retries
    assert len(sim.state.log) == 5


def test_an_html_page_instead_of_json_is_a_problem_naming_the_page(sim, tmp_path, password):
    sim.state.html(1, entity=COUNTERPARTIES)
    with _connector(sim, tmp_path) as conn:
        fetched = conn.fetch()
    assert fetched.tables["counterparties"] is None and fetched.tables["invoices"] is not None
    (problem,) = fetched.problems
    assert "HTML" in problem.message and problem.page == 1 and problem.source == "buh: GET Catalog_Контрагенты"


def test_a_ledger_swapped_at_runtime_is_served(sim, tmp_path, password):
    small = Ledger((Counterparty("C1", "ООО «Ромашка»", "7707083893", "buh@romashka.ru"),),
                   (Contract("K1", "1/2026", "C1", 10, "RUB", Decimal("0.001")),),
                   (Invoice("I1", "101", "K1", date(2026, 3, 2), date(2026, 3, 12), Decimal("1500.50")),),
                   (Payment("P1", "K1", date(2026, 3, 10), Decimal("500.50"), "I1"),))
    sim.state.set_ledger(small, noise=False)
    with _connector(sim, tmp_path) as conn:
        ledger = conn.pull()
    assert ledger.invoices[0].due_date == date(2026, 3, 12) and ledger.invoices[0].amount == Decimal("1500.50")
    assert _back(ledger, sim.state.data.ledger_ids) == _sorted(replace(small, contracts=(replace(
        small.contracts[0], penalty_rate_per_day=None),)))
    assert datetime.fromisoformat(sim.json("Document_ПоступлениеНаРасчетныйСчет")["value"][0]["Date"]).date() == \
        date(2026, 3, 10)
