"""UiConnector against the demo accounting system's HTML UI, driven by the real headless Chromium.

Browsers are started once per scenario (module-scoped fixtures): the working connector, one with a wrong
password, one whose page never shows a selector, one whose selectors do not match the pages. The tests that drive
the browser are marked ``slow``; the config tests are not.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import structlog
from pydantic import ValidationError
from ruamel.yaml import YAML

from connectors.base import Connector, ConnectorUnavailable, Problem, Where, WriteBack, WriteBackUnsupported
from connectors.records import build_ledger
from connectors.ui.config import UiConnectorConfig
from connectors.ui.connector import LoginRejected, UiConnector
from demo.erp.app import create_app
from demo.erp.server import serve
from demo.ledger import generate_demo_ledger
from robots.core.errors import BusinessError, UsageError

PASSWORD = "Zq9-pw!Tr4ce&Secret#UI"  # distinctive, and with characters that URL- and HTML-encoding change
WRONG_PASSWORD = "Wr0ng-Pw!Distinct&Secret#UI"
USER = "робот"

#: Tests that drive Chromium (a subprocess), like the other browser and server tests of the suite.
browser = pytest.mark.slow

#: The shipped example (examples/demo-erp/ui.yaml): the tests run exactly what users copy.
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo-erp" / "ui.yaml"


def config(base: str, **changes) -> UiConnectorConfig:
    """The YAML above (as schedules.yaml would hold it) with top-level keys replaced."""
    [data] = YAML(typ="safe").load(EXAMPLE.read_text(encoding="utf-8"))
    data["base_url"] = base
    data.update(changes)
    return UiConnectorConfig.model_validate(data)


def secret_forms(secret: str) -> list[bytes]:
    """Every way the secret could be written into a page, a request log or JSON."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             secret.replace("&", "&amp;")}
    return [f.encode() for f in forms]


def assert_secret_absent(data: bytes | str, secret: str = PASSWORD) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for form in secret_forms(secret):
        assert form not in raw


def artifact_folder(message: str) -> Path:
    folder = Path(message.rsplit("artifacts in ", 1)[1].split()[0].rstrip(";"))
    assert folder.is_dir()
    return folder


# ------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def ledger():
    return generate_demo_ledger(days=30, counterparties=12)  # 12 / 14 / 59 / 41 records


@pytest.fixture(scope="module")
def erp(ledger):
    app = create_app(ledger, username=USER, password=PASSWORD, page_size=20)  # invoices and payments: 3 pages
    with serve(app) as base:
        yield app, base


@pytest.fixture(scope="module")
def connector(erp, tmp_path_factory):
    _, base = erp
    c = UiConnector(config(base), base_dir=tmp_path_factory.mktemp("base"),
                    state_dir=tmp_path_factory.mktemp("state") / "erp-ui", environ={"ERP_PASSWORD": PASSWORD})
    yield c
    c.close()


@pytest.fixture(scope="module")
def fetched(connector):
    with structlog.testing.capture_logs() as logs:
        result = connector.fetch()
    return result, logs


# ------------------------------------------------------------------------------------------------- reading
@browser
def test_it_reads_exactly_the_ledger_the_app_serves(fetched, ledger):
    result, _ = fetched
    assert result.problems == []
    problems: list[Problem] = []
    assert build_ledger(result.tables, problems) == ledger
    assert problems == []


@browser
def test_records_are_located_by_url_path_page_and_row(fetched, ledger):
    invoices = fetched[0].tables["invoices"]
    assert [r.where for r in invoices[19:21]] == [Where("erp-ui: /invoices", page=1, record=20),
                                                 Where("erp-ui: /invoices", page=2, record=1)]
    assert invoices[-1].where == Where("erp-ui: /invoices", page=3, record=19)
    first = ledger.invoices[0]
    # Values come as the page shows them: text, or the attribute asked for; records.py parses them.
    assert invoices[0].values == {"id": first.id, "number": first.number, "contract_id": first.contract_id,
                                  "date": first.date.strftime("%d.%m.%Y"), "due_date": first.due_date.isoformat(),
                                  "amount": f"{first.amount:.2f}"}


@browser
def test_counterparty_inn_and_email_come_from_the_detail_pages(fetched, ledger):
    values = [r.values for r in fetched[0].tables["counterparties"]]
    assert [(v["inn"], v["email"]) for v in values] == [(c.inn, c.email) for c in ledger.counterparties]


@browser
def test_the_second_fetch_reuses_the_browser_and_the_login(connector, fetched):
    browser, page = connector._browser, connector._page
    urls: list[str] = []

    def seen(request) -> None:
        urls.append(request.url)

    page.on("request", seen)
    try:
        again = connector.fetch()
    finally:
        page.remove_listener("request", seen)
    assert connector._browser is browser and connector._context.pages == [page]
    assert [len(t) for t in again.tables.values()] == [len(t) for t in fetched[0].tables.values()]
    assert urls and not any("/login" in u for u in urls)


