"""``lawsuit_pack``: the documents legal needs to file a claim, in one zip.

The scenario decides whether to build it (e.g. ``when: debt + penalty > thresholds.lawsuit`` at 60 days); this
step only builds. The zip, ``<folder>/<contract>/<as_of>-<run id>.zip`` (folder default var/lawsuit-packs), holds:

* the claim: the (signed) document of an earlier render step (``claim:``);
* the penalty calculation: the output of an earlier ``compute_penalty`` step (``penalty:``) printed as a PDF annex
  with the ``annex`` macro of scenarios/templates/_penalty.j2;
* a reconciliation statement (акт сверки) of every invoice, credit note and payment of the contract, with the
  running balance, from reconciliation_statement.j2;
* the invoice list (CSV) and the contract reference (text and JSON);
* all correspondence of the contract from the archive, as the archive's auditor export (archive/ops.py
  ``export_package``): a BagIt bag holding the contract's bag, which verifies offline;
* ``Опись.txt``: every file with its SHA-256.

The zip depends only on the run and the archive's contents (entry times are the run's day), so a step re-executed
after a crash rebuilds the same bytes; a pack already written with the SHA-256 recorded beside it
(``<zip>.sha256``) is reused as it is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from archive import safe_name
from robots.core.errors import BusinessError
from robots.documents.pdf import render_letter
from robots.steps.base import CheckContext, Step, StepConfig, register
from robots.steps.context import StepContext
from robots.steps.penalty_view import penalty_view
from robots.steps.render import read_document
from robots.support.durable import write_atomic

CORRESPONDENCE = "06 Переписка"


class LawsuitPackConfig(StepConfig):
    kind: str = "lawsuit_pack"
    #: The id of an earlier render step: the claim (its signed version when a sign step signed it).
    claim: str
    #: The id of an earlier compute_penalty step: the calculation annex.
    penalty: str
    #: Where packs are written, relative to schedules.yaml.
    folder: Path = Path("var/lawsuit-packs")

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        problems: list[tuple[tuple[str, ...], str]] = []
        renders = [s.id for s in earlier if s.kind == "render" and s.id]
        if self.claim not in renders:
            problems.append((("claim",), f"no earlier render step has id {self.claim!r} "
                                         f"(earlier render steps: {', '.join(renders) or 'none'})"))
        penalties = [s.id for s in earlier if s.kind == "compute_penalty" and s.id]
        if self.penalty not in penalties:
            problems.append((("penalty",), f"no earlier compute_penalty step has id {self.penalty!r} "
                                           f"(earlier compute_penalty steps: {', '.join(penalties) or 'none'})"))
        for name in ("_penalty.j2", "reconciliation_statement.j2"):
            if not (ctx.templates_dir / name).is_file():
                problems.append(((), f"template {name!r} not found in {ctx.templates_dir} (the pack prints it)"))
        return problems


@register
class LawsuitPackStep(Step):
    kind = "lawsuit_pack"
    config = LawsuitPackConfig

    def run(self, cfg: LawsuitPackConfig, ctx: StepContext) -> dict[str, Any]:
        config, run, ct = ctx.services.config, ctx.run, ctx.contract
        path = config.resolve(cfg.folder) / safe_name(ct.number or ct.id) / f"{run.as_of.isoformat()}-{run.id}.zip"
        sidecar = path.with_name(path.name + ".sha256")
        if path.is_file() and sidecar.is_file():
            data = path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if sidecar.read_text(encoding="utf-8").split(" ", 1)[0] == sha:
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    return _output(path, sha, zf.namelist())
        data, names = build_pack(cfg, ctx)
        sha = hashlib.sha256(data).hexdigest()
        ctx.ensure_lease("writing the lawsuit pack")
        write_atomic(path, data)
        write_atomic(sidecar, f"{sha}  {path.name}\n".encode())
        return _output(path, sha, names)


def _output(path: Path, sha: str, names: list[str]) -> dict[str, Any]:
    return {"kind": "lawsuit_pack", "path": str(path), "sha256": sha, "files": names}


def build_pack(cfg: LawsuitPackConfig, ctx: StepContext) -> tuple[bytes, list[str]]:
    """The zip's bytes and its entry names (deterministic for one run and one archive state)."""
    run, cp, ct = ctx.run, ctx.counterparty, ctx.contract
    claim = ctx.outputs.get(cfg.claim) or {}
    if claim.get("kind") != "document":
        raise BusinessError(f"lawsuit_pack: step {cfg.claim!r} made no document (it was skipped or stopped); "
                            "the pack needs the claim")
    output = ctx.outputs.get(cfg.penalty) or {}
    if output.get("kind") != "penalty":
        raise BusinessError(f"lawsuit_pack: step {cfg.penalty!r} computed no penalty (it was skipped)")
    penalty = penalty_view(output)
    base = ctx.template_context()
    statutory = penalty["basis"] == "statutory"
    annex_title = "Расчёт процентов по ст. 395 ГК РФ" if statutory else "Расчёт неустойки"
    files: dict[str, bytes] = {}
    files[safe_name(f"01 {claim['title']} № {claim['number']}") + ".pdf"] = read_document(claim, "pack")
    files[f"02 {annex_title}.pdf"] = _annex(ctx, penalty, annex_title, base)
    files["03 Акт сверки.pdf"] = _reconciliation(ctx, base)
    files["04 Перечень счетов.csv"] = _invoice_list(ctx, penalty)
    reference = {"number": ct.number, "id": ct.id, "date": None, "currency": ct.currency,
                 "payment_days": ct.payment_days,
                 "penalty_rate_per_day": None if ct.penalty_rate_per_day is None else str(ct.penalty_rate_per_day),
                 "counterparty": {"id": cp.id, "name": cp.name, "inn": cp.inn, "email": cp.email}}
    files["05 Договор.json"] = json.dumps(reference, ensure_ascii=False, indent=2, sort_keys=True).encode()
    files["05 Договор.txt"] = (
        f"Договор № {ct.number} (id в учётной системе: {ct.id}); дата договора: не указана в учётной системе\n"
        f"Контрагент: {cp.name}, ИНН {cp.inn or 'не указан'}\nВалюта: {ct.currency}; срок оплаты: "
        f"{ct.payment_days} дн.; неустойка: "
        f"{'не предусмотрена' if not ct.penalty_rate_per_day else str(ct.penalty_rate_per_day) + ' в день'}\n"
    ).encode()
    stamp = datetime.combine(run.as_of, time(12, 0), tzinfo=UTC)
    files.update(_correspondence(ctx, stamp))
    listing = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in sorted(files))
    files["Опись.txt"] = (f"Пакет документов для иска: {cp.name}, договор № {ct.number}, на {run.as_of:%d.%m.%Y}, "
                          f"запуск {run.id}\nSHA-256 и файлы:\n{listing}").encode()
    return _zip(files, run.as_of), sorted(files)


