"""Shared fixtures. Store tests run on SQLite and on the real PostgreSQL (127.0.0.1:5432, database test).

The session's PKIs (officer_pki, test_pki, pki_server, softhsm_token) come from tests/pki.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.pki import officer_pki, pki_server, softhsm_token, test_pki  # noqa: F401  (session fixtures)

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
