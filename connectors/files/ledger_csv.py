"""Writing a ledger as the CSV files the file connector reads: the demo's ledger, and the tests' (the inverse of
:class:`~connectors.files.connector.FileConnector`, in either dialect it reads).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from connectors.base import ENTITIES, FIELDS
from robots.core.discounts import format_discounts
from robots.core.domain import Ledger

#: The files written, with their header.
COLUMNS: dict[str, tuple[str, ...]] = {f"{e}.csv": FIELDS[e] for e in ENTITIES}
DIALECTS = ("utf8", "excel-ru")


def _percent(rate: Decimal | None, comma: bool) -> str:
    if rate is None:
        return ""
    text = format((rate * 100).normalize(), "f")  # 'f': never '1E+1'
    return text.replace(".", ",") if comma else text


def _discounts(tiers: tuple[tuple[Decimal, int], ...], comma: bool) -> str:
    text = format_discounts(tiers) or ""
    return text.replace(".", ",") if comma else text


def _tables(ledger: Ledger, ru: bool) -> dict[str, list[list[str]]]:
    day = (lambda d: f"{d.day:02d}.{d.month:02d}.{d.year:04d}") if ru else date.isoformat
    # Excel-ru's own thousands separator is the no-break space; a plain one would make Excel see text.
    money = (lambda x: f"{x:,.2f}".replace(",", "\u00a0").replace(".", ",")) if ru else (lambda x: f"{x:.2f}")
    return {
        "counterparties.csv": [[c.id, c.name, c.inn, c.email, c.group] for c in ledger.counterparties],
        "contracts.csv": [[c.id, c.number, c.counterparty_id, str(c.payment_days), c.currency,
                           _percent(c.penalty_rate_per_day, ru), _discounts(c.discounts, ru)]
                          for c in ledger.contracts],
        "invoices.csv": [[i.id, i.number, i.contract_id, day(i.date), day(i.due_date), money(i.amount)]
                         for i in ledger.invoices],
        "payments.csv": [[p.id, p.contract_id, p.invoice_id or "", day(p.date), money(p.amount)]
                         for p in ledger.payments],
    }


def write_ledger_csv(ledger: Ledger, folder: Path, dialect: str = "utf8") -> None:
    """Write ``ledger`` as the four CSV files :class:`FileConnector` reads, in ``dialect`` "utf8" or "excel-ru".

    "utf8": UTF-8 with BOM, ``,``, ISO dates, ``.`` decimals. "excel-ru": cp1251, ``;``, dd.mm.yyyy, comma
    decimals with no-break-space thousands (what Excel in a Russian locale writes and opens). Each file is written
    to a temporary file in ``folder`` and renamed over the old one, so a reader never sees a half-written file.
    Raises ValueError for an unknown dialect or a text that cp1251 cannot encode (nothing is written then).
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect '{dialect}'; use one of: {', '.join(DIALECTS)}")
    ru = dialect == "excel-ru"
    encoding, delimiter = ("cp1251", ";") if ru else ("utf-8-sig", ",")
    payloads: dict[str, bytes] = {}
    for name, rows in _tables(ledger, ru).items():
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(COLUMNS[name])
        writer.writerows(rows)
        try:  # encode everything before touching the folder: all four files are written or none
            payloads[name] = buf.getvalue().encode(encoding)
        except UnicodeEncodeError as e:
            raise ValueError(f"{name}: {e.object[e.start:e.end]!r} cannot be written in {encoding}; "
                             "use dialect 'utf8'") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    temps: list[tuple[str, str]] = []
    try:
        for name, data in payloads.items():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            temps.append((tmp, name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        # Renames last and back to back: the window where files of two versions coexist is as short as it gets.
        for tmp, name in temps:
            os.replace(tmp, folder / name)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