@browser
def test_a_corrupted_cell_is_reported_at_its_page_row_and_field(connector, erp, ledger):
    app, _ = erp
    victim = ledger.invoices[45]  # page 3, row 6
    app.state.erp.faults.corrupt("invoices", victim.id, "amount", "12,34,56")
    try:
        result = connector.fetch()
    finally:
        app.state.erp.faults.clear()
    problems: list[Problem] = []
    build_ledger(result.tables, problems)
    assert [(p.source, p.page, p.record, p.column) for p in problems] == [("erp-ui: /invoices", 3, 6, "amount")]


@browser
def test_the_password_is_in_no_log_of_a_fetch(fetched):
    assert fetched[1] and any(e["event"] == "ui_fetched" for e in fetched[1])
    assert_secret_absent(repr(fetched[1]))


# ------------------------------------------------------------------------------------------------- write-back
@browser
def test_it_blocks_and_unblocks_a_counterparty_through_the_ui(connector, erp, ledger):
    app, _ = erp
    cp = ledger.counterparties[2].id
    contract = next(c.id for c in ledger.contracts if c.counterparty_id == cp)
    assert isinstance(connector, WriteBack) and isinstance(connector, Connector)

    done = connector.block_shipments(cp, None, "просрочка 45 дней")
    assert (done.ok, done.action, done.detail) == (True, "block_shipments", "Отгрузки заблокированы.")
    connector.block_shipments(cp, contract, "по договору")
    assert app.state.erp.blocks == {(cp, None): "просрочка 45 дней", (cp, contract): "по договору"}

    connector.unblock_shipments(cp, None, "оплачено")
    assert app.state.erp.blocks == {(cp, contract): "по договору"}
    done = connector.unblock_shipments(cp, contract, "оплачено")
    assert done.detail == f"Отгрузки разрешены по договору {contract}."
    assert app.state.erp.blocks == {}


@browser
def test_it_posts_a_note_through_the_ui(connector, erp, ledger):
    app, _ = erp
    cp = ledger.counterparties[0].id
    connector.post_note(cp, None, "Направлена претензия №7")
    assert [(n.counterparty_id, n.contract_id, n.text) for n in app.state.erp.notes][-1:] == \
        [(cp, None, "Направлена претензия №7")]


@browser
def test_a_write_back_the_system_refuses_is_a_business_error_with_artifacts(connector):
    with pytest.raises(BusinessError) as exc:
        connector.block_shipments("CP-404", None, "x")
    message = str(exc.value)
    assert message.startswith("connector 'erp-ui': block_shipments CP-404 step 1 (goto 'counterparties/"
                              "{counterparty_id}'): HTTP 404 for /counterparties/CP-404; artifacts in ")
    assert (artifact_folder(message) / "trace.zip").exists()


def test_an_action_without_steps_is_unsupported(erp, tmp_path):
    _, base = erp
    c = UiConnector(config(base, write_back={"block_shipments": [{"goto": "x"}]}), base_dir=tmp_path,
                    state_dir=tmp_path / "s", environ={"ERP_PASSWORD": PASSWORD})
    with pytest.raises(WriteBackUnsupported, match="no write_back.post_note steps"):
        c.post_note("CP-001", None, "x")
    with pytest.raises(WriteBackUnsupported):
        UiConnector(config(base, write_back=None), base_dir=tmp_path, state_dir=tmp_path / "s",
                    environ={"ERP_PASSWORD": PASSWORD}).unblock_shipments("CP-001", None, "x")
    assert c._browser is None  # refused before starting a browser


@browser
def test_a_503_page_makes_the_connector_unavailable_and_names_the_step(connector, erp):
    app, _ = erp
    app.state.erp.faults.fail("invoices", page=2, status=503, surface="ui")
    with pytest.raises(ConnectorUnavailable) as exc:
        connector.fetch()
    message = str(exc.value)
    assert "connector 'erp-ui' unavailable: invoices page 2 (next_page 'a[rel=next]'): HTTP 503" in message
    folder = artifact_folder(message)
    assert folder.parent == connector.state_dir / "failures"
    assert {p.name for p in folder.iterdir()} == {"screenshot.png", "page.html", "trace.zip", "error.txt"}
    assert connector.fetch().problems == []  # the fault was used up: the next sync works


