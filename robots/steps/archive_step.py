"""``archive``: put a rendered document into ``<archive>/<counterparty>/<contract>/`` with a JSON sidecar.

The file name and the sidecar depend only on the run, never on the wall clock, so a step re-executed after a crash
finds its own file in place and records the document once (documents are unique per run and step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archive import ArchiveConflict, contract_folder, put_document, safe_name
from robots.errors import BusinessError
from robots.steps.base import CheckContext, Step, StepConfig, register
from robots.steps.context import StepContext
from robots.steps.render import read_document


class ArchiveConfig(StepConfig):
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
        folder = contract_folder(ctx.services.config.archive_dir, cp.name, cp.inn or cp.id, ct.number)
        filename = safe_name(f"{run.as_of.isoformat()} {doc['number']} {doc['title']}") + ".pdf"
        sidecar = {
            "type": doc["title"], "number": doc["number"], "date": run.as_of.isoformat(),
            "scenario": run.scenario, "column": run.column_id, "template": doc["template"],
            "run_id": run.id, "run_key": run.run_key,
            "counterparty": {"id": cp.id, "name": cp.name, "inn": cp.inn},
            "contract": {"id": ct.id, "number": ct.number, "currency": ct.currency},
            "invoices": [{"id": i.invoice.id, "number": i.invoice.number, "due_date": i.invoice.due_date.isoformat(),
                          "amount": str(i.invoice.amount), "open_amount": str(i.open_amount),
                          "days_past_due": i.days_past_due} for i in ctx.invoices],
            "total_open": str(ctx.total_open),
            "signature": doc.get("signature"),
            "delivery": None,
        }
        try:
            path, digest = put_document(folder, filename, pdf, sidecar)
        except ArchiveConflict as exc:
            raise BusinessError(str(exc)) from exc
        rel = path.relative_to(ctx.services.config.archive_dir).as_posix()
        ctx.services.store.add_document(run.id, ctx.step_idx, ct.id, doc["title"], rel, digest, ctx.now)
        return {"kind": "archived", "path": rel, "sha256": digest}
