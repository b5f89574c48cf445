"""The file connector's write-back: a CSV journal of the actions, for a ledger kept in files (there is no API to
call). The accounting system imports the journal, or a person works through it.

One row per action (UTF-8 with BOM, ``;``-separated, the header written once: action, counterparty_id,
contract_id, text), appended under an exclusive lock and fsynced, so that concurrent writers never interleave and
an acknowledged action is on disk.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from pathlib import Path

from connectors.base import ConnectorUnavailable, WriteResult

_HEADER = "\ufeffaction;counterparty_id;contract_id;text\r\n"


def append_action(connector_id: str, path: Path, action: str, counterparty_id: str, contract_id: str | None,
                  text: str) -> WriteResult:
    """Append one row to the journal at ``path`` (made with its header when missing or empty); the text's runs of
    whitespace become one space. Raises ConnectorUnavailable when the journal cannot be written."""
    row = io.StringIO()
    csv.writer(row, delimiter=";", lineterminator="\r\n").writerow(
        [action, counterparty_id, contract_id or "", " ".join(text.split())])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size == 0:
                os.write(fd, _HEADER.encode("utf-8"))
            os.write(fd, row.getvalue().encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise ConnectorUnavailable(connector_id, f"cannot write {path}: {e.strerror or e}") from None
    return WriteResult(connector_id, action, True, f"journal {path.name}")