# ------------------------------------------------------------------------------------------------- login rejected
@pytest.fixture(scope="module")
def rejected(erp, tmp_path_factory):
    """A connector whose password (from a file, relative to base_dir) is wrong."""
    _, base = erp
    base_dir = tmp_path_factory.mktemp("base-rejected")
    (base_dir / "secrets").mkdir()
    (base_dir / "secrets" / "erp.password").write_text(WRONG_PASSWORD + "\n", encoding="utf-8")
    cfg = config(base, credentials={"username": USER, "password_file": "secrets/erp.password"})
    c = UiConnector(cfg, base_dir=base_dir, state_dir=tmp_path_factory.mktemp("state") / "erp-ui", environ={})
    with structlog.testing.capture_logs() as logs:
        result = c.fetch()
    yield c, result, logs
    c.close()


@browser
def test_a_rejected_login_is_a_problem_not_an_outage(rejected):
    _, result, _ = rejected
    assert result.tables == {"counterparties": None, "contracts": None, "invoices": None, "payments": None}
    [problem] = result.problems
    assert problem.source == "erp-ui: login"
    assert problem.message.startswith("login step 5 (wait_for '#user'): login rejected on /login: the page says "
                                      "'Неверное имя пользователя или пароль'; check the credentials; artifacts in ")


