"""120 days of the shipped methodology on a synthetic ledger, with people's input, asserting exactly what happens.

The repository's schedules.yaml and scenarios as shipped (with the session PKI, a real SMTP server and the demo
accounting system over HTTP), ticking every morning at 10:00 Moscow time from 2026-04-01 to 2026-07-29. Seven
customers, each one story:

* A (120 000, due Tue 14.04) never pays: every column up to the lawsuit decision at 60 days (approved), blocked.
* B (50 000, due 14.04) pays 20 000 on 19.04 and the rest on 04.05: claim and block, then unblock and a closing
  letter; its penalty is on the reduced base after the partial payment.
* C (30 000, due Tue 21.04) promises on 22.04 to pay by 29.04 and pays on 28.04: no demand, a closing letter.
* D (40 000, due 21.04) promises on 23.04 to pay by 26.04 and does not: the promise breaks on 30.04 (two tasks),
  and the letters resume.
* E (20 000, due Tue 05.05) disputes the debt on 06.05; the dispute is closed on 20.05: the claim goes out that day
  (the columns reached meanwhile are caught up by the highest one).
* F (60 000, due 05.05) pays in full on 15.05, the day of its claim, after the morning's sync: the pre-send
  reconciliation stops the claim; a closing letter follows the next day.
* G (3 000, due 14.04) never pays, but debt plus penalties stay under the lawsuit threshold: a write-off review.
* H (25 000, due Wed 27.05) gets its claim decided on Saturday 06.06, signed and archived, waiting for Monday's
  sending window; H pays on Sunday: on Monday the claim's e-mail step looks again and does not send it.

Expected dates are worked out by hand from the production calendar (1 and 11 May and 12 June are holidays in 2026):
7 working days after 14.04 is 23.04, after 21.04 is 30.04, after 05.05 is 15.05 (the same day as the 10-day
claim, which wins). Letters decided on a weekend or holiday wait for the sending window of the next working day.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from ruamel.yaml import YAML
from sqlalchemy import select

from demo.erp import create_app, serve
from demo.pki import free_port
from robots.cli.main import main
from robots.config import load_config
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from robots.engine.runner import Runner
from robots.engine.services import services_for
from robots.engine.tick import tick
from robots.store import Store
from robots.store import approvals as ap
from robots.store import schema as t
from robots.store import shipments as sb
from robots.support.clock import SystemClock
from tests.texts import amounts
from tests.worlds import install_pki

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Симуляция-пароль-42"
START, DAYS = date(2026, 4, 1), 120
MSK = ZoneInfo("Europe/Moscow")
D = Decimal

pytestmark = pytest.mark.slow


def at_ten(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), MSK).astimezone(UTC)


def d(text: str) -> date:
    day, month = text.split(".")
    return date(2026, int(month), int(day))


# -- the ledger ------------------------------------------------------------------------------------------------------

STORIES = {  # customer: (amount, due date, payments as (day, amount))
    "A": ("120000.00", "14.04", ()),
    "B": ("50000.00", "14.04", (("19.04", "20000.00"), ("04.05", "30000.00"))),
    "C": ("30000.00", "21.04", (("28.04", "30000.00"),)),
    "D": ("40000.00", "21.04", ()),
    "E": ("20000.00", "05.05", ()),
    "F": ("60000.00", "05.05", (("15.05", "60000.00"),)),
    "G": ("3000.00", "14.04", ()),
    "H": ("25000.00", "27.05", (("07.06", "25000.00"),)),
}


def ledger_on(day: date, *, with_payments_of: date | None = None) -> Ledger:
    """What the accounting system knows on ``day``: invoices issued and payments booked by then."""
    booked = with_payments_of or day
    cps, cts, invs, pays = [], [], [], []
    for n, (c, (amount, due, payments)) in enumerate(STORIES.items()):
        cps.append(Counterparty(f"P-{c}", f"ООО «Клиент {c}»", f"77{n:08d}", f"{c.lower()}@client.example",
                                "default"))
        cts.append(Contract(f"C-{c}", f"{c}-1/2026", f"P-{c}", 30, "RUB", D("0.001")))
        due_day = d(due)
        invs.append(Invoice(f"I-{c}", f"{c}-101", f"C-{c}", due_day - timedelta(days=30), due_day, D(amount)))
        for k, (on, paid) in enumerate(payments):
            if d(on) <= booked:
                pays.append(Payment(f"PAY-{c}-{k}", f"C-{c}", d(on), D(paid), f"I-{c}"))
    return Ledger(tuple(cps), tuple(cts), tuple(i for i in invs if i.date <= day), tuple(pays))


# -- the world: config, SMTP, accounting system ----------------------------------------------------------------------

@dataclass
class Mailbox:
    messages: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 2.0.0 Ok: queued"


def make_config(root: Path, erp_url: str, smtp_port: int, pki) -> Path:
    shutil.copy2(REPO / "schedules.yaml", root / "schedules.yaml")
    shutil.copytree(REPO / "scenarios", root / "scenarios")
    install_pki(root, pki, window=True)
    yaml = YAML()
    path = root / "schedules.yaml"
    settings = yaml.load(path.read_text(encoding="utf-8"))
    settings["connectors"][0]["base_url"] = erp_url + "api/v1/"
    settings["email"]["smtp"]["port"] = smtp_port
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    (root / "var" / "erp-password").write_text(PASSWORD, encoding="utf-8")
    (root / "var" / "erp-password").chmod(0o600)
    return path


class LateBooking(Runner):
    """On F's claim day the bank's payment is booked in the accounting system after the morning's sync."""

    def __init__(self, services, publish, ledger):
        super().__init__(services)
        self.publish, self.ledger = publish, ledger

    def run_pending(self, now, progress=None, should_stop=None):
        self.publish(self.ledger)
        return super().run_pending(now, progress, should_stop)


