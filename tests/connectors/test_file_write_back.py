"""Write-back for a ledger kept in files: a CSV journal, read back with the csv module."""

from __future__ import annotations

import csv

import pytest

from connectors.base import WriteBack, WriteBackUnsupported
from connectors.files.config import FileWriteBack
from connectors.files.connector import FileConnector


def test_actions_are_appended_to_the_journal_with_a_header_once(tmp_path):
    journal = tmp_path / "out" / "write-back.csv"
    conn = FileConnector("ledger", tmp_path, write_back=FileWriteBack(journal=journal), write_back_path=journal)
    assert isinstance(conn, WriteBack)
    assert conn.block_shipments("P1", "C1", "Претензия;\nпо договору 1/2026").ok
    conn.unblock_shipments("P1", None, "Долг погашен")
    conn.post_note("P2", "C9", "Обещал оплатить 20.03")
    raw = journal.read_bytes()
    assert raw.startswith("\ufeff".encode()) and raw.count(b"action;") == 1
    rows = list(csv.reader(journal.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows == [["action", "counterparty_id", "contract_id", "text"],
                    ["block_shipments", "P1", "C1", "Претензия; по договору 1/2026"],
                    ["unblock_shipments", "P1", "", "Долг погашен"],
                    ["post_note", "P2", "C9", "Обещал оплатить 20.03"]]


def test_without_a_journal_or_with_an_action_switched_off_the_connector_says_how_to_fix(tmp_path):
    with pytest.raises(WriteBackUnsupported, match="add write_back: {journal: <file>}"):
        FileConnector("ledger", tmp_path).block_shipments("P1", "C1", "x")
    journal = tmp_path / "j.csv"
    conn = FileConnector("ledger", tmp_path, write_back=FileWriteBack(journal=journal, post_note=False),
                         write_back_path=journal)
    with pytest.raises(WriteBackUnsupported, match="no write_back.post_note"):
        conn.post_note("P1", "C1", "x")
    assert not journal.exists()
