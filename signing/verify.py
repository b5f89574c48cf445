"""Validate the signatures in PDF files: intact, trusted, revoked, what changed after, who, when, which level."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from signing.certs import common_name_of as _cn
from signing.certs import title_of


@dataclass
class SignatureReport:
    field: str
    kind: str                  # "signature" or "document timestamp"
    ok: bool
    intact: bool
    valid: bool
    trusted: bool
    revoked: bool
    coverage: str              # ENTIRE_FILE, ENTIRE_REVISION, ...
    modification_level: str    # NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER
    signer: str
    position: str
    serial: str
    signing_time: str | None
    timestamp: str | None
    timestamp_valid: bool | None
    level: str | None
    problems: list[str] = dataclasses.field(default_factory=list)  # not the ``field`` above


@dataclass
class FileReport:
    path: str
    ok: bool
    signatures: list[SignatureReport]
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def verify_file(path: Path, trust_roots: tuple[x509.Certificate, ...], *, online: bool = True,
                at: datetime | None = None) -> FileReport:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileReport(str(path), False, [], f"cannot read: {exc.strerror}")
    return verify_bytes(data, str(path), trust_roots, online=online, at=at)


def verify_bytes(data: bytes, name: str, trust_roots: tuple[x509.Certificate, ...], *, online: bool = True,
                 at: datetime | None = None) -> FileReport:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = reader.embedded_regular_signatures
        timestamps = reader.embedded_timestamp_signatures
    except Exception as exc:  # not a PDF, broken xref, ...
        return FileReport(name, False, [], f"not a readable PDF ({type(exc).__name__}: {exc})")
    if not sigs:
        return FileReport(name, False, [], "the file carries no signature")
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except Exception:  # NoDSSFoundError: no revocation information embedded (B-B, B-T)
        dss = None
    kwargs: dict[str, Any] = {"trust_roots": list(trust_roots), "allow_fetching": online,
                              "revocation_mode": "soft-fail"}
    if at is not None:
        kwargs["moment"] = at

    def context() -> ValidationContext:
        return dss.as_validation_context(kwargs) if dss is not None else ValidationContext(**kwargs)

    has_revinfo = dss is not None and (bool(dss.ocsps) or bool(dss.crls))
    reports: list[SignatureReport] = []
    for sig in sigs:
        reports.append(_signature(sig, context, has_revinfo, bool(timestamps)))
    for ts in timestamps:
        reports.append(_doc_timestamp(ts, context))
    return FileReport(name, all(r.ok for r in reports), reports)


def _signature(sig: Any, context: Any, has_revinfo: bool, has_doc_ts: bool) -> SignatureReport:
    cert = sig.signer_cert
    base = {"field": str(sig.field_name), "kind": "signature", "signer": _cn(cert), "position": title_of(cert),
            "serial": format(cert.serial_number, "X")}
    try:
        st = validate_pdf_signature(sig, context(), ts_validation_context=context())
    except Exception as exc:  # a malformed signature container
        return SignatureReport(**base, ok=False, intact=False, valid=False, trusted=False, revoked=False,
                               coverage="UNKNOWN", modification_level="UNKNOWN", signing_time=None, timestamp=None,
                               timestamp_valid=None, level=None,
                               problems=[f"cannot validate: {type(exc).__name__}: {exc}"])
    ts = st.timestamp_validity
    level = "B-B"
    if ts is not None:
        level = "B-T"
        if has_revinfo:
            level = "B-LT"
            if has_doc_ts:
                level = "B-LTA"
    problems = []
    if not st.intact:
        problems.append("the document was changed after signing (digest mismatch)")
    elif not st.valid:
        problems.append("the signature value does not verify")
    if st.revoked:
        problems.append("the signer's certificate is revoked")
    elif not st.trusted:
        problems.append(f"the signer's certificate is not trusted ({st.trust_problem_indic})")
    mod = st.modification_level.name if st.modification_level is not None else "UNKNOWN"
    if st.docmdp_ok is False or mod == "OTHER":
        problems.append(f"changes after signing are not allowed ({mod})")
    if ts is not None and not (ts.intact and ts.valid and ts.trusted):
        problems.append("the signature timestamp does not validate")
    return SignatureReport(
        **base, ok=bool(st.bottom_line) and not problems, intact=st.intact, valid=st.valid, trusted=st.trusted,
        revoked=st.revoked, coverage=st.coverage.name if st.coverage else "UNKNOWN", modification_level=mod,
        signing_time=st.signer_reported_dt.isoformat() if st.signer_reported_dt else None,
        timestamp=ts.timestamp.isoformat() if ts is not None else None,
        timestamp_valid=(ts.intact and ts.valid and ts.trusted) if ts is not None else None, level=level,
        problems=problems)


def _doc_timestamp(ts: Any, context: Any) -> SignatureReport:
    try:
        st = validate_pdf_timestamp(ts, validation_context=context())
    except Exception as exc:
        return SignatureReport(field=str(ts.field_name), kind="document timestamp", ok=False, intact=False,
                               valid=False, trusted=False, revoked=False, coverage="UNKNOWN",
                               modification_level="UNKNOWN", signer="", position="", serial="", signing_time=None,
                               timestamp=None, timestamp_valid=False, level=None,
                               problems=[f"cannot validate: {type(exc).__name__}: {exc}"])
    problems = []
    if not st.intact:
        problems.append("the document was changed after this timestamp (digest mismatch)")
    elif not st.valid or not st.trusted:
        problems.append("the timestamp authority is not trusted or its signature does not verify")
    mod = st.modification_level.name if st.modification_level is not None else "UNKNOWN"
    if mod == "OTHER":
        problems.append("changes after the timestamp are not allowed (OTHER)")
    cert = st.signing_cert
    return SignatureReport(
        field=str(ts.field_name), kind="document timestamp", ok=not problems, intact=st.intact, valid=st.valid,
        trusted=st.trusted, revoked=st.revoked, coverage=st.coverage.name if st.coverage else "UNKNOWN",
        modification_level=mod, signer=_cn(cert), position="", serial=format(cert.serial_number, "X"),
        signing_time=None, timestamp=st.timestamp.isoformat(), timestamp_valid=not problems, level=None,
        problems=problems)

