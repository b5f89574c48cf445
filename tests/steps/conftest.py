"""The step tests' fixtures: the world of the shipment and reconciliation tests (the repository's config reading
the demo ERP over HTTP), and for send_email a plain SMTP server of the test's own and the mail world mailing it."""

from __future__ import annotations

import pytest

from demo.erp import create_app, serve
from robots.config import load_config
from robots.engine.services import services_for
from robots.store import Store
from robots.support.clock import SystemClock
from tests.smtp import smtp_server  # noqa: F401
from tests.worlds import mail_env  # noqa: F401


@pytest.fixture
def world(tmp_path, officer_pki):
    """(app, store, services): the demo ERP serving two overdue customers, and the robots reading it."""
    from tests.steps.test_shipments import PASSWORD, ledger_of, make_world

    app = create_app(ledger_of(), username="робот", password=PASSWORD)
    with serve(app) as url:
        config = load_config(make_world(tmp_path, url, officer_pki))
        store = Store.open(config.database_url())
        try:
            yield app, store, services_for(config, store, SystemClock())
        finally:
            store.close()
