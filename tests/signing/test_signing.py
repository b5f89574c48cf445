"""Signing with a real PKI (certomancer, served on loopback) and a real token (SoftHSM2), checked by pyHanko, by
our own `verify` and by poppler's pdfsig, which parses nothing of ours."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from robots.core.domain import PadesLevel
from robots.documents import render_letter
from signing.certs import CertState
from signing.config import OfficerConfig, SigningConfig, TimestampConfig
from signing.keys import KeyUnavailable
from signing.service import CertificateRefused, SigningService
from signing.verify import verify_bytes
from tests.pki import SIGN_AT

REPO = Path(__file__).resolve().parents[2]
MARKUP = ("# ПРЕТЕНЗИЯ\n\n## по договору № 12/2024-Б\n\nОбщество с ограниченной ответственностью «Ромашка» "
          "не оплатило счёт № 101 на сумму 12 345,67 руб.\n\nС уважением,\n\nГлавный бухгалтер")
NAMES = {"good": "Смирнова Елена Викторовна", "deputy": "Орлова Марина Сергеевна"}


def pfx_officer(pki, oid: str, **extra) -> OfficerConfig:
    o = pki.officers[oid]
    return OfficerConfig(name=o.full_name, position=o.position,
                         pkcs12={"path": str(pki.p12[oid]), "password_file": str(pki.password_file)}, **extra)


def service(pki, officers: dict, **settings) -> SigningService:
    cfg = SigningConfig(trust_roots=(pki.root_pem,), timestamp=TimestampConfig(url=pki.tsa_url), **settings)
    return SigningService(cfg, officers, pki.folder, environ={})


@pytest.fixture
def letter():
    return render_letter(MARKUP, title="Претензия", stamp_room=True)


@pytest.fixture
def svc(test_pki, pki_server):
    officers = {oid: pfx_officer(test_pki, oid) for oid in test_pki.officers}
    officers["good"] = pfx_officer(test_pki, "good", deputy="deputy", deputy_fallback=True)
    officers["expired"] = pfx_officer(test_pki, "expired", deputy="deputy", deputy_fallback=True)
    officers["revoked"] = pfx_officer(test_pki, "revoked", deputy="deputy", deputy_fallback=False)
    s = service(test_pki, officers)
    yield s
    s.close()


def now() -> datetime:
    """The moment the tests sign and check at: fixed, inside the test PKI's validity windows (tests/pki.py)."""
    return SIGN_AT


def pdfsig(path: Path, nssdir: Path | None = None) -> str:
    args = ["pdfsig"] + (["-nssdir", f"sql:{nssdir}"] if nssdir else []) + [str(path)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60).stdout


def assert_pdfsig_valid(path: Path, signer: str) -> None:
    """pdfsig exits 0 even on a bad digest, so its output is what we read."""
    out = pdfsig(path)
    assert "Signature is Valid" in out, out
    assert "Digest Mismatch" not in out
    assert re.search(rf"Signer Certificate Common Name: {signer}\n", out), out


@pytest.mark.parametrize("level", list(PadesLevel))
def test_every_level_signs_and_validates_in_pyhanko_our_verify_and_pdfsig(svc, letter, level, tmp_path, test_pki):
    at = now()
    choice = svc.choose("good", at)
    signed, record = svc.sign(letter.data, choice, at=at, level=level, reason="Претензия",
                              stamp_page=letter.stamp_page, stamp_box=letter.stamp_box)
    report = verify_bytes(signed, "x.pdf", svc.trust_roots, online=False)
    sig = report.signatures[0]
    assert report.ok, report
    assert (sig.intact, sig.valid, sig.trusted, sig.revoked) == (True, True, True, False)
    assert sig.level == level.value and record.level == level.value
    assert sig.signer == NAMES["good"] and sig.position == "Главный бухгалтер"
    assert sig.serial == record.certificate_serial
    assert sig.signing_time == at.replace(microsecond=0).isoformat()
    assert (sig.timestamp is not None) == (level is not PadesLevel.B_B)
    assert sig.modification_level == ("LTA_UPDATES" if level in (PadesLevel.B_LT, PadesLevel.B_LTA) else "NONE")
    if level is PadesLevel.B_LTA:
        assert [s.kind for s in report.signatures] == ["signature", "document timestamp"]
    path = tmp_path / f"{level.value}.pdf"
    path.write_bytes(signed)
    assert_pdfsig_valid(path, NAMES["good"])


