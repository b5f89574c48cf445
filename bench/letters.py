"""The letters the signing and archive benchmarks render and sign, with the template context the runner gives.

Letter *i* is reproducible from its index (seed 20251117): a counterparty, a contract (with or without a
contractual penalty, a third of them with early-payment discounts), 1 to 3 invoices that have reached the column of
the letter's scenario (30 % with a part payment on the oldest; paid in full for the paid event's letter). The
templates cycle through the render steps of the shipped scenarios (schedules.yaml's ``paths.scenarios``).

The context is the product's, not a copy of it: the ledger goes into a throwaway SQLite store, each letter gets a
:class:`~robots.steps.context.StepContext` for a run of its scenario, the scenario's steps before the render that
compute penalties (``steps.penalty`` in the claim) run through the step registry and keep their output as the
runner does, and the context is ``StepContext.template_context()`` plus the ``document`` and the ``signer`` that
``RenderStep`` adds. A template that needs something new from the runner fails here, as it would in a run.
"""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from robots.config import Config, load_config
from robots.core.balances import open_balances
from robots.core.discounts import parse_discounts
from robots.core.domain import ZERO, Contract, Counterparty, Invoice, Ledger, Payment
from robots.core.workdays import DaysPastDue
from robots.documents.pdf import RenderedPdf, render_letter
from robots.documents.templates import TemplateRenderer
from robots.engine.services import services_for
from robots.steps import REGISTRY
from robots.steps.context import LetterInvoice, StepContext
from robots.store import RunRecord, Store
from robots.support.clock import SystemClock

ROOT = Path(__file__).resolve().parents[1]

SEED = 20251117
AS_OF = date(2025, 11, 17)
NOW = datetime(2025, 11, 17, 6, 0, tzinfo=UTC)  # the tick's `now`: the letters' runs are decided that morning
OFFICER_ID = "chief_accountant"
OFFICER_NAME = "Смирнова Елена Викторовна"
OFFICER_POSITION = "Главный бухгалтер"
WARMUP_START = 10_000_000  # the warm-up letters' indices: other letters than the timed ones

_FORMS = ("ООО", "АО", "ПАО", "ИП")
_WORDS = ("Северный", "Волга", "Уральский", "Торговый", "Промышленный", "Сибирь", "Альфа", "Вектор", "Гранит",
          "Меридиан", "Стройресурс", "Логистика", "Агро", "Энергия", "Техносервис", "Балтика")
_RATES = (None, Decimal("0.001"), Decimal("0.0005"))
_DISCOUNTS = "3%/7; 2%/14"


class Letter(NamedTuple):
    """A letter to render: the scenario's template, the document's title, and what the template sees."""

    template: str
    title: str
    context: dict[str, Any]


class _Kind(NamedTuple):
    """A scenario with a render step, and the run that leads to it: the debtor group, the column or event."""

    scenario: str
    render_idx: int
    group: str
    column_id: str
    column_title: str
    offset: int
    event: bool


@lru_cache(maxsize=1)
def bench_config() -> Config:
    """The shipped schedules.yaml (company, penalties, groups, scenarios), loaded once per process."""
    return load_config(ROOT / "schedules.yaml")


def _kinds(config: Config) -> list[_Kind]:
    """Every shipped scenario with a render step, with the first column (or event) that runs it."""
    settings = config.settings
    events = {scenario: event for event, scenario in settings.events.model_dump().items() if scenario}
    kinds = []
    for name, scenario in sorted(config.scenarios.items()):
        render = next((k for k, step in enumerate(scenario.steps) if step.kind == "render"), None)
        if render is None:
            continue
        if name in events:
            kinds.append(_Kind(name, render, "default", events[name], events[name], 0, True))
            continue
        group, column = next((g, c) for g, s in settings.groups.items() for c in s.columns if c.scenario == name)
        kinds.append(_Kind(name, render, group, column.id, column.title, column.offset, False))
    return kinds


