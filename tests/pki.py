"""The test PKIs (session scope), all made at one fixed time (PKI_CREATED), their HTTP services and a SoftHSM2 token.

    officer_pki     demo.pki.PKI for the officers of the repository's schedules.yaml, served for the whole session
    test_pki        demo.pki.PKI with officers good, deputy, expired, revoked, not_yet, no_sign
    pki_server      demo.pki.PKIServer serving test_pki on 127.0.0.1:test_pki.port (request it for OCSP/CRL/TSA)
    softhsm_token   Token(module, label, pin, conf): SoftHSM2 token "arbots-test" holding officers good and deputy
                    (key and certificate labelled with the officer id, plus intermediate-ca and root-ca certificates)
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demo.pki import PKI, OfficerCert, PKIServer, create_pki, free_port, load_into_token

#: When every test PKI is made. Its certificates' validity windows are relative to it (demo/pki.py): the officers'
#: 2026-01-02 .. 2028-02-01, the CAs' and the TSA's until 2031; test_pki's "expired" officer ended 2026-01-22 and
#: its "not_yet" officer starts 2026-02-11. The PKI servers answer OCSP and stamp time on the wall clock.
PKI_CREATED = datetime(2026, 2, 1, tzinfo=UTC)
#: A moment at which test_pki's good, deputy and no_sign certificates are valid, expired has expired, revoked is
#: revoked (since 2026-01-31) and not_yet is not yet valid: the signing tests sign and check at it.
SIGN_AT = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL = "arbots-test"

TEST_OFFICERS = (
    OfficerCert("good", "Смирнова Елена Викторовна", "Главный бухгалтер"),
    OfficerCert("deputy", "Орлова Марина Сергеевна", "Директор по продажам"),
    OfficerCert("expired", "Кузнецов Андрей Павлович", "Бухгалтер", state="expired"),
    OfficerCert("revoked", "Волков Игорь Дмитриевич", "Финансовый директор", state="revoked"),
    OfficerCert("not_yet", "Морозова Анна Игоревна", "Заместитель главного бухгалтера", state="not_yet_valid"),
    OfficerCert("no_sign", "Лебедев Олег Николаевич", "Юрист", key_usage=("key_encipherment",)),
)


@dataclass(frozen=True)
class Token:
    module: str
    label: str
    pin: str
    conf: Path


@pytest.fixture(scope="session")
def officer_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PKI]:
    """A PKI for the officers of the repository's schedules.yaml, its TSA/OCSP/CRL served for the whole session.

    Made at PKI_CREATED, so the officers' certificates are valid both at the dates the tests pin (early 2026)
    and at the wall clock the TSA stamps with (until they expire on 2028-02-01).
    """
    from robots.config import load_config
    from tests.worlds import REPO

    config = load_config(REPO / "schedules.yaml")
    officers = [OfficerCert(oid, o.name, o.position) for oid, o in config.settings.officers.items()]
    pki = create_pki(tmp_path_factory.mktemp("officer-pki"), officers, now=PKI_CREATED, port=free_port())
    with PKIServer(pki):
        yield pki


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder = tmp_path_factory.mktemp("pki")
    return create_pki(folder, TEST_OFFICERS, now=PKI_CREATED, port=free_port())


@pytest.fixture(scope="session")
def pki_server(test_pki: PKI) -> Iterator[PKIServer]:
    with PKIServer(test_pki) as server:
        yield server


@pytest.fixture(scope="session")
def softhsm_token(test_pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    util = shutil.which("softhsm2-util")
    if util is None or not Path(SOFTHSM_MODULE).is_file():
        pytest.fail(f"SoftHSM2 is not installed (softhsm2-util on PATH: {util}, module {SOFTHSM_MODULE} present: "
                    f"{Path(SOFTHSM_MODULE).is_file()}). Install the Debian package softhsm2 (the repo's bootstrap "
                    f"does); these tests must not be skipped.", pytrace=False)

    base = tmp_path_factory.mktemp("softhsm")
    tokendir = base / "tokens"
    tokendir.mkdir(mode=0o700)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n", encoding="utf-8")
    previous = os.environ.get("SOFTHSM2_CONF")
    # Must be set before the PKCS#11 library is first loaded in this process: SoftHSM reads it in C_Initialize.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    import pkcs11

    if SOFTHSM_MODULE in getattr(pkcs11, "_loaded", {}):  # loaded earlier with another config: re-read ours
        pkcs11.lib(SOFTHSM_MODULE).reinitialize()

    pin, so_pin = secrets.token_hex(8), secrets.token_hex(8)
    proc = subprocess.run([util, "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", pin, "--so-pin", so_pin],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:  # the output never contains the PINs
        pytest.fail(f"softhsm2-util --init-token failed ({proc.returncode}): {proc.stdout} {proc.stderr}",
                    pytrace=False)
    for officer_id in ("good", "deputy"):
        load_into_token(test_pki, officer_id, module=SOFTHSM_MODULE, token_label=TOKEN_LABEL, pin=pin)
    try:
        yield Token(module=SOFTHSM_MODULE, label=TOKEN_LABEL, pin=pin, conf=conf)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
