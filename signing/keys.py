"""Officers' keys: a PKCS#12 file or a PKCS#11 token, opened once per process and kept in memory only.

A key is parsed once and kept as a ``cryptography`` key object: stock pyHanko parses the PKCS#8 blob again for
every signature (about 39 ms for RSA-2048), which is most of the cost of a B-B signature. Nothing here writes key
material anywhere, and no message names a password or PIN (only the variable or file it comes from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from asn1crypto import x509
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.keys import load_certs_from_pemder
from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1, translate_pyca_cryptography_key_to_asn1
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from robots.core.errors import BusinessError
from robots.support import secret_refs
from robots.support.secret_refs import warn_if_readable_by_others
from signing.config import OfficerConfig, Pkcs11Source, Pkcs12Source

log = structlog.get_logger("arbots.signing")


class KeyUnavailable(BusinessError):
    """An officer's key cannot be opened (file missing, wrong password or PIN, token absent). Not retried."""


def read_secret(env: str | None, file: Path | None, what: str, environ: Mapping[str, str], base: Path) -> str:
    """The secret from the environment variable ``env`` or the file ``file``; the message never holds the value."""
    return secret_refs.read_secret(env, file, what, base, environ, error=KeyUnavailable)


class InMemoryKeySigner(SimpleSigner):
    """A SimpleSigner that keeps the parsed ``cryptography`` key instead of re-parsing it for every signature."""

    def __init__(self, cert: x509.Certificate, key: Any, registry: SimpleCertificateStore):
        super().__init__(signing_cert=cert, signing_key=translate_pyca_cryptography_key_to_asn1(key),
                         cert_registry=registry)
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)['algorithm'].native
        if mechanism.endswith("_rsa") or mechanism == "rsassa_pkcs1v15":
            if isinstance(self._key, RSAPrivateKey):
                return self._key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if mechanism.endswith("_ecdsa") or mechanism == "ecdsa":
            if isinstance(self._key, EllipticCurvePrivateKey):
                return self._key.sign(data, ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        return super().sign_raw(data, digest_algorithm)  # PSS, EdDSA, ...: pyHanko's own path


@dataclass
class OpenedKey:
    signer: Signer
    cert: x509.Certificate
    #: Certificates that came with the key (chain from the PFX or the token) plus signing.extra_certs.
    chain: tuple[x509.Certificate, ...]
    source: str
    _session: Any = None

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            finally:
                self._session = None


def open_key(officer_id: str, officer: OfficerConfig, extra_certs: tuple[x509.Certificate, ...],
             environ: Mapping[str, str], base: Path) -> OpenedKey:
    if officer.pkcs12 is not None:
        return _open_pkcs12(officer_id, officer.pkcs12, extra_certs, environ, base)
    assert officer.pkcs11 is not None
    return _open_pkcs11(officer_id, officer.pkcs11, extra_certs, environ, base)


def _open_pkcs12(officer_id: str, src: Pkcs12Source, extra: tuple[x509.Certificate, ...],
                 environ: Mapping[str, str], base: Path) -> OpenedKey:
    path = src.path if src.path.is_absolute() else base / src.path
    what = f"officer {officer_id}: PKCS#12 file {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyUnavailable(f"{what}: cannot read it ({exc.strerror})") from None
    warn_if_readable_by_others(path, "PKCS#12 key file")
    password = read_secret(src.password_env, src.password_file, f"officer {officer_id}: PKCS#12 password",
                           environ, base)
    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except Exception:  # cryptography says only "Invalid password or PKCS12 data"; never chain the exception
        raise KeyUnavailable(f"{what}: cannot open it: wrong password (from "
                             f"{src.password_env or src.password_file}) or not a PKCS#12 file") from None
    finally:
        del password
    if key is None or cert is None:
        raise KeyUnavailable(f"{what}: holds no private key and certificate pair")
    asn_cert = translate_pyca_cryptography_cert_to_asn1(cert)
    chain = tuple(translate_pyca_cryptography_cert_to_asn1(c) for c in others) + extra
    registry = SimpleCertificateStore()
    registry.register_multiple(chain)
    return OpenedKey(InMemoryKeySigner(asn_cert, key, registry), asn_cert, chain, f"PKCS#12 {path.name}")


def _open_pkcs11(officer_id: str, src: Pkcs11Source, extra: tuple[x509.Certificate, ...],
                 environ: Mapping[str, str], base: Path) -> OpenedKey:
    import pkcs11
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    module = src.module if src.module.is_absolute() else base / src.module
    what = f"officer {officer_id}: PKCS#11 token {src.token_label!r} ({module})"
    if not module.is_file():
        raise KeyUnavailable(f"{what}: the module file does not exist")
    pin = read_secret(src.pin_env, src.pin_file, f"officer {officer_id}: token PIN", environ, base)
    try:
        session = open_pkcs11_session(str(module), token_criteria=TokenCriteria(label=src.token_label), user_pin=pin)
    except pkcs11.exceptions.PinIncorrect:
        raise KeyUnavailable(f"{what}: the PIN (from {src.pin_env or src.pin_file}) is wrong") from None
    except pkcs11.exceptions.PinLocked:
        raise KeyUnavailable(f"{what}: the PIN is locked; unlock the token with its SO PIN") from None
    except Exception as exc:  # token absent, library error: the text of these never holds the PIN
        raise KeyUnavailable(f"{what}: cannot open a session ({type(exc).__name__}: {exc})") from None
    finally:
        del pin
    try:
        signer = PKCS11Signer(session, cert_label=src.cert_label or src.key_label, key_label=src.key_label,
                              other_certs_to_pull=None, ca_chain=list(extra) or None)
        cert = signer.signing_cert
    except Exception as exc:
        session.close()
        raise KeyUnavailable(f"{what}: no key/certificate labelled {src.key_label!r} "
                             f"({type(exc).__name__}: {exc})") from None
    chain = tuple(c for c in signer.cert_registry if c.sha256 != cert.sha256) + extra
    return OpenedKey(signer, cert, chain, f"PKCS#11 {src.token_label}", session)


def load_cert_files(paths: tuple[Path, ...], base: Path, what: str) -> tuple[x509.Certificate, ...]:
    out: list[x509.Certificate] = []
    for p in paths:
        path = p if p.is_absolute() else base / p
        try:
            out += list(load_certs_from_pemder([str(path)]))
        except (OSError, ValueError) as exc:
            raise KeyUnavailable(f"{what}: cannot read certificates from {path} ({exc})") from None
    return tuple(out)
