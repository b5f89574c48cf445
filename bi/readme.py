"""The README of a BI export (and docs/bi.md): how the star schema is laid out, and every table and column.

The table sections are rendered from :mod:`bi.schema`, so they always match the files. docs/bi.md is this
text without the export's own header; regenerate it with ``python -m bi.readme > docs/bi.md``.
"""

from __future__ import annotations

from bi.schema import TABLES, Table
from bi.writer import ExportResult

_INTRO = """\
# BI export: the receivables star schema

`run_robots.py export bi --out DIR [--as-of D] [--from D]` writes the receivables ledger and the robots' work
as a star schema: dimensions (`dim_*`) and facts (`fact_*`), each table twice, with the same rows:

```
DIR/
  README.md               this file
  manifest.json           as-of day, first snapshot day, rows per table
  csv/<table>.csv         UTF-8 with BOM, comma-separated, header row
  parquet/<table>.parquet typed columns (Snappy)
```

The folder is written whole or not at all: the export is built in a hidden sibling folder and swapped in only
when complete, so a reader (or a scheduled refresh) never sees half an export, and a failed export leaves the
previous one in place. A folder that is not empty and holds no previous export is never overwritten.

## Formats

| type in this README | CSV | Parquet | DuckDB reads the CSV as |
| --- | --- | --- | --- |
| text | quoted when needed | string | VARCHAR |
| int, bigint | digits | int32, int64 | BIGINT |
| int (YYYYMMDD) | `20260312` | int32 | BIGINT |
| decimal(18,2) | `12345.60` (dot, always two decimals) | decimal128(18,2) | DOUBLE (Parquet: DECIMAL(18,2)) |
| decimal(20,12), decimal(24,4) | `0.001000000000`, `12.3400` | decimal128 | DOUBLE (Parquet: DECIMAL) |
| date | `2026-03-12` | date32 | DATE |
| timestamp (UTC) | `2026-03-12 08:00:00.000000Z` | timestamp[us, UTC] | TIMESTAMP WITH TIME ZONE |
| boolean | `true` / `false` | bool | BOOLEAN |

An empty CSV field is a missing value (NULL). Money is exact in Parquet (decimal); from CSV, ask for
`DECIMAL(18,2)` where sums must reconcile to the kopeck (see DuckDB below), or let Power BI use *Fixed decimal
number*. All amounts are in the contract's currency (`dim_contract.currency`).

## The star

```
                         dim_date (date_key)
                               |
dim_counterparty --- dim_contract --- dim_invoice --- fact_debt_snapshot, fact_penalties,
 (counterparty_id)   (contract_id)    (invoice_id)    fact_penalty_periods, fact_crossings
        |                                             fact_payments (invoice_id when named)
        +-- every fact also carries counterparty_id and contract_id, so it joins to them directly
dim_column (column_key = debtor_group/column_id) --- fact_debt_snapshot, fact_crossings, fact_runs, fact_documents
fact_runs (run_id) --- fact_crossings, fact_steps, fact_documents, fact_tasks
dim_officer (officer_id) --- fact_documents
```

Every `*date_key` column joins `dim_date.date_key`; every `*_id` column named like a dimension's key joins that
dimension. Keys are text (the accounting system's ids) except the store's numeric ids (`run_id`,
`crossing_id`, `document_id`, `task_id`) and the date keys. Facts carry the counterparty and the contract even
where the invoice would give them, so a BI tool needs no snowflake joins.

## Days, history and "as of"

* **`fact_debt_snapshot`** holds one row per open invoice per snapshot day. By default the export has one day,
  the as-of day; `--from D` asks for every day from `D` to the as-of day. A daily export (e.g. each night into
  `exports/2026-03-12/`) builds up a history: load `exports/*/parquet/fact_debt_snapshot.parquet` together.
  Snapshots differ in one respect: a nightly export shows the ledger as it was known that night, while `--from`
  recomputes past days from today's ledger (a payment posted late moves into the past days it is dated on).
* Open balances follow the ledger's rules (payments naming an invoice go to it; other payments and credit notes
  pay the contract's debts oldest due first; overpayment stays as contract credit), on each day with only the
  invoices and payments dated up to that day. The open total of a snapshot day equals the robots' own open total
  for that day, to the kopeck.
* Days past due and aging columns are the robots': the debtor group counts calendar or working days (the Russian
  production calendar), and the column is the highest one whose offset is at most the days past due.
* The other facts hold their whole history up to the as-of day: payments dated up to it, and the crossings,
  runs, steps, documents and tasks of evaluations dated up to it.
* Penalties are computed as of the as-of day, per invoice whose contract has a rate: every day from the day after
  the due date through the as-of day or the day of full payment (inclusive) accrues `base × rate`, where the base
  is the open balance at the end of the day before; periods are rounded to kopecks half up. Statutory interest
  (ГК РФ ст. 395) and caps are not computed yet.
* Promises to pay, disputes and the contacts journal (docs/people.md) are not exported as tables yet; the open
  promises appear in the report's cash plan, by their promised date.

## Loading

### DuckDB

```sql
-- Parquet: types come with the files
CREATE VIEW snapshot AS SELECT * FROM read_parquet('DIR/parquet/fact_debt_snapshot.parquet');
CREATE VIEW counterparty AS SELECT * FROM read_parquet('DIR/parquet/dim_counterparty.parquet');
CREATE VIEW col AS SELECT * FROM read_parquet('DIR/parquet/dim_column.parquet');
SELECT c.name, k.title, sum(s.open_amount) AS open
FROM snapshot s
JOIN counterparty c USING (counterparty_id)
LEFT JOIN col k USING (column_key)
GROUP BY ALL ORDER BY open DESC;

-- CSV: read_csv_auto works as is; give money columns DECIMAL for exact sums
SELECT sum(open_amount) FROM read_csv('DIR/csv/fact_debt_snapshot.csv', types = {'open_amount': 'DECIMAL(18,2)'});

-- a history of nightly exports
SELECT snapshot_date, sum(open_amount) FROM read_parquet('exports/*/parquet/fact_debt_snapshot.parquet')
GROUP BY ALL ORDER BY 1;
```

### Power BI

*Get Data → Parquet* (or *Folder* for a history of exports) for each table in `parquet/`; or *Text/CSV* for
`csv/` (File origin 65001: Unicode (UTF-8), delimiter comma; set money columns to *Fixed decimal number*). Then in
the model view relate each fact to the dimensions on the key columns named above (many-to-one, single
direction), and mark `dim_date` as the date table on `date`. Tables with several dates (e.g. `dim_invoice`'s
issue and due dates) have one key per role: make one relationship active and the others inactive, or load
`dim_date` once per role.

### Metabase

Metabase reads databases, not files. Either load the Parquet files into a database it is connected to (e.g.
DuckDB: `CREATE TABLE fact_debt_snapshot AS SELECT * FROM read_parquet(...)`, with the DuckDB driver; or
PostgreSQL: `\\copy fact_debt_snapshot FROM 'DIR/csv/fact_debt_snapshot.csv' CSV HEADER` after creating the table
with the types below), or upload the CSV files (Admin → Uploads). Then declare the keys in *Table Metadata*
(Entity key for the `PK` columns, Foreign key for the others) so questions can join them.

## Tables
"""


def _table_section(t: Table) -> str:
    lines = [f"### {t.name}", "", f"**One row:** {t.grain}. {t.doc}", "",
             "| column | type | key | description |", "| --- | --- | --- | --- |"]
    for c in t.columns:
        doc = c.doc + (" May be empty." if c.nullable and "empty" not in c.doc else "")
        lines.append(f"| `{c.name}` | {c.type_name} | {c.key_text} | {doc} |")
    return "\n".join(lines) + "\n"


def render_readme(result: ExportResult | None = None) -> str:
    """The README; with ``result``, headed by what this export holds."""
    parts = []
    if result is not None:
        span = (result.as_of.isoformat() if result.date_from == result.as_of
                else f"{result.date_from.isoformat()} .. {result.as_of.isoformat()}")
        rows = "\n".join(f"| {name} | {n:,} |" for name, n in result.rows.items())
        parts.append(f"# This export\n\nAs of **{result.as_of.isoformat()}**; debt snapshot days: {span}.\n\n"
                     f"| table | rows |\n| --- | ---: |\n{rows}\n\n")
    parts.append(_INTRO)
    parts.extend("\n" + _table_section(t) for t in TABLES)
    return "".join(parts)


if __name__ == "__main__":
    print(render_readme(), end="")
