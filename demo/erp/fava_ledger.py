"""An arbots Ledger as a Beancount file, so Fava (the Beancount web UI) can serve it as a real accounting app.

The representation is chosen so that every ledger field can be read back, both by BQL through Fava's
``/api/query`` and by a browser from Fava's query page (see docs/fava.md for the queries):

* a counterparty is the ``open`` directive of its receivable account ``Assets:Receivable:<CP>``, with metadata
  ``counterparty_id``, ``name``, ``inn``, ``email``, ``group``;
* a contract is the ``open`` directive of a sub-account ``Assets:Receivable:<CP>:<CT>`` (restricted to the
  contract's currency), with metadata ``contract_id``, ``number``, ``counterparty_id``, ``payment_days``,
  ``currency`` and ``penalty`` (percent a day, as in the contract; left out when the contract has none);
* an invoice (or one installment of it) is a transaction tagged ``#invoice`` that debits the contract's account
  and credits ``Income:Sales``, with metadata ``invoice_id``, ``number``, ``contract_id``, ``due_date``; a credit
  note is the same with a negative amount (tagged ``#credit-note`` too);
* a payment is a transaction tagged ``#payment`` that debits ``Assets:Bank`` and credits the contract's account,
  with metadata ``payment_id``, ``contract_id`` and ``invoice_id`` (left out when the payer named no invoice).

Ids live in metadata, never only in account names or links: account names and links have a restricted alphabet
(they are derived from the ids for people, with a suffix when two ids would collide), ids are free text.
Pure apart from writing the file; no clock.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

from robots.core.domain import Ledger

RECEIVABLE = "Assets:Receivable"
BANK = "Assets:Bank"
SALES = "Income:Sales"
#: The open date when the ledger has no documents at all (beancount needs some date).
_EPOCH = date(2000, 1, 1)
# Beancount account components start with an upper-case letter or a digit, then letters, digits and '-'.
_COMPONENT_BAD = re.compile(r"[^\w-]|_")
_LINK_OK = re.compile(r"[A-Za-z0-9\-_/.]+", re.ASCII)


def slugify(title: str) -> str:
    """The URL slug Fava gives a ledger titled ``title`` (the same rule as ``fava.util.slugify``)."""
    text = re.sub(r"[^\s\w-]", "", unicodedata.normalize("NFKC", title)).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _component(ident: str, used: set[str]) -> str:
    """An account name component for ``ident``: readable, valid, and unique among ``used``."""
    base = _COMPONENT_BAD.sub("-", ident).strip("-") or "X"
    if not (base[0].isdigit() or base[0].isupper()):
        base = base[0].upper() + base[1:] if base[0].upper() != base[0] else "X-" + base
    name, n = base, 1
    while name.lower() in used:
        n += 1
        name = f"{base}-{n}"
    used.add(name.lower())
    return name


def _percent(rate: Decimal) -> Decimal:
    return Decimal(format((rate * 100).normalize(), "f"))  # 'f': never '1E+1', which beancount cannot read


def _meta(pairs: Iterable[tuple[str, str | Decimal | int | date | None]]) -> list[str]:
    lines = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, str):
            text = _quote(value)
        elif isinstance(value, date):
            text = value.isoformat()
        elif isinstance(value, Decimal):
            text = format(value, "f")
        else:
            text = str(value)
        lines.append(f"  {key}: {text}")
    return lines


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def render_beancount(ledger: Ledger, title: str = "AR demo ledger") -> str:
    """The Beancount text of ``ledger``; see the module docstring for the representation."""
    cp_by_id = {c.id: c for c in ledger.counterparties}
    ct_by_id = {c.id: c for c in ledger.contracts}
    days = [i.date for i in ledger.invoices] + [p.date for p in ledger.payments]
    opened = min(days, default=_EPOCH)
    currencies = sorted({c.currency for c in ledger.contracts} or {"RUB"})

    out = [f"option {_quote('title')} {_quote(title)}",
           f"option {_quote('operating_currency')} {_quote(currencies[0])}", ""]
    for cur in currencies:
        out.append(f"{opened.isoformat()} commodity {cur}")
    out.append(f"{opened.isoformat()} open {BANK}")
    out.append(f"{opened.isoformat()} open {SALES}")
    out.append("")

    used: set[str] = set()
    cp_account = {c.id: f"{RECEIVABLE}:{_component(c.id, used)}" for c in ledger.counterparties}
    ct_account: dict[str, str] = {}
    for cp in ledger.counterparties:
        out.append(f"{opened.isoformat()} open {cp_account[cp.id]}")
        out += _meta([("counterparty_id", cp.id), ("name", cp.name), ("inn", cp.inn), ("email", cp.email),
                      ("group", cp.group)])
        out.append("")
    for ct in ledger.contracts:
        parent = cp_account.get(ct.counterparty_id) or f"{RECEIVABLE}:{_component(ct.counterparty_id, used)}"
        ct_account[ct.id] = account = f"{parent}:{_component(ct.id, used)}"
        out.append(f"{opened.isoformat()} open {account} {ct.currency}")
        out += _meta([("contract_id", ct.id), ("number", ct.number), ("counterparty_id", ct.counterparty_id),
                      ("payment_days", ct.payment_days), ("currency", ct.currency),
                      ("penalty", None if ct.penalty_rate_per_day is None else _percent(ct.penalty_rate_per_day))])
        out.append("")

    def payee(contract_id: str) -> str:
        ct = ct_by_id.get(contract_id)
        cp = cp_by_id.get(ct.counterparty_id) if ct else None
        return cp.name if cp else contract_id

    def link(ident: str | None) -> str:
        return f" ^{ident}" if ident and _LINK_OK.fullmatch(ident) else ""

    # Documents in date order (a stable sort keeps the ledger's own order within a day), as a ledger file reads.
    docs = sorted([(i.date, 0, n) for n, i in enumerate(ledger.invoices)]
                  + [(p.date, 1, n) for n, p in enumerate(ledger.payments)])
    for _, kind, n in docs:
        if kind == 0:
            inv = ledger.invoices[n]
            ct = ct_by_id.get(inv.contract_id)
            cur = ct.currency if ct else currencies[0]
            credit = inv.amount < 0
            what = "Корректировочный счёт" if credit else "Счёт"
            tags = " #invoice #credit-note" if credit else " #invoice"
            out.append(f"{inv.date.isoformat()} * {_quote(payee(inv.contract_id))} "
                       f"{_quote(f'{what} № {inv.number}')}{tags}{link(inv.id)}")
            out += _meta([("invoice_id", inv.id), ("number", inv.number), ("contract_id", inv.contract_id),
                          ("due_date", inv.due_date)])
            out.append(f"  {ct_account.get(inv.contract_id, RECEIVABLE)}  {_money(inv.amount)} {cur}")
            out.append(f"  {SALES}  {_money(-inv.amount)} {cur}")
        else:
            pay = ledger.payments[n]
            ct = ct_by_id.get(pay.contract_id)
            cur = ct.currency if ct else currencies[0]
            out.append(f"{pay.date.isoformat()} * {_quote(payee(pay.contract_id))} {_quote('Оплата')} #payment"
                       f"{link(pay.invoice_id)}")
            out += _meta([("payment_id", pay.id), ("contract_id", pay.contract_id), ("invoice_id", pay.invoice_id)])
            out.append(f"  {BANK}  {_money(pay.amount)} {cur}")
            out.append(f"  {ct_account.get(pay.contract_id, RECEIVABLE)}  {_money(-pay.amount)} {cur}")
        out.append("")
    return "\n".join(out)


def write_beancount(ledger: Ledger, path: Path, title: str = "AR demo ledger") -> str:
    """Write ``ledger`` as a Beancount file at ``path`` (atomically: Fava never reads half a file) and return
    the URL slug Fava serves it under (``/<slug>/``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render_beancount(ledger, title))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return slugify(title)
