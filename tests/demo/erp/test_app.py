"""The demo accounting system served for real (uvicorn in a thread) and driven with httpx: pages, API, faults."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

import httpx
import pytest

from demo.erp import DROP, create_app, serve
from demo.ledger import generate_demo_ledger
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment

NBSP = "\u00a0"
USER = "робот"

LEDGER = Ledger(
    counterparties=(
        Counterparty("CP1", "ООО «Ромашка»", "7707083893", "buh@romashka.ru", "key_accounts"),
        Counterparty("CP/2", "ИП Иванов И. И.", "500100732259", "ivanov@mail.ru", "default"),
    ),
    contracts=(
        Contract("C1", "15/2025-П", "CP1", 30, "RUB", Decimal("0.001")),
        Contract("C2", "Д-0042", "CP/2", 0, "RUB", None),
        Contract("C3", "EX-1", "CP1", 10, "USD", Decimal("0.0005")),
    ),
    invoices=(
        Invoice("I1", "101", "C1", date(2026, 3, 31), date(2026, 4, 30), Decimal("1234567.8")),
        Invoice("I2", "102-К", "C2", date(2026, 4, 1), date(2026, 4, 1), Decimal(-500)),
        Invoice("I3", "103", "C3", date(2026, 4, 2), date(2026, 5, 1), Decimal("1234.50")),
    ),
    payments=(
        Payment("P1", "C1", date(2026, 4, 10), Decimal("1000000.00"), "I1"),
        Payment("P2", "C2", date(2026, 4, 20), Decimal("99.9"), None),
    ),
)


@dataclass
class Erp:
    app: object
    base: str
    password: str
    token: str
    api_key: str

    @property
    def state(self):
        return self.app.state.erp

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.base, **kw)

    def api(self, **kw) -> httpx.Client:
        """A client authenticated with HTTP Basic (the Cyrillic user name, UTF-8)."""
        return httpx.Client(base_url=self.base + "api/v1/", auth=(USER, self.password), **kw)

    @contextmanager
    def login(self, **kw) -> Iterator[httpx.Client]:
        """A client that logged in through the form and holds the session cookie."""
        with self.client(**kw) as c:
            r = c.post("/login", data={"username": USER, "password": self.password})
            assert r.status_code == 303
            yield c


def _serve(ledger: Ledger, **kw) -> Iterator[Erp]:
    password, token, api_key = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    app = create_app(ledger, username=USER, password=password, token=token, api_key=api_key, **kw)
    with serve(app) as base:
        yield Erp(app, base, password, token, api_key)


@pytest.fixture
def erp() -> Iterator[Erp]:
    yield from _serve(LEDGER, page_size=2)


@pytest.fixture
def big() -> Iterator[Erp]:
    yield from _serve(generate_demo_ledger(seed=3, days=30, counterparties=20))


def rows(page: str) -> list[dict[str, tuple[str, str | None]]]:
    """The tbody rows of table#records: {field: (shown text, data-value)}."""
    body = page.split('<table id="records"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    out = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
        cells = re.findall(r'<td data-field="([^"]+)"( data-value="([^"]*)")?>(.*?)</td>', tr, re.DOTALL)
        out.append({f: (html.unescape(re.sub(r"<[^>]+>", "", inner)), html.unescape(v) if has else None)
                    for f, has, v, inner in cells})
    return out


def dd(page: str, name: str) -> str:
    m = re.search(rf'<dd data-field="{name}"[^>]*>(.*?)</dd>', page, re.DOTALL)
    assert m, f"no dd[data-field={name}]"
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1)))


def by_id(page: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}"[^>]*>(.*?)<', page, re.DOTALL)
    assert m, f"no #{element_id}"
    return html.unescape(m.group(1))


def link(page: str, rel: str) -> str | None:
    m = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return html.unescape(m.group(1)) if m else None


# ---- login and session ------------------------------------------------------------------------------------------

