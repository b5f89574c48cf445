"""A generated demo/test PKI: root CA → intermediate CA → officers, plus a TSA, OCSP and CRLs.

Everything is declared for certomancer and written to one folder:

    folder/
      pki.json                 manifest (no secrets) read by :func:`load_pki`
      certomancer.yml          certomancer config; dates are absolute, computed from ``now`` at creation
      p12-password             the PKCS#12 password (mode 0600, no trailing newline)
      keys/<label>.key.pem     RSA-2048 keys, PKCS#8 PEM encrypted with the same password (mode 0600)
      certs/<label>.pem        root-ca, intermediate-ca, tsa, ocsp-responder certificates
      officers/<id>.pem        officer certificates
      officers/<id>.p12        officer key + certificate + chain, encrypted with the password (mode 0600)

:class:`PKIServer` serves OCSP, CRLs, the RFC 3161 TSA and the CA certificates over loopback HTTP (certomancer's
Animator on a werkzeug server), at the URLs embedded in the certificates (``base_url`` is fixed at creation):

    OCSP (officers, TSA)       {base_url}/arbots/ocsp/interm
    CRL of the intermediate    {base_url}/arbots/crls/interm/latest.crl
    CRL of the root            {base_url}/arbots/crls/root/latest.crl
    caIssuers                  {base_url}/arbots/certs/interm/ca.crt, {base_url}/arbots/certs/root/ca.crt
    TSA                        {base_url}/arbots/tsa/tsa

certomancer is an optional dependency (extras ``demo``/``test``); it is imported lazily, so importing this module and
using :class:`OfficerCert` works without it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import socket
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog

if TYPE_CHECKING:  # pragma: no cover
    from certomancer.registry import PKIArchitecture

__all__ = [
    "OfficerCert",
    "PKI",
    "PKIServer",
    "create_pki",
    "ensure_pki",
    "free_port",
    "load_into_token",
    "load_pki",
]

log = structlog.get_logger("arbots.pki")

DEFAULT_ORG = "ООО «Арботс Демо»"
MANIFEST = "pki.json"
CONFIG_FILE = "certomancer.yml"
PASSWORD_FILE = "p12-password"
_FORMAT = "arbots-pki/1"

ARCH = "arbots"
ROOT = "root-ca"
INTERMEDIATE = "intermediate-ca"
TSA = "tsa"
OCSP_RESPONDER = "ocsp-responder"
_SERVICE_LABELS = (ROOT, INTERMEDIATE, TSA, OCSP_RESPONDER)

ROOT_CN = "Арботс Демо Корневой УЦ"
INTERMEDIATE_CN = "Арботс Демо Выпускающий УЦ"
TSA_CN = "Арботс Демо Служба штампов времени"
OCSP_CN = "Арботс Демо OCSP-служба"

# Validity windows, relative to ``now`` (the creation time).
CA_NOT_BEFORE = timedelta(days=400)
CA_NOT_AFTER = timedelta(days=5 * 365)
OFFICER_WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "good": (timedelta(days=-30), timedelta(days=2 * 365)),
    "revoked": (timedelta(days=-30), timedelta(days=2 * 365)),
    "expired": (timedelta(days=-400), timedelta(days=-10)),
    "not_yet_valid": (timedelta(days=10), timedelta(days=2 * 365)),
}
REVOKED_AGO = timedelta(days=1)
# CRL numbering/thisUpdate/nextUpdate are derived from the issuer's notBefore and this period at request time,
# so a CRL fetched at wall-clock time t always has thisUpdate <= t < nextUpdate.
CRL_UPDATE_SCHEDULE = "P1D"

_STATES = frozenset(OFFICER_WINDOWS)
_KEY_USAGES = frozenset(
    {
        "digital_signature",
        "non_repudiation",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    }
)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class OfficerCert:
    id: str  # ASCII label, e.g. "chief_accountant" (used as certomancer label and file stem)
    full_name: str  # subject CN, Cyrillic, e.g. "Смирнова Елена Викторовна"
    position: str  # subject 'title' attribute, e.g. "Главный бухгалтер"
    state: Literal["good", "expired", "revoked", "not_yet_valid"] = "good"
    key_usage: tuple[str, ...] = ("digital_signature", "non_repudiation")


@dataclass(frozen=True)
class PKI:
    folder: Path
    base_url: str  # "http://127.0.0.1:<port>"
    port: int
    root_pem: Path
    intermediate_pem: Path
    tsa_url: str  # full URL of the RFC 3161 TSA served by PKIServer
    officers: dict[str, OfficerCert] = field(hash=False)
    p12: dict[str, Path] = field(hash=False)  # officer id -> PKCS#12 file (key + cert + chain)
    cert_pem: dict[str, Path] = field(hash=False)  # officer id -> PEM certificate
    password_file: Path  # holds the PKCS#12 password, file mode 0600, no trailing newline


# --------------------------------------------------------------------------------------------------------------------
# small helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0 and ask the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and rename; the file never has wider perms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _service_urls(base_url: str) -> dict[str, str]:
    prefix = f"{base_url}/{ARCH}"
    return {
        "tsa": f"{prefix}/tsa/tsa",
        "ocsp": f"{prefix}/ocsp/interm",
        "crl_intermediate": f"{prefix}/crls/interm/latest.crl",
        "crl_root": f"{prefix}/crls/root/latest.crl",
        "ca_intermediate": f"{prefix}/certs/interm/ca.crt",
        "ca_root": f"{prefix}/certs/root/ca.crt",
    }


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _check_inputs(officers: Sequence[OfficerCert], port: int, now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, got {port!r}")
    seen: set[str] = set()
    for o in officers:
        if not isinstance(o, OfficerCert):
            raise TypeError(f"officers must be OfficerCert, got {type(o).__name__}")
        if not _ID_RE.fullmatch(o.id):
            raise ValueError(f"officer id {o.id!r} must be an ASCII label ([A-Za-z0-9_-], at most 64 characters)")
        if o.id in _SERVICE_LABELS:
            raise ValueError(f"officer id {o.id!r} is reserved for the PKI's own certificates")
        if o.id in seen:
            raise ValueError(f"duplicate officer id {o.id!r}")
        seen.add(o.id)
        if o.state not in _STATES:
            raise ValueError(f"officer {o.id!r}: unknown state {o.state!r} (one of {sorted(_STATES)})")
        if not o.key_usage or not set(o.key_usage) <= _KEY_USAGES:
            raise ValueError(f"officer {o.id!r}: key_usage {o.key_usage!r} must be a non-empty subset of "
                             f"{sorted(_KEY_USAGES)}")
        if not o.full_name.strip() or not o.position.strip():
            raise ValueError(f"officer {o.id!r}: full_name and position must not be empty")


# --------------------------------------------------------------------------------------------------------------------
# certomancer configuration


def _build_config(
    officers: Sequence[OfficerCert], *, now: datetime, base_url: str, org: str, serials: dict[str, int]
) -> dict[str, Any]:
    """The certomancer config as a plain dict (no secrets: the key password is injected at load time)."""

    def validity(start: timedelta, end: timedelta) -> dict[str, str]:
        return {"valid-from": _iso(now + start), "valid-to": _iso(now + end)}

    ca_validity = validity(-CA_NOT_BEFORE, CA_NOT_AFTER)

    def key_usage(*usages: str) -> dict[str, Any]:
        return {"id": "key_usage", "critical": True, "smart-value": {"schema": "key-usage", "params": list(usages)}}

    def crl_dp(repo: str) -> dict[str, Any]:
        return {"id": "crl_distribution_points",
                "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": [repo]}}}

    def aia(*, ocsp: bool, ca_repo: str) -> dict[str, Any]:
        params: dict[str, Any] = {"ca-issuer-links": [{"repo": ca_repo}]}
        if ocsp:
            params["ocsp-responder-names"] = ["interm"]
        return {"id": "authority_information_access", "smart-value": {"schema": "aia-urls", "params": params}}

    entities: dict[str, dict[str, str]] = {
        ROOT: {"common-name": ROOT_CN},
        INTERMEDIATE: {"common-name": INTERMEDIATE_CN},
        TSA: {"common-name": TSA_CN},
        OCSP_RESPONDER: {"common-name": OCSP_CN},
    }
    certs: dict[str, dict[str, Any]] = {
        ROOT: {
            "subject": ROOT, "issuer": ROOT, "serial": serials[ROOT], "validity": ca_validity,
            "extensions": [
                {"id": "basic_constraints", "critical": True, "value": {"ca": True}},
                key_usage("digital_signature", "key_cert_sign", "crl_sign"),
            ],
        },
        INTERMEDIATE: {
            "subject": INTERMEDIATE, "issuer": ROOT, "serial": serials[INTERMEDIATE], "validity": ca_validity,
            "extensions": [
                {"id": "basic_constraints", "critical": True, "value": {"ca": True, "path-len-constraint": 0}},
                key_usage("digital_signature", "key_cert_sign", "crl_sign"),
                crl_dp("root"),
                aia(ocsp=False, ca_repo="root"),
            ],
        },
        TSA: {
            "subject": TSA, "issuer": INTERMEDIATE, "serial": serials[TSA], "validity": ca_validity,
            "extensions": [
                key_usage("digital_signature"),
                {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]},
                crl_dp("interm"),
                aia(ocsp=True, ca_repo="interm"),
            ],
        },
        OCSP_RESPONDER: {
            "subject": OCSP_RESPONDER, "issuer": INTERMEDIATE, "serial": serials[OCSP_RESPONDER],
            "validity": ca_validity,
            "extensions": [
                key_usage("digital_signature"),
                {"id": "extended_key_usage", "critical": True, "value": ["ocsp_signing"]},
                {"id": "ocsp_no_check"},
                aia(ocsp=False, ca_repo="interm"),
            ],
        },
    }
    for o in officers:
        entities[o.id] = {"common-name": o.full_name, "title": o.position}
        start, end = OFFICER_WINDOWS[o.state]
        spec: dict[str, Any] = {
            "subject": o.id, "issuer": INTERMEDIATE, "serial": serials[o.id], "validity": validity(start, end),
            "extensions": [
                key_usage(*o.key_usage),
                crl_dp("interm"),
                aia(ocsp=True, ca_repo="interm"),
            ],
        }
        if o.state == "revoked":
            spec["revocation"] = {"revoked-since": _iso(now - REVOKED_AGO), "reason": "key_compromise"}
        certs[o.id] = spec

    labels = [*_SERVICE_LABELS, *(o.id for o in officers)]
    return {
        "external-url-prefix": base_url,
        "keysets": {ARCH: {"path-prefix": "keys", "keys": {lbl: {"path": f"{lbl}.key.pem"} for lbl in labels}}},
        "pki-architectures": {
            ARCH: {
                "keyset": ARCH,
                "entity-defaults": {"country-name": "RU", "organization-name": org},
                "entities": entities,
                "certs": certs,
                "services": {
                    "ocsp": {
                        "interm": {"for-issuer": INTERMEDIATE, "responder-cert": OCSP_RESPONDER,
                                   "signing-key": OCSP_RESPONDER},
                    },
                    "crl-repo": {
                        "root": {"for-issuer": ROOT, "signing-key": ROOT,
                                 "simulated-update-schedule": CRL_UPDATE_SCHEDULE},
                        "interm": {"for-issuer": INTERMEDIATE, "signing-key": INTERMEDIATE,
                                   "simulated-update-schedule": CRL_UPDATE_SCHEDULE},
                    },
                    "cert-repo": {
                        "root": {"for-issuer": ROOT, "publish-issued-certs": True},
                        "interm": {"for-issuer": INTERMEDIATE, "publish-issued-certs": True},
                    },
                    "time-stamping": {
                        "tsa": {"signing-cert": TSA, "signing-key": TSA, "certs-to-embed": [INTERMEDIATE]},
                    },
                },
            }
        },
    }


def _arch_from_config(config: dict[str, Any], folder: Path, password: str) -> PKIArchitecture:
    from certomancer.registry import ArchLabel, CertomancerConfig

    config = json.loads(json.dumps(config))  # deep copy; the password must not end up in the caller's dict
    config["keysets"][ARCH]["default-password"] = password
    cfg = CertomancerConfig(
        config,
        key_search_dir=str(folder),
        lazy_load_keys=True,
        config_search_dir=str(folder),  # resolves the certificate-file entries (pre-generated certificates)
    )
    return cfg.get_pki_arch(ArchLabel(ARCH))


def _read_password(pki: PKI) -> str:
    return pki.password_file.read_text(encoding="utf-8")


def _load_arch(pki: PKI) -> PKIArchitecture:
    """Rebuild the certomancer architecture from folder/certomancer.yml (certificates come from the PEM files)."""
    import yaml

    with open(pki.folder / CONFIG_FILE, encoding="utf-8") as fh:  # certomancer's from_file uses the locale encoding
        config = yaml.safe_load(fh)
    return _arch_from_config(config, pki.folder, _read_password(pki))


# --------------------------------------------------------------------------------------------------------------------
# create / load / ensure


def create_pki(
    folder: Path,
    officers: Sequence[OfficerCert],
    *,
    now: datetime,
    port: int,
    password: str | None = None,
    org: str = DEFAULT_ORG,
) -> PKI:
    """Generate a fresh PKI in ``folder`` (overwriting one that is there). The manifest is written last, so an
    interrupted run leaves no ``pki.json`` and :func:`ensure_pki` starts over."""
    from asn1crypto import pem as asn1_pem
    from cryptography import x509 as pyca_x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    officers = list(officers)
    _check_inputs(officers, port, now)
    if password is not None and not password:
        raise ValueError("password must not be empty")
    if password is None:
        password = secrets.token_urlsafe(18)
    pw = password.encode("utf-8")
    now = now.astimezone(UTC).replace(microsecond=0)  # X.509 times have one-second resolution
    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    for sub, mode in (("keys", 0o700), ("certs", 0o755), ("officers", 0o755)):
        (folder / sub).mkdir(exist_ok=True)
        os.chmod(folder / sub, mode)

    labels = [*_SERVICE_LABELS, *(o.id for o in officers)]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # OpenSSL keygen releases the GIL
        keys = dict(zip(labels, pool.map(lambda _: rsa.generate_private_key(65537, 2048), labels)))
    enc = serialization.BestAvailableEncryption(pw)
    for lbl, key in keys.items():
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        _write_atomic(folder / "keys" / f"{lbl}.key.pem", pem, 0o600)

    base_url = f"http://127.0.0.1:{port}"
    serials = {lbl: pyca_x509.random_serial_number() for lbl in labels}
    config = _build_config(officers, now=now, base_url=base_url, org=org, serials=serials)
    arch = _arch_from_config(config, folder, password)

    from certomancer.registry import CertLabel

    cert_files = {
        **{lbl: f"certs/{lbl}.pem" for lbl in _SERVICE_LABELS},
        **{o.id: f"officers/{o.id}.pem" for o in officers},
    }
    ders: dict[str, bytes] = {}
    for lbl in labels:
        der = arch.get_cert(CertLabel(lbl)).dump()
        ders[lbl] = der
        _write_atomic(folder / cert_files[lbl], asn1_pem.armor("CERTIFICATE", der), 0o644)

    # From now on certomancer serves exactly these bytes instead of re-signing (faster start, no drift).
    for lbl, rel in cert_files.items():
        config["pki-architectures"][ARCH]["certs"][lbl]["certificate-file"] = rel
    import yaml

    header = "# Generated by demo.pki.create_pki; key files are encrypted with the password in p12-password.\n"
    yml = header + yaml.safe_dump(config, allow_unicode=True, sort_keys=False, width=120)
    _write_atomic(folder / CONFIG_FILE, yml.encode("utf-8"), 0o644)

    chain = [pyca_x509.load_der_x509_certificate(ders[INTERMEDIATE]),
             pyca_x509.load_der_x509_certificate(ders[ROOT])]
    for o in officers:
        blob = pkcs12.serialize_key_and_certificates(
            name=o.id.encode("ascii"),
            key=keys[o.id],
            cert=pyca_x509.load_der_x509_certificate(ders[o.id]),
            cas=chain,
            encryption_algorithm=enc,
        )
        _write_atomic(folder / "officers" / f"{o.id}.p12", blob, 0o600)

    _write_atomic(folder / PASSWORD_FILE, pw, 0o600)

    urls = _service_urls(base_url)
    manifest = {
        "format": _FORMAT,
        "created_at": _iso(now),
        "arch": ARCH,
        "org": org,
        "port": port,
        "base_url": base_url,
        "tsa_url": urls["tsa"],
        "ocsp_url": urls["ocsp"],
        "crl_urls": {"root": urls["crl_root"], "intermediate": urls["crl_intermediate"]},
        "root_pem": cert_files[ROOT],
        "intermediate_pem": cert_files[INTERMEDIATE],
        "tsa_pem": cert_files[TSA],
        "ocsp_pem": cert_files[OCSP_RESPONDER],
        "password_file": PASSWORD_FILE,
        "officers": [
            {
                "id": o.id,
                "full_name": o.full_name,
                "position": o.position,
                "state": o.state,
                "key_usage": list(o.key_usage),
                "serial": serials[o.id],
                "cert_pem": cert_files[o.id],
                "p12": f"officers/{o.id}.p12",
            }
            for o in officers
        ],
    }
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    _write_atomic(folder / MANIFEST, data, 0o644)
    log.info("pki.created", folder=str(folder), officers=[o.id for o in officers], base_url=base_url)
    return load_pki(folder)


def load_pki(folder: Path) -> PKI:
    """Read the PKI that :func:`create_pki` wrote to ``folder``."""
    folder = Path(folder).absolute()
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no PKI in {folder}: {MANIFEST} is missing") from None
    if manifest.get("format") != _FORMAT:
        raise ValueError(f"{folder / MANIFEST}: unsupported format {manifest.get('format')!r}")
    officers: dict[str, OfficerCert] = {}
    p12: dict[str, Path] = {}
    cert_pem: dict[str, Path] = {}
    for entry in manifest["officers"]:
        oid = entry["id"]
        officers[oid] = OfficerCert(
            id=oid,
            full_name=entry["full_name"],
            position=entry["position"],
            state=entry["state"],
            key_usage=tuple(entry["key_usage"]),
        )
        p12[oid] = folder / entry["p12"]
        cert_pem[oid] = folder / entry["cert_pem"]
    pki = PKI(
        folder=folder,
        base_url=manifest["base_url"],
        port=int(manifest["port"]),
        root_pem=folder / manifest["root_pem"],
        intermediate_pem=folder / manifest["intermediate_pem"],
        tsa_url=manifest["tsa_url"],
        officers=officers,
        p12=p12,
        cert_pem=cert_pem,
        password_file=folder / manifest["password_file"],
    )
    missing = [p for p in (pki.root_pem, pki.intermediate_pem, pki.password_file, *p12.values(), *cert_pem.values())
               if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"PKI in {folder} is incomplete; missing: {', '.join(map(str, missing))}")
    return pki


def ensure_pki(folder: Path, officers: Sequence[OfficerCert], *, now: datetime, port: int) -> PKI:
    """Load the PKI in ``folder`` if ``folder/pki.json`` exists, else create one (random password).

    An existing PKI is never regenerated (documents signed earlier stay verifiable). If it does not fit the request
    (other port, an officer missing or declared differently) a ``ValueError`` says so; delete the folder to start over.
    Concurrent callers are serialised with a lock file in ``folder``.
    """
    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".pki.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (folder / MANIFEST).is_file():
                pki = load_pki(folder)
                _check_fits(pki, officers, port)
                return pki
            return create_pki(folder, officers, now=now, port=port)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_fits(pki: PKI, officers: Sequence[OfficerCert], port: int) -> None:
    problems = []
    if pki.port != port:
        problems.append(f"it serves port {pki.port}, not {port}")
    for o in officers:
        have = pki.officers.get(o.id)
        if have is None:
            problems.append(f"officer {o.id!r} is missing")
        elif have != o:
            problems.append(f"officer {o.id!r} differs ({have} != {o})")
    if problems:
        raise ValueError(f"existing PKI in {pki.folder} does not match: {'; '.join(problems)}. "
                         f"Delete the folder to generate a new PKI.")


# --------------------------------------------------------------------------------------------------------------------
# HTTP services


def _quiet_handler_class():
    from werkzeug.serving import WSGIRequestHandler

    class _Handler(WSGIRequestHandler):
        """No access log (werkzeug would add its own stderr handler); errors go to the structlog logger."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

        def log(self, type: str, message: str, *args: Any) -> None:
            if type in ("error", "warning"):
                log.warning("pki.http.error", message=(message % args if args else message).rstrip())

    return _Handler


