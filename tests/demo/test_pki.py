"""The generated PKI: certificates, PKCS#12 files, manifest, HTTP services (CRL, OCSP, TSA) and the SoftHSM2 token."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import socket
import stat
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID

from demo.pki import (
    DEFAULT_ORG,
    PKI,
    OfficerCert,
    PKIServer,
    create_pki,
    ensure_pki,
    free_port,
    load_pki,
)
from tests.pki import PKI_CREATED, SIGN_AT, TEST_OFFICERS

DAY = timedelta(days=1)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _created_at(pki: PKI) -> datetime:
    """create_pki's ``now`` (truncated to seconds): CAs are valid from now − 400 days."""
    return _cert(pki.root_pem).not_valid_before_utc + 400 * DAY


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    assert len(values) == 1, (oid, name)
    return str(values[0].value)


def _get(url: str, data: bytes | None = None, content_type: str | None = None) -> bytes:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type} if content_type else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def _aia(cert: x509.Certificate, method: x509.ObjectIdentifier) -> list[str]:
    aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    return [d.access_location.value for d in aia if d.access_method == method]


def _crl_urls(cert: x509.Certificate) -> list[str]:
    dps = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    return [name.value for dp in dps for name in dp.full_name]


# ---------------------------------------------------------------------------------------------------------------------
# certificates


def test_hierarchy_and_subjects(test_pki: PKI) -> None:
    root, inter = _cert(test_pki.root_pem), _cert(test_pki.intermediate_pem)
    assert _attr(root.subject, NameOID.COMMON_NAME) == "Арботс Демо Корневой УЦ"
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    assert inter.issuer == root.subject
    inter.verify_directly_issued_by(root)
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    assert set(test_pki.officers) == {o.id for o in TEST_OFFICERS}
    for officer in TEST_OFFICERS:
        cert = _cert(test_pki.cert_pem[officer.id])
        assert _attr(cert.subject, NameOID.COMMON_NAME) == officer.full_name
        assert _attr(cert.subject, NameOID.TITLE) == officer.position
        assert _attr(cert.subject, NameOID.ORGANIZATION_NAME) == DEFAULT_ORG
        assert _attr(cert.subject, NameOID.COUNTRY_NAME) == "RU"
        assert cert.issuer == inter.subject
        cert.verify_directly_issued_by(inter)
        assert isinstance(cert.public_key().key_size, int) and cert.public_key().key_size == 2048
    serials = {_cert(p).serial_number for p in test_pki.cert_pem.values()}
    assert len(serials) == len(TEST_OFFICERS)


@pytest.mark.parametrize(("officer_id", "start", "end"), [
    ("good", -30 * DAY, 730 * DAY),
    ("deputy", -30 * DAY, 730 * DAY),
    ("revoked", -30 * DAY, 730 * DAY),
    ("expired", -400 * DAY, -10 * DAY),
    ("not_yet", 10 * DAY, 730 * DAY),
])
def test_validity_windows(test_pki: PKI, officer_id: str, start: timedelta, end: timedelta) -> None:
    now = _created_at(test_pki)
    cert = _cert(test_pki.cert_pem[officer_id])
    assert cert.not_valid_before_utc == now + start
    assert cert.not_valid_after_utc == now + end
    assert now == PKI_CREATED  # the fixture's fixed time, not the wall clock
    ca = _cert(test_pki.intermediate_pem)
    assert ca.not_valid_before_utc == now - 400 * DAY
    assert ca.not_valid_after_utc == now + 5 * 365 * DAY


def test_key_usage_and_service_urls(test_pki: PKI) -> None:
    base = test_pki.base_url
    assert base == f"http://127.0.0.1:{test_pki.port}"
    assert test_pki.tsa_url.startswith(base + "/")

    good = _cert(test_pki.cert_pem["good"])
    ku = good.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_encipherment
    no_sign = _cert(test_pki.cert_pem["no_sign"]).extensions.get_extension_for_class(x509.KeyUsage).value
    assert no_sign.key_encipherment and not no_sign.digital_signature and not no_sign.content_commitment

    assert _crl_urls(good) == [f"{base}/arbots/crls/interm/latest.crl"]
    assert _aia(good, AuthorityInformationAccessOID.OCSP) == [f"{base}/arbots/ocsp/interm"]
    assert _aia(good, AuthorityInformationAccessOID.CA_ISSUERS) == [f"{base}/arbots/certs/interm/ca.crt"]
    assert _crl_urls(_cert(test_pki.intermediate_pem)) == [f"{base}/arbots/crls/root/latest.crl"]

    tsa = _cert(test_pki.folder / "certs" / "tsa.pem")
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    ocsp_cert = _cert(test_pki.folder / "certs" / "ocsp-responder.pem")
    assert list(ocsp_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING]