def _annex(ctx: StepContext, penalty: dict[str, Any], title: str, base: dict[str, Any]) -> bytes:
    env = ctx.services.renderer.env
    source = '{% import "_penalty.j2" as p %}{{ p.annex(penalty, contract, counterparty, company, title) }}'
    try:
        markup = env.from_string(source).render(penalty=penalty, contract=base["contract"],
                                                counterparty=base["counterparty"], company=base["company"],
                                                title=title)
    except Exception as exc:
        raise BusinessError(f"_penalty.j2: {type(exc).__name__}: {exc}") from exc
    author = ctx.services.config.settings.company.name
    return render_letter(markup, title=f"{title}, договор № {ctx.contract.number}", author=author).data


def reconciliation_entries(invoices: Sequence[Any], payments: Sequence[Any]) -> list[dict[str, Any]]:
    """Every invoice (debit), credit note and payment (credit) in date order with the running balance."""
    numbers = {i.id: i.number for i in invoices}
    rows: list[tuple[date, int, str, str, Decimal, Decimal]] = []
    for i in invoices:
        if i.amount >= 0:
            rows.append((i.date, 0, i.id, f"Счёт № {i.number} (срок оплаты {i.due_date:%d.%m.%Y})", i.amount,
                         Decimal("0")))
        else:
            rows.append((i.date, 1, i.id, f"Корректировка № {i.number}", Decimal("0"), -i.amount))
    for p in payments:
        named = f" по счёту № {numbers.get(p.invoice_id, p.invoice_id)}" if p.invoice_id else ""
        rows.append((p.date, 2, p.id, f"Оплата ({p.id}){named}", Decimal("0"), p.amount))
    balance, out = Decimal("0"), []
    for day, _, _, text, debit, credit in sorted(rows):
        balance += debit - credit
        out.append({"date": day, "document": text, "debit": debit, "credit": credit, "balance": balance})
    return out


