"""``sign``: sign a rendered document in PAdES with the responsible officer's certificate.

The signer is chosen when the letter is rendered (the letter names them) and checked again right before the
signature: a certificate that became unusable in between fails the step instead of signing. Any failure to sign
is a business error: the run stops and no later step (archive, send) ever handles the unsigned document.
Timestamp authority or network trouble is an application error and is retried.

Re-executed after a crash, the step signs again (a signature embeds its time, so the bytes differ); nothing was
archived or sent from the first attempt, because those steps come after this one and had not run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robots.core.domain import PadesLevel
from robots.core.errors import BusinessError
from robots.steps.base import CheckContext, Step, StepConfig, register
from robots.steps.context import StepContext
from robots.steps.render import read_document
from robots.support.durable import write_atomic


class SignConfig(StepConfig):
    kind: str = "sign"
    #: The id of an earlier ``render`` step whose document is signed.
    document: str
    #: An officer id from schedules.yaml (officers:).
    officer: str
    #: Overrides the officer's and the default level.
    level: PadesLevel | None = None
    #: The signature's reason (PDF /Reason); default: the document's title.
    reason: str | None = None

    sends_letter = True
    handles_unsigned = True

    def signed_document(self) -> str | None:
        return self.document

    def signer(self) -> str | None:
        return self.officer

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        problems: list[tuple[tuple[str, ...], str]] = []
        renders = [s.id for s in earlier if s.kind == "render" and s.id]
        if self.document not in renders:
            problems.append((("document",), f"no earlier render step has id {self.document!r} "
                                            f"(earlier render steps: {', '.join(renders) or 'none'})"))
        if self.officer not in ctx.officers:
            problems.append((("officer",), f"no officer {self.officer!r} in schedules.yaml officers "
                                           f"({', '.join(sorted(ctx.officers)) or 'none configured'})"))
        if self.level not in (None, PadesLevel.B_B) and not ctx.timestamp_authority:
            problems.append((("level",), f"level {self.level.value} needs a timestamp authority: configure "
                                         "signing.timestamp.url in schedules.yaml, or use level B-B"))
        if any(s.signed_document() == self.document for s in earlier):
            problems.append((("document",), f"document {self.document!r} is already signed by an earlier step"))
        return problems


@register
class SignStep(Step):
    kind = "sign"
    config = SignConfig

    def run(self, cfg: SignConfig, ctx: StepContext) -> dict[str, Any]:
        doc = ctx.outputs[cfg.document]
        path = Path(doc["path"])
        pdf = read_document(doc, "sign")
        signing = ctx.services.signing
        choice = signing.choose(cfg.officer, ctx.now)
        named = doc.get("signer", {}).get("officer")
        if named is not None and named != choice.officer_id:
            raise BusinessError(f"the letter names {named} as its signer, but {choice.officer_id} would sign it now "
                                "(a certificate changed between rendering and signing); re-run the scenario")
        level = signing.level_for(choice.officer_id, cfg.level)
        stamp = doc.get("stamp") or {}
        ctx.ensure_lease("signing")
        signed, record = signing.sign(
            pdf, choice, at=ctx.now, level=level, reason=cfg.reason or doc["title"],
            stamp_page=stamp.get("page"), stamp_box=tuple(stamp["box"]) if stamp.get("box") else None)
        out = path.with_name(path.stem + ".signed.pdf")
        write_atomic(out, signed)
        return {**doc, "path": str(out), "sha256": hashlib.sha256(signed).hexdigest(), "replaces": cfg.document,
                "signature": record.as_json()}