# ---------------------------------------------------------------------------------------------------------------------
# files and secrets


def test_p12_opens_with_password_file_only(test_pki: PKI) -> None:
    pw_file = test_pki.password_file
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
    password = pw_file.read_bytes()
    assert len(password) >= 20 and not password.endswith(b"\n")

    for officer_id, path in test_pki.p12.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        key, cert, cas = pkcs12.load_key_and_certificates(path.read_bytes(), password)
        assert cert == _cert(test_pki.cert_pem[officer_id])
        assert key is not None and key.public_key() == cert.public_key()
        assert cas == [_cert(test_pki.intermediate_pem), _cert(test_pki.root_pem)]
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(path.read_bytes(), password + b"x")
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(test_pki.p12["good"].read_bytes(), None)


def test_no_secret_in_clear(test_pki: PKI) -> None:
    password = test_pki.password_file.read_text(encoding="utf-8")
    for name in ("pki.json", "certomancer.yml"):
        assert password not in (test_pki.folder / name).read_text(encoding="utf-8")
    key_files = list((test_pki.folder / "keys").glob("*.key.pem"))
    assert len(key_files) == len(TEST_OFFICERS) + 4
    for key_file in key_files:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(TypeError):  # "Password was not given but private key is encrypted"
            serialization.load_pem_private_key(key_file.read_bytes(), None)


def test_load_pki_round_trips(test_pki: PKI) -> None:
    loaded = load_pki(test_pki.folder)
    assert loaded == test_pki
    assert loaded.officers["no_sign"].key_usage == ("key_encipherment",)
    assert loaded.officers["not_yet"].state == "not_yet_valid"


def test_ensure_pki_keeps_an_existing_pki(test_pki: PKI) -> None:
    root_before = _cert(test_pki.root_pem)
    p12_before = test_pki.p12["good"].read_bytes()
    again = ensure_pki(test_pki.folder, TEST_OFFICERS, now=PKI_CREATED + 3 * DAY, port=test_pki.port)
    assert again == test_pki
    assert _cert(again.root_pem).serial_number == root_before.serial_number
    assert test_pki.p12["good"].read_bytes() == p12_before
    with pytest.raises(ValueError, match="port"):
        ensure_pki(test_pki.folder, TEST_OFFICERS, now=PKI_CREATED, port=test_pki.port + 1)
    with pytest.raises(ValueError, match="missing"):
        ensure_pki(test_pki.folder, [OfficerCert("ghost", "Призрак", "Никто")], now=PKI_CREATED,
                   port=test_pki.port)


def test_ensure_pki_creates_once(tmp_path: Path) -> None:
    officers = [OfficerCert("chief_accountant", "Смирнова Елена Викторовна", "Главный бухгалтер")]
    folder = tmp_path / "demo-pki"
    first = ensure_pki(folder, officers, now=PKI_CREATED, port=12345)
    first_root = _cert(first.root_pem).serial_number
    assert (folder / "pki.json").is_file()
    assert len(first.password_file.read_text(encoding="utf-8")) == 24  # token_urlsafe(18)
    second = ensure_pki(folder, officers, now=PKI_CREATED, port=12345)
    assert _cert(second.root_pem).serial_number == first_root
    # create_pki with an explicit password regenerates: a new root
    third = create_pki(folder, officers, now=PKI_CREATED, port=12345, password="пароль-1")
    assert _cert(third.root_pem).serial_number != first_root
    pkcs12.load_key_and_certificates(third.p12["chief_accountant"].read_bytes(), "пароль-1".encode())