def test_pdfsig_trusts_the_signer_given_our_root(svc, letter, tmp_path, test_pki):
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    for name, pem in (("root", test_pki.root_pem), ("interm", test_pki.intermediate_pem)):
        subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", name, "-t", "CT,C,C", "-i", str(pem)], check=True,
                       capture_output=True)
    at = now()
    signed, _ = svc.sign(letter.data, svc.choose("good", at), at=at, level=PadesLevel.B_B)
    path = tmp_path / "s.pdf"
    path.write_bytes(signed)
    out = pdfsig(path, nss)
    assert "Signature is Valid" in out and "Certificate issuer isn't Trusted" not in out, out


def test_tampering_is_detected_by_pyhanko_and_by_pdfsig(svc, letter, tmp_path):
    at = now()
    signed, _ = svc.sign(letter.data, svc.choose("good", at), at=at, level=PadesLevel.B_T)
    # change one byte inside the signed range (the document's info dictionary: /Creator (arbots))
    i = signed.index(b"(arbots)")
    tampered = signed[:i + 1] + b"A" + signed[i + 2:]
    report = verify_bytes(tampered, "t.pdf", svc.trust_roots, online=False)
    assert not report.ok and not report.signatures[0].intact
    assert any("changed after signing" in p for p in report.signatures[0].problems)
    path = tmp_path / "t.pdf"
    path.write_bytes(tampered)
    out = pdfsig(path)
    assert "Digest Mismatch" in out and "Signature is Valid" not in out, out

    # an incremental update that rewrites a page after signing is reported as a modification
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(90)
    w.update_container(page)
    buf = io.BytesIO()
    w.write(buf)
    report = verify_bytes(buf.getvalue(), "m.pdf", svc.trust_roots, online=False)
    assert not report.ok and report.signatures[0].intact
    assert report.signatures[0].modification_level == "OTHER"


@pytest.mark.parametrize(("oid", "state"), [
    ("expired", CertState.EXPIRED), ("revoked", CertState.REVOKED), ("not_yet", CertState.NOT_YET_VALID),
    ("no_sign", CertState.WRONG_KEY_USAGE),
])
def test_unusable_certificates_are_found_before_signing(svc, oid, state):
    check = svc.check(oid, now())
    assert check.state is state and not check.usable, check


def test_an_expired_officer_is_replaced_by_the_allowed_deputy_and_the_record_says_so(svc, letter):
    at = now()
    choice = svc.choose("expired", at)
    assert (choice.officer_id, choice.on_behalf_of) == ("deputy", "expired")
    signed, record = svc.sign(letter.data, choice, at=at, level=PadesLevel.B_B)
    assert record.signer_name == NAMES["deputy"] and record.on_behalf_of == "expired"
    assert verify_bytes(signed, "d.pdf", svc.trust_roots, online=False).signatures[0].signer == NAMES["deputy"]


def test_a_revoked_officer_without_deputy_fallback_is_refused_with_the_reason(svc):
    with pytest.raises(CertificateRefused, match=r"officer revoked .* cannot sign: revoked.*deputy_fallback is false"):
        svc.choose("revoked", now())


def test_an_untrusted_chain_is_refused(test_pki, pki_server):
    # the only "trust root" is some other end-entity certificate: no path from the officer's leads there
    s = SigningService(SigningConfig(trust_roots=(test_pki.cert_pem["deputy"],)),
                       {"good": pfx_officer(test_pki, "good")}, test_pki.folder, environ={})
    try:
        check = s.check("good", now())
        assert check.state is CertState.UNTRUSTED, check
        with pytest.raises(CertificateRefused, match="untrusted"):
            s.choose("good", now())
    finally:
        s.close()


