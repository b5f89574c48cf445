"""``send_email``: e-mail a signed document to the counterparty, exactly once, inside the sending window.

Order of work, so that a crash anywhere is safe:

1. a delivery already recorded as sent (or bounced, or failed) is never sent again;
2. recipients come from the ledger (``counterparty.email``) unless the step gives ``to:``; none is a business
   error naming the counterparty;
3. outside the sending window (``email.window``) the run waits until the next window opens;
4. the delivery is recorded as ``sending``, the letter goes out, the delivery is recorded as ``sent``. A crash in
   between leaves ``sending``: the step sends again with the same Message-ID and logs a warning;
5. a delivery receipt (JSON) is stored in the contract's bag next to the archived document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import model_validator

from archive import ArchiveConflict
from robots.core.errors import BusinessError
from robots.mail.message import Attachment, build_message, message_id, split_addresses
from robots.mail.smtp import SYSTEM as SMTP
from robots.mail.smtp import Mailer, PermanentMailError, TransientMailError, open_until
from robots.mail.window import next_window_start
from robots.steps.base import CheckContext, Step, StepConfig, Wait, register
from robots.steps.context import StepContext
from robots.steps.render import read_document
from robots.steps.texts import render_text, text_problem
from robots.store import deliveries as db
from robots.store.archive_index import advance_bag_head
from robots.store.types import utc

log = structlog.get_logger("arbots.mail")

#: Subjects, bodies and ``to:`` entries are ops-edited templates: sandboxed, and a missing variable is an error.


class SendEmailConfig(StepConfig):
    sends_letter = True
    kind: str = "send_email"
    #: The id of an earlier render step; its signed PDF when a sign step signed it.
    document: str
    #: Templates, e.g. "Досудебное требование по договору {{ contract.number }}".
    subject: str
    #: The letter's text as a template, or ``body_template``: a file in the templates folder.
    body: str | None = None
    body_template: str | None = None
    #: Addresses (templates) instead of the ledger's counterparty e-mail; each may list several with , or ;.
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    #: Document ids to attach (default: the document).
    attach: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_body(self):
        if (self.body is None) == (self.body_template is None):
            raise ValueError("give exactly one of body (the text) or body_template (a file in the templates folder)")
        return self

    @property
    def attachments(self) -> tuple[str, ...]:
        return self.attach if self.attach is not None else (self.document,)

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        problems: list[tuple[tuple[str, ...], str]] = []
        renders = [s.id for s in earlier if s.kind == "render" and s.id]
        if self.document not in renders:
            problems.append((("document",), f"no earlier render step has id {self.document!r} (earlier render "
                                            f"steps: {', '.join(renders) or 'none'}); a letter can only attach a "
                                            "document made before it"))
        for i, doc in enumerate(self.attach or ()):
            if doc not in renders:
                problems.append((("attach", str(i)), f"no earlier render step has id {doc!r}"))
        fields = [("subject",), *((("body",),) if self.body is not None else ())]
        fields += [(name, str(i)) for name in ("to", "cc", "bcc") for i, _v in enumerate(getattr(self, name))]
        for path in fields:
            text = getattr(self, path[0]) if len(path) == 1 else getattr(self, path[0])[int(path[1])]
            if (problem := text_problem(text)) is not None:
                problems.append((path, problem))
        if self.body_template is not None:
            if not (ctx.templates_dir / self.body_template).is_file():
                problems.append((("body_template",), f"template {self.body_template!r} not found in "
                                                     f"{ctx.templates_dir}"))
            else:
                try:
                    _files(ctx.templates_dir).get_template(self.body_template)
                except TemplateError as exc:
                    problems.append((("body_template",), f"not a valid template: {exc}"))
        if ctx.settings is not None and ctx.settings.email is None:
            problems.append(((), "a send_email step needs the email: section in schedules.yaml (the SMTP server, "
                                 "the sender and the sending window); see docs/email.md"))
        return problems


def _files(folder: Path) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(loader=FileSystemLoader(folder), undefined=StrictUndefined,
                                         autoescape=False, keep_trailing_newline=True)


@register
class SendEmailStep(Step):
    kind = "send_email"
    config = SendEmailConfig

    @staticmethod
    def _look_again(ctx: StepContext) -> None:
        """A scenario that reconciled before its letter reconciles again when the letter waited since (the sending
        window, an approval): a customer who paid meanwhile never gets it (Stop: the archived copy stays, unsent)."""
        checks = [o for o in ctx.outputs.values() if o.get("kind") == "reconciliation"]
        if checks and all(o.get("checked_at") != ctx.now.isoformat() for o in checks):
            from robots.steps.reconcile import reconcile_now

            reconcile_now(ctx)

    def run(self, cfg: SendEmailConfig, ctx: StepContext) -> dict[str, Any]:
        services, run, idx = ctx.services, ctx.run, ctx.step_idx
        settings = services.config.settings
        email = settings.email
        if email is None:
            raise BusinessError("send_email needs the email: section in schedules.yaml")
        store = services.store
        bound = log.bind(run_id=run.id, step=idx, contract_id=ctx.contract.id)
        done = db.delivery(store, run.id, idx)
        if done is not None and done.sent_at is not None:  # sent (perhaps bounced since): never again
            return self._output(done, self._receipt(cfg, ctx, done))
        if done is not None and done.status != db.DeliveryStatus.SENDING:
            raise BusinessError(f"the letter {done.message_id} was refused for good ({done.status}): {done.error}")

        names = ctx.template_context()
        subject = " ".join(self._render(cfg.subject, names, "subject").split())
        body = (self._render(cfg.body, names, "body") if cfg.body is not None
                else self._render_file(cfg.body_template or "", names, services.config.templates_dir))
        to = self._addresses(cfg.to, names, "to") if cfg.to else self._ledger_addresses(ctx)
        cc, bcc = self._addresses(cfg.cc, names, "cc"), self._addresses(cfg.bcc, names, "bcc")

        opens = None if email.window is None else next_window_start(ctx.now, email.window,
                                                                      services.calendar.is_working)
        if opens is not None:
            raise Wait(f"outside the sending window ({email.window.start:%H:%M}-{email.window.end:%H:%M} "
                       f"{email.window.timezone}{', working days' if email.window.working_days_only else ''})",
                       until=opens)

        if done is None:
            self._look_again(ctx)

        msg_id = message_id(run.run_key, idx, email.sender_domain)
        headers = [("X-Arbots-Run", run.run_key)]
        envelope = [*to, *cc, *bcc]
        header_to, header_cc = to, cc
        if email.redirect_to:
            headers.append(("X-Arbots-Original-To", ", ".join(envelope)))
            envelope, header_to, header_cc = [email.redirect_to], [email.redirect_to], []
        attachments = [self._attachment(ctx, doc) for doc in cfg.attachments]
        msg = build_message(sender=email.sender, to=header_to, cc=header_cc, reply_to=email.reply_to,
                            subject=subject, body=body, msg_id=msg_id, date_=ctx.now, attachments=attachments,
                            headers=headers)
        recipients = {"to": to, "cc": cc, "bcc": bcc, "envelope": envelope}
        breakers, clock = getattr(services, "breakers", None), getattr(services, "clock", None)
        breaker = breakers(SMTP) if breakers is not None else None
        if clock is not None and (until := open_until(breaker, clock.now())) is not None:
            assert breaker is not None
            # The SMTP server is down (its breaker is open): wait for the probe, recording no attempt.
            raise TransientMailError(f"the SMTP server is down: {breaker.last_error}", retry_at=until, outage=False,
                                     before_data=True)
        ctx.ensure_lease("sending the letter")
        before = db.begin_delivery(store, run.id, idx, msg_id, recipients, subject, ctx.now)
        if before == db.DeliveryStatus.SENDING:
            bound.warning("email_resent", message_id=msg_id,
                          reason="an earlier attempt did not record its outcome (a crash or a lost connection); "
                                 "sending again with the same Message-ID")
        try:
            result = Mailer(email, services.config.base_dir, breaker=breaker).send(msg, envelope)
        except PermanentMailError as exc:
            db.mark_failed(store, run.id, idx, str(exc), ctx.now, bounced=exc.bounced)
            raise
        except TransientMailError as exc:
            if exc.before_data:  # the letter never reached the server: this attempt does not count
                db.undo_attempt(store, run.id, idx)
            else:
                db.note_attempt_error(store, run.id, idx, str(exc))
            raise
        except BusinessError as exc:  # the SMTP password cannot be read
            db.mark_failed(store, run.id, idx, str(exc), ctx.now, bounced=False)
            raise
        db.mark_sent(store, run.id, idx, result.response, result.refused, ctx.now)
        bound.info("email_sent", message_id=msg_id, recipients=len(envelope), redirected=bool(email.redirect_to))
        sent = db.delivery(store, run.id, idx)
        return self._output(sent, self._receipt(cfg, ctx, sent))

    # -- parts ------------------------------------------------------------------------------------------------

    @staticmethod
    def _render(text: str, names: dict[str, Any], what: str) -> str:
        return render_text(text, names, f"send_email {what}")

    @staticmethod
    def _render_file(name: str, names: dict[str, Any], folder: Path) -> str:
        try:
            return _files(folder).get_template(name).render(names)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            raise BusinessError(f"{name}{f':{line}' if line else ''}: {exc}") from exc

    def _addresses(self, entries: Sequence[str], names: dict[str, Any], what: str) -> list[str]:
        out: list[str] = []
        for i, entry in enumerate(entries):
            text = self._render(entry, names, f"{what}[{i}]")
            try:
                out += split_addresses(text)
            except ValueError as exc:
                raise BusinessError(f"send_email {what}[{i}]: {exc}") from None
        return list(dict.fromkeys(out))

    @staticmethod
    def _ledger_addresses(ctx: StepContext) -> list[str]:
        cp = ctx.counterparty
        who = f"counterparty {cp.name} (id {cp.id}, INN {cp.inn or '-'})"
        fix = ("add it to the counterparty's card in the accounting system (the ledger's counterparties.email; "
               "several addresses separated by , or ;), or give `to:` in the scenario's send_email step")
        try:
            found = split_addresses(cp.email)
        except ValueError as exc:
            raise BusinessError(f"{who}: bad e-mail address in the ledger: {exc}; {fix}") from None
        if not found:
            raise BusinessError(f"{who} has no e-mail address in the ledger; {fix}")
        return list(dict.fromkeys(found))

    @staticmethod
    def _attachment(ctx: StepContext, doc_id: str) -> Attachment:
        doc = ctx.outputs.get(doc_id)
        if doc is None or doc.get("kind") != "document":
            raise BusinessError(f"send_email: document {doc_id!r} was not made by an earlier step of this run "
                                "(was its render step skipped by when:?)")
        pdf = read_document(doc, "send")
        return Attachment(f"{doc['title']} № {doc['number']}.pdf".replace("/", "-"), pdf)

    def _receipt(self, cfg: SendEmailConfig, ctx: StepContext, sent: Any) -> str | None:
        """Store the delivery receipt next to the archived document; its archive path, or None when the
        document was not archived by an earlier step of this run."""
        archived = _archived(ctx, cfg.document)
        if archived is None:
            return None
        from archive.ops import bag_of

        bag, rel = bag_of(archived["path"])
        archive = ctx.services.archive
        receipt = {
            "message_id": sent.message_id, "subject": sent.subject, "recipients": sent.recipients,
            "sent_at": utc(sent.sent_at).isoformat() if sent.sent_at else None, "smtp_response": sent.response,
            "refused": sent.error, "document": rel.removeprefix("data/"), "document_sha256": archived["sha256"],
            "attachments": list(cfg.attachments), "run_id": ctx.run.id, "run_key": ctx.run.run_key,
            "step": ctx.step_idx, "attempts": sent.attempts,
        }
        if sent.attempts > 1:  # the receiver may hold an earlier copy under the same Message-ID and drops this one
            receipt["resent"] = (f"sent {sent.attempts} times under the same Message-ID: an earlier attempt did not "
                                 "record its outcome (its process died, or the connection broke)")
        content = json.dumps(receipt, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
        ctx.ensure_lease("the delivery receipt")
        try:
            put = archive.put_receipt(archive.root / bag, rel.removeprefix("data/"), content, now=ctx.now,
                                      run_id=ctx.run.id)
        except ArchiveConflict as exc:
            raise BusinessError(str(exc)) from exc
        advance_bag_head(ctx.services.store, bag, put.seq, put.head, ctx.now)
        return f"{bag}/{put.files[0].path}"

    @staticmethod
    def _output(row: Any, receipt: str | None) -> dict[str, Any]:
        return {"kind": "email", "message_id": row.message_id, "status": row.status, "recipients": row.recipients,
                "subject": row.subject, "receipt": receipt, "attempts": row.attempts}


def _archived(ctx: StepContext, document: str) -> dict[str, Any] | None:
    """The output of the last earlier archive step of ``document`` in this run, if one ran."""
    steps = ctx.services.config.scenarios[ctx.run.scenario].steps
    for i in range(ctx.step_idx - 1, -1, -1):
        step = steps[i]
        if step.kind == "archive" and getattr(step, "document", None) == document:
            out = ctx.outputs.get(step.id or f"step{i}")
            if out is not None and out.get("kind") == "archived":
                return out
    return None