@pytest.mark.parametrize("bad", [
    {"officers": [OfficerCert("root-ca", "А", "Б")]},
    {"officers": [OfficerCert("a", "А", "Б"), OfficerCert("a", "В", "Г")]},
    {"officers": [OfficerCert("кириллица", "А", "Б")]},
    {"officers": [OfficerCert("a", "А", "Б", state="lost")]},  # type: ignore[arg-type]
    {"officers": [OfficerCert("a", "А", "Б", key_usage=("sign_everything",))]},
    {"now": datetime(2026, 1, 1)},
    {"port": 0},
])
def test_create_pki_rejects_bad_input(tmp_path: Path, bad: dict) -> None:
    kwargs = {"officers": [OfficerCert("a", "А", "Б")], "now": PKI_CREATED, "port": 12345, **bad}
    with pytest.raises(ValueError):
        create_pki(tmp_path, kwargs.pop("officers"), **kwargs)
    assert not (tmp_path / "pki.json").exists()


# ---------------------------------------------------------------------------------------------------------------------
# HTTP services


def test_crl_over_http(test_pki: PKI, pki_server: PKIServer) -> None:
    good, revoked = _cert(test_pki.cert_pem["good"]), _cert(test_pki.cert_pem["revoked"])
    inter = _cert(test_pki.intermediate_pem)
    crl = x509.load_der_x509_crl(_get(_crl_urls(good)[0]))
    assert crl.issuer == inter.subject and crl.is_signature_valid(inter.public_key())
    now = datetime.now(UTC)  # the server issues the CRL on the wall clock (PKIServer), so it is read against it
    assert crl.last_update_utc <= now < crl.next_update_utc
    entry = crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == _created_at(test_pki) - DAY
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    for officer_id in ("good", "deputy", "expired", "not_yet", "no_sign"):
        assert crl.get_revoked_certificate_by_serial_number(_cert(test_pki.cert_pem[officer_id]).serial_number) is None

    root_crl = x509.load_der_x509_crl(_get(_crl_urls(inter)[0]))
    assert root_crl.is_signature_valid(_cert(test_pki.root_pem).public_key())
    assert len(root_crl) == 0


@pytest.mark.parametrize(("officer_id", "status"), [
    ("good", ocsp.OCSPCertStatus.GOOD),
    ("revoked", ocsp.OCSPCertStatus.REVOKED),
])
def test_ocsp_over_http(test_pki: PKI, pki_server: PKIServer, officer_id: str, status: ocsp.OCSPCertStatus) -> None:
    cert, inter = _cert(test_pki.cert_pem[officer_id]), _cert(test_pki.intermediate_pem)
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, inter, hashes.SHA1()).build()
    url = _aia(cert, AuthorityInformationAccessOID.OCSP)[0]
    resp = ocsp.load_der_ocsp_response(_get(url, req.public_bytes(serialization.Encoding.DER),
                                            "application/ocsp-request"))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.serial_number == cert.serial_number
    assert resp.certificate_status == status
    responder = _cert(test_pki.folder / "certs" / "ocsp-responder.pem")
    responder.public_key().verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(),
                                  resp.signature_hash_algorithm)
    if status == ocsp.OCSPCertStatus.REVOKED:
        assert resp.revocation_reason == x509.ReasonFlags.key_compromise


def _validate(test_pki: PKI, officer_id: str):
    from asn1crypto import pem as asn1_pem
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext

    def load(path: Path) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(asn1_pem.unarmor(path.read_bytes())[2])

    async def run():
        # at the fixed SIGN_AT; the server's OCSP and CRL answers carry the wall clock, later than that moment
        vc = ValidationContext(trust_roots=[load(test_pki.root_pem)], allow_fetching=True,
                               revocation_mode="hard-fail", moment=SIGN_AT, retroactive_revinfo=True)
        try:
            # no intermediate given: it must come from the AIA caIssuers URL
            validator = CertificateValidator(load(test_pki.cert_pem[officer_id]), validation_context=vc)
            return await validator.async_validate_usage({"digital_signature", "non_repudiation"})
        finally:
            await vc.aclose()

    return asyncio.run(run())


def test_certvalidator_accepts_good_officer(test_pki: PKI, pki_server: PKIServer) -> None:
    path = _validate(test_pki, "good")
    assert path.pkix_len == 2  # intermediate + officer under the trusted root


@pytest.mark.parametrize(("officer_id", "error"), [
    ("revoked", "RevokedError"),
    ("expired", "ExpiredError"),
    ("not_yet", "NotYetValidError"),
    ("no_sign", "InvalidCertificateError"),
])
def test_certvalidator_rejects(test_pki: PKI, pki_server: PKIServer, officer_id: str, error: str) -> None:
    from pyhanko_certvalidator import errors

    with pytest.raises(getattr(errors, error)):
        _validate(test_pki, officer_id)


