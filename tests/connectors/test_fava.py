"""Fava (the Beancount web UI) as a real accounting app: the shipped example configs read a generated ledger
through Fava's JSON API (REST connector, BQL) and through its web pages (UI connector, behind the login gate),
and both give exactly the ledger the CSV files of the same data give."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import yaml

from connectors.base import ConnectorUnavailable, Record, Where
from connectors.files.connector import FileConnector
from connectors.files.ledger_csv import write_ledger_csv
from connectors.records import build_ledger
from connectors.rest.config import RestConnectorConfig
from connectors.rest.connector import RestConnector
from connectors.ui.config import UiConnectorConfig
from connectors.ui.connector import UiConnector
from demo.erp.fava_ledger import slugify, write_beancount
from demo.erp.fava_proxy import create_app
from demo.erp.server import serve
from demo.ledger import KEY_ACCOUNTS, generate_demo_ledger
from demo.pki import free_port
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "fava"
FAVA = Path(sys.executable).parent / "fava"
SLUG = "ar-demo-ledger"  # the slug the example configs use: the default title's
USER = "робот"

#: Small, but with every case: installments, credit notes, payments with and without an invoice, contracts with
#: and without a penalty, both groups (test_the_demo_ledger_has_every_case checks it).
SOURCE = generate_demo_ledger(seed=2, days=10, counterparties=8)

#: Ids and texts that account names, links and strings must survive: Cyrillic, spaces, quotes, a backslash, ids
#: that collide once made account names, a second currency, empty optional fields.
ODD = Ledger(
    counterparties=(
        Counterparty("CP-1", 'ООО "Ромашка"; филиал \\ склад', "0277083893", "buh@romashka.ru", KEY_ACCOUNTS),
        Counterparty("cp-1", "ИП Иванов И. И.", "", "", "default"),
        Counterparty("контрагент 7", "АО «Кедр»", "7707083893", "info@kedr.ru", "default"),
    ),
    contracts=(
        Contract("C/1", "15/2025-П", "CP-1", 30, "RUB", Decimal("0.001")),
        Contract("c_1", "Д-0042", "cp-1", 0, "RUB", None),
        Contract("договор №3", 'ДП "экспорт"', "контрагент 7", 14, "USD", Decimal("0.00035")),
    ),
    invoices=(
        Invoice("I1", "101", "C/1", date(2026, 3, 2), date(2026, 4, 1), Decimal("1234567.89")),
        Invoice("СЧ 2", "102-К", "c_1", date(2026, 3, 3), date(2026, 3, 3), Decimal("-500.00")),
        Invoice("I3", "103", "C/1", date(2026, 3, 4), date(2026, 4, 3), Decimal("500.50")),
        Invoice("I4", "103", "C/1", date(2026, 3, 4), date(2026, 5, 3), Decimal("1000.00")),
        Invoice("I5", "7", "договор №3", date(2026, 3, 5), date(2026, 3, 19), Decimal("0.10")),
    ),
    payments=(
        Payment("P1", "C/1", date(2026, 3, 10), Decimal("1000000.00"), "I1"),
        Payment("P 2", "c_1", date(2026, 3, 11), Decimal("99.90"), None),
        Payment("P3", "договор №3", date(2026, 3, 12), Decimal("0.10"), "I5"),
    ),
)


def _example(name: str, **changes: Any) -> dict[str, Any]:
    """The connector block of an example config, as a mapping, with top-level keys replaced."""
    (block,) = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    return {**block, **changes}


def _queries(block: dict[str, Any]) -> dict[str, str]:
    """BQL per entity of an example: the REST params, or the query_string of the UI's goto URL."""
    if block["kind"] == "rest":
        return {e: spec["params"]["query_string"] for e, spec in block["entities"].items()}
    return {e: unquote(spec["steps"][0]["goto"].split("query_string=", 1)[1])
            for e, spec in block["entities"].items()}


def _csv_snapshot(ledger: Ledger, folder: Path) -> Ledger:
    write_ledger_csv(ledger, folder)
    return FileConnector("csv", folder).pull()


