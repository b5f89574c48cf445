"""A file connector's section of schedules.yaml: CSV or XLSX files, and the CSV journal it writes back into."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from connectors.base import FIELDS
from robots.support.config_types import Frozen, Identifier

Entity = Literal["counterparties", "contracts", "invoices", "payments"]


class FileConnectorConfig(Frozen):
    """CSV or XLSX files: ``<entity>.csv`` / ``<entity>.xlsx`` in the folder ``path``, or one workbook with a
    sheet per entity (``path: ledger.xlsx``)."""

    id: Identifier
    kind: Literal["file"]
    path: Path
    #: What this connector delivers (default: all four); e.g. [payments] for a bank's statement export.
    entities: tuple[Entity, ...] = ("counterparties", "contracts", "invoices", "payments")
    #: A file name (in the folder) or sheet name (in the workbook) per entity instead of the default.
    files: Mapping[Entity, str] = Field(default_factory=dict)
    #: Header names per entity and ledger field, when the file's differ: {payments: {amount: Сумма}}.
    columns: Mapping[Entity, Mapping[str, str]] = Field(default_factory=dict)
    #: Stop/resume shipments and notes go into a CSV journal (there is no API to call): {journal: var/blocks.csv}.
    write_back: FileWriteBack | None = None

    @model_validator(mode="after")
    def _known_fields(self):
        for entity, mapping in self.columns.items():
            unknown = sorted(set(mapping) - set(FIELDS[entity]))
            if unknown:
                raise ValueError(f"columns.{entity}: unknown field(s) {', '.join(unknown)}; the fields of {entity} "
                                 f"are {', '.join(FIELDS[entity])}")
        if len(set(self.entities)) != len(self.entities) or not self.entities:
            raise ValueError("entities: list each of counterparties, contracts, invoices, payments at most once")
        return self


class FileWriteBack(Frozen):
    """Write-back for a ledger kept in files: each action is appended as a row to a CSV journal (UTF-8 with BOM,
    ``;``-separated: action, counterparty_id, contract_id, text) that the accounting system imports or a person
    works through."""

    journal: Path
    block_shipments: bool = True
    unblock_shipments: bool = True
    post_note: bool = True