def test_tsa_answers_pyhanko(test_pki: PKI, pki_server: PKIServer) -> None:
    from asn1crypto import pem as asn1_pem
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    digest = hashlib.sha256("акт сверки".encode()).digest()
    root = asn1_x509.Certificate.load(asn1_pem.unarmor(test_pki.root_pem.read_bytes())[2])

    async def run() -> TimestampSignatureStatus:
        token = await HTTPTimeStamper(test_pki.tsa_url).async_timestamp(digest, "sha256")
        assert token["content_type"].native == "signed_data"
        vc = ValidationContext(trust_roots=[root], allow_fetching=True, revocation_mode="hard-fail")
        try:
            kwargs = await validate_tst_signed_data(token["content"], vc, lambda _algo: digest)
        finally:
            await vc.aclose()
        return TimestampSignatureStatus(**kwargs)

    status = asyncio.run(run())
    assert status.intact and status.valid and status.trusted
    assert abs(status.timestamp - datetime.now(UTC)) < timedelta(minutes=1)  # wall clock, not pinned
    assert status.signing_cert.dump() == _cert(test_pki.folder / "certs" / "tsa.pem").public_bytes(
        serialization.Encoding.DER)


def test_server_serves_the_files_on_disk_and_no_web_ui(test_pki: PKI, pki_server: PKIServer) -> None:
    good = _cert(test_pki.cert_pem["good"])
    served = x509.load_der_x509_certificate(_get(_aia(good, AuthorityInformationAccessOID.CA_ISSUERS)[0]))
    assert served == _cert(test_pki.intermediate_pem)
    with pytest.raises(urllib.error.HTTPError) as err:  # certomancer's web UI would hand out PKCS#12 files
        _get(f"{test_pki.base_url}/_certomancer/pfx-download/arbots", b"cert=good",
             "application/x-www-form-urlencoded")
    err.value.close()
    assert err.value.code == 404


def test_server_from_disk_starts_and_stops_cleanly(test_pki: PKI) -> None:
    port = free_port()
    pki = dataclasses.replace(load_pki(test_pki.folder), port=port, base_url=f"http://127.0.0.1:{port}")
    server = PKIServer(pki)
    with server:
        crl = x509.load_der_x509_crl(_get(f"{pki.base_url}/arbots/crls/interm/latest.crl"))
        assert crl.get_revoked_certificate_by_serial_number(_cert(pki.cert_pem["revoked"]).serial_number)
        with pytest.raises(OSError, match="cannot listen"):  # the port is taken: a clear error, not sys.exit
            PKIServer(pki).__enter__()
    assert not any(t.name == f"pki-server-{port}" for t in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with socket.socket() as s:  # the port can be bound again right away
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


# ---------------------------------------------------------------------------------------------------------------------
# PKCS#11


def test_softhsm_token_holds_officer_keys(test_pki: PKI, softhsm_token) -> None:
    import pkcs11
    from pkcs11 import Attribute, Mechanism, ObjectClass

    token = pkcs11.lib(softhsm_token.module).get_token(token_label=softhsm_token.label)
    with token.open(user_pin=softhsm_token.pin) as session:
        for officer_id in ("good", "deputy"):
            keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: officer_id}))
            certs = list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: officer_id}))
            assert len(keys) == 1 and len(certs) == 1
            cert = _cert(test_pki.cert_pem[officer_id])
            assert certs[0][Attribute.VALUE] == cert.public_bytes(serialization.Encoding.DER)
            assert keys[0][Attribute.ID] == officer_id.encode()
            assert keys[0][Attribute.SENSITIVE] and not keys[0][Attribute.EXTRACTABLE]
            signature = keys[0].sign(b"arbots", mechanism=Mechanism.SHA256_RSA_PKCS)
            cert.public_key().verify(signature, b"arbots", padding.PKCS1v15(), hashes.SHA256())
        for chain_label in ("intermediate-ca", "root-ca"):  # loaded once although two officers share the chain
            assert len(list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                                 Attribute.LABEL: chain_label}))) == 1
        assert not list(session.get_objects({Attribute.LABEL: "expired"}))
