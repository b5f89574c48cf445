"""The signing service: one per process, it opens officers' keys once and signs PDFs in PAdES with pyHanko.

Before a key signs, its certificate is checked at the signing time (validity, key usage, chain to the configured
trust roots, revocation where the certificate says where to look). A certificate that fails makes the signature
fail with a :class:`CertificateRefused` (a business error: no retry, the run fails and ops see why), unless the
officer's deputy may sign instead. Nothing unsigned ever leaves in place of a signed document: a failed signature
fails the step, and the steps after it (archive, send) never run.

A timestamp authority that cannot be reached, times out or answers 5xx/429 is retried a few times at once
(``signing.timestamp.attempts``, with backoff), then the signature raises :class:`TsaUnavailable` (an
:class:`~robots.core.errors.Unavailable` of the system ``tsa``): the run waits for the TSA, nothing is signed
without its timestamp. With a circuit breaker (:attr:`SigningService.breaker`) the outage counts towards opening
it, and while it is open no request is made.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from asn1crypto import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from robots.core.domain import PadesLevel
from robots.core.errors import BusinessError, Unavailable
from robots.support.breaker import Breaker, scrub
from signing.certs import CertCheck, CertInfo, CertState, check_certificate
from signing.config import OfficerConfig, SigningConfig
from signing.keys import KeyUnavailable, OpenedKey, load_cert_files, open_key
from signing.stamp import StampText, render_stamp, stamp_style

log = structlog.get_logger("arbots.signing")

#: Where the stamp goes when the document kept no room for it: bottom right of the last page, above the footer.
FALLBACK_BOX = (325.0, 40.0, 566.0, 125.0)
FIELD_NAME = "ArbotsSignature"


class CertificateRefused(BusinessError):
    """The officer's certificate may not sign now (and no deputy may sign instead)."""


#: The system name of the timestamp authority in breakers, waits and alerts.
TSA = "tsa"


class TsaUnavailable(Unavailable):
    """The timestamp authority cannot be used now: the signature waits (the run is not failed)."""

    def __init__(self, reason: str, retry_at: datetime | None = None):
        super().__init__(TSA, retry_at, scrub(reason))

    def __reduce__(self):
        return (type(self), (self.reason, self.retry_at))


def tsa_outage(exc: BaseException) -> str | None:
    """The reason when ``exc`` (raised while signing) says the TSA is down: no connection, a timeout, HTTP 5xx or
    429. None for anything else (a 4xx refusal, a bad answer, a problem of the document or key)."""
    if not isinstance(exc, TimestampRequestError):
        return None
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, aiohttp.ClientResponseError):
        status = cause.status
        return f"the timestamp authority answered HTTP {status}" if status >= 500 or status == 429 else None
    if isinstance(cause, (asyncio.TimeoutError, TimeoutError)):
        return "the timestamp authority timed out"
    if isinstance(cause, (aiohttp.ClientError, OSError)):
        return f"cannot reach the timestamp authority ({type(cause).__name__}: {cause})"
    return None


@dataclass(frozen=True)
class SignatureRecord:
    """What the archive's sidecar says about a signature."""

    officer: str
    on_behalf_of: str | None
    signer_name: str
    position: str
    certificate_serial: str
    certificate_subject: str
    certificate_issuer: str
    valid_from: str
    valid_to: str
    level: str
    signed_at: str
    key_source: str
    #: The message digest of the signature (CMS messageDigest over the signed byte ranges).
    digest_algorithm: str = "sha256"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Choice:
    officer_id: str
    officer: OfficerConfig
    on_behalf_of: str | None
    check: CertCheck


class _TimedPdfSigner(signers.PdfSigner):
    """PdfSigner whose signing time is an argument (the daemon's clock), not read inside pyHanko."""

    def __init__(self, *args: Any, signing_time: datetime, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out, existing_fields_only=False):  # type: ignore[override]
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._signing_time
        return session