def _debt(i: int, kind: _Kind, dpd: Any, column_days: Any) -> Ledger:
    """Letter ``i``'s counterparty, contract, invoices and payments, from its own seed."""
    rng = random.Random(SEED * 1_000_003 + i)
    cp = Counterparty(f"CP{i:06d}", f"{rng.choice(_FORMS)} «{rng.choice(_WORDS)}-{rng.choice(_WORDS)} {i}»",
                      f"77{rng.randint(10**7, 10**8 - 1)}", f"buh{i}@debtor.example", kind.group)
    contract = Contract(f"C{i:06d}", f"Д-{2024 + i % 2}/{i:05d}", cp.id, 30, "RUB", rng.choice(_RATES),
                        parse_discounts(_DISCOUNTS) if i % 3 == 0 else ())
    invoices, payments = [], []
    for k in range(rng.randint(1, 3)):
        # A debt that has reached the column in the column's own days (a paid letter's debts were overdue).
        due = AS_OF - timedelta(days=rng.randint(10, 40) if kind.event else kind.offset + rng.randint(0, 3))
        while not kind.event and dpd(due, column_days) < kind.offset:
            due -= timedelta(days=1)
        amount = Decimal(rng.randint(10_000_00, 3_000_000_00)).scaleb(-2)
        inv = Invoice(f"INV{i:06d}{k}", f"{rng.randint(100, 9999)}/{k + 1}", contract.id, due - timedelta(days=30),
                      due, amount)
        invoices.append(inv)
        if kind.event or (k == 0 and rng.random() < 0.3):
            paid = amount if kind.event else Decimal(rng.randint(0, int(amount * 100) // 2)).scaleb(-2)
            payments.append(Payment(f"PAY{i:06d}{k}", contract.id, min(AS_OF, due + timedelta(days=5)), paid,
                                    inv.id))
    return Ledger((cp,), (contract,), tuple(invoices), tuple(payments))


def warmup_letters() -> list[Letter]:
    """One letter per template, none of them timed: what a side signs before its clock starts (imports, fonts,
    compiled templates, and for ours the key, the stamp and the reservation)."""
    return make_letters(WARMUP_START, len(_kinds(bench_config())))


def make_letters(start: int, n: int) -> list[Letter]:
    """Letters ``start`` .. ``start + n - 1``, each (template, title, template context)."""
    config = bench_config()
    kinds = _kinds(config)
    policy = config.policy()
    with tempfile.TemporaryDirectory(prefix="bench_letters_") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'letters.sqlite'}")
        try:
            services = services_for(config, store, SystemClock())
            dpd = DaysPastDue(services.calendar, AS_OF)
            debts = []
            for i in range(start, start + n):
                kind = kinds[i % len(kinds)]
                schedule = policy.groups[kind.group]
                column = next((c for c in schedule.columns if c.id == kind.column_id), None)
                debts.append(_debt(i, kind, dpd, column.days if column else schedule.days))
            store.replace_ledger(Ledger(*(tuple(x for d in debts for x in getattr(d, f)) for f in
                                          ("counterparties", "contracts", "invoices", "payments"))), "bench", NOW)
            ledger = store.load_ledger()  # the letters state what the store gives back, as in a run
            open_ = open_balances(ledger, AS_OF).open
            counterparties = {c.id: c for c in ledger.counterparties}
            contracts = {c.id: c for c in ledger.contracts}
            invoices: dict[str, list[Invoice]] = {}
            for inv in ledger.invoices:
                invoices.setdefault(inv.contract_id, []).append(inv)
            out = []
            for i in range(start, start + n):
                kind, contract = kinds[i % len(kinds)], contracts[f"C{i:06d}"]
                days = policy.groups[kind.group].days
                items = [LetterInvoice(inv, open_.get(inv.id, ZERO), dpd(inv.due_date, days))
                         for inv in invoices[contract.id]]
                out.append(_letter(services, i, kind, counterparties[contract.counterparty_id], contract, items))
            return out
        finally:
            store.close()


def _letter(services: Any, i: int, kind: _Kind, counterparty: Counterparty, contract: Contract,
            invoices: list[LetterInvoice]) -> Letter:
    """Letter ``i`` as its run would render it: the StepContext, the computing steps, then the render's context."""
    invoices.sort(key=lambda x: (x.invoice.due_date, x.invoice.number, x.invoice.id))  # as the runner orders them
    run = RunRecord(id=i + 1, run_key=f"{contract.id}|{kind.column_id}|{AS_OF.isoformat()}", contract_id=contract.id,
                    column_id=kind.column_id, scenario=kind.scenario, as_of=AS_OF,
                    invoices=tuple({"id": x.invoice.id, "open_amount": str(x.open_amount),
                                    "days_past_due": x.days_past_due} for x in invoices), attempts=1)
    ctx = StepContext(run=run, step_idx=0, now=NOW, counterparty=counterparty, contract=contract,
                      invoices=tuple(invoices), column_title=kind.column_title, column_offset=kind.offset,
                      services=services)
    steps = services.config.scenarios[kind.scenario].steps
    for idx, cfg in enumerate(steps[:kind.render_idx]):
        # Of the steps before the render, those that compute penalties give the letter what it states; the others
        # there reach the outside world (reconcile: the connectors, approval: a person, unblock: the write-back).
        if cfg.computes_penalty:
            ctx.step_idx = idx
            step = REGISTRY[cfg.kind]()
            step.keep(ctx, cfg.id or f"step{idx}", step.run(cfg, ctx))
    render = steps[kind.render_idx]
    context = {**ctx.template_context(), "document": {"number": ctx.document_number(), "date": AS_OF},
               "signer": {"officer": OFFICER_ID, "name": OFFICER_NAME, "position": OFFICER_POSITION,
                          "on_behalf_of": None}}
    return Letter(render.template, render.title, context)


class Letters:
    """Renders letters the way RenderStep does: TemplateRenderer, then render_letter with room for the stamp."""

    def __init__(self) -> None:
        config = bench_config()
        self.renderer = TemplateRenderer(config.templates_dir)
        self.author = config.settings.company.name

    def render(self, letter: Letter) -> RenderedPdf:
        template, title, context = letter
        markup = self.renderer.render(template, context)
        return render_letter(markup, title=f"{title} № {context['document']['number']}", author=self.author,
                             stamp_room=True)
