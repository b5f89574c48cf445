"""The BI facts of the robots' work, read from the store: crossings, runs, steps, documents, tasks.

The store reads them with the driver, in chunks (:mod:`robots.store.facts`), and they go straight into Arrow
columns: a first evaluation of a large ledger records millions of crossings, and SQLAlchemy's per-value type
processing (kopecks to Decimal, ISO text to date) would cost more than the query. Only what was decided on or
before the as-of day is exported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bi import arrays
from bi.schema import BY_NAME
from robots.store import Store
from robots.store.facts import DriverRows, fact_snapshot


def robot_facts(store: Store, as_of: date, group_of_contract: Mapping[str, str],
                counterparty_of_contract: Mapping[str, str]) -> dict[str, pa.Table]:
    """fact_crossings, fact_runs, fact_steps, fact_documents and fact_tasks as of ``as_of``."""
    with fact_snapshot(store, as_of) as facts:
        types = _RAW[facts.dialect]

        def read(rows: DriverRows, **kinds: str) -> dict[str, pa.Array]:
            return _arrays(rows, types, kinds)

        crossings = read(facts.crossings(), id="int", as_of="date", col_offset="int", days_past_due="int",
                         open_amount="int", run_id="int")
        runs = read(facts.runs(), id="int", as_of="date", attempts="int", created_at="timestamp",
                    finished_at="timestamp")
        own_lists = facts.event_run_invoices()
        steps = read(facts.steps(), run_id="int", idx="int", attempts="int", updated_at="timestamp")
        signs = read(facts.step_outputs("sign", _SIGNATURE), run_id="int", idx="int")
        documents = read(facts.documents(), id="int", run_id="int", step_idx="int", created_at="timestamp")
        tasks = read(facts.tasks(), id="int", run_id="int", step_idx="int", due_on="date", created_at="timestamp")

    def who(contract_ids: pa.Array) -> dict[str, pa.Array]:
        return {"contract_id": contract_ids, "counterparty_id": arrays.lookup(contract_ids, counterparty_of_contract)}

    def column_key(contract_ids: pa.Array, column_ids: pa.Array) -> pa.Array:
        # an event run's "column" names its event and instance ("promise_broken:12"): the key is the event's
        events = pc.replace_substring_regex(column_ids, pattern=":.*$", replacement="")
        return arrays.column_keys(arrays.lookup(contract_ids, group_of_contract), events)

    return {
        "fact_crossings": (fact_crossings := _crossings(crossings, who, column_key)),
        "fact_runs": _runs(runs, fact_crossings, who, column_key, own_lists),
        "fact_steps": arrays.table(BY_NAME["fact_steps"], {
            "run_id": steps["run_id"], "step_idx": steps["idx"], "kind": steps["kind"],
            "status": steps["status"], "attempts": steps["attempts"],
            "updated_at": arrays.timestamps(steps["updated_at"]), "error": steps["error"]}),
        "fact_documents": _documents(documents, signs, runs, who, column_key),
        "fact_tasks": _tasks(tasks, who),
    }


def _with_skipped(rows: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Every (invoice, column) crossed: each crossing row, and before it, with its id, a row of status
    ``skipped`` (no run) for each column it passed in a catch-up (the store keeps those in the row's ``skipped``
    list, as JSON; few distinct lists, each parsed once)."""
    skipped = rows.pop("skipped")
    if skipped.null_count == len(skipped):
        return rows
    encoded = pc.dictionary_encode(skipped)
    lists = [json.loads(v) for v in encoded.dictionary.to_pylist()]
    widest = max(len(v) for v in lists)
    ids = np.array([[c for c, _ in v] + [""] * (widest - len(v)) for v in lists], dtype=object)
    offsets = np.array([[o for _, o in v] + [0] * (widest - len(v)) for v in lists], dtype=np.int64)
    lengths = np.array([len(v) for v in lists], dtype=np.int64)
    valid = np.asarray(skipped.is_valid())
    positions = np.flatnonzero(valid)
    codes = encoded.indices.to_numpy(zero_copy_only=False)[positions].astype(np.int64)
    n = lengths[codes]
    source = np.repeat(positions, n)
    code = np.repeat(codes, n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    extra = {name: arr.take(pa.array(source)) for name, arr in rows.items()}
    extra["column_id"] = pa.array(ids[code, k], pa.string())
    extra["col_offset"] = pa.array(offsets[code, k], pa.int64())
    extra["status"] = pa.array(np.full(len(source), "skipped", dtype=object), pa.string())
    extra["run_id"] = pa.nulls(len(source), pa.int64())
    both = pa.table({name: pa.concat_arrays([extra[name], arr.cast(extra[name].type)])
                     for name, arr in rows.items()})
    # by crossing row, the columns passed (lowest first) before the one that ran
    order = pc.sort_indices(pa.table({"id": both["id"], "first": pa.concat_arrays([
        pa.array(np.zeros(len(source), dtype=np.int8)), pa.array(np.ones(len(skipped), dtype=np.int8))]),
        "offset": both["col_offset"]}), sort_keys=[("id", "ascending"), ("first", "ascending"),
                                                    ("offset", "ascending")])
    return {name: both[name].take(order).combine_chunks() for name in rows}


def _crossings(rows: dict[str, pa.Array], who, column_key) -> pa.Table:
    rows = _with_skipped(dict(rows))
    contract, column = rows["contract_id"].cast(pa.string()), rows["column_id"].cast(pa.string())
    day = arrays.dates(rows["as_of"])
    return arrays.table(BY_NAME["fact_crossings"], {
        "crossing_id": rows["id"], "as_of": day, "date_key": arrays.date_keys(day), "invoice_id": rows["invoice_id"],
        **who(contract), "column_key": column_key(contract, column), "column_id": column,
        "column_offset": rows["col_offset"], "epoch": rows["epoch"], "status": rows["status"],
        "days_past_due": rows["days_past_due"], "open_amount": arrays.money_from_kopecks(rows["open_amount"]),
        "run_id": rows["run_id"]})


def _runs(rows: dict[str, pa.Array], crossings: pa.Table, who, column_key,
          own_lists: Mapping[int, list] | None = None) -> pa.Table:
    """The runs, with what each letter listed: the invoices whose crossing ran it and their open amounts then
    (the same crossings the run's ``invoices`` were decided from); an event run's own list (``own_lists``)."""
    contract, column = rows["contract_id"].cast(pa.string()), rows["column_id"].cast(pa.string())
    day = arrays.dates(rows["as_of"])
    ran = crossings.filter(pc.equal(crossings["status"], "run")).select(["run_id", "open_amount"])
    per_run = ran.group_by("run_id").aggregate([("open_amount", "sum"), ("open_amount", "count")])
    index = pc.index_in(rows["id"].cast(pa.int64()), value_set=per_run["run_id"].combine_chunks())
    count = per_run["open_amount_count"].combine_chunks().take(index).fill_null(0)
    zero = pa.scalar(Decimal(0), per_run.schema.field("open_amount_sum").type)
    total = per_run["open_amount_sum"].combine_chunks().take(index).fill_null(zero)
    if own_lists:  # few: patch them in
        ids = rows["id"].cast(pa.int64()).to_pylist()
        counts, totals = count.to_pylist(), total.to_pylist()
        for k, run_id in enumerate(ids):
            if run_id in own_lists:
                counts[k] = len(own_lists[run_id])
                totals[k] = sum((Decimal(i["open_amount"]) for i in own_lists[run_id]), Decimal(0))
        count, total = pa.array(counts, count.type), pa.array(totals, total.type)
    return arrays.table(BY_NAME["fact_runs"], {
        "run_id": rows["id"], "run_key": rows["run_key"], "as_of": day, "date_key": arrays.date_keys(day),
        **who(contract), "column_key": column_key(contract, column), "column_id": column,
        "scenario": rows["scenario"], "invoices": count, "open_amount": total,
        "status": rows["status"], "attempts": rows["attempts"], "created_at": arrays.timestamps(rows["created_at"]),
        "finished_at": arrays.timestamps(rows["finished_at"]), "error": rows["error"]})


#: What a document's row takes from its sign step's output: (column, JSON path).
_SIGNATURE = (("sha256", ("sha256",)), ("officer_id", ("signature", "officer")),
              ("on_behalf_of", ("signature", "on_behalf_of")), ("signer_name", ("signature", "signer_name")),
              ("signature_level", ("signature", "level")), ("signed_at", ("signature", "signed_at")),
              ("certificate_serial", ("signature", "certificate_serial")))


def _documents(rows: dict[str, pa.Array], signs: dict[str, pa.Array], runs: dict[str, pa.Array], who,
               column_key) -> pa.Table:
    """Each document with the signature of its run's sign step: the one that made these bytes, else the last
    sign step before the archive step."""
    by_run: dict[int, list[tuple[int, str | None, int]]] = {}
    for row, (run_id, idx, sha, officer) in enumerate(zip(*(signs[n].to_pylist() for n in (
            "run_id", "idx", "sha256", "officer_id")))):
        if officer is not None:
            by_run.setdefault(run_id, []).append((idx, sha, row))
    run_row = {r: k for k, r in enumerate(runs["id"].to_pylist())}
    chosen: list[int | None] = []
    of_run: list[int] = []
    for run_id, step_idx, sha in zip(*(rows[n].to_pylist() for n in ("run_id", "step_idx", "sha256"))):
        of_run.append(run_row[run_id])
        earlier = [(i, s, r) for i, s, r in by_run.get(run_id, ()) if i < step_idx]
        made = [r for _, s, r in earlier if s == sha]
        chosen.append(made[-1] if made else (earlier[-1][2] if earlier else None))
    sign = pa.array(chosen, pa.int64())
    run = pa.array(of_run, pa.int64())
    contract = rows["contract_id"].cast(pa.string())
    day = arrays.dates(runs["as_of"].take(run))
    signature = {name: signs[name].cast(pa.string()).take(sign) for name, _ in _SIGNATURE if name != "sha256"}
    signature["signed_at"] = arrays.timestamps(signature["signed_at"], with_offset=True)
    return arrays.table(BY_NAME["fact_documents"], {
        "document_id": rows["id"], "run_id": rows["run_id"], "step_idx": rows["step_idx"], "as_of": day,
        "date_key": arrays.date_keys(day), **who(contract),
        "column_key": column_key(contract, runs["column_id"].cast(pa.string()).take(run)),
        "scenario": runs["scenario"].take(run), "title": rows["title"], "path": rows["path"],
        "sha256": rows["sha256"], "created_at": arrays.timestamps(rows["created_at"]), **signature})


def _tasks(rows: dict[str, pa.Array], who) -> pa.Table:
    due = arrays.dates(rows["due_on"])
    return arrays.table(BY_NAME["fact_tasks"], {
        "task_id": rows["id"], "run_id": rows["run_id"], "step_idx": rows["step_idx"],
        **who(rows["contract_id"].cast(pa.string())), "role": rows["role"], "assignee": rows["assignee"],
        "title": rows["title"], "due_on": due, "due_date_key": arrays.date_keys(due), "status": rows["status"],
        "created_at": arrays.timestamps(rows["created_at"])})


# -- reading -------------------------------------------------------------------------------------------------


#: How each driver returns a kind of column, as Arrow types (SQLite keeps dates and timestamps as text).
_RAW = {
    "sqlite": {"int": pa.int64(), "text": pa.string(), "date": pa.string(), "timestamp": pa.string()},
    "postgresql": {"int": pa.int64(), "text": pa.string(), "date": pa.date32(), "timestamp": pa.timestamp("us", "UTC")},
}


def _arrays(rows: DriverRows, types: Mapping[str, pa.DataType], kinds: Mapping[str, str]) -> dict[str, pa.Array]:
    """The query's columns as Arrow arrays (text unless ``kinds`` says otherwise); each chunk of row tuples goes to
    Arrow as one struct array (no per-column Python lists)."""
    row_type = pa.struct([(n, types[kinds.get(n, "text")]) for n in rows.names])
    chunks = [pa.array(chunk, row_type) for chunk in rows.chunks]
    whole = pa.concat_arrays(chunks) if chunks else pa.array([], row_type)
    return dict(zip(rows.names, whole.flatten()))


__all__ = ["robot_facts"]
