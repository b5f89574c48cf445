"""``archive``: put a document and its JSON sidecar into its contract's bag ``<archive>/<counterparty>/<contract>/``.

The file name and the sidecar depend only on the run, never on the wall clock, so a step re-executed after a crash
finds its own file in place and records the document once (documents are unique per run and step).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from archive import ArchiveConflict, NewFile, safe_name
from robots.core.errors import BusinessError
from robots.core.penalties import ContractualRate, accrue, contract_timelines
from robots.steps.base import CheckContext, Step, StepConfig, register
from robots.steps.context import StepContext
from robots.steps.render import read_document
from robots.store.archive_index import record_archived


class ArchiveConfig(StepConfig):
    sends_letter = True
    kind: str = "archive"
    #: The id of an earlier ``render`` step whose document is archived.
    document: str

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        renders = [s.id for s in earlier if s.kind == "render" and s.id]
        if self.document not in renders:
            return [(("document",), f"no earlier render step has id {self.document!r} "
                                    f"(earlier render steps: {', '.join(renders) or 'none'})")]
        return []


@register
class ArchiveStep(Step):
    kind = "archive"
    config = ArchiveConfig

    def run(self, cfg: ArchiveConfig, ctx: StepContext) -> dict[str, Any]:
        doc = ctx.outputs[cfg.document]
        pdf = read_document(doc, "archive")
        cp, ct, run = ctx.counterparty, ctx.contract, ctx.run
        archive = ctx.services.archive
        folder = archive.folder(cp.name, cp.inn or cp.id, ct.number)
        filename = safe_name(f"{run.as_of.isoformat()} {doc['number']} {doc['title']}") + ".pdf"
        signature = doc.get("signature")
        sidecar = {
            "file": filename, "sha256": hashlib.sha256(pdf).hexdigest(), "bytes": len(pdf),
            "type": doc["title"], "number": doc["number"], "date": run.as_of.isoformat(),
            "scenario": run.scenario, "column": run.column_id, "template": doc["template"],
            "step": {"index": ctx.step_idx, "document_step": cfg.document},
            "run_id": run.id, "run_key": run.run_key, "created_at": ctx.now.isoformat(),
            "counterparty": {"id": cp.id, "name": cp.name, "inn": cp.inn},
            "contract": {"id": ct.id, "number": ct.number, "currency": ct.currency,
                         "penalty_rate_per_day": None if ct.penalty_rate_per_day is None
                         else str(ct.penalty_rate_per_day)},
            "invoices": [{"id": i.invoice.id, "number": i.invoice.number, "due_date": i.invoice.due_date.isoformat(),
                          "amount": str(i.invoice.amount), "open_amount": str(i.open_amount),
                          "days_past_due": i.days_past_due} for i in ctx.invoices],
            "total_open": str(ctx.total_open),
            "penalties": doc.get("penalties") or penalties_of(ctx),
            "officer": signature["officer"] if signature else None,
            "signature": signature,
            "delivery": None,
        }
        meta = json.dumps(sidecar, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
        info = {"External-Identifier": ct.id,
                "External-Description": f"{cp.name}, ИНН {cp.inn or '-'}, договор {ct.number}",
                "Contact-Email": ctx.services.config.settings.company.email}
        try:
            # The sidecar is written once, with its document: a step re-executed after a crash keeps the first one.
            ctx.ensure_lease("the archive write")
            put = archive.put(folder, [NewFile(filename, pdf), NewFile(f"{filename}.json", meta, keep_existing=True)],
                              now=ctx.now, run_id=run.id, info=info)
        except ArchiveConflict as exc:
            raise BusinessError(str(exc)) from exc
        stored = put.files[0]
        rel_folder = archive.relative(folder)
        path = f"{rel_folder}/{stored.path}"
        record_archived(
            ctx.services.store,
            document={"run_id": run.id, "step_idx": ctx.step_idx, "contract_id": ct.id, "title": doc["title"],
                      "path": path, "sha256": stored.sha256, "created_at": ctx.now},
            bag={"path": rel_folder, "contract_id": ct.id, "contract_number": ct.number, "counterparty_id": cp.id,
                 "counterparty_name": cp.name, "counterparty_inn": cp.inn, "seq": put.seq, "head": put.head,
                 "updated_at": ctx.now})
        return {"kind": "archived", "path": path, "sha256": stored.sha256, "bag": rel_folder, "journal_seq": put.seq}


def penalties_of(ctx: StepContext) -> dict[str, Any] | None:
    """The penalty the letter states: the run's compute_penalty output when it has one (the annex's figures, with
    the cap, the due-date shift and statutory interest), else the contractual penalty computed here."""
    step = next((o for o in ctx.outputs.values() if o.get("kind") == "penalty"), None)
    if step is None:
        return contractual_penalties(ctx)
    if step["basis"] == "none":
        return None
    contractual = step["basis"] == "contractual"
    rate_key = "rate_per_day" if contractual else "rate_per_year"

    def period(p: dict[str, Any]) -> dict[str, Any]:
        row = {"start": p["start"], "end": p["end"], "base": p["base"], "days": p["days"], rate_key: p["rate"],
               "amount": p["amount"]}
        if not contractual:
            row["year_days"] = p["year_days"]
        if p.get("capped"):
            row["capped"] = True
        return row

    rows = [{"id": i["id"], "number": i["number"], "due_date": i["due_date"], "amount": i["total"],
             "days": sum(p["days"] for p in i["periods"]), "periods": [period(p) for p in i["periods"]]}
            for i in step["invoices"]]
    rate = ctx.contract.penalty_rate_per_day
    out = {"method": step["basis"], "rate_per_day": str(rate) if contractual and rate else None,
           "through": step["through"], "total": step["total"], "invoices": rows}
    if step.get("capped"):
        out["capped"] = True
    return out


def contractual_penalties(ctx: StepContext) -> dict[str, Any] | None:
    """The contractual penalty accrued on each invoice of the letter up to the run's day, period by period
    (robots/penalties.py), from the ledger as it stood on that day; None when the contract sets no rate."""
    rate = ctx.contract.penalty_rate_per_day
    if not rate:
        return None
    through = ctx.run.as_of
    invoices, payments = ctx.services.store.contract_entries(ctx.contract.id, through)
    timelines = contract_timelines(invoices, payments)
    schedule = ContractualRate(rate)
    rows, total = [], Decimal("0.00")
    for item in ctx.invoices:
        inv = item.invoice
        accrual = accrue(timelines.get(inv.id, ()), inv.due_date, through, schedule)
        total += accrual.total
        rows.append({"id": inv.id, "number": inv.number, "due_date": inv.due_date.isoformat(),
                     "amount": str(accrual.total), "days": accrual.days,
                     "periods": [{"start": x.start.isoformat(), "end": x.end.isoformat(), "base": str(x.base),
                                  "days": x.days, "rate_per_day": str(x.rate), "amount": str(x.amount)}
                                 for x in accrual.periods]})
    return {"method": "contractual", "rate_per_day": str(rate), "through": through.isoformat(),
            "total": str(total), "invoices": rows}