def _run_bql(path: Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    import beanquery

    conn = beanquery.connect(f"beancount:{path}")
    cursor = conn.execute(query)
    return [c.name for c in cursor.description], cursor.fetchall()


# --------------------------------------------------------------------------------------- the ledger file
def test_the_demo_ledger_has_every_case():
    numbers = [(i.contract_id, i.number) for i in SOURCE.invoices]
    assert any(numbers.count(n) > 1 for n in numbers), "installments"
    assert any(i.amount < 0 for i in SOURCE.invoices), "credit notes"
    assert any(p.invoice_id is None for p in SOURCE.payments) and any(p.invoice_id for p in SOURCE.payments)
    assert {c.penalty_rate_per_day is None for c in SOURCE.contracts} == {True, False}
    assert {c.group for c in SOURCE.counterparties} == {"default", KEY_ACCOUNTS}


@pytest.mark.parametrize("ledger", [SOURCE, ODD, Ledger()], ids=["demo", "odd", "empty"])
def test_write_beancount_writes_a_file_beancount_loads_without_errors(tmp_path, ledger):
    from beancount import loader

    slug = write_beancount(ledger, tmp_path / "ar.beancount")
    entries, errors, options = loader.load_file(str(tmp_path / "ar.beancount"))
    assert errors == []
    assert slug == SLUG and options["title"] == "AR demo ledger"
    assert len([e for e in entries if type(e).__name__ == "Transaction"]) == len(ledger.invoices) + len(
        ledger.payments)
    assert [p.name for p in tmp_path.iterdir()] == ["ar.beancount"]  # no temporary file left behind


@pytest.mark.parametrize("title", ["AR demo ledger", "Дебиторка ООО «Ромашка» 2026", "  a -- b_c  "])
def test_the_slug_is_the_one_fava_serves_the_ledger_under(title):
    from fava.util import slugify as fava_slugify

    assert slugify(title) == fava_slugify(title)


@pytest.mark.parametrize("example", ["fava-rest.yaml", "fava-ui.yaml"])
@pytest.mark.parametrize("ledger", [SOURCE, ODD], ids=["demo", "odd"])
def test_the_example_queries_read_back_every_field(tmp_path, example, ledger):
    """In-process beanquery, the engine behind Fava's /api/query: each example's BQL returns every field of every
    record. Values go through typed for the API (Fava's JSON keeps Decimals and dates; its "None" for missing
    metadata is what empty_values undoes), and as text for the page, which shows str() of each value ("None"
    included, so the UI queries must not let a missing value through)."""
    path = tmp_path / "ar.beancount"
    write_beancount(ledger, path)
    block = _example(example)
    tables = {}
    for entity, query in _queries(block).items():
        names, rows = _run_bql(path, query)
        fields = block["entities"][entity]["fields"]
        if example == "fava-rest.yaml":
            values = [{f: row[names.index(col)] for f, col in fields.items()} for row in rows]
        else:
            values = [{f: str(row[int(sel.split("(")[1].rstrip(")")) - 1]) for f, sel in fields.items()}
                      for row in rows]
        tables[entity] = [Record(Where(entity, record=n), v) for n, v in enumerate(values, 1)]
    problems: list = []
    assert build_ledger(tables, problems) == ledger
    assert problems == []


# --------------------------------------------------------------------------------------- Fava and the gate
@dataclass(frozen=True)
class Fava:
    url: str  # http://127.0.0.1:<port>/
    ledger: Path


@pytest.fixture(scope="module")
def fava(tmp_path_factory) -> Iterator[Fava]:
    """Fava as users run it (its CLI, read-only) on the demo ledger, for the whole module."""
    folder = tmp_path_factory.mktemp("fava")
    path = folder / "ar.beancount"
    assert write_beancount(SOURCE, path) == SLUG
    port = free_port()
    log = (folder / "fava.log").open("wb")
    proc = subprocess.Popen([str(FAVA), "-H", "127.0.0.1", "-p", str(port), "--read-only", str(path)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):  # up to ~60 s on a loaded machine; ready when the API answers
            if proc.poll() is not None:
                pytest.fail(f"fava exited with {proc.returncode}: {(folder / 'fava.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}{SLUG}/api/query", params={"query_string": "SELECT 1"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("fava did not answer")
        yield Fava(url, path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def csv_snapshot(tmp_path_factory) -> Ledger:
    return _csv_snapshot(SOURCE, tmp_path_factory.mktemp("csv"))


@pytest.fixture(scope="module")
def password() -> str:
    return f"Пароль-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def gate(fava, password) -> Iterator[str]:
    """The login gate in front of Fava; yields its base URL."""
    with serve(create_app(fava.url, USER, password)) as url:
        yield url


def _rest(block: dict[str, Any], state_dir: Path) -> RestConnector:
    return RestConnector(RestConnectorConfig.model_validate(block), base_dir=EXAMPLES, state_dir=state_dir)


@pytest.mark.slow
def test_the_rest_example_reads_the_same_ledger_as_the_csv(fava, csv_snapshot, tmp_path):
    with _rest(_example("fava-rest.yaml", base_url=f"{fava.url}{SLUG}/api/"), tmp_path) as connector:
        fetched = connector.fetch()
    problems = list(fetched.problems)
    ledger = build_ledger(fetched.tables, problems)
    assert problems == []
    assert ledger == csv_snapshot == SOURCE
    # Amounts arrive as exact Decimals (JSON numbers with their scale), never floats.
    amounts = [r.values["amount"] for r in fetched.tables["invoices"]]
    assert all(type(a) is Decimal for a in amounts) and Decimal("-1") > min(amounts)
    # all four entities read /api/query: the location names the entity
    assert fetched.tables["payments"][0].where == Where("fava: GET query (payments)", None, 1, 1)
    assert str(fetched.tables["invoices"][4].where) == "fava: GET query (invoices) page 1 record 5"


@pytest.mark.slow
def test_a_bad_bql_query_is_a_problem_of_its_entity_with_favas_error(fava, tmp_path):
    block = _example("fava-rest.yaml", base_url=f"{fava.url}{SLUG}/api/")
    block["entities"]["invoices"]["params"] = {"query_string": "SELEC id FROM #postings"}
    # Fava answers a query it cannot parse with HTTP 500 {"error": "Query parse error: ..."}.
    answer = httpx.get(f"{fava.url}{SLUG}/api/query", params={"query_string": "SELEC id FROM #postings"})
    assert answer.status_code == 500 and "Query parse error" in answer.json()["error"]
    with _rest(block, tmp_path) as connector:
        fetched = connector.fetch()
    (problem,) = fetched.problems
    assert (problem.source, problem.page) == ("fava: GET query (invoices)", 1)
    assert problem.message.startswith("HTTP 500 ")
    assert "permanent_statuses" in problem.message and f"the server said: {answer.json()['error']}" in problem.message
    assert fetched.tables["invoices"] is None and len(fetched.tables["payments"]) == len(SOURCE.payments)


@pytest.mark.slow
def test_without_permanent_statuses_a_bad_query_is_unavailable_quoting_fava(fava, tmp_path):
    block = _example("fava-rest.yaml", base_url=f"{fava.url}{SLUG}/api/", retries={"attempts": 2, "backoff": 0},
                     permanent_statuses=[])
    block["entities"]["invoices"]["params"] = {"query_string": "SELEC id FROM #postings"}
    with _rest(block, tmp_path) as connector, pytest.raises(ConnectorUnavailable) as caught:
        connector.fetch()
    assert caught.value.connector_id == "fava"
    assert "GET query (invoices) page 1: HTTP 500 after 2 attempts; the server said: Query parse error" \
        in str(caught.value)


@pytest.mark.slow
def test_the_rest_connector_reads_through_the_login_gate_with_a_form_login(gate, csv_snapshot, tmp_path,
                                                                          password, monkeypatch):
    auth = {"form_login": {"url": "/login", "username": USER, "password_env": "FAVA_PASSWORD"}}
    block = _example("fava-rest.yaml", base_url=f"{gate}{SLUG}/api/", auth=auth)
    monkeypatch.setenv("FAVA_PASSWORD", password)
    with _rest(block, tmp_path) as connector:
        assert connector.pull() == csv_snapshot
    monkeypatch.setenv("FAVA_PASSWORD", "not-" + password)
    with _rest(block, tmp_path) as connector:
        fetched = connector.fetch()
    (problem,) = fetched.problems
    assert problem.source == "fava: POST /login" and "login at /login failed (HTTP 401)" in problem.message
    assert "FAVA_PASSWORD" in problem.message and password not in problem.message
    assert set(fetched.tables.values()) == {None}


@pytest.mark.slow
def test_the_gate_lets_no_one_through_without_a_login(fava, gate, password):
    query = "api/query?query_string=SELECT+account,+number+WHERE+account+~+'Receivable'"
    api = f"{gate}{SLUG}/{query}"
    answer = httpx.get(api)
    assert answer.status_code == 401 and answer.json() == {"error": "not logged in"}
    page = httpx.get(f"{gate}{SLUG}/income_statement/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == f"/login?next=%2F{SLUG}%2Fincome_statement%2F"
    with httpx.Client(base_url=gate) as client:
        wrong = client.post("/login", data={"username": USER, "password": password[:-1]})
        assert wrong.status_code == 401 and 'class="error"' in wrong.text and password[:-1] not in wrong.text
        assert client.get(api).status_code == 401
        # Only local redirects after a login: never to another site.
        ok = client.post("/login", data={"username": USER, "password": password, "next": "https://evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        proxied = client.get(api)
    direct = httpx.get(f"{fava.url}{SLUG}/{query}")
    assert proxied.status_code == 200 and proxied.json()["data"] == direct.json()["data"]
    assert len(direct.json()["data"]["rows"]) == len(SOURCE.invoices) + len(SOURCE.payments)


# --------------------------------------------------------------------------------------- the browser robot
@pytest.mark.slow
def test_the_ui_example_reads_the_same_ledger_through_the_login_gate_as_the_csv(gate, csv_snapshot, tmp_path,
                                                                               password):
    config = UiConnectorConfig.model_validate(_example("fava-ui.yaml", base_url=gate))
    connector = UiConnector(config, base_dir=EXAMPLES, state_dir=tmp_path, environ={"FAVA_PASSWORD": password})
    try:
        fetched = connector.fetch()
    finally:
        connector.close()
    problems = list(fetched.problems)
    ledger = build_ledger(fetched.tables, problems)
    assert problems == []
    assert ledger == csv_snapshot == SOURCE
    first = fetched.tables["invoices"][0]
    assert first.where == Where(f"fava-ui: /{SLUG}/query/", None, 1, 1)
    assert all(isinstance(v, str) for v in first.values.values())  # what the page shows, as text
    assert not (tmp_path / "failures").exists()


@pytest.mark.slow
def test_a_wrong_password_in_the_ui_robot_is_a_clear_problem_and_no_secret_is_left_anywhere(gate, tmp_path,
                                                                                           password, capsys):
    wrong = f"Неверный-{secrets.token_hex(8)}"
    config = UiConnectorConfig.model_validate(_example("fava-ui.yaml", base_url=gate))
    connector = UiConnector(config, base_dir=EXAMPLES, state_dir=tmp_path, environ={"FAVA_PASSWORD": wrong})
    try:
        fetched = connector.fetch()
    finally:
        connector.close()
    (problem,) = fetched.problems
    assert problem.source == "fava-ui: login"
    assert "login rejected on /login" in problem.message
    assert "Неверное имя пользователя или пароль" in problem.message and "check the credentials" in problem.message
    assert set(fetched.tables.values()) == {None}
    artifacts = [p for p in (tmp_path / "failures").rglob("*") if p.is_file()]
    assert {p.name for p in artifacts} >= {"error.txt", "page.html", "screenshot.png"}
    out = capsys.readouterr()
    for secret in (wrong, password):
        assert secret not in problem.message and secret not in out.out + out.err
        for p in artifacts:
            data = p.read_bytes()
            assert secret.encode() not in data and secret.encode("utf-16-le") not in data, p
