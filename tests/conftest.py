"""Shared fixtures. Store tests run on SQLite and on the real PostgreSQL (127.0.0.1:5432, database test)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from demo.pki import PKI, OfficerCert, PKIServer, create_pki, free_port

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("ARBOTS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """robots.cli.main.main() points structlog at the sys.stderr of its moment (a capture that pytest closes after the
    test); later tests must not log into that closed file."""
    yield
    import structlog

    structlog.reset_defaults()


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """A private schema in the test database, dropped afterwards, so runs never collide."""
    schema = f"arbots_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield PG_ADMIN_URL, schema
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """A migrated Store on each backend."""
    from robots.store import Store

    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'arbots.db'}")
    else:
        url, schema = request.getfixturevalue("pg_schema")
        s = Store.open(url, schema=schema)
    yield s
    s.close()


#: The loopback port of the demo PKI in the repository's schedules.yaml; tests move it to a free port.
DEMO_PKI_ADDRESS = "127.0.0.1:8779"


@pytest.fixture(scope="session")
def officer_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PKI]:
    """A PKI for the officers of the repository's schedules.yaml, its TSA/OCSP/CRL served for the whole session.

    Created "on" 2026-02-01, so the officers' certificates are valid both at the dates the tests pin (early 2026)
    and at the wall clock the TSA stamps with; they expire in 2028.
    """
    from datetime import datetime

    from robots.config import load_config

    config = load_config(REPO / "schedules.yaml")
    officers = [OfficerCert(oid, o.name, o.position) for oid, o in config.settings.officers.items()]
    pki = create_pki(tmp_path_factory.mktemp("officer-pki"), officers, now=datetime(2026, 2, 1, tzinfo=UTC),
                     port=free_port())
    with PKIServer(pki):
        yield pki


#: The connector tests use when they write the ledger as CSV files (write_ledger_csv) instead of serving it.
CSV_CONNECTOR = {"id": "ledger", "kind": "file", "path": "var/ledger",
                 "write_back": {"journal": "var/write-back.csv"}}


def use_csv_ledger(root: Path) -> Path:
    """Make a copied config (root/schedules.yaml) read the ledger from CSV files in root/var/ledger, instead of the
    demo accounting system the repository's config names; return the folder."""
    from ruamel.yaml import YAML

    yaml = YAML()
    config = root / "schedules.yaml"
    settings = yaml.load(config.read_text(encoding="utf-8"))
    settings["connectors"] = [{**CSV_CONNECTOR, "write_back": dict(CSV_CONNECTOR["write_back"])}]
    with config.open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    return root / "var" / "ledger"


def install_pki(root: Path, pki: PKI, *, window: bool = False) -> None:
    """Give a copied config (root/schedules.yaml) the session's PKI: its files in var/pki, its port in the URLs;
    and the session's mail sink as its SMTP server (the shipped scenarios e-mail every letter).

    The sending window is dropped unless ``window``: many tests tick through the CLI, whose ``now`` is the wall
    clock, and letters must not wait for 09:00 there (tests/mail and the simulation test the window)."""
    shutil.copytree(pki.folder, root / "var" / "pki")
    config = root / "schedules.yaml"
    text_ = config.read_text(encoding="utf-8")
    assert DEMO_PKI_ADDRESS in text_, "schedules.yaml no longer names the demo PKI's address"
    text_ = text_.replace(DEMO_PKI_ADDRESS, f"127.0.0.1:{pki.port}")
    if DEMO_SMTP in text_:
        text_ = text_.replace(DEMO_SMTP, f"{{host: 127.0.0.1, port: {mail_sink().port}, security: none}}")
    if not window:
        import re

        text_ = re.sub(r"(?m)^  window: .*$", "  window: null", text_)
    config.write_text(text_, encoding="utf-8")


#: The demo SMTP server of the repository's schedules.yaml; tests move it to the session's mail sink.
DEMO_SMTP = "{host: 127.0.0.1, port: 8781, security: none}"


class MailSink:
    """A real SMTP server (aiosmtpd) for the whole session that keeps every message it receives."""

    def __init__(self) -> None:
        import atexit

        from aiosmtpd.controller import Controller

        self.messages: list[bytes] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        atexit.register(self.controller.stop)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content)
        return "250 2.0.0 Ok: queued"


_SINK: list[MailSink] = []


def mail_sink() -> MailSink:
    if not _SINK:
        _SINK.append(MailSink())
    return _SINK[0]