@browser
def test_a_rejected_login_saves_a_screenshot_and_the_html_without_the_password(rejected):
    _, result, logs = rejected
    folder = artifact_folder(result.problems[0].message)
    assert (folder / "screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (folder / "page.html").read_text(encoding="utf-8")
    assert "Неверное имя пользователя или пароль" in page
    assert not (folder / "trace.zip").exists()  # tracing starts after the login: no trace of typing the password
    for data in (page, (folder / "error.txt").read_text(encoding="utf-8"), str(result.problems), repr(logs)):
        assert_secret_absent(data, WRONG_PASSWORD)
    assert oct(folder.parent.stat().st_mode & 0o777) == "0o700"


@browser
def test_write_back_with_a_rejected_login_raises_a_usage_error(rejected):
    c, _, _ = rejected
    with pytest.raises(LoginRejected, match="connector 'erp-ui': login step 5") as exc:
        c.block_shipments("CP-001", None, "x")
    assert isinstance(exc.value, UsageError)
    assert_secret_absent(str(exc.value), WRONG_PASSWORD)


# ------------------------------------------------------------------------------------------------- timeouts
@pytest.fixture(scope="module")
def timed_out(erp, ledger, tmp_path_factory):
    """Logged in fine, then waits for a selector the invoice list never shows; the trace has DOM snapshots, and
    the page shows the password (a clerk pasted it into an invoice number), so it must be scrubbed from both."""
    app, base = erp
    invoices = config(base).entities["invoices"].model_dump(exclude_defaults=True)
    cfg = config(base, timeout=1, trace="snapshots", entities={"invoices": {**invoices, "wait_for": "#never-shown"}})
    c = UiConnector(cfg, base_dir=tmp_path_factory.mktemp("base"),
                    state_dir=tmp_path_factory.mktemp("state") / "erp-ui", environ={"ERP_PASSWORD": PASSWORD})
    app.state.erp.faults.corrupt("invoices", ledger.invoices[0].id, "number", f"№ {PASSWORD}")
    try:
        with structlog.testing.capture_logs() as logs, pytest.raises(ConnectorUnavailable) as exc:
            c.fetch()
    finally:
        app.state.erp.faults.clear()
    yield c, exc.value, logs
    c.close()


@browser
def test_a_selector_that_never_appears_is_an_outage_naming_the_step_and_the_artifacts(timed_out):
    _, error, _ = timed_out
    message = str(error)
    assert message.startswith("connector 'erp-ui' unavailable: invoices page 1 (wait_for '#never-shown'): "
                              "timed out after 1 s")
    folder = artifact_folder(message)
    assert {p.name for p in folder.iterdir()} == {"screenshot.png", "page.html", "trace.zip", "error.txt"}
    page = (folder / "page.html").read_text(encoding="utf-8")
    assert "Счета" in page and "№ ***" in page


@browser
def test_the_trace_records_the_failed_entity_and_never_the_password(timed_out):
    _, error, logs = timed_out
    folder = artifact_folder(str(error))
    with zipfile.ZipFile(folder / "trace.zip") as z:
        members = {name: z.read(name) for name in z.namelist()}
    assert any(name.endswith(".trace") for name in members)
    everything = b"".join(members.values())
    assert b"#never-shown" in everything and b"/invoices" in everything  # the trace is real
    assert "№ ***".encode() in everything  # the page's DOM (snapshots) had the password: scrubbed
    for name, data in members.items():
        assert_secret_absent(data)
        if name.endswith(".zip"):  # nested archives, if any
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                for n in inner.namelist():
                    assert_secret_absent(inner.read(n))
    for data in ((folder / "page.html").read_bytes(), str(error), repr(logs)):
        assert_secret_absent(data)


# ------------------------------------------------------------------------------------------------- wrong selectors
@pytest.fixture(scope="module")
def mismatched(erp, tmp_path_factory):
    _, base = erp
    entities = {e: s.model_dump(exclude_defaults=True) for e, s in config(base).entities.items()}
    entities["counterparties"]["detail"]["fields"]["inn"] = "dd[data-field=tax-id]"
    entities["contracts"]["fields"]["number"] = "td[data-field=numero]"
    entities["invoices"]["rows"] = "table#invoices tbody tr"
    entities["payments"]["next_page"] = "header a[href='/payments']"  # the menu link: back to page 1
    c = UiConnector(config(base, entities=entities), base_dir=tmp_path_factory.mktemp("base"),
                    state_dir=tmp_path_factory.mktemp("state") / "erp-ui", environ={"ERP_PASSWORD": PASSWORD})
    result = c.fetch()
    yield c, result
    c.close()


@browser
def test_selectors_that_match_nothing_are_problems_and_every_entity_is_still_tried(mismatched):
    _, result = mismatched
    assert result.tables == {"counterparties": None, "contracts": None, "invoices": None, "payments": None}
    got = [(p.source, p.page, p.message.split("; artifacts in ")[0]) for p in result.problems]
    assert got == [
        ("erp-ui: /counterparties/CP-012", 1,
         "counterparties page 1 record 12 detail (/counterparties/CP-012): detail field inn "
         "('dd[data-field=tax-id]') matched on none of the detail pages"),
        ("erp-ui: /contracts", 1,
         "contracts page 1 (rows 'table#records tbody tr'): field number: 'td[data-field=numero]' matches in none "
         "of the 14 rows"),
        ("erp-ui: /invoices", 1,
         "invoices page 1 (rows 'table#invoices tbody tr'): no row matches 'table#invoices tbody tr'; if the table "
         "may be empty, set allow_empty: true"),
        ("erp-ui: /payments", 2,
         "payments page 2 (next_page 'header a[href='/payments']'): the next page link leads back to /payments: "
         "pagination loops"),
    ]
    folders = {artifact_folder(p.message) for p in result.problems}
    assert len(folders) == 4 and all((f / "screenshot.png").exists() and (f / "trace.zip").exists() for f in folders)


# ------------------------------------------------------------------------------------------------- config and set-up
def test_the_config_reports_every_mistake_at_once():
    [data] = YAML(typ="safe").load(EXAMPLE.read_text(encoding="utf-8"))
    data["base_url"] = "http://127.0.0.1:9/"
    data["login"] = [{"goto": "login?p={password}"}, {"click": "button"}]
    data["entities"]["invoices"]["fields"] = {"id": "td", "sum": "td"}
    data["write_back"]["post_note"][2] = {"fill": {"selector": "textarea", "value": "{reason}"}}
    with pytest.raises(ValidationError) as exc:
        UiConnectorConfig.model_validate(data)
    text = str(exc.value)
    for expected in ("login[1]: {password} may only be typed by a fill step's value",
                     "login: the last step must be wait_for or wait_for_url",
                     "entities.invoices.fields: unknown field sum",
                     "entities.invoices: no selector for the required fields number, contract_id, date, amount",
                     "write_back.post_note[3]: unknown placeholder {reason}"):
        assert expected in text


def test_a_step_is_one_known_action():
    [data] = YAML(typ="safe").load(EXAMPLE.read_text(encoding="utf-8"))
    data["base_url"] = "http://127.0.0.1:9/"
    data["login"][3] = {"tap": "button"}
    data["entities"]["payments"]["steps"] = [{"goto": "payments", "click": "x"}]
    with pytest.raises(ValidationError) as exc:
        UiConnectorConfig.model_validate(data)
    assert exc.value.error_count() == 2
    assert "a step is a mapping with exactly one key of: goto, fill, click, wait_for" in str(exc.value)


@browser
def test_the_browser_defaults_to_arbots_chromium_and_a_missing_one_is_an_outage(tmp_path):
    cfg = config("http://127.0.0.1:9/")
    c = UiConnector(cfg, base_dir=tmp_path, state_dir=tmp_path / "s",
                    environ={"ERP_PASSWORD": PASSWORD, "ARBOTS_CHROMIUM": str(tmp_path / "no-chromium")})
    assert c.executable == tmp_path / "no-chromium"
    assert UiConnector(cfg, base_dir=tmp_path, state_dir=tmp_path / "s",
                       environ={"ERP_PASSWORD": PASSWORD}).executable == Path("/usr/bin/chromium")
    with pytest.raises(ConnectorUnavailable, match=f"cannot start Chromium {tmp_path / 'no-chromium'}"):
        c.fetch()
    c.close()


def test_a_missing_password_variable_is_named_not_guessed(tmp_path):
    with pytest.raises(UsageError, match="connector erp-ui: password: environment variable ERP_PASSWORD is not set"):
        UiConnector(config("http://127.0.0.1:9/"), base_dir=tmp_path, state_dir=tmp_path / "s", environ={})
