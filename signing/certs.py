"""What a certificate says about itself, and whether it may sign now: time, key usage, chain, revocation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from asn1crypto import x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InsufficientRevinfoError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)

#: A signing certificate must allow at least one of these (Russian qualified certificates carry both).
SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})


class CertState(str, Enum):
    OK = "ok"
    EXPIRING = "expiring"          # usable, but within signing.expiry_warning_days of its end
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    UNTRUSTED = "untrusted"        # no path to the configured trust roots
    WRONG_KEY_USAGE = "wrong_key_usage"
    NO_REVOCATION_INFO = "no_revocation_info"  # hard-fail mode and the status could not be obtained
    UNAVAILABLE = "unavailable"    # the key itself cannot be opened

    @property
    def usable(self) -> bool:
        return self in (CertState.OK, CertState.EXPIRING)


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    serial: str        # hex, upper case, as Russian stamps and CAs print it
    not_before: datetime
    not_after: datetime
    common_name: str

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertInfo:
        return cls(subject=cert.subject.human_friendly, issuer=cert.issuer.human_friendly,
                   serial=format(cert.serial_number, "X"), not_before=cert.not_valid_before,
                   not_after=cert.not_valid_after, common_name=common_name_of(cert))

    def days_left(self, at: datetime) -> int:
        return (self.not_after - at).days


@dataclass(frozen=True)
class CertCheck:
    state: CertState
    info: CertInfo | None
    problems: tuple[str, ...] = field(default=())

    @property
    def usable(self) -> bool:
        return self.state.usable


def check_certificate(cert: x509.Certificate, chain: tuple[x509.Certificate, ...],
                      trust_roots: tuple[x509.Certificate, ...], at: datetime, *, revocation: str,
                      warn_days: int, allow_fetching: bool = True) -> CertCheck:
    """Check ``cert`` for signing at ``at``. Revocation is checked when the certificate says where to look."""
    info = CertInfo.of(cert)
    usages = set(cert.key_usage_value.native) if cert.key_usage_value is not None else set()
    if not usages & SIGNING_KEY_USAGES:
        return CertCheck(CertState.WRONG_KEY_USAGE, info, (
            f"key usage {', '.join(sorted(usages)) or 'none'} allows no signatures (needs digital_signature or "
            "non_repudiation)",))
    if at < info.not_before:
        return CertCheck(CertState.NOT_YET_VALID, info, (f"not valid before {info.not_before:%Y-%m-%d %H:%M} UTC",))
    if at > info.not_after:
        return CertCheck(CertState.EXPIRED, info, (f"expired on {info.not_after:%Y-%m-%d %H:%M} UTC",))
    # The latest revocation information counts, even when it was issued after ``at``: a certificate revoked
    # yesterday must not sign today's run, whatever moment the run is pinned to.
    ctx = ValidationContext(trust_roots=list(trust_roots), other_certs=list(chain), moment=at,
                            allow_fetching=allow_fetching, revocation_mode=revocation, retroactive_revinfo=True)
    async def validate() -> None:
        try:
            await CertificateValidator(cert, list(chain), ctx).async_validate_path()
        finally:
            await ctx.aclose()  # the HTTP session it opened for OCSP/CRL fetches

    try:
        asyncio.run(validate())
    except RevokedError as exc:
        return CertCheck(CertState.REVOKED, info, (str(exc),))
    except ExpiredError as exc:
        return CertCheck(CertState.EXPIRED, info, (str(exc),))
    except NotYetValidError as exc:
        return CertCheck(CertState.NOT_YET_VALID, info, (str(exc),))
    except InsufficientRevinfoError as exc:
        return CertCheck(CertState.NO_REVOCATION_INFO, info, (str(exc),))
    except PathBuildingError as exc:
        return CertCheck(CertState.UNTRUSTED, info, (f"no chain to the configured trust roots ({exc})",))
    except PathValidationError as exc:
        return CertCheck(CertState.UNTRUSTED, info, (str(exc),))
    if info.days_left(at) < warn_days:
        return CertCheck(CertState.EXPIRING, info, (f"expires in {info.days_left(at)} days, on "
                                                    f"{info.not_after:%Y-%m-%d}",))
    return CertCheck(CertState.OK, info)


def common_name_of(cert: x509.Certificate) -> str:
    native = cert.subject.native
    return str(native.get("common_name", "")) if isinstance(native, dict) else ""


def title_of(cert: x509.Certificate) -> str:
    native = cert.subject.native
    return str(native.get("title", "")) if isinstance(native, dict) else ""