def people(config_path: Path, day: date, store: Store) -> None:
    """What people record after the morning's tick (through the CLI, as they would)."""
    cli = ["--config", str(config_path)]
    as_of = ["--as-of", day.isoformat()]
    if day == d("22.04"):
        assert main([*cli, "promise", "add", "--contract", "C-C", "--amount", "30000", "--date", "2026-04-29",
                     "--by", "Кузнецов А. П.", *as_of]) == 0
    if day == d("23.04"):
        assert main([*cli, "contact", "add", "--contract", "C-D", "--outcome", "promised", "--by", "Кузнецов А. П.",
                     "--promised-date", "2026-04-26", "--promised-amount", "40000", "--channel", "phone",
                     *as_of]) == 0
    if day == d("06.05"):
        assert main([*cli, "dispute", "open", "--contract", "C-E", "--reason", "Недопоставка по УПД E-101",
                     "--by", "Беляев И. Н.", *as_of]) == 0
    for approval in ap.list_approvals(store, pending_only=True):  # the commercial director approves the next day
        if approval.requested_at.astimezone(MSK).date() < day:
            assert ap.decide(store, approval.id, ap.Decision.APPROVED, "Волков С. А.", "Подавайте", at_ten(day))
            store.wake_run(approval.run_id, at_ten(day))


def close_dispute_before_the_tick(config_path: Path, day: date) -> None:
    if day == d("20.05"):
        assert main(["--config", str(config_path), "dispute", "close", "1", "--by", "Беляев И. Н.",
                     "--resolution", "Недопоставки не было: акт приёмки подписан"]) == 0


@pytest.fixture(scope="module")
def simulation(tmp_path_factory, officer_pki):
    root = tmp_path_factory.mktemp("simulation")
    (root / "var").mkdir()
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    app = create_app(ledger_on(START), username="робот", password=PASSWORD)
    try:
        with serve(app) as url:
            config_path = make_config(root, url, smtp_port, officer_pki)
            config = load_config(config_path)
            store = Store.open(config.database_url())
            services = services_for(config, store, SystemClock())
            try:
                for n in range(DAYS):
                    day = START + timedelta(days=n)
                    close_dispute_before_the_tick(config_path, day)
                    if day == d("15.05"):
                        app.state.erp.set_ledger(ledger_on(day - timedelta(days=1)))
                        runner = LateBooking(services, app.state.erp.set_ledger, ledger_on(day))
                        tick(services, day, at_ten(day), runner=runner)
                    else:
                        app.state.erp.set_ledger(ledger_on(day))
                        tick(services, day, at_ten(day))
                    people(config_path, day, store)
                yield Outcome(root, config, store, mailbox.messages, dict(app.state.erp.blocks))
            finally:
                services.close()
                store.close()
    finally:
        smtp.stop()


@dataclass
class Outcome:
    root: Path
    config: object
    store: Store
    mail: list
    erp_blocks: dict

    def runs(self) -> list:
        return self.store.rows(select(t.runs).order_by(t.runs.c.id))

    def letters(self) -> Counter:
        """(contract, subject start) of every e-mail the customers received."""
        return Counter((m["To"].split("@")[0].upper(), m["Subject"].split(" по договору")[0]) for m in self.mail)