def test_a_wrong_password_names_its_source_and_never_its_value(test_pki, tmp_path, caplog):
    wrong = tmp_path / "wrong"
    wrong.write_text("NotThePassword-42")
    wrong.chmod(0o600)
    officer = OfficerConfig(name="X", position="Y",
                            pkcs12={"path": str(test_pki.p12["good"]), "password_env": "ARBOTS_TEST_PFX"})
    s = SigningService(SigningConfig(trust_roots=(test_pki.root_pem,)), {"good": officer}, test_pki.folder,
                       environ={"ARBOTS_TEST_PFX": "NotThePassword-42"})
    with pytest.raises(KeyUnavailable) as info:
        s.key("good")
    text = str(info.value) + repr(info.value.__cause__) + repr(info.value.__context__)
    assert "ARBOTS_TEST_PFX" in text and "wrong password" in text
    assert "NotThePassword-42" not in text
    check = s.check("good", now())
    assert check.state is CertState.UNAVAILABLE and "NotThePassword-42" not in " ".join(check.problems)
    unset = SigningService(SigningConfig(trust_roots=(test_pki.root_pem,)), {"good": officer}, test_pki.folder,
                           environ={})
    with pytest.raises(KeyUnavailable, match="environment variable ARBOTS_TEST_PFX is not set"):
        unset.key("good")


def test_a_pfx_readable_by_others_is_warned_about(test_pki, tmp_path):
    import shutil

    from structlog.testing import capture_logs

    loose = tmp_path / "loose.p12"
    shutil.copy(test_pki.p12["good"], loose)
    loose.chmod(0o644)
    officer = OfficerConfig(name="X", position="Y", pkcs12={"path": str(loose), "password_file":
                                                            str(test_pki.password_file)})
    s = SigningService(SigningConfig(trust_roots=(test_pki.root_pem,)), {"good": officer}, test_pki.folder,
                       environ={})
    with capture_logs() as logs:
        s.key("good")
    warned = [e for e in logs if e["event"] == "readable_by_others"]
    assert warned and warned[0]["file"] == str(loose) and warned[0]["fix"] == f"chmod 600 {loose}"


def test_a_pkcs11_token_signs_and_validates(test_pki, pki_server, softhsm_token, letter, tmp_path):
    officer = OfficerConfig(name=NAMES["good"], position="Главный бухгалтер", level=PadesLevel.B_LT,
                            pkcs11={"module": softhsm_token.module, "token_label": softhsm_token.label,
                                    "key_label": "good", "pin_env": "ARBOTS_TEST_PIN"})
    s = SigningService(SigningConfig(trust_roots=(test_pki.root_pem,), timestamp=TimestampConfig(url=test_pki.tsa_url)),
                       {"good": officer}, test_pki.folder, environ={"ARBOTS_TEST_PIN": softhsm_token.pin})
    try:
        at = now()
        choice = s.choose("good", at)
        signed, record = s.sign(letter.data, choice, at=at, level=s.level_for("good"),
                                stamp_page=letter.stamp_page, stamp_box=letter.stamp_box)
        assert record.key_source == f"PKCS#11 {softhsm_token.label}" and record.level == "B-LT"
        report = verify_bytes(signed, "p11.pdf", s.trust_roots, online=False)
        assert report.ok and report.signatures[0].level == "B-LT", report
        path = tmp_path / "p11.pdf"
        path.write_bytes(signed)
        assert_pdfsig_valid(path, NAMES["good"])
    finally:
        s.close()