def _animator_class():
    from certomancer.integrations.animator import Animator

    class _WallClockAnimator(Animator):
        """certomancer's Animator on the wall clock, truncated to whole seconds.

        Without the truncation OCSP ``producedAt``/``thisUpdate`` carry microseconds, which DER forbids: pyHanko
        (asn1crypto) accepts them, but ``cryptography``/OpenSSL reject the whole OCSP response.
        """

        def at_time(self, request):  # type: ignore[no-untyped-def]
            return super().at_time(request).replace(microsecond=0)

    return _WallClockAnimator


class PKIServer:
    """Serve OCSP, CRLs, the TSA and the CA certificates of ``pki`` on 127.0.0.1:``pki.port``.

    Usage: ``with PKIServer(pki) as server: ...``. The server runs in a daemon thread; leaving the block shuts it
    down and joins the thread. Responses use the wall clock (certomancer's Animator, time not pinned). Certomancer's
    web UI (which can hand out PKCS#12 files) is not enabled.
    """

    def __init__(self, pki: PKI):
        self.pki = pki
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.pki.base_url

    @property
    def tsa_url(self) -> str:
        return self.pki.tsa_url

    def __enter__(self) -> PKIServer:
        if self._server is not None:
            raise RuntimeError("PKIServer is already running")
        from certomancer.integrations.animator import AnimatorArchStore
        from werkzeug.serving import make_server

        arch = _load_arch(self.pki)
        app = _animator_class()(AnimatorArchStore({arch.arch_label: arch}), with_web_ui=False)
        # Bind ourselves: werkzeug's own bind error path prints to stderr and calls sys.exit(1).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", self.pki.port))
            except OSError as e:
                raise OSError(e.errno, f"PKI server cannot listen on 127.0.0.1:{self.pki.port}: {e.strerror}") from e
            sock.listen(64)
            server = make_server("127.0.0.1", self.pki.port, app, threaded=True,
                                 request_handler=_quiet_handler_class(), fd=sock.fileno())
        finally:
            sock.close()  # werkzeug holds its own dup of the descriptor
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"pki-server-{self.pki.port}", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        log.info("pki.server.started", base_url=self.pki.base_url)
        return self

    def __exit__(self, *exc: object) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()  # serve_forever returns and closes the listening socket
        if thread is not None:
            thread.join(timeout=10)
        server.server_close()
        log.info("pki.server.stopped", base_url=self.pki.base_url)