class SigningService:
    def __init__(self, settings: SigningConfig, officers: Mapping[str, OfficerConfig], base: Path,
                 environ: Mapping[str, str] | None = None, timestamper: TimeStamper | None = None,
                 breaker: Breaker | None = None, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        #: The TSA's circuit breaker (one per process; the engine's Services sets it), or None.
        self.breaker = breaker
        self._sleep = sleep
        self.officers = officers
        self.base = base
        self.environ = environ if environ is not None else os.environ
        self._keys: dict[str, OpenedKey] = {}
        self._checks: dict[tuple[str, datetime], CertCheck] = {}
        self._reserved: dict[tuple[str, PadesLevel], int] = {}
        self._roots: tuple[x509.Certificate, ...] | None = None
        self._extra: tuple[x509.Certificate, ...] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: One HTTP session for every TSA, OCSP and CRL request of this process (opened on first use).
        self._http = LazySession()
        self._timestamper = timestamper
        self._stamps: dict[tuple[str, str], bytes] = {}

    @classmethod
    def from_config(cls, config: Any, environ: Mapping[str, str] | None = None, *,
                    breaker: Breaker | None = None) -> SigningService:
        s = config.settings
        return cls(s.signing, s.officers, config.base_dir, environ, breaker=breaker)

    # -- keys and certificates -------------------------------------------------------------------------------

    @property
    def trust_roots(self) -> tuple[x509.Certificate, ...]:
        if self._roots is None:
            self._roots = load_cert_files(self.settings.trust_roots, self.base, "signing.trust_roots")
        return self._roots

    def key(self, officer_id: str) -> OpenedKey:
        if officer_id not in self._keys:
            if officer_id not in self.officers:
                raise KeyUnavailable(f"no officer {officer_id!r} in schedules.yaml (officers: "
                                     f"{', '.join(sorted(self.officers)) or 'none'})")
            if self._extra is None:
                self._extra = load_cert_files(self.settings.extra_certs, self.base, "signing.extra_certs")
            self._keys[officer_id] = open_key(officer_id, self.officers[officer_id], self._extra, self.environ,
                                              self.base)
        return self._keys[officer_id]

    def check(self, officer_id: str, at: datetime) -> CertCheck:
        """The officer's certificate checked at ``at`` (cached per officer and moment: one tick, one check)."""
        cached = self._checks.get((officer_id, at))
        if cached is not None:
            return cached
        try:
            key = self.key(officer_id)
        except KeyUnavailable as exc:
            result = CertCheck(CertState.UNAVAILABLE, None, (str(exc),))
        else:
            result = check_certificate(key.cert, key.chain, self.trust_roots, at, revocation=self.settings.revocation,
                                       warn_days=self.settings.expiry_warning_days)
        if len(self._checks) > 1000:
            self._checks.clear()
        self._checks[(officer_id, at)] = result
        return result

    def choose(self, officer_id: str, at: datetime) -> Choice:
        """Who signs for ``officer_id`` at ``at``: the officer, or their deputy when allowed; else refuse."""
        if officer_id not in self.officers:
            raise CertificateRefused(f"no officer {officer_id!r} in schedules.yaml")
        officer = self.officers[officer_id]
        check = self.check(officer_id, at)
        if check.usable:
            return Choice(officer_id, officer, None, check)
        why = f"officer {officer_id} ({officer.name}) cannot sign: {check.state.value}: {'; '.join(check.problems)}"
        if officer.deputy and officer.deputy_fallback:
            deputy = self.officers[officer.deputy]
            dcheck = self.check(officer.deputy, at)
            if dcheck.usable:
                log.warning("deputy_signs", officer=officer_id, deputy=officer.deputy, reason=check.state.value)
                return Choice(officer.deputy, deputy, officer_id, dcheck)
            raise CertificateRefused(f"{why}; their deputy {officer.deputy} ({deputy.name}) cannot sign either: "
                                     f"{dcheck.state.value}: {'; '.join(dcheck.problems)}")
        if officer.deputy:
            why += f" (deputy {officer.deputy} is named, but officers.{officer_id}.deputy_fallback is false)"
        raise CertificateRefused(why)

    def level_for(self, officer_id: str, step_level: PadesLevel | None = None) -> PadesLevel:
        return self.settings.level_for(step_level, self.officers[officer_id].level)

    # -- signing ---------------------------------------------------------------------------------------------

    def sign(self, pdf: bytes, choice: Choice, *, at: datetime, level: PadesLevel, reason: str = "",
             stamp_page: int | None = None, stamp_box: tuple[float, float, float, float] | None = None
             ) -> tuple[bytes, SignatureRecord]:
        """Sign ``pdf`` as ``choice`` at ``at`` with ``level``; the stamp goes into the given room if any."""
        if not choice.check.usable:  # a choice made earlier (e.g. at render time) is re-checked by the caller
            raise CertificateRefused(f"officer {choice.officer_id} cannot sign: {choice.check.state.value}")
        key = self.key(choice.officer_id)
        info = choice.check.info or CertInfo.of(key.cert)
        officer = choice.officer
        stamp_key = (choice.officer_id, info.serial)
        if self.settings.visible_stamp and stamp_key not in self._stamps:
            self._stamps[stamp_key] = render_stamp(StampText(
                owner=officer.name, position=officer.position, serial=info.serial,
                valid_from=f"{info.not_before:%d.%m.%Y}", valid_to=f"{info.not_after:%d.%m.%Y}"))
        stamp_pdf = self._stamps.get(stamp_key)
        reserved_key = (choice.officer_id, level)

        def sign_once() -> bytes:
            try:
                return self._sign_once(pdf, key, officer, level, at, reason, stamp_page, stamp_box, stamp_pdf,
                                       self._reserved.get(reserved_key))
            except SigningError:
                if reserved_key not in self._reserved:
                    raise
                del self._reserved[reserved_key]  # the reservation was too small (a bigger TSA answer): again
                return self._sign_once(pdf, key, officer, level, at, reason, stamp_page, stamp_box, stamp_pdf,
                                       None)

        out = sign_once() if level is PadesLevel.B_B else self._with_tsa(sign_once)
        if reserved_key not in self._reserved:
            sig = PdfFileReader(io.BytesIO(out)).embedded_regular_signatures[-1]  # ours: the newest signature
            used = len(sig.signed_data.dump()) + 32  # the CMS itself, not the padded /Contents
            slack = 0 if level is PadesLevel.B_B else 2048  # TSA answers vary a little in size
            self._reserved[reserved_key] = 2 * (used + slack + 256)  # hex-encoded
        record = SignatureRecord(
            officer=choice.officer_id, on_behalf_of=choice.on_behalf_of, signer_name=officer.name,
            position=officer.position, certificate_serial=info.serial, certificate_subject=info.subject,
            certificate_issuer=info.issuer, valid_from=info.not_before.isoformat(),
            valid_to=info.not_after.isoformat(), level=level.value, signed_at=at.isoformat(),
            key_source=key.source)
        return out, record

    def _with_tsa(self, sign: Callable[[], bytes]) -> bytes:
        """``sign()``, which asks the TSA: retried a few times at once while the TSA is down, through the breaker;
        then TsaUnavailable."""
        breaker = self.breaker
        if breaker is not None:
            try:
                breaker.before()
            except Unavailable as exc:
                raise TsaUnavailable(exc.reason, exc.retry_at) from None
        attempts = self.settings.timestamp.attempts if self.settings.timestamp is not None else 1
        retrying = Retrying(stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=0.5, max=4),
                            retry=retry_if_exception(lambda e: tsa_outage(e) is not None), sleep=self._sleep,
                            reraise=True)
        try:
            out = retrying(sign)
        except Exception as exc:
            reason = tsa_outage(exc)
            if reason is None:
                if breaker is not None:
                    breaker.success()  # not an outage (the TSA refused, or the document or key did): no probe left
                raise
            n = f" ({attempts} attempts)" if attempts > 1 else ""
            if breaker is not None:
                raise TsaUnavailable(reason + n, breaker.failure(reason + n).retry_at) from None
            raise TsaUnavailable(reason + n) from None
        if breaker is not None:
            breaker.success()
        return out

    def _sign_once(self, pdf: bytes, key: OpenedKey, officer: OfficerConfig, level: PadesLevel, at: datetime,
                   reason: str, stamp_page: int | None, stamp_box: tuple[float, float, float, float] | None,
                   stamp_pdf: bytes | None, bytes_reserved: int | None) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
            reason=reason or None, location=self.settings.location or None, name=officer.name,
            embed_validation_info=level in (PadesLevel.B_LT, PadesLevel.B_LTA),
            use_pades_lta=level is PadesLevel.B_LTA,
            validation_context=self._validation_context(key) if level in (PadesLevel.B_LT, PadesLevel.B_LTA)
            else None,
        )
        spec = None
        stamp = None
        if stamp_pdf is not None:
            pages = int(writer.root["/Pages"]["/Count"])
            page = (stamp_page - 1) if stamp_page else pages - 1
            spec = fields.SigFieldSpec(FIELD_NAME, on_page=page, box=tuple(int(v) for v in (stamp_box or FALLBACK_BOX)))
            stamp = stamp_style(stamp_pdf)
        pdf_signer = _TimedPdfSigner(meta, key.signer, timestamper=self._tsa(level), stamp_style=stamp,
                                     new_field_spec=spec, signing_time=at)
        out = io.BytesIO()
        self.loop.run_until_complete(pdf_signer.async_sign_pdf(
            writer, bytes_reserved=bytes_reserved, output=out))
        return out.getvalue()

    def _tsa(self, level: PadesLevel) -> TimeStamper | None:
        if level is PadesLevel.B_B:
            return None
        if self._timestamper is None:
            if self.settings.timestamp is None:
                raise CertificateRefused(f"level {level.value} needs signing.timestamp.url (a timestamp authority)")
            self._timestamper = HTTPTimeStamper(self.settings.timestamp.url, session=self._http,
                                                timeout=self.settings.timestamp.timeout_seconds)
        return self._timestamper

    def _validation_context(self, key: OpenedKey) -> ValidationContext:
        return ValidationContext(trust_roots=list(self.trust_roots), other_certs=list(key.chain), allow_fetching=True,
                                 revocation_mode=self.settings.revocation,
                                 fetcher_backend=AIOHttpFetcherBackend(self._http))

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def close(self) -> None:
        for key in self._keys.values():
            key.close()
        self._keys.clear()
        if self._loop is not None:
            self._loop.run_until_complete(self._http.close())
            self._loop.close()
            self._loop = None
