"""The ``officers:`` and ``signing:`` sections of schedules.yaml: who the robots sign for, with which key, at which
PAdES level. robots.config assembles them into the settings model; the signing service reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from robots.core.domain import PadesLevel
from robots.support.config_types import Frozen, Identifier, SecretRef


class Pkcs12Source(SecretRef):
    """A PKCS#12 (.pfx/.p12) file with the officer's key, certificate and, ideally, its chain."""

    path: Path
    password_env: str | None = None
    password_file: Path | None = None


class Pkcs11Source(SecretRef):
    """A key on a PKCS#11 token or HSM (Rutoken, JaCarta, SoftHSM2, ...)."""

    module: Path
    token_label: str
    key_label: str
    #: Defaults to key_label.
    cert_label: str | None = None
    pin_env: str | None = None
    pin_file: Path | None = None


class OfficerConfig(Frozen):
    """A person the robots sign for, with their own certificate."""

    name: str
    position: str
    pkcs12: Pkcs12Source | None = None
    pkcs11: Pkcs11Source | None = None
    #: Overrides signing.default_level for this officer (a sign step may override it again).
    level: PadesLevel | None = None
    #: Another officer who signs when this officer's certificate is not usable (expired, revoked, ...).
    deputy: Identifier | None = None
    #: Whether the deputy may actually sign in that case; false = the step fails and ops are alerted.
    deputy_fallback: bool = False

    @model_validator(mode="after")
    def _one_source(self):
        if (self.pkcs12 is None) == (self.pkcs11 is None):
            raise ValueError("give exactly one certificate source: pkcs12 (a .pfx file) or pkcs11 (a token)")
        return self


class TimestampConfig(Frozen):
    #: An RFC 3161 timestamp authority (http or https).
    url: str
    timeout_seconds: float = Field(default=10, gt=0, le=120)
    #: Tries of one signature while the TSA cannot be reached (or answers 5xx/429), with backoff; then the run
    #: waits for the TSA (and the outage counts towards its circuit breaker).
    attempts: int = Field(default=3, ge=1, le=10)


class SigningConfig(Frozen):
    #: PEM/DER files of the CA certificates a signer's chain must end in.
    trust_roots: tuple[Path, ...] = ()
    #: Intermediate certificates not carried in the PFX or on the token.
    extra_certs: tuple[Path, ...] = ()
    #: B-B without a timestamp authority, B-T with one, unless set here (per officer and per step too).
    default_level: PadesLevel | None = None
    timestamp: TimestampConfig | None = None
    #: soft-fail: a certificate whose revocation status cannot be fetched may sign; hard-fail: it may not.
    revocation: Literal["soft-fail", "hard-fail"] = "soft-fail"
    #: The daemon warns this many days before an officer's certificate expires.
    expiry_warning_days: int = Field(default=30, ge=0, le=730)
    #: Put the visible "Документ подписан электронной подписью" stamp on the last page.
    visible_stamp: bool = True
    #: Where the signature says it was made (PDF /Location).
    location: str = ""

    def level_for(self, *overrides: PadesLevel | None) -> PadesLevel:
        """The first override that is set, else the default: B-T when a TSA is configured, B-B otherwise."""
        for level in overrides:
            if level is not None:
                return level
        if self.default_level is not None:
            return self.default_level
        return PadesLevel.B_T if self.timestamp else PadesLevel.B_B