def test_a_wrong_pin_is_a_clear_error_without_the_pin(test_pki, softhsm_token):
    officer = OfficerConfig(name="X", position="Y", pkcs11={
        "module": softhsm_token.module, "token_label": softhsm_token.label, "key_label": "good",
        "pin_env": "ARBOTS_TEST_PIN"})
    s = SigningService(SigningConfig(trust_roots=(test_pki.root_pem,)), {"good": officer}, test_pki.folder,
                       environ={"ARBOTS_TEST_PIN": "999999"})
    with pytest.raises(KeyUnavailable, match="PIN \\(from ARBOTS_TEST_PIN\\) is wrong") as info:
        s.key("good")
    assert "999999" not in str(info.value)


def test_the_stamp_is_on_the_last_page_in_the_room_the_letter_kept(svc, letter, tmp_path):
    at = now()
    signed, record = svc.sign(letter.data, svc.choose("good", at), at=at, level=PadesLevel.B_B,
                              stamp_page=letter.stamp_page, stamp_box=letter.stamp_box)
    reader = PdfFileReader(io.BytesIO(signed))
    sig = reader.embedded_regular_signatures[0]
    widget = sig.sig_field
    rect = [float(v) for v in widget["/Rect"]]
    assert rect == pytest.approx([int(v) for v in letter.stamp_box], abs=1)
    # the stamp's text, with Cyrillic intact, is what pdftotext reads in that box
    path = tmp_path / "s.pdf"
    path.write_bytes(signed)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True).stdout
    for expected in ("ДОКУМЕНТ ПОДПИСАН", "ЭЛЕКТРОННОЙ ПОДПИСЬЮ", f"Владелец: {NAMES['good']}",
                     "Должность: Главный бухгалтер", f"Сертификат: {record.certificate_serial}"):
        assert expected in text, text
    valid = f"Действителен: с {datetime.fromisoformat(record.valid_from):%d.%m.%Y} по " \
            f"{datetime.fromisoformat(record.valid_to):%d.%m.%Y}"
    assert valid in text
    png = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", str(path), str(png)], check=True)
    assert png.with_suffix(".png").stat().st_size > 5000


def test_verify_cli_prints_human_and_json_and_exits_non_zero_on_any_invalid_file(svc, letter, tmp_path, test_pki):
    at = now()
    signed, _ = svc.sign(letter.data, svc.choose("good", at), at=at, level=PadesLevel.B_T)
    good = tmp_path / "good.pdf"
    good.write_bytes(signed)
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(letter.data)
    cli = [sys.executable, str(REPO / "run_robots.py"), "verify", "--trust-root", str(test_pki.root_pem)]
    ok = subprocess.run([*cli, str(good)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{good}: VALID" in ok.stdout and NAMES["good"] in ok.stdout and "level B-T" in ok.stdout
    bad = subprocess.run([*cli, "--json", str(good), str(unsigned)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    reports = json.loads(bad.stdout)
    assert [r["ok"] for r in reports] == [True, False]
    assert reports[1]["error"] == "the file carries no signature"
    assert reports[0]["signatures"][0]["timestamp_valid"] is True
    missing = subprocess.run([*cli, str(tmp_path / "nope.pdf")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_reserved_bytes_are_reused_and_a_too_small_reservation_recovers(svc, letter):
    at = now()
    choice = svc.choose("good", at)
    svc.sign(letter.data, choice, at=at, level=PadesLevel.B_B)
    assert svc._reserved[("good", PadesLevel.B_B)] > 0
    svc._reserved[("good", PadesLevel.B_B)] = 64  # far too small: pyHanko refuses, we estimate again
    signed, _ = svc.sign(letter.data, choice, at=at, level=PadesLevel.B_B)
    assert verify_bytes(signed, "r.pdf", svc.trust_roots, online=False).ok
    assert svc._reserved[("good", PadesLevel.B_B)] > 64


def test_the_signing_time_is_the_time_given_not_the_clock(svc, letter):
    at = now() - timedelta(hours=3)
    signed, record = svc.sign(letter.data, svc.choose("good", at), at=at, level=PadesLevel.B_B)
    assert record.signed_at == at.isoformat()
    sig = verify_bytes(signed, "t.pdf", svc.trust_roots, online=False).signatures[0]
    assert sig.signing_time == at.replace(microsecond=0).isoformat()