def by_contract(outcome: Outcome) -> dict[str, list[tuple[str, date, str]]]:
    out: dict[str, list] = {}
    for r in outcome.runs():
        out.setdefault(r.contract_id[2:], []).append((r.scenario, r.as_of, r.status))
    return out


def test_every_run_is_exactly_the_expected_one_on_the_expected_day(simulation):
    done = "done"
    never_pays = [("reminder_before_due", "11.04"), ("payment_request", "15.04"), ("pretrial_demand", "16.04"),
                  ("penalty_notice", "23.04"), ("claim", "24.04"), ("lawsuit_notice", "14.05"),
                  ("lawsuit_decision", "13.06")]
    expected = {
        "A": never_pays,
        "B": never_pays[:5] + [("paid_closing", "04.05")],
        "C": [("reminder_before_due", "18.04"), ("payment_request", "22.04"), ("paid_closing", "28.04")],
        "D": [("reminder_before_due", "18.04"), ("payment_request", "22.04"), ("pretrial_demand", "23.04"),
              ("penalty_notice", "30.04"), ("promise_broken", "30.04"), ("claim", "01.05"),
              ("lawsuit_notice", "21.05"), ("lawsuit_decision", "20.06")],
        "E": [("reminder_before_due", "02.05"), ("payment_request", "06.05"), ("claim", "20.05"),
              ("lawsuit_notice", "04.06"), ("lawsuit_decision", "04.07")],
        "F": [("reminder_before_due", "02.05"), ("payment_request", "06.05"), ("pretrial_demand", "07.05"),
              ("claim", "15.05"), ("paid_closing", "16.05")],
        "G": never_pays,
        # 7 working days after Wed 27.05 is Fri 05.06; the paid event is decided on Sunday, when the payment is seen
        "H": [("reminder_before_due", "24.05"), ("payment_request", "28.05"), ("pretrial_demand", "29.05"),
              ("penalty_notice", "05.06"), ("claim", "06.06"), ("paid_closing", "07.06")],
    }
    got = by_contract(simulation)
    for customer, runs in expected.items():
        want = sorted(((s, d(day), done) for s, day in runs), key=lambda x: (x[1], x[0]))
        assert sorted(got[customer], key=lambda x: (x[1], x[0])) == want, customer
    assert set(got) == set(expected)


def test_the_claim_of_a_customer_who_paid_that_morning_was_stopped_before_any_document(simulation):
    claim = next(r for r in simulation.runs() if r.contract_id == "C-F" and r.scenario == "claim")
    assert claim.outcome.startswith("stopped at step 0 (reconcile): paid before sending")
    assert not simulation.store.rows(select(t.documents).where(t.documents.c.run_id == claim.id))


def test_a_claim_that_waited_for_the_sending_window_is_not_sent_to_a_customer_who_paid_meanwhile(simulation):
    claim = next(r for r in simulation.runs() if r.contract_id == "C-H" and r.scenario == "claim")
    assert claim.outcome.startswith("stopped at step 5 (send_email): paid before sending")
    (doc,) = simulation.store.rows(select(t.documents).where(t.documents.c.run_id == claim.id))
    assert doc.title == "Претензия"  # archived as made and signed, never e-mailed
    assert not [m for m in simulation.mail if m["To"].startswith("h@") and m["Subject"].startswith("Претензия")]
    assert not [b for b in simulation.erp_blocks if b[1] == "C-H"]


def test_customers_received_exactly_the_expected_letters_by_email_with_the_signed_pdf(simulation):
    six = {"Напоминание о сроке оплаты", "Просьба об оплате задолженности", "Досудебное требование об оплате "
           "задолженности", "Начисление неустойки", "Претензия", "Подготовка искового заявления"}
    letters = simulation.letters()
    assert all(n == 1 for n in letters.values()), [k for k, n in letters.items() if n > 1]  # never twice
    per_customer: dict[str, set[str]] = {}
    for (who, subject) in letters:
        per_customer.setdefault(who, set()).add(subject)
    closing = "Задолженность"
    assert per_customer["A"] == six and per_customer["G"] == six
    assert per_customer["B"] == six - {"Подготовка искового заявления"} | {closing}
    assert per_customer["C"] == {"Напоминание о сроке оплаты", "Просьба об оплате задолженности", closing}
    assert per_customer["D"] == six
    assert per_customer["E"] == {"Напоминание о сроке оплаты", "Просьба об оплате задолженности", "Претензия",
                                 "Подготовка искового заявления"}
    assert per_customer["F"] == {"Напоминание о сроке оплаты", "Просьба об оплате задолженности",
                                 "Досудебное требование об оплате задолженности", closing}
    assert per_customer["H"] == six - {"Претензия", "Подготовка искового заявления"} | {closing}
    assert len(simulation.mail) == 40
    for message in simulation.mail:
        (pdf,) = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
        assert pdf.get_content().startswith(b"%PDF") and b"/ByteRange" in pdf.get_content()
        sent = datetime.strptime(message["Date"], "%a, %d %b %Y %H:%M:%S %z") if message["Date"] else None
        assert sent is None or sent.tzinfo is not None
    # the archive holds each of these letters, signed, and nothing else
    docs = simulation.store.rows(select(t.documents))
    assert len(docs) == 41  # H's claim is archived but was not sent


