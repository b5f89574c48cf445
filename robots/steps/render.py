"""``render``: a Jinja2 template into a PDF letter in the run's work folder.

The same run renders byte-identical PDFs (the letter's data is fixed when the run is decided, and the PDF
writer is deterministic), so re-rendering after a crash reproduces the document instead of making a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robots.core.errors import BusinessError
from robots.documents.pdf import render_letter
from robots.documents.templates import TemplateRenderError
from robots.steps.base import CheckContext, Step, StepConfig, register
from robots.steps.context import StepContext
from robots.support.durable import write_atomic


class RenderConfig(StepConfig):
    sends_letter = True
    kind: str = "render"
    #: A file in the templates folder (paths.templates).
    template: str
    #: The document's title: PDF title, archive sidecar type ("Претензия", "Напоминание об оплате").
    title: str

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        if not (ctx.templates_dir / self.template).is_file():
            return [(("template",), f"template {self.template!r} not found in {ctx.templates_dir}")]
        return []


@register
class RenderStep(Step):
    kind = "render"
    config = RenderConfig

    def run(self, cfg: RenderConfig, ctx: StepContext) -> dict[str, Any]:
        nth = 1 + len({o["number"] for o in ctx.outputs.values() if o.get("kind") == "document"})
        number = ctx.document_number(nth)
        context = {**ctx.template_context(), "document": {"number": number, "date": ctx.run.as_of}}
        signer = None
        officer_id = signer_for(ctx, cfg.id) if cfg.id else None
        if officer_id is not None:
            # The letter names who signs it; the sign step checks that the same person still can.
            choice = ctx.services.signing.choose(officer_id, ctx.now)
            signer = {"officer": choice.officer_id, "name": choice.officer.name, "position": choice.officer.position,
                      "on_behalf_of": choice.on_behalf_of}
            context["signer"] = signer
        try:
            markup = ctx.services.renderer.render(cfg.template, context)
        except TemplateRenderError as exc:
            raise BusinessError(str(exc)) from exc
        rendered = render_letter(markup, title=f"{cfg.title} № {number}",
                                 author=ctx.services.config.settings.company.name, stamp_room=signer is not None)
        pdf = rendered.data
        path = ctx.services.config.work_dir / f"run-{ctx.run.id:06d}" / f"{ctx.step_idx:02d}-{cfg.id or 'document'}.pdf"
        write_atomic(path, pdf)
        out: dict[str, Any] = {"kind": "document", "path": str(path), "sha256": hashlib.sha256(pdf).hexdigest(),
                               "title": cfg.title, "number": number, "template": cfg.template}
        if signer is not None:
            out["signer"] = signer
            if rendered.stamp_box is not None:
                out["stamp"] = {"page": rendered.stamp_page, "box": list(rendered.stamp_box)}
        return out


def signer_for(ctx: StepContext, document_id: str) -> str | None:
    """The officer named by the scenario's sign step for ``document_id``, if it has one."""
    for step in ctx.services.config.scenarios[ctx.run.scenario].steps:
        if step.signed_document() == document_id:
            return step.signer()
    return None


def read_document(doc: dict[str, Any], action: str) -> bytes:
    """The bytes of an earlier step's document, refused if they are not the bytes that step recorded."""
    pdf = Path(doc["path"]).read_bytes()
    if hashlib.sha256(pdf).hexdigest() != doc["sha256"]:
        raise BusinessError(f"document {doc['path']} changed after it was made; refusing to {action} it")
    return pdf