def test_pages_redirect_to_the_login_until_the_user_logs_in(erp):
    with erp.client() as c:
        r = c.get("/invoices?page=2")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Finvoices%3Fpage%3D2"
        form = c.get("/login").text
        for sel in ('input type="text" name="username"', 'input type="password" name="password"',
                    'button type="submit"'):
            assert sel in form
        r = c.post("/login", data={"username": USER, "password": erp.password, "next": "/invoices?page=2"})
        assert r.status_code == 303 and r.headers["location"] == "/invoices?page=2"
        assert "erp_session" in c.cookies
        page = c.get("/invoices?page=2").text
        assert by_id(page, "user") == USER and 'id="logout"' in page and 'id="records"' in page
        r = c.get("/logout")
        assert r.status_code == 303
        assert c.get("/invoices").status_code == 303


def test_a_wrong_password_shows_the_login_again_with_an_error_and_never_echoes_it(erp):
    wrong = "не-тот-" + secrets.token_hex(4)
    with erp.client() as c:
        r = c.post("/login", data={"username": USER, "password": wrong})
        assert r.status_code == 401 and 'class="error"' in r.text and 'name="password"' in r.text
        assert wrong not in r.text and erp.password not in r.text
        assert "erp_session" not in c.cookies
        assert c.get("/").status_code == 303


def test_the_login_only_returns_to_local_pages(erp):
    with erp.client() as c:
        r = c.post("/login", data={"username": USER, "password": erp.password, "next": "//evil.example/x"})
        assert r.headers["location"] == "/"


def test_a_tampered_session_cookie_is_refused_and_the_cookie_holds_no_password(erp):
    with erp.login() as c:
        cookie = c.cookies["erp_session"]
        payload = base64.b64decode(cookie.split(".")[0] + "==")
        assert erp.password.encode() not in payload and json.loads(payload) == {"user": USER}
        forged = base64.b64encode(json.dumps({"user": "админ"}).encode()).decode().rstrip("=")
    with erp.client(cookies={"erp_session": forged + cookie[cookie.index("."):]}) as c:
        assert c.get("/counterparties").status_code == 303


def test_neither_the_password_nor_the_token_reaches_the_logs(erp, caplog):
    caplog.set_level(logging.DEBUG)
    with erp.client() as c:
        c.post("/login", data={"username": USER, "password": erp.password + "x"})
        c.get("/api/v1/invoices", auth=(USER, erp.password), headers={"X-API-Key": erp.api_key})
        c.get("/api/v1/invoices", headers={"Authorization": f"Bearer {erp.token}x"})
        c.post("/login", data={"username": USER, "password": erp.password})
    for secret in (erp.password, erp.token, erp.api_key):
        assert secret not in caplog.text


def test_the_credentials_do_not_show_in_the_app_state(erp):
    assert erp.password not in repr(erp.app.state.auth) and erp.password not in repr(erp.state.__dict__)


# ---- API auth ---------------------------------------------------------------------------------------------------

def test_http_basic_with_a_cyrillic_user_name_encoded_utf8(erp):
    raw = base64.b64encode(f"{USER}:{erp.password}".encode()).decode()
    r = httpx.get(erp.base + "api/v1/counterparties", headers={"Authorization": f"Basic {raw}"})
    assert r.status_code == 200 and [x["id"] for x in r.json()["data"]] == ["CP1", "CP/2"]
    latin1 = base64.b64encode(f"{USER}:{erp.password}".encode("cp1251")).decode()
    r = httpx.get(erp.base + "api/v1/counterparties", headers={"Authorization": f"Basic {latin1}"})
    assert r.status_code == 401


@pytest.mark.parametrize("kind", ["bearer", "api_key", "session"])
def test_every_other_auth_kind_opens_the_api(erp, kind):
    headers = {"bearer": {"Authorization": f"Bearer {erp.token}"}, "api_key": {"X-API-Key": erp.api_key},
               "session": {}}[kind]
    with (erp.login() if kind == "session" else erp.client()) as c:
        r = c.get("/api/v1/contracts", headers=headers)
    assert r.status_code == 200 and r.json()["meta"]["total"] == 3


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"},
                                     {"Authorization": "Basic !!!"}])
def test_the_api_answers_401_json_without_valid_credentials(erp, headers):
    r = httpx.get(erp.base + "api/v1/invoices", headers=headers)
    assert r.status_code == 401 and r.headers["content-type"] == "application/json"
    assert "error" in r.json() and r.headers["www-authenticate"].startswith("Basic")