def _reconciliation(ctx: StepContext, base: dict[str, Any]) -> bytes:
    from robots.documents.templates import TemplateRenderError

    invoices, payments = ctx.services.store.contract_entries(ctx.contract.id, ctx.run.as_of)
    entries = reconciliation_entries(invoices, payments)
    debit = sum((e["debit"] for e in entries), Decimal("0"))
    credit = sum((e["credit"] for e in entries), Decimal("0"))
    number = f"{ctx.document_number()}-АС"
    context = {**base, "document": {"number": number, "date": ctx.run.as_of}, "entries": entries,
               "debit": debit, "credit": credit, "closing": debit - credit}
    try:
        markup = ctx.services.renderer.render("reconciliation_statement.j2", context)
    except TemplateRenderError as exc:
        raise BusinessError(str(exc)) from exc
    author = ctx.services.config.settings.company.name
    return render_letter(markup, title=f"Акт сверки № {number}", author=author).data


def _invoice_list(ctx: StepContext, penalty: dict[str, Any]) -> bytes:
    accrued = {i["id"]: i["total"] for i in penalty["invoices"]}
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(["Номер счёта", "Дата", "Срок оплаты", "Сумма", "Остаток долга", "Дней просрочки", "Неустойка"])
    for item in ctx.invoices:
        i = item.invoice
        w.writerow([i.number, i.date.isoformat(), i.due_date.isoformat(), str(i.amount), str(item.open_amount),
                    item.days_past_due, str(accrued.get(i.id, ""))])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")  # BOM: Excel reads the Cyrillic right


def _correspondence(ctx: StepContext, stamp: datetime) -> dict[str, bytes]:
    """The contract's archived letters as the auditor's export (a verified BagIt bag), unpacked under one folder."""
    from archive.ops import bag_rows, export_package, verify_archive

    store, config = ctx.services.store, ctx.services.config
    rows = [r for r in bag_rows(store) if r.contract_id == ctx.contract.id]
    if not rows:
        return {f"{CORRESPONDENCE}/НЕТ ПЕРЕПИСКИ.txt": "В архиве нет документов по этому договору.\n".encode()}
    check = verify_archive(config.archive_dir, store, contract=ctx.contract.id)
    if not check.ok:
        found = "; ".join(f"{f.kind} {f.where}: {f.detail}" for f in check.findings[:5])
        raise BusinessError(f"the archive of contract {ctx.contract.number} does not verify ({found}); "
                            "run `archive verify` and fix it before packing a lawsuit")
    roots = tuple(config.resolve(p) for p in config.settings.signing.trust_roots)
    with tempfile.TemporaryDirectory(prefix="arbots-lawsuit-") as tmp:
        out = Path(tmp) / "correspondence.zip"
        export_package(config.archive_dir, rows, out=out, now=stamp, organization=config.settings.company.name,
                       trust_roots=roots, selection=f"contract {ctx.contract.number}")
        with zipfile.ZipFile(out) as zf:
            return {f"{CORRESPONDENCE}/{name.split('/', 1)[1]}": zf.read(name)
                    for name in zf.namelist() if not name.endswith("/")}


def _zip(files: dict[str, bytes], day: date) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(day.year, day.month, day.day, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name])
    return buf.getvalue()
