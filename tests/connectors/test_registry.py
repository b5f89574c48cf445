"""The connector registry: one builder per kind the config admits, and each builds its own connector."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from connectors.files.config import FileConnectorConfig, FileWriteBack
from connectors.files.connector import FileConnector
from connectors.registry import KINDS, build_connector
from connectors.rest.config import RestConnectorConfig
from connectors.rest.connector import RestConnector
from connectors.ui.connector import UiConnector
from robots.config.models import ConnectorConfig


def test_every_kind_the_config_admits_has_a_builder():
    union = get_args(ConnectorConfig)[0]
    kinds = {kind for model in get_args(union) for kind in get_args(model.model_fields["kind"].annotation)}
    assert set(KINDS) == kinds == {"file", "rest", "ui"}


def test_a_file_connector_takes_its_paths_relative_to_the_base_dir(tmp_path):
    config = FileConnectorConfig(id="bank", kind="file", path=Path("in"), entities=("payments",),
                                 write_back=FileWriteBack(journal=Path("var/blocks.csv")))
    conn = build_connector(config, base_dir=tmp_path, state_dir=tmp_path / "state", known_groups=frozenset({"a"}))
    assert isinstance(conn, FileConnector)
    assert (conn.id, conn.path, conn.entities, conn.known_groups) == ("bank", tmp_path / "in", ("payments",),
                                                                      frozenset({"a"}))
    assert conn.write_back_path == tmp_path / "var/blocks.csv"


def test_an_absolute_path_stays_as_it_is(tmp_path):
    config = FileConnectorConfig(id="erp", kind="file", path=tmp_path / "ledger.xlsx")
    conn = build_connector(config, base_dir=Path("/elsewhere"), state_dir=tmp_path)
    assert conn.path == tmp_path / "ledger.xlsx" and conn.write_back_path is None


def test_a_rest_connector_keeps_its_state_in_the_state_dir(tmp_path):
    config = RestConnectorConfig.model_validate({
        "id": "erp", "kind": "rest", "base_url": "http://erp.local/api/",
        "entities": {"payments": {"path": "payments",
                                  "fields": {f: f for f in ("id", "contract_id", "date", "amount")}}}})
    conn = build_connector(config, base_dir=tmp_path, state_dir=tmp_path / "var/connectors/erp")
    try:
        assert isinstance(conn, RestConnector)
        assert (conn.entities, conn.base_dir, conn.state_dir) == (("payments",), tmp_path,
                                                                   tmp_path / "var/connectors/erp")
    finally:
        conn.close()


def test_a_ui_connector_is_built_by_its_class():
    assert KINDS["ui"] is UiConnector