# --------------------------------------------------------------------------------------------------------------------
# PKCS#11


def load_into_token(pki: PKI, officer_id: str, *, module: str, token_label: str, pin: str) -> None:
    """Put the officer's key and certificate (label = officer_id for both key and cert, plus the chain) into an
    initialised PKCS#11 token (SoftHSM2).

    Objects already labelled ``officer_id`` are replaced, so loading twice is harmless; chain certificates
    (labels ``intermediate-ca`` and ``root-ca``) are added only if the token has no certificate with that label.
    The private key is stored sensitive and non-extractable; CKA_ID = officer_id as bytes.
    For SoftHSM2, ``SOFTHSM2_CONF`` must be set before the library is first loaded in the process.
    """
    if officer_id not in pki.officers:
        raise KeyError(f"no officer {officer_id!r} in the PKI at {pki.folder}")
    import pkcs11
    from certomancer.integrations.alchemist import DefaultAlchemistBackend
    from certomancer.registry import CertLabel

    arch = _load_arch(pki)
    label = CertLabel(officer_id)
    spec = arch.get_cert_spec(label)
    cert = arch.get_cert(label)
    key = arch.key_set.get_private_key(spec.subject_key)
    chain = [(str(lbl), arch.get_cert(lbl)) for lbl in arch.get_chain(label)]

    # Not certomancer's open_pkcs11_session: it silently falls back to the last token when the label is not found.
    token = pkcs11.lib(module).get_token(token_label=token_label)
    with token.open(rw=True, user_pin=pin) as session:
        backend = DefaultAlchemistBackend(session)
        for obj in list(session.get_objects({pkcs11.Attribute.LABEL: officer_id})):
            obj.destroy()
        for chain_label, chain_cert in chain:
            present = list(session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                                                pkcs11.Attribute.LABEL: chain_label}))
            if not present:
                backend.cert_to_token(cert=chain_cert, label=chain_label, id_attr=chain_label.encode("utf-8"))
        backend.cert_to_token(cert=cert, label=officer_id, id_attr=officer_id.encode("utf-8"))
        backend.private_key_to_token(key=key, label=officer_id, id_attr=officer_id.encode("utf-8"))
