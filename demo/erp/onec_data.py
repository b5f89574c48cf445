"""A receivables ledger as 1C:Бухгалтерия предприятия 3.0 would show it through its standard OData interface.

Pure and deterministic: the same :class:`~robots.core.domain.Ledger` gives the same entities with the same GUIDs
(``uuid5`` of the set name and the ledger id, see :func:`ref_key`), so tests can map 1C keys back to ledger ids.

How ledger concepts land in 1C (choices documented in docs/1c.md):

* **Counterparty group**: a folder of ``Catalog_Контрагенты`` named like the arbots group (``key_accounts``);
  counterparties of the ``default`` group sit at the top level (``Parent_Key`` is the empty GUID). E-mail is a
  row of the ``КонтактнаяИнформация`` tabular section (type ``АдресЭлектроннойПочты``), as in the real catalog.
* **Contract**: ``Catalog_ДоговорыКонтрагентов`` with ``ВидДоговора`` ``СПокупателем``; the payment term is
  ``СрокОплатыПокупателя`` (Edm.Int64, so a string in JSON). BP 3.0 has no penalty attribute; the rate is an
  additional attribute (``ДополнительныеРеквизиты`` row whose ``Свойство_Key`` is :data:`PENALTY_PROPERTY`, value
  in percent per day; a composite value, so a string such as ``"0.1"``) and, for people, words in ``Комментарий``.
* **Invoice**: ``Document_РеализацияТоваровУслуг``, number verbatim from the ledger. ``СрокОплаты`` holds the due
  date only when it differs from the date plus the contract term (installments); otherwise it is the empty date
  and arbots computes the due date from the term, as BP does.
* **Credit note**: ``Document_КорректировкаРеализации`` (``КорректировкаПоСогласованиюСторон``) based on the
  corrected sale (``ДокументОснование``); ``СуммаДокумента`` is the signed change of the debt, negative for a
  decrease (a simulator convention: check the sign on a real base).
* **Payment**: ``Document_ПоступлениеНаРасчетныйСчет`` (``ОплатаПокупателя``) with one ``РасшифровкаПлатежа``
  line: the contract, the invoice paid in ``Сделка`` (the empty GUID when undirected) and ``СуммаПлатежа``.
* **Settlements register**: ``AccumulationRegister_РасчетыСПокупателями`` (dimensions ``Контрагент``,
  ``ДоговорКонтрагента``, composite ``Сделка`` and ``ДатаПлановогоПогашения``, the due date, as in ERP's
  settlements-by-terms register; resource ``СуммаВзаиморасчетов``, so the balance column is
  ``СуммаВзаиморасчетовBalance`` as in УТ/УПП). Balances follow arbots' own allocation
  (:func:`robots.core.balances.open_balances`, i.e. BP's automatic FIFO settlement); a contract's unused credit is a
  negative row whose ``Сделка`` is its latest payment or credit note.

A little noise, as in any real base, is added unless ``noise=False``: a deletion-marked counterparty, a supplier
contract, an unposted and a deletion-marked sale, an unposted payment and a non-customer receipt. The presets
must filter all of it out.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from robots.core.balances import open_balances
from robots.core.domain import Ledger

NAMESPACE = uuid.UUID("1c0da7a0-5eed-4c1c-9e1d-a7b075000001")
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
PREFIX = "StandardODATA."

COUNTERPARTIES = "Catalog_Контрагенты"
CONTRACTS = "Catalog_ДоговорыКонтрагентов"
CURRENCIES = "Catalog_Валюты"
ORGANIZATIONS = "Catalog_Организации"
SALES = "Document_РеализацияТоваровУслуг"
CORRECTIONS = "Document_КорректировкаРеализации"
RECEIPTS = "Document_ПоступлениеНаРасчетныйСчет"
SETTLEMENTS = "AccumulationRegister_РасчетыСПокупателями"
#: The additional attribute (ChartOfCharacteristicTypes_ДополнительныеРеквизитыИСведения) holding the penalty.
PENALTY_PROPERTY = "0d7e1a1c-3b9f-5a55-8e63-2f6c1c0ffee1"

_CURRENCY_CODES = {"RUB": ("643", "руб.", "Российский рубль"), "USD": ("840", "USD", "Доллар США"),
                   "EUR": ("978", "EUR", "Евро"), "CNY": ("156", "CNY", "Китайский юань")}


def ref_key(entity_set: str, ledger_id: str) -> str:
    """The deterministic ``Ref_Key`` of the 1C object that shows the ledger record ``ledger_id``."""
    return str(uuid.uuid5(NAMESPACE, f"{entity_set}/{ledger_id}"))


def odata_date(d: date | None) -> str:
    """A 1C date: no time zone, midnight; None is the empty date ``0001-01-01T00:00:00``."""
    return EMPTY_DATE if d is None else f"{d.isoformat()}T00:00:00"


# Entity types: (property, EDM type) in the order 1C lists them. "Collection(X)" is a tabular section whose rows
# are the complex type X. Composite references are Edm.String plus a "<name>_Type" companion.
_CATALOG = (("Ref_Key", "Edm.Guid"), ("DataVersion", "Edm.String"), ("DeletionMark", "Edm.Boolean"),
            ("Parent_Key", "Edm.Guid"), ("IsFolder", "Edm.Boolean"), ("Code", "Edm.String"),
            ("Description", "Edm.String"), ("Predefined", "Edm.Boolean"), ("PredefinedDataName", "Edm.String"))
_DOCUMENT = (("Ref_Key", "Edm.Guid"), ("DataVersion", "Edm.String"), ("DeletionMark", "Edm.Boolean"),
             ("Number", "Edm.String"), ("Date", "Edm.DateTime"), ("Posted", "Edm.Boolean"))
ROW_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    f"{COUNTERPARTIES}_КонтактнаяИнформация_RowType": (
        ("Ref_Key", "Edm.Guid"), ("LineNumber", "Edm.Int64"), ("Тип", "Edm.String"), ("Вид_Key", "Edm.Guid"),
        ("Представление", "Edm.String"), ("АдресЭП", "Edm.String"), ("НомерТелефона", "Edm.String")),
    f"{RECEIPTS}_РасшифровкаПлатежа_RowType": (
        ("Ref_Key", "Edm.Guid"), ("LineNumber", "Edm.Int64"), ("ДоговорКонтрагента_Key", "Edm.Guid"),
        ("СпособПогашенияЗадолженности", "Edm.String"), ("Сделка", "Edm.String"), ("Сделка_Type", "Edm.String"),
        ("КурсВзаиморасчетов", "Edm.Double"), ("КратностьВзаиморасчетов", "Edm.Int64"),
        ("СуммаПлатежа", "Edm.Double"), ("СуммаВзаиморасчетов", "Edm.Double"), ("СтавкаНДС", "Edm.String"),
        ("СуммаНДС", "Edm.Double")),
    f"{CONTRACTS}_ДополнительныеРеквизиты_RowType": (
        ("Ref_Key", "Edm.Guid"), ("LineNumber", "Edm.Int64"), ("Свойство_Key", "Edm.Guid"), ("Значение", "Edm.String"),
        ("Значение_Type", "Edm.String"), ("ТекстоваяСтрока", "Edm.String")),
}
ENTITY_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    ORGANIZATIONS: _CATALOG + (("НаименованиеПолное", "Edm.String"), ("ИНН", "Edm.String"), ("КПП", "Edm.String")),
    CURRENCIES: _CATALOG + (("НаименованиеПолное", "Edm.String"),),
    COUNTERPARTIES: _CATALOG + (
        ("НаименованиеПолное", "Edm.String"), ("ЮридическоеФизическоеЛицо", "Edm.String"), ("ИНН", "Edm.String"),
        ("КПП", "Edm.String"), ("Комментарий", "Edm.String"),
        ("КонтактнаяИнформация", f"Collection({PREFIX}{COUNTERPARTIES}_КонтактнаяИнформация_RowType)")),
    CONTRACTS: _CATALOG + (
        ("Owner_Key", "Edm.Guid"), ("ВидДоговора", "Edm.String"), ("Номер", "Edm.String"), ("Дата", "Edm.DateTime"),
        ("Организация_Key", "Edm.Guid"), ("ВалютаВзаиморасчетов_Key", "Edm.Guid"),
        ("УстановленСрокОплаты", "Edm.Boolean"), ("СрокОплатыПокупателя", "Edm.Int64"), ("Комментарий", "Edm.String"),
        ("ДополнительныеРеквизиты", f"Collection({PREFIX}{CONTRACTS}_ДополнительныеРеквизиты_RowType)")),
    SALES: _DOCUMENT + (
        ("ВидОперации", "Edm.String"), ("Организация_Key", "Edm.Guid"), ("Контрагент_Key", "Edm.Guid"),
        ("ДоговорКонтрагента_Key", "Edm.Guid"), ("ВалютаДокумента_Key", "Edm.Guid"),
        ("СуммаВключаетНДС", "Edm.Boolean"), ("СуммаДокумента", "Edm.Double"), ("СрокОплаты", "Edm.DateTime"),
        ("Комментарий", "Edm.String")),
    CORRECTIONS: _DOCUMENT + (
        ("ВидОперации", "Edm.String"), ("Организация_Key", "Edm.Guid"), ("Контрагент_Key", "Edm.Guid"),
        ("ДоговорКонтрагента_Key", "Edm.Guid"), ("ДокументОснование", "Edm.String"),
        ("ДокументОснование_Type", "Edm.String"), ("ВалютаДокумента_Key", "Edm.Guid"),
        ("СуммаДокумента", "Edm.Double"), ("Комментарий", "Edm.String")),
    RECEIPTS: _DOCUMENT + (
        ("ВидОперации", "Edm.String"), ("Организация_Key", "Edm.Guid"), ("Контрагент", "Edm.String"),
        ("Контрагент_Type", "Edm.String"), ("ВалютаДокумента_Key", "Edm.Guid"), ("СуммаДокумента", "Edm.Double"),
        ("НомерВходящегоДокумента", "Edm.String"), ("ДатаВходящегоДокумента", "Edm.DateTime"),
        ("НазначениеПлатежа", "Edm.String"),
        ("РасшифровкаПлатежа", f"Collection({PREFIX}{RECEIPTS}_РасшифровкаПлатежа_RowType)")),
}
#: The register's virtual table Balance: its dimensions and the resource column.
BALANCE_TYPE: tuple[tuple[str, str], ...] = (
    ("Контрагент_Key", "Edm.Guid"), ("ДоговорКонтрагента_Key", "Edm.Guid"), ("Сделка", "Edm.String"),
    ("Сделка_Type", "Edm.String"), ("ДатаПлановогоПогашения", "Edm.DateTime"),
    ("СуммаВзаиморасчетовBalance", "Edm.Double"))
BALANCE_DIMENSIONS = ("Контрагент", "ДоговорКонтрагента", "Сделка", "ДатаПлановогоПогашения")
BALANCE_RESOURCE = "СуммаВзаиморасчетовBalance"
#: Navigation properties ($expand): entity set -> {property: (its key column, target set)}. Composite references
#: (``Сделка``) have none: in 1C they are two Edm.String properties, the value and its type.
NAVIGATION: dict[str, dict[str, tuple[str, str]]] = {
    COUNTERPARTIES: {"Parent": ("Parent_Key", COUNTERPARTIES)},
    CONTRACTS: {"Owner": ("Owner_Key", COUNTERPARTIES),
                "ВалютаВзаиморасчетов": ("ВалютаВзаиморасчетов_Key", CURRENCIES),
                "Организация": ("Организация_Key", ORGANIZATIONS)},
    SALES: {"Контрагент": ("Контрагент_Key", COUNTERPARTIES),
            "ДоговорКонтрагента": ("ДоговорКонтрагента_Key", CONTRACTS)},
    CORRECTIONS: {"Контрагент": ("Контрагент_Key", COUNTERPARTIES),
                  "ДоговорКонтрагента": ("ДоговорКонтрагента_Key", CONTRACTS)},
    SETTLEMENTS: {"Контрагент": ("Контрагент_Key", COUNTERPARTIES),
                  "ДоговорКонтрагента": ("ДоговорКонтрагента_Key", CONTRACTS)},
}


def _data_version(key: str) -> str:
    return base64.b64encode(uuid.UUID(key).bytes[:8]).decode()


def _catalog(entity_set: str, key: str, code: str, description: str, *, parent: str = EMPTY_REF,
             folder: bool = False, deleted: bool = False) -> dict[str, Any]:
    return {"Ref_Key": key, "DataVersion": _data_version(key), "DeletionMark": deleted, "Parent_Key": parent,
            "IsFolder": folder, "Code": code, "Description": description, "Predefined": False,
            "PredefinedDataName": ""}


def _document(key: str, number: str, day: date, *, posted: bool = True, deleted: bool = False) -> dict[str, Any]:
    return {"Ref_Key": key, "DataVersion": _data_version(key), "DeletionMark": deleted, "Number": number,
            "Date": odata_date(day), "Posted": posted}


def _kpp(inn: str) -> str:
    return f"{inn[:4]}01001" if len(inn) == 10 else ""


def _phone(key: str) -> str:
    n = uuid.UUID(key).int
    return f"+7 ({495 + n % 5}) {n % 900 + 100}-{n // 7 % 90 + 10}-{n // 11 % 90 + 10}"


def _contact_rows(key: str, inn: str, email: str) -> list[dict[str, Any]]:
    house = int(key[:2], 16) % 90 + 1
    rows = [{"Тип": "Адрес", "Представление": f"{inn[:2]}0000, Россия, г. Москва, ул. Садовая, д. {house}",
             "АдресЭП": "", "НомерТелефона": ""},
            {"Тип": "Телефон", "Представление": _phone(key), "АдресЭП": "", "НомерТелефона": _phone(key)}]
    if email:
        rows.append({"Тип": "АдресЭлектроннойПочты", "Представление": email, "АдресЭП": email, "НомерТелефона": ""})
    kinds = {"Адрес": "ЮрАдресКонтрагента", "Телефон": "ТелефонКонтрагента",
             "АдресЭлектроннойПочты": "EmailКонтрагента"}
    return [{"Ref_Key": key, "LineNumber": str(i), "Тип": r["Тип"],
             "Вид_Key": ref_key("Catalog_ВидыКонтактнойИнформации", kinds[r["Тип"]]), **{k: r[k] for k in (
                 "Представление", "АдресЭП", "НомерТелефона")}} for i, r in enumerate(rows, 1)]


def _penalty_words(rate: Decimal | None) -> str:
    if rate is None:
        return ""
    percent = format((rate * 100).normalize(), "f").replace(".", ",")
    return f"Пени {percent}% в день за каждый день просрочки оплаты"


def _penalty_rows(key: str, rate: Decimal | None) -> list[dict[str, Any]]:
    if rate is None:
        return []
    percent = format((rate * 100).normalize(), "f")
    return [{"Ref_Key": key, "LineNumber": "1", "Свойство_Key": PENALTY_PROPERTY, "Значение": percent,
             "Значение_Type": "Edm.Double", "ТекстоваяСтрока": ""}]


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"))


@dataclass
class OnecData:
    """The entity sets of one 1C base, ready to serve, plus what is needed to compute register balances."""

    sets: dict[str, list[dict[str, Any]]]
    ledger: Ledger
    #: Ref_Key -> ledger id, for every object that shows a ledger record.
    ledger_ids: dict[str, str] = field(default_factory=dict)

    def balance(self, period: datetime | None = None) -> list[dict[str, Any]]:
        """Rows of ``AccumulationRegister_РасчетыСПокупателями/Balance(Period=...)``: one per settlement document
        with a non-zero balance. Movements at the moment ``period`` itself are excluded, as in 1C; None means
        every movement. Documents are dated at midnight."""
        if period is None:
            as_of = date.max
        else:
            as_of = period.date() - timedelta(days=1) if period.time() == datetime.min.time() else period.date()
        balances = open_balances(self.ledger, as_of)
        contracts = {c.id: c for c in self.ledger.contracts}
        rows = []
        for inv in self.ledger.invoices:
            amount = balances.open.get(inv.id)
            if amount:
                rows.append(self._balance_row(contracts[inv.contract_id], ref_key(SALES, inv.id), SALES, amount,
                                              inv.due_date))
        last: dict[str, tuple[date, str, str]] = {}  # contract -> its latest credit document (date, key, set)
        for inv in self.ledger.invoices:
            if inv.is_credit_note and inv.date <= as_of:
                last[inv.contract_id] = max(last.get(inv.contract_id, (date.min, "", "")),
                                            (inv.date, ref_key(CORRECTIONS, inv.id), CORRECTIONS))
        for p in self.ledger.payments:
            if p.date <= as_of:
                last[p.contract_id] = max(last.get(p.contract_id, (date.min, "", "")),
                                          (p.date, ref_key(RECEIPTS, p.id), RECEIPTS))
        for contract_id, amount in sorted(balances.credit.items()):
            day, key, entity_set = last[contract_id]
            rows.append(self._balance_row(contracts[contract_id], key, entity_set, -amount, day))
        return sorted(rows, key=lambda r: r["Сделка"])

    @staticmethod
    def _balance_row(contract, key: str, entity_set: str, amount: Decimal, due: date) -> dict[str, Any]:
        return {"Контрагент_Key": ref_key(COUNTERPARTIES, contract.counterparty_id),
                "ДоговорКонтрагента_Key": ref_key(CONTRACTS, contract.id), "Сделка": key,
                "Сделка_Type": PREFIX + entity_set, "ДатаПлановогоПогашения": odata_date(due),
                BALANCE_RESOURCE: _money(amount)}


def _contract_date(contract_id: str, number: str) -> date:
    year = int(m.group(0)) if (m := re.search(r"20\d\d", number)) else 2025
    return date(year, 1, 9) + timedelta(days=uuid.uuid5(NAMESPACE, contract_id).int % 300)


def onec_from_ledger(ledger: Ledger, *, noise: bool = True) -> OnecData:
    """Every entity set of a 1C base holding ``ledger`` (see the module docstring for the mapping)."""
    org = ref_key(ORGANIZATIONS, "main")
    sets: dict[str, list[dict[str, Any]]] = {name: [] for name in ENTITY_TYPES}
    ids: dict[str, str] = {}
    sets[ORGANIZATIONS].append({**_catalog(ORGANIZATIONS, org, "000000001", "ТД Арбот"),
                                "НаименованиеПолное": "Общество с ограниченной ответственностью «Торговый дом Арбот»",
                                "ИНН": "7701234565", "КПП": "770101001"})
    currencies = {c.currency for c in ledger.contracts} | {"RUB"}
    for code in sorted(currencies):
        num, short, full = _CURRENCY_CODES.get(code, ("000", code, code))
        sets[CURRENCIES].append({**_catalog(CURRENCIES, ref_key(CURRENCIES, code), num, short),
                                 "НаименованиеПолное": full})
    rub = ref_key(CURRENCIES, "RUB")

    folders = {}
    for group in sorted({c.group for c in ledger.counterparties} - {"default"}):
        folders[group] = key = ref_key(COUNTERPARTIES, f"group/{group}")
        sets[COUNTERPARTIES].append({**_catalog(COUNTERPARTIES, key, f"Г{len(folders):08d}", group, folder=True),
                                     "НаименованиеПолное": "", "ЮридическоеФизическоеЛицо": "", "ИНН": "", "КПП": "",
                                     "Комментарий": "Группа arbots", "КонтактнаяИнформация": []})
    counterparties = list(ledger.counterparties)
    for n, cp in enumerate(counterparties, 1):
        key = _keep(ids, COUNTERPARTIES, cp.id)
        person = cp.name.startswith("ИП ")
        full = (f"Индивидуальный предприниматель {cp.name[3:]}" if person else
                cp.name.replace("ООО ", "Общество с ограниченной ответственностью ", 1)
                .replace("АО ", "Акционерное общество ", 1))
        sets[COUNTERPARTIES].append({
            **_catalog(COUNTERPARTIES, key, f"{n:09d}", cp.name, parent=folders.get(cp.group, EMPTY_REF)),
            "НаименованиеПолное": full, "ЮридическоеФизическоеЛицо": "ФизическоеЛицо" if person else "ЮридическоеЛицо",
            "ИНН": cp.inn, "КПП": "" if person else _kpp(cp.inn), "Комментарий": "",
            "КонтактнаяИнформация": _contact_rows(key, cp.inn, cp.email)})

    contracts = {c.id: c for c in ledger.contracts}
    for n, ct in enumerate(ledger.contracts, 1):
        key = _keep(ids, CONTRACTS, ct.id)
        signed = _contract_date(ct.id, ct.number)
        sets[CONTRACTS].append({
            **_catalog(CONTRACTS, key, f"{n:09d}", f"Договор № {ct.number} от {signed:%d.%m.%Y}"),
            "Owner_Key": ref_key(COUNTERPARTIES, ct.counterparty_id), "ВидДоговора": "СПокупателем",
            "Номер": ct.number, "Дата": odata_date(signed), "Организация_Key": org,
            "ВалютаВзаиморасчетов_Key": ref_key(CURRENCIES, ct.currency), "УстановленСрокОплаты": ct.payment_days > 0,
            "СрокОплатыПокупателя": str(ct.payment_days), "Комментарий": _penalty_words(ct.penalty_rate_per_day),
            "ДополнительныеРеквизиты": _penalty_rows(key, ct.penalty_rate_per_day)})

    sales_by_number: dict[tuple[str, str], str] = {}
    for inv in ledger.invoices:
        ct = contracts[inv.contract_id]
        common = {"Организация_Key": org, "Контрагент_Key": ref_key(COUNTERPARTIES, ct.counterparty_id),
                  "ДоговорКонтрагента_Key": ref_key(CONTRACTS, ct.id), "ВалютаДокумента_Key": ref_key(CURRENCIES,
                                                                                                       ct.currency)}
        if inv.is_credit_note:
            key = _keep(ids, CORRECTIONS, inv.id)
            base = sales_by_number.get((ct.id, inv.number.removesuffix("-К")))
            sets[CORRECTIONS].append({
                **_document(key, inv.number, inv.date), "ВидОперации": "КорректировкаПоСогласованиюСторон", **common,
                "ДокументОснование": base or EMPTY_REF, "ДокументОснование_Type": PREFIX + SALES,
                "СуммаДокумента": _money(inv.amount), "Комментарий": "Скидка по согласованию сторон"})
            continue
        key = _keep(ids, SALES, inv.id)
        sales_by_number.setdefault((ct.id, inv.number), key)
        default_due = inv.date + timedelta(days=ct.payment_days)
        sets[SALES].append({
            **_document(key, inv.number, inv.date), "ВидОперации": "Товары", **common, "СуммаВключаетНДС": True,
            "СуммаДокумента": _money(inv.amount),
            "СрокОплаты": EMPTY_DATE if inv.due_date == default_due else odata_date(inv.due_date), "Комментарий": ""})

    numbers = {i.id: i.number for i in ledger.invoices}
    for n, p in enumerate(ledger.payments, 1):
        key = _keep(ids, RECEIPTS, p.id)
        ct = contracts[p.contract_id]
        deal = ref_key(SALES, p.invoice_id) if p.invoice_id else EMPTY_REF
        purpose = f"Оплата по счету № {numbers[p.invoice_id]}" if p.invoice_id else f"Оплата по договору № {ct.number}"
        sets[RECEIPTS].append(_receipt(key, f"0000-{n:06d}", p.date, ref_key(COUNTERPARTIES, ct.counterparty_id),
                                       [(ref_key(CONTRACTS, ct.id), deal, p.amount)], purpose, org, rub))
    if noise:
        _add_noise(sets, ledger, org, rub)
    for rows in sets.values():
        rows.sort(key=lambda r: r["Ref_Key"])
    return OnecData(sets, ledger, ids)


def _keep(ids: dict[str, str], entity_set: str, ledger_id: str) -> str:
    key = ref_key(entity_set, ledger_id)
    ids[key] = ledger_id
    return key


def _receipt(key: str, number: str, day: date, counterparty: str, lines: Iterable[tuple[str, str, Decimal]],
             purpose: str, org: str, rub: str, *, kind: str = "ОплатаПокупателя", posted: bool = True,
             deleted: bool = False) -> dict[str, Any]:
    rows = [{"Ref_Key": key, "LineNumber": str(i), "ДоговорКонтрагента_Key": contract,
             "СпособПогашенияЗадолженности": "ПоДокументу" if deal != EMPTY_REF else "Автоматически",
             "Сделка": deal, "Сделка_Type": PREFIX + SALES, "КурсВзаиморасчетов": 1, "КратностьВзаиморасчетов": "1",
             "СуммаПлатежа": _money(amount), "СуммаВзаиморасчетов": _money(amount), "СтавкаНДС": "НДС20",
             "СуммаНДС": _money(amount * 20 / 120)} for i, (contract, deal, amount) in enumerate(lines, 1)]
    total = sum((r["СуммаПлатежа"] for r in rows), Decimal(0))
    return {**_document(key, number, day, posted=posted, deleted=deleted), "ВидОперации": kind,
            "Организация_Key": org, "Контрагент": counterparty, "Контрагент_Type": PREFIX + COUNTERPARTIES,
            "ВалютаДокумента_Key": rub, "СуммаДокумента": total,
            "НомерВходящегоДокумента": number[-3:].lstrip("0") or "1",
            "ДатаВходящегоДокумента": odata_date(day),
            "НазначениеПлатежа": f"{purpose}. Сумма {format(total, 'f').replace('.', '-')}, в т.ч. НДС (20%)",
            "РасшифровкаПлатежа": rows}


def _add_noise(sets: dict[str, list[dict[str, Any]]], ledger: Ledger, org: str, rub: str) -> None:
    """What every real base has and the presets must skip (see the module docstring)."""
    key = ref_key(COUNTERPARTIES, "noise/deleted")
    sets[COUNTERPARTIES].append({**_catalog(COUNTERPARTIES, key, "000009999", "ООО «Дубль»", deleted=True),
                                 "НаименованиеПолное": "ООО «Дубль»", "ЮридическоеФизическоеЛицо": "ЮридическоеЛицо",
                                 "ИНН": "", "КПП": "", "Комментарий": "Дубль, не использовать",
                                 "КонтактнаяИнформация": []})
    if not ledger.contracts:
        return
    ct = ledger.contracts[0]
    cp = ref_key(COUNTERPARTIES, ct.counterparty_id)
    sets[CONTRACTS].append({
        **_catalog(CONTRACTS, ref_key(CONTRACTS, "noise/supplier"), "000009999", "Договор поставки сырья"),
        "Owner_Key": cp, "ВидДоговора": "СПоставщиком", "Номер": "П-1", "Дата": odata_date(date(2025, 1, 10)),
        "Организация_Key": org, "ВалютаВзаиморасчетов_Key": rub, "УстановленСрокОплаты": False,
        "СрокОплатыПокупателя": "0", "Комментарий": "", "ДополнительныеРеквизиты": []})
    day = min((i.date for i in ledger.invoices), default=date(2026, 1, 12))
    common = {"ВидОперации": "Товары", "Организация_Key": org, "Контрагент_Key": cp,
              "ДоговорКонтрагента_Key": ref_key(CONTRACTS, ct.id), "ВалютаДокумента_Key": rub,
              "СуммаВключаетНДС": True, "СуммаДокумента": Decimal("999.00"), "СрокОплаты": EMPTY_DATE,
              "Комментарий": ""}
    sets[SALES].append({**_document(ref_key(SALES, "noise/draft"), "9001", day, posted=False), **common})
    sets[SALES].append({**_document(ref_key(SALES, "noise/deleted"), "9002", day, posted=False, deleted=True),
                        **common})
    sets[RECEIPTS].append(_receipt(ref_key(RECEIPTS, "noise/draft"), "0000-900001", day, cp,
                                   [(ref_key(CONTRACTS, ct.id), EMPTY_REF, Decimal("500.00"))], "Черновик", org, rub,
                                   posted=False))
    sets[RECEIPTS].append(_receipt(ref_key(RECEIPTS, "noise/other"), "0000-900002", day, cp,
                                   [(EMPTY_REF, EMPTY_REF, Decimal("700.00"))], "Возврат подотчетной суммы", org, rub,
                                   kind="ПрочееПоступление"))


__all__ = ["BALANCE_DIMENSIONS", "BALANCE_RESOURCE", "BALANCE_TYPE", "CONTRACTS", "CORRECTIONS", "COUNTERPARTIES",
           "CURRENCIES", "EMPTY_DATE", "EMPTY_REF", "ENTITY_TYPES", "NAVIGATION", "ORGANIZATIONS", "PENALTY_PROPERTY",
           "PREFIX", "RECEIPTS",
           "ROW_TYPES", "SALES", "SETTLEMENTS", "OnecData", "odata_date", "onec_from_ledger", "ref_key"]