def test_the_api_redirects_a_browser_to_the_login(erp):
    r = httpx.get(erp.base + "api/v1/invoices", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_bearer_and_api_key_are_off_unless_configured():
    for e in _serve(LEDGER):
        e.app.state.auth._token = e.app.state.auth._api_key = None
        assert httpx.get(e.base + "api/v1/invoices", headers={"Authorization": f"Bearer {e.token}"}).status_code == 401
        assert httpx.get(e.base + "api/v1/invoices", headers={"X-API-Key": e.api_key}).status_code == 401


def test_the_app_needs_a_user_name_and_a_password():
    with pytest.raises(ValueError):
        create_app(LEDGER, username=USER, password="")


# ---- paging -----------------------------------------------------------------------------------------------------

def _all_pages(client: httpx.Client, url: str) -> tuple[list[dict], int]:
    out, pages = [], 0
    while url:
        r = client.get(url)
        assert r.status_code == 200
        body = json.loads(r.text, parse_float=Decimal)
        out += body["data"]
        pages += 1
        url = body["links"]["next"]
    return out, pages


@pytest.mark.parametrize(("first", "size"), [("invoices?page=1&per_page=7", 7), ("invoices?limit=9", 9),
                                             ("invoices?offset=0&limit=11", 11)])
def test_every_paging_style_returns_every_record_exactly_once(big, first, size):
    expected = [i.id for i in big.state.ledger.invoices]
    with big.client(auth=(USER, big.password)) as c:
        records, pages = _all_pages(c, "/api/v1/" + first)
    assert [r["id"] for r in records] == expected
    assert pages == -(-len(expected) // size)


def test_page_meta_and_the_end_of_the_list(big):
    n = len(big.state.ledger.payments)
    with big.api() as c:
        body = c.get("payments", params={"page": 2, "per_page": 5}).json()
        assert body["meta"] == {"page": 2, "per_page": 5, "total": n}
        assert body["links"]["next"] == "/api/v1/payments?page=3&per_page=5"
        last = c.get("payments", params={"page": -(-n // 5), "per_page": 5}).json()
        assert last["links"]["next"] is None and last["data"]
        assert c.get("payments", params={"page": 999, "per_page": 5}).json()["data"] == []
        cur = c.get("payments", params={"limit": n}).json()
        assert cur["meta"] == {"limit": n, "total": n, "next_cursor": None} and cur["links"]["next"] is None


@pytest.mark.parametrize("query", ["page=0", "per_page=100000", "page=abc", "cursor=nonsense", "updated_since=-1"])
def test_bad_paging_parameters_are_400_json(erp, query):
    with erp.api() as c:
        r = c.get("invoices?" + query)
    assert r.status_code == 400 and r.json()["error"]


def test_an_unknown_entity_is_404_json(erp):
    with erp.api() as c:
        assert c.get("debts").status_code == 404 and "error" in c.get("debts").json()


def test_updated_since_returns_only_changed_and_new_records_and_deleted_ones_vanish(erp):
    with erp.api() as c:
        assert {r["updated_at"] for r in c.get("invoices").json()["data"]} == {1}
        changed = replace(LEDGER.invoices[0], amount=Decimal("1.00"))
        new = Invoice("I9", "109", "C1", date(2026, 4, 5), date(2026, 5, 5), Decimal(10))
        erp.state.set_ledger(replace(LEDGER, invoices=(changed, LEDGER.invoices[2], new)))
        everything = c.get("invoices").json()["data"]
        assert [(r["id"], r["updated_at"]) for r in everything] == [("I1", 2), ("I3", 1), ("I9", 2)]
        since = c.get("invoices", params={"updated_since": 1, "per_page": 1}).json()
        assert [r["id"] for r in since["data"]] == ["I1"] and since["meta"]["total"] == 2
        assert since["links"]["next"] == "/api/v1/invoices?page=2&per_page=1&updated_since=1"
    with erp.client(auth=(USER, erp.password)) as c:
        assert [r["id"] for r in _all_pages(c, "/api/v1/invoices?limit=1&updated_since=1")[0]] == ["I1", "I9"]
        assert c.get("/api/v1/invoices", params={"updated_since": 2}).json()["data"] == []
        assert c.get("/api/v1/invoices/I2").status_code == 404
        erp.state.set_ledger(replace(LEDGER, invoices=(changed, LEDGER.invoices[2], new)))
        # unchanged: same version
        assert [r["updated_at"] for r in c.get("/api/v1/invoices").json()["data"]] == [2, 1, 2]


# ---- formats ----------------------------------------------------------------------------------------------------

def test_json_writes_amounts_with_two_decimals_and_the_ledger_field_names(erp):
    with erp.api() as c:
        text = c.get("invoices").text
        assert '"amount":1234567.80,' in text and '"amount":-500.00,' in text
        inv = json.loads(c.get("invoices/I3").text, parse_float=Decimal)["data"]
        assert inv == {"id": "I3", "number": "103", "contract_id": "C3", "date": "2026-04-02",
                       "due_date": "2026-05-01", "amount": Decimal("1234.50"), "updated_at": 1}
        contracts = json.loads(c.get("contracts").text, parse_float=Decimal)["data"]
        assert [x["penalty_rate_per_day"] for x in contracts] == [Decimal("0.1"), None, Decimal("0.05")]
        assert set(contracts[0]) == {"id", "number", "counterparty_id", "payment_days", "currency",
                                     "penalty_rate_per_day", "discounts", "updated_at"}
        assert {x["discounts"] for x in contracts} == {""}  # no tiers: an empty text
        payments = c.get("payments").json()["data"]
        assert [p["invoice_id"] for p in payments] == ["I1", None] and '"amount":99.90' in c.get("payments").text


def test_html_lists_show_russian_money_and_dates_with_data_values(erp):
    with erp.login() as c:
        first = rows(c.get("/invoices").text)
        second = rows(c.get("/invoices?page=2").text)
    assert first[0]["amount"] == (f"1{NBSP}234{NBSP}567,80{NBSP}₽", "1234567.80")
    assert first[0]["date"] == ("31.03.2026", "2026-03-31") and first[0]["due_date"] == ("30.04.2026", "2026-04-30")
    assert first[1]["amount"] == (f"-500,00{NBSP}₽", "-500.00")
    assert second[0]["amount"] == (f"1{NBSP}234,50{NBSP}USD", "1234.50")
    assert list(first[0]) == ["id", "number", "contract_id", "date", "due_date", "amount"]


def test_html_contract_list_shows_the_penalty_as_percent(erp):
    with erp.login() as c:
        page = rows(c.get("/contracts").text)
    assert page[0]["penalty_rate_per_day"] == (f"0,1{NBSP}%", "0.1") and page[1]["penalty_rate_per_day"] == ("", "")
    assert page[0]["payment_days"] == ("30", None)


def test_html_lists_page_through_every_record_once_with_next_and_prev_links(big):
    with big.login() as c:
        url, seen, pages = "/payments", [], []
        while url:
            page = c.get(url).text
            pages.append(page)
            seen += [r["id"][0] for r in rows(page)]
            url = link(page, "next")
    assert seen == [p.id for p in big.state.ledger.payments]
    assert all(len(rows(p)) == 50 for p in pages[:-1])
    assert link(pages[0], "prev") is None and link(pages[1], "prev") == "/payments?page=1"


def test_the_counterparty_list_shows_id_name_group_and_links_to_the_detail(erp):
    with erp.login() as c:
        page = c.get("/counterparties").text
        assert [list(r) for r in rows(page)] == [["id", "name", "group"]] * 2
        assert '<td data-field="id"><a href="/counterparties/CP%2F2">CP/2</a></td>' in page
        detail = c.get("/counterparties/CP%2F2").text
    assert dd(detail, "inn") == "500100732259" and dd(detail, "email") == "ivanov@mail.ru"
    assert dd(detail, "group") == "default" and by_id(detail, "shipments") == "разрешены"
    for sel in ('textarea name="reason"', 'id="block"', 'id="unblock"', 'textarea name="note"', 'id="add-note"'):
        assert sel in detail


@pytest.mark.parametrize(("path", "field", "shown"), [
    ("/contracts/C1", "penalty_rate_per_day", f"0,1{NBSP}%"), ("/invoices/I1", "due_date", "30.04.2026"),
    ("/payments/P1", "invoice_id", "I1"), ("/payments/P2", "amount", f"99,90{NBSP}₽")])
def test_detail_pages_show_every_field(erp, path, field, shown):
    with erp.login() as c:
        page = c.get(path).text
        assert dd(page, field) == shown and dd(page, "id") == path.rsplit("/", 1)[1]
        assert c.get(path + "-нет").status_code == 404


# ---- write-back -------------------------------------------------------------------------------------------------

def test_blocking_and_unblocking_through_the_html_form(erp):
    with erp.login() as c:
        r = c.post("/counterparties/CP1/shipments", data={"reason": "долг 45 дней", "action": "block"})
        assert r.status_code == 303 and r.headers["location"] == "/counterparties/CP1"
        page = c.get("/counterparties/CP1").text
        assert '<div class="flash ok">' in page and by_id(page, "shipments") == "заблокированы"
        assert erp.state.blocks == {("CP1", None): "долг 45 дней"}
        c.post("/counterparties/CP1/shipments", data={"reason": "ещё раз", "action": "block"})
        assert '<div class="flash ok">' in c.get("/counterparties/CP1").text  # blocking twice is no error
        c.post("/counterparties/CP1/shipments", data={"reason": "", "action": "block", "contract_id": "C3"})
        assert erp.state.blocks == {("CP1", None): "ещё раз", ("CP1", "C3"): ""}
        c.post("/counterparties/CP1/shipments", data={"action": "unblock"})
        page = c.get("/counterparties/CP1").text
        assert by_id(page, "shipments") == "разрешены" and erp.state.blocks == {("CP1", "C3"): ""}
        c.post("/counterparties/CP1/shipments", data={"action": "block", "contract_id": "C2"})  # not CP1's
        assert '<div class="flash error">' in c.get("/counterparties/CP1").text
        assert ("CP1", "C2") not in erp.state.blocks


def test_a_note_through_the_html_form(erp):
    with erp.login() as c:
        c.post("/counterparties/CP%2F2/notes", data={"note": "Обещали оплатить до пятницы", "contract_id": "C2"})
        page = c.get("/counterparties/CP%2F2").text
        assert '<div class="flash ok">' in page and "Обещали оплатить до пятницы" in page
        c.post("/counterparties/CP%2F2/notes", data={"note": "  "})
        assert '<div class="flash error">' in c.get("/counterparties/CP%2F2").text
    assert [(n.counterparty_id, n.contract_id, n.text) for n in erp.state.notes] == [
        ("CP/2", "C2", "Обещали оплатить до пятницы")]


def test_the_forms_need_a_login(erp):
    with erp.client() as c:
        assert c.post("/counterparties/CP1/shipments", data={"action": "block"}).status_code == 303
    assert erp.state.blocks == {}


def test_block_unblock_and_notes_through_json(erp):
    with erp.api() as c:
        r = c.post("counterparties/CP1/block", json={"reason": "просрочка", "contract_id": None})
        assert r.status_code == 200 and r.json() == {"ok": True, "counterparty_id": "CP1", "contract_id": None,
                                                     "blocked": True, "changed": True}
        assert c.post("counterparties/CP1/block", json={"reason": "просрочка"}).json()["changed"] is False
        assert c.post("counterparties/CP%2F2/block", json={"reason": "x", "contract_id": "C2"}).status_code == 200
        assert c.get("blocks").json()["data"] == [
            {"counterparty_id": "CP1", "contract_id": None, "reason": "просрочка"},
            {"counterparty_id": "CP/2", "contract_id": "C2", "reason": "x"}]
        assert c.post("counterparties/CP1/unblock", json={"contract_id": None}).json()["changed"] is True
        assert c.post("counterparties/CP1/unblock", json={}).json()["changed"] is False
        r = c.post("counterparties/CP1/notes", json={"text": "Звонок бухгалтеру", "contract_id": "C1"})
        assert r.status_code == 201 and r.json()["note"]["text"] == "Звонок бухгалтеру"
        assert c.get("notes").json()["data"] == [
            {"id": 1, "counterparty_id": "CP1", "contract_id": "C1", "text": "Звонок бухгалтеру"}]
    assert erp.state.blocks == {("CP/2", "C2"): "x"}


@pytest.mark.parametrize(("path", "body", "status"), [
    ("counterparties/NOPE/block", {"reason": "x"}, 404), ("counterparties/CP1/block", {"contract_id": "C2"}, 404),
    ("counterparties/CP1/notes", {"text": ""}, 400), ("counterparties/CP1/block", [1], 400),
    ("counterparties/CP1/block", {"reason": 5}, 400)])
def test_bad_write_backs_are_refused_with_json_errors(erp, path, body, status):
    with erp.api() as c:
        r = c.post(path, json=body)
    assert r.status_code == status and r.json()["error"]
    assert erp.state.blocks == {} and erp.state.notes == []


def test_write_back_needs_auth(erp):
    assert httpx.post(erp.base + "api/v1/counterparties/CP1/block", json={"reason": "x"}).status_code == 401
    assert erp.state.blocks == {}


# ---- faults -----------------------------------------------------------------------------------------------------

def test_a_failing_page_answers_its_status_n_times_then_works(erp):
    erp.state.faults.fail("invoices", page=2, status=503, times=2)
    with erp.api() as c:
        assert c.get("invoices?page=1&per_page=1").status_code == 200
        assert [c.get("invoices?page=2&per_page=1").status_code for _ in range(3)] == [503, 503, 200]
        assert c.get("invoices?offset=1&limit=1").status_code == 200
    assert erp.state.faults.hits[("api", "invoices", 2)] == 4


def test_rate_limit_sends_retry_after(erp):
    erp.state.faults.rate_limit("payments", retry_after=7)
    with erp.api() as c:
        r = c.get("payments")
        assert r.status_code == 429 and r.headers["retry-after"] == "7" and r.json()["error"]
        assert c.get("payments").status_code == 200


def test_a_delayed_page_outlasts_a_short_read_timeout(erp):
    erp.state.faults.delay("contracts", 3.0, page=1)
    with erp.api(timeout=httpx.Timeout(5.0, read=0.3)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get("contracts")
        assert c.get("contracts").status_code == 200


def test_html_instead_of_json(erp):
    erp.state.faults.html("contracts", times=None)
    with erp.api() as c:
        for _ in range(2):
            r = c.get("contracts")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            assert 'name="password"' in r.text


def test_malformed_json(erp):
    erp.state.faults.malformed("invoices", page=1)
    with erp.api() as c:
        r = c.get("invoices")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
        assert c.get("invoices").json()["data"]


def test_corrupted_and_missing_fields_show_in_json_and_html(erp):
    erp.state.faults.corrupt("invoices", "I1", "amount", "12,34,56")
    erp.state.faults.corrupt("invoices", "I1", "date", DROP)
    with erp.api() as c:
        i1 = c.get("invoices").json()["data"][0]
        assert i1["amount"] == "12,34,56" and "date" not in i1 and i1["id"] == "I1"
        assert c.get("invoices/I1").json()["data"]["amount"] == "12,34,56"
    with erp.login() as c:
        row = rows(c.get("/invoices").text)[0]
    assert row["amount"] == ("12,34,56", "12,34,56") and "date" not in row
    erp.state.faults.clear()
    with erp.api() as c:
        assert c.get("invoices").json()["data"][0]["amount"] == 1234567.8


def test_faults_on_the_html_pages_and_on_write_back(erp):
    erp.state.faults.fail("counterparties", page=1, status=500, surface="ui")
    erp.state.faults.fail("block", status=503)
    with erp.login() as c:
        assert c.get("/counterparties").status_code == 500
        assert c.get("/counterparties").status_code == 200
        assert c.get("/api/v1/counterparties").status_code == 200  # the fault was for the UI only
        assert c.post("/api/v1/counterparties/CP1/block", json={"reason": "x"}).status_code == 503
        assert c.post("/api/v1/counterparties/CP1/block", json={"reason": "x"}).status_code == 200
    assert erp.state.blocks == {("CP1", None): "x"}


def test_fault_arguments_are_checked(erp):
    with pytest.raises(ValueError):
        erp.state.faults.fail("invoices", status=200)
    with pytest.raises(ValueError):
        erp.state.faults.fail("invoices", times=0)


# ---- serve ------------------------------------------------------------------------------------------------------

def test_serve_picks_free_ports_and_stops_cleanly():
    app = create_app(LEDGER, username=USER, password=secrets.token_hex(8))
    with serve(app) as one, serve(app) as two:
        assert one != two and re.fullmatch(r"http://127\.0\.0\.1:\d+/", one)
        assert httpx.get(one + "login").status_code == 200 and httpx.get(two + "login").status_code == 200
    port = int(one.rsplit(":", 1)[1].rstrip("/"))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
