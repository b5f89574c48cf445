"""The star schema of ``export bi``: every table, column, type and key, in one place.

The CSV and Parquet writers take their Arrow schemas from here, and the README of every export (and docs/bi.md)
is rendered from the same definitions, so the files and their documentation cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

#: Money: exact, two decimals (kopecks), as in the ledger.
MONEY = pa.decimal128(18, 2)
#: A penalty rate per day as a fraction (0.001 = 0.1 % a day).
RATE = pa.decimal128(20, 12)
#: A KPI value: money (2 decimals), shares and ratios (4), days (1).
KPI_VALUE = pa.decimal128(24, 4)
DATE = pa.date32()
DATE_KEY = pa.int32()
TIMESTAMP = pa.timestamp("us", tz="UTC")
TEXT = pa.string()
INT = pa.int32()
BIG = pa.int64()
BOOL = pa.bool_()

_TYPE_NAMES = {
    MONEY: "decimal(18,2)", RATE: "decimal(20,12)", KPI_VALUE: "decimal(24,4)", DATE: "date",
    TIMESTAMP: "timestamp (UTC)", TEXT: "text", INT: "int", BIG: "bigint", BOOL: "boolean",
}


@dataclass(frozen=True)
class Col:
    name: str
    type: pa.DataType
    doc: str
    #: "PK", "PK part", or the table (and column) a foreign key points to, e.g. "dim_invoice".
    key: str = ""
    nullable: bool = False

    @property
    def type_name(self) -> str:
        return "int (YYYYMMDD)" if self.key == "dim_date" else _TYPE_NAMES[self.type]

    @property
    def key_text(self) -> str:
        """The key as the README shows it: ``PK``, ``PK part``, ``FK → dim_x`` or both."""
        return ", ".join(part if part.startswith("PK") else f"FK → {part}" for part in self.key.split(", ") if part)


@dataclass(frozen=True)
class Table:
    name: str
    #: What one row is.
    grain: str
    doc: str
    columns: tuple[Col, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def is_fact(self) -> bool:
        return self.name.startswith("fact_")


def _fk(name: str, target: str, doc: str, *, nullable: bool = False, type: pa.DataType = TEXT) -> Col:
    return Col(name, type, doc, key=target, nullable=nullable)


def _date_key(name: str, doc: str, *, nullable: bool = False) -> Col:
    return Col(name, DATE_KEY, doc, key="dim_date", nullable=nullable)


_COUNTERPARTY = _fk("counterparty_id", "dim_counterparty", "The debtor.")
_CONTRACT = _fk("contract_id", "dim_contract", "The contract.")
_INVOICE = _fk("invoice_id", "dim_invoice", "The invoice (or installment).")
_COLUMN_KEY = _fk("column_key", "dim_column", "The aging column, as `debtor_group/column_id` (the debtor's group "
                  "today).", nullable=True)

TABLES: tuple[Table, ...] = (
    # -- dimensions ------------------------------------------------------------------------------------------
    Table("dim_date", "one calendar day", "Every day from the earliest to the latest date any table of the export "
          "mentions (at least the snapshot days). Working days follow the Russian production calendar "
          "(transferred days off, working Saturdays) plus `calendar:` of schedules.yaml.", (
              Col("date_key", DATE_KEY, "The day as a number, e.g. 20260312.", key="PK"),
              Col("date", DATE, "The day."),
              Col("year", INT, "Calendar year."),
              Col("quarter", INT, "1-4."),
              Col("month", INT, "1-12."),
              Col("iso_year", INT, "ISO 8601 week-numbering year (differs from `year` around 1 January)."),
              Col("iso_week", INT, "ISO 8601 week, 1-53."),
              Col("weekday", INT, "ISO weekday: 1 = Monday ... 7 = Sunday."),
              Col("is_working_day", BOOL, "A working day by the production calendar."),
          )),
    Table("dim_counterparty", "one debtor", "The counterparties of the ledger as last synced.", (
        Col("counterparty_id", TEXT, "The accounting system's id.", key="PK"),
        Col("name", TEXT, "Legal name."),
        Col("inn", TEXT, "ИНН (10 digits for a company, 12 for an individual); empty if unknown."),
        Col("email", TEXT, "Where letters go; empty if unknown."),
        Col("debtor_group", TEXT, "The debtor group, which decides the aging columns (`dim_column.debtor_group`)."),
    )),
    Table("dim_contract", "one contract", "The contracts of the ledger as last synced.", (
        Col("contract_id", TEXT, "The accounting system's id.", key="PK"),
        Col("number", TEXT, "The contract's number as printed in letters."),
        _COUNTERPARTY,
        Col("payment_days", INT, "Payment term in days."),
        Col("currency", TEXT, "ISO 4217 code, e.g. RUB."),
        Col("penalty_rate_per_day", RATE, "Contractual penalty per day as a fraction (0.001 = 0.1 % a day); empty "
            "when the contract has none.", nullable=True),
        Col("penalty_percent_per_day", RATE, "The same rate in percent (0.1 = 0.1 % a day).", nullable=True),
    )),
    Table("dim_invoice", "one invoice or installment", "Every invoice of the ledger as last synced; an invoice "
          "paid in installments is one row per installment, and a credit note is a row with a negative amount.", (
              Col("invoice_id", TEXT, "The accounting system's id (per installment).", key="PK"),
              Col("number", TEXT, "The invoice's number."),
              _CONTRACT,
              _COUNTERPARTY,
              Col("issued_on", DATE, "Issue date."),
              _date_key("issued_date_key", "Issue date."),
              Col("due_date", DATE, "Due date."),
              _date_key("due_date_key", "Due date."),
              Col("amount", MONEY, "Invoiced amount; negative for a credit note."),
              Col("is_credit_note", BOOL, "A credit note (negative amount): it pays the contract's debts like an "
                  "undirected payment."),
          )),
    Table("dim_column", "one aging column of one debtor group", "The aging columns of `groups:` in schedules.yaml, "
          "and the events of `events:` (runs on a debt paid or a promise broken, position 0) in each group. "
          "The same column id may appear in several groups, so the key is `debtor_group/column_id`.", (
              Col("column_key", TEXT, "`debtor_group/column_id`, e.g. `default/overdue_10`.", key="PK"),
              Col("debtor_group", TEXT, "The debtor group."),
              Col("column_id", TEXT, "The column's id."),
              Col("position", INT, "1 for the group's first (lowest) column, 2 for the next, ..."),
              Col("offset_days", INT, "Days past due at which a debt enters the column (negative = before due)."),
              Col("day_count", TEXT, "`calendar` or `working`: how the column counts days past due; `event` for "
                  "an event."),
              Col("title", TEXT, "The column's title."),
              Col("scenario", TEXT, "The scenario the column runs."),
              Col("scenario_title", TEXT, "The scenario's title."),
          )),
    Table("dim_officer", "one officer", "The people the robots sign for (`officers:` in schedules.yaml).", (
        Col("officer_id", TEXT, "The officer's id in schedules.yaml.", key="PK"),
        Col("name", TEXT, "Full name."),
        Col("position", TEXT, "Position, as printed under the signature."),
        Col("level", TEXT, "The officer's own PAdES level (B-B, B-T, B-LT, B-LTA); empty = the default.",
            nullable=True),
        _fk("deputy_id", "dim_officer", "Who signs when this officer's certificate is unusable.", nullable=True),
    )),
    # -- facts of the ledger ---------------------------------------------------------------------------------
    Table("fact_debt_snapshot", "one open invoice on one day", "The open balance of every invoice on each "
          "snapshot day (`--from` .. `--as-of`, by default the as-of day alone), by the ledger's allocation rules, "
          "with its days past due and its aging column. Only invoices with an open balance above zero; credit "
          "notes never. Kopecks within `aging.tolerance` are still rows (they are still in the ledger) and are "
          "flagged.", (
              Col("snapshot_date", DATE, "The day of the snapshot.", key="PK part"),
              _date_key("date_key", "The day of the snapshot."),
              Col("invoice_id", TEXT, "The invoice.", key="PK part, dim_invoice"),
              _CONTRACT,
              _COUNTERPARTY,
              Col("debtor_group", TEXT, "The debtor's group (today's)."),
              _COLUMN_KEY,
              Col("column_id", TEXT, "The highest column whose offset is at most `days_past_due`; empty when none "
                  "is reached yet.", nullable=True),
              Col("due_date", DATE, "The invoice's due date."),
              Col("days_past_due", INT, "Days past due on the snapshot day, counted as the debtor group counts "
                  "(calendar or working days; negative = before due)."),
              Col("open_amount", MONEY, "Open balance at the end of the snapshot day."),
              Col("is_overdue", BOOL, "`days_past_due` > 0."),
              Col("within_tolerance", BOOL, "The open balance is at most `aging.tolerance`: the robots treat it as "
                  "paid (no letters)."),
          )),
    Table("fact_payments", "one payment", "The payments of the ledger dated on or before the as-of day.", (
        Col("payment_id", TEXT, "The accounting system's id.", key="PK"),
        Col("paid_on", DATE, "Payment date."),
        _date_key("date_key", "Payment date."),
        _CONTRACT,
        _COUNTERPARTY,
        _fk("invoice_id", "dim_invoice", "The invoice the payer named; empty for an undirected payment.",
            nullable=True),
        Col("amount", MONEY, "Amount paid."),
    )),
    Table("fact_penalties", "one invoice that accrued a penalty", "The contractual penalty accrued from the day "
          "after the due date through the as-of day or the day of full payment, inclusive, on invoices whose "
          "contract has a penalty rate. Paid-late invoices keep their accrued penalty (`is_open` false). The "
          "periods are in `fact_penalty_periods`.", (
              Col("as_of", DATE, "The day the penalty is computed to.", key="PK part"),
              _date_key("date_key", "The as-of day."),
              Col("invoice_id", TEXT, "The invoice.", key="PK part, dim_invoice"),
              _CONTRACT,
              _COUNTERPARTY,
              Col("due_date", DATE, "The invoice's due date."),
              Col("rate_per_day", RATE, "The contract's rate per day as a fraction (0.001 = 0.1 % a day)."),
              Col("first_day", DATE, "First day that accrued (the day after the due date)."),
              Col("last_day", DATE, "Last day that accrued: the as-of day, or the day of full payment."),
              Col("days", INT, "Days that accrued."),
              Col("periods", INT, "Periods of one base (see `fact_penalty_periods`)."),
              Col("open_amount", MONEY, "The invoice's open balance on the as-of day."),
              Col("is_open", BOOL, "The invoice is still open on the as-of day (`open_amount` > 0)."),
              Col("penalty_amount", MONEY, "Accrued penalty: the sum of its periods, each rounded to kopecks half "
                  "up."),
          )),
    Table("fact_penalty_periods", "one period of one base of one invoice's penalty", "How each penalty in "
          "`fact_penalties` was computed: a run of days with one base (the open balance at the end of the day "
          "before) and one rate. `amount = base × rate_per_day × days`, rounded to kopecks half up.", (
              Col("as_of", DATE, "The day the penalty is computed to.", key="PK part"),
              Col("invoice_id", TEXT, "The invoice.", key="PK part, dim_invoice"),
              Col("period", INT, "1, 2, ... in date order.", key="PK part"),
              _CONTRACT,
              _COUNTERPARTY,
              Col("start_date", DATE, "First day of the period."),
              Col("end_date", DATE, "Last day of the period (inclusive)."),
              Col("days", INT, "Days in the period."),
              Col("base", MONEY, "The overdue amount the penalty accrues on."),
              Col("rate_per_day", RATE, "Rate per day as a fraction."),
              Col("amount", MONEY, "Penalty of the period."),
          )),
    # -- facts of the robots ---------------------------------------------------------------------------------
    Table("fact_crossings", "one debt entering one aging column", "Each time a debt reached an aging column "
          "(recorded once per invoice, column and epoch), on evaluations dated on or before the as-of day. The "
          "columns a debt passed in a catch-up are rows of status `skipped` with the id of the crossing that passed "
          "them (the store keeps them in that crossing's row).", (
              Col("crossing_id", BIG, "The store's id of the crossing (a catch-up's skipped columns share the id of "
                  "the crossing that passed them).", key="PK part"),
              Col("as_of", DATE, "The evaluation day."),
              _date_key("date_key", "The evaluation day."),
              _INVOICE,
              _CONTRACT,
              _COUNTERPARTY,
              _COLUMN_KEY,
              Col("column_id", TEXT, "The column crossed.", key="PK part"),
              Col("column_offset", INT, "The column's offset at the time."),
              Col("epoch", TEXT, "Empty, or the due date that started a new epoch (`rearm_on_due_date_change`)."),
              Col("status", TEXT, "`run`: the column's scenario ran; `skipped`: passed during a catch-up."),
              Col("days_past_due", INT, "Days past due on the evaluation day."),
              Col("open_amount", MONEY, "Open balance on the evaluation day."),
              _fk("run_id", "fact_runs", "The scenario run (for `run` crossings).", nullable=True, type=BIG),
          )),
    Table("fact_runs", "one scenario run (one contract, column and day)", "Scenario runs decided on evaluations "
          "dated on or before the as-of day, with what the letter said (the invoices and their open amounts at "
          "decision time).", (
              Col("run_id", BIG, "The store's id.", key="PK"),
              Col("run_key", TEXT, "`contract|column|day`, unique."),
              Col("as_of", DATE, "The evaluation day that decided it."),
              _date_key("date_key", "The evaluation day."),
              _CONTRACT,
              _COUNTERPARTY,
              _COLUMN_KEY,
              Col("column_id", TEXT, "The column crossed."),
              Col("scenario", TEXT, "The scenario run."),
              Col("invoices", INT, "Invoices the run was about (for an event run: those listed when it was decided)."),
              Col("open_amount", MONEY, "Their open amounts at decision time."),
              Col("status", TEXT, "`pending`, `running`, `done` or `failed`."),
              Col("attempts", INT, "Times the run was claimed."),
              Col("created_at", TIMESTAMP, "When it was decided."),
              Col("finished_at", TIMESTAMP, "When it finished (done or failed).", nullable=True),
              Col("error", TEXT, "Why it failed, when it did.", nullable=True),
          )),
    Table("fact_steps", "one step of one run", "The steps of the runs in `fact_runs`.", (
        Col("run_id", BIG, "The run.", key="PK part, fact_runs"),
        Col("step_idx", INT, "0, 1, ... in the scenario's order.", key="PK part"),
        Col("kind", TEXT, "`render`, `sign`, `archive`, `task`, ..."),
        Col("status", TEXT, "`pending`, `running`, `done` or `failed`."),
        Col("attempts", INT, "Times it was tried."),
        Col("updated_at", TIMESTAMP, "Last change."),
        Col("error", TEXT, "The last error, if any.", nullable=True),
    )),
    Table("fact_documents", "one archived document", "Letters archived by the runs in `fact_runs`, with the "
          "signature their sign step made (empty when the scenario does not sign).", (
              Col("document_id", BIG, "The store's id.", key="PK"),
              _fk("run_id", "fact_runs", "The run that made it.", type=BIG),
              Col("step_idx", INT, "The archive step."),
              Col("as_of", DATE, "The run's day."),
              _date_key("date_key", "The run's day."),
              _CONTRACT,
              _COUNTERPARTY,
              _COLUMN_KEY,
              Col("scenario", TEXT, "The scenario."),
              Col("title", TEXT, "The document's title."),
              Col("path", TEXT, "Path in the archive, relative to its root."),
              Col("sha256", TEXT, "SHA-256 of the archived file."),
              Col("created_at", TIMESTAMP, "When it was archived."),
              _fk("officer_id", "dim_officer", "The officer who signed (a deputy, when one signed instead).",
                  nullable=True),
              _fk("on_behalf_of", "dim_officer", "The officer a deputy signed for.", nullable=True),
              Col("signer_name", TEXT, "The signer's name in the certificate.", nullable=True),
              Col("signature_level", TEXT, "PAdES level: B-B, B-T, B-LT or B-LTA.", nullable=True),
              Col("signed_at", TIMESTAMP, "Signing time.", nullable=True),
              Col("certificate_serial", TEXT, "The signing certificate's serial number.", nullable=True),
          )),
    Table("fact_tasks", "one task given to a person", "Tasks given by the runs in `fact_runs`.", (
        Col("task_id", BIG, "The store's id.", key="PK"),
        _fk("run_id", "fact_runs", "The run that gave it.", type=BIG),
        Col("step_idx", INT, "The task step."),
        _CONTRACT,
        _COUNTERPARTY,
        Col("role", TEXT, "The role in schedules.yaml (`roles:`)."),
        Col("assignee", TEXT, "The person."),
        Col("title", TEXT, "What to do."),
        Col("due_on", DATE, "When it is due."),
        _date_key("due_date_key", "When it is due."),
        Col("status", TEXT, "`open` or `done`."),
        Col("created_at", TIMESTAMP, "When it was given."),
    )),
    # -- KPIs ------------------------------------------------------------------------------------------------
    Table("fact_kpi", "one KPI on the as-of day", "The receivables KPIs (docs/kpi.md defines each).", (
        Col("as_of", DATE, "The day.", key="PK part"),
        _date_key("date_key", "The day."),
        Col("code", TEXT, "The KPI's code, e.g. `dso`.", key="PK part"),
        Col("title", TEXT, "Its name."),
        Col("value", KPI_VALUE, "Its value; empty when it cannot be computed (see `note`).", nullable=True),
        Col("unit", TEXT, "`RUB`, `share`, `times`, `days` or `count`."),
        Col("note", TEXT, "Why the value is missing, or how to read it."),
    )),
    Table("fact_step_effectiveness", "one scenario, column and window", "How much of the debt a scenario's runs "
          "were about was paid within the window after each run (docs/kpi.md).", (
              Col("as_of", DATE, "The day.", key="PK part"),
              _date_key("date_key", "The day."),
              Col("scenario", TEXT, "The scenario.", key="PK part"),
              Col("column_id", TEXT, "The column.", key="PK part"),
              Col("window_days", INT, "The window after each run.", key="PK part"),
              Col("runs", INT, "Runs whose window ended on or before the as-of day."),
              Col("debt", MONEY, "Open amounts at those runs."),
              Col("paid", MONEY, "Of which paid within the window.", nullable=True),
              Col("share", KPI_VALUE, "paid / debt.", nullable=True),
              Col("complete", BOOL, "False when some runs were left out because their window had not ended."),
          )),
)

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}

__all__ = ["BY_NAME", "DATE", "DATE_KEY", "KPI_VALUE", "MONEY", "RATE", "TABLES", "TIMESTAMP", "Col", "Table"]