def test_letters_decided_on_days_off_went_out_in_the_next_sending_window(simulation):
    from robots.store import deliveries as mail_store

    deliveries = simulation.store.rows(select(mail_store.deliveries))
    assert len(deliveries) == 40 and {d_.status for d_ in deliveries} == {"sent"}
    for delivery in deliveries:
        local = delivery.sent_at.replace(tzinfo=UTC).astimezone(MSK) if delivery.sent_at.tzinfo is None \
            else delivery.sent_at.astimezone(MSK)
        assert local.weekday() < 5 and local.date() not in (d("01.05"), d("11.05"), d("12.06")), local
        assert time(9, 0) <= local.time() <= time(19, 0), local


def test_tasks_went_to_the_right_people(simulation):
    tasks = Counter(r.role for r in simulation.store.rows(select(t.tasks)))
    assert tasks == {"account_manager": 17, "head_of_sales": 7, "legal": 8, "security": 5, "commercial_director": 4,
                     "chief_accountant": 1}
    writeoff = [r for r in simulation.store.rows(select(t.tasks)) if r.role == "chief_accountant"]
    assert writeoff[0].contract_id == "C-G" and "списание" in writeoff[0].title


def test_shipments_were_blocked_by_the_claims_and_unblocked_once_paid(simulation):
    assert set(simulation.erp_blocks) == {("P-A", "C-A"), ("P-D", "C-D"), ("P-E", "C-E"), ("P-G", "C-G")}
    blocks = [sb.Block.from_row(r) for r in simulation.store.rows(select(sb.shipment_blocks))]
    assert sorted(b.contract_id for b in blocks) == ["C-A", "C-B", "C-D", "C-E", "C-G"]
    assert [b.contract_id for b in blocks if b.unblocked_at is not None] == ["C-B"]


def test_the_lawsuit_packs_were_built_after_approval_for_the_big_debts_only(simulation):
    packs = sorted((simulation.root / "var" / "lawsuit-packs").rglob("*.zip"))
    assert len(packs) == 3 and sorted(p.parent.name[:2] for p in packs) == ["A-", "D-", "E-"], packs
    decisions = {a.contract_id: a.decision for a in ap.list_approvals(simulation.store)}
    assert decisions == {"C-A": "approved", "C-D": "approved", "C-E": "approved"}


def test_the_claim_shows_the_penalty_on_the_base_reduced_by_the_partial_payment(simulation, tmp_path):
    # B: 50 000.00 due 14.04; 15.04-19.04 (5 days) on 50 000 = 250.00; 20.04-24.04 (5 days) on 30 000 = 150.00
    claim = next(r for r in simulation.runs() if r.contract_id == "C-B" and r.scenario == "claim")
    (doc,) = simulation.store.rows(select(t.documents).where(t.documents.c.run_id == claim.id))
    path = Path(doc.path) if Path(doc.path).is_absolute() else simulation.config.archive_dir / doc.path
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    flat = re.sub(r"\s+", " ", text.replace("\u00a0", " "))
    # whole amounts only: "400,00" must not pass for a piece of "1 400,00"
    assert {"400,00", "30 000,00"} <= set(amounts(flat)), amounts(flat)


def test_status_sums_it_up_with_nothing_left_waiting_or_failed(simulation):
    from robots.engine.summary import render_summary, summarize

    text = render_summary(summarize(simulation.store))
    assert "Shipments blocked by the robots: 4 contracts; open promises to pay: 0; open disputes: 0" in text
    assert "E-mails: sent 40" in text
    assert "Waiting runs" not in text and "Failed runs" not in text
    assert {r.status for r in simulation.runs()} == {"done"}
