"""The file connector: CSV or XLSX files in, raw ledger records out.

A folder holds ``<entity>.csv`` or ``<entity>.xlsx`` per entity, or ``path`` is one workbook with a sheet per
entity; each table is read by :mod:`connectors.files.tables` (encodings, delimiters and headers as Excel in a Russian
locale writes them), and every value accepts both spellings (``2026-03-31`` / ``31.03.2026``, ``1234.56`` /
``1 234,56``). The format is documented for ops engineers in ``docs/csv-format.md``; keep the two in step. Its
write-back appends to a CSV journal (:mod:`connectors.files.journal`); the demo and the tests write the files with
:func:`connectors.files.ledger_csv.write_ledger_csv`.

Nothing is validated here beyond the table's shape; :func:`connectors.records.build_ledger` checks the values of
all connectors together, all or nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connectors.base import (
    ENTITIES,
    FIELDS,
    ConnectorUnavailable,
    Fetched,
    Problem,
    Record,
    SyncRejected,
    WriteBackUnsupported,
    WriteResult,
    records_of_contract,
)
from connectors.files.config import FileConnectorConfig, FileWriteBack
from connectors.files.journal import append_action
from connectors.files.tables import BadFile, csv_table, open_workbook, xlsx_table
from connectors.records import build_ledger
from robots.core.domain import Ledger


class FileConnector:
    """Reads the ledger's entities from files: ``<entity>.csv`` or ``<entity>.xlsx`` in one folder, or one
    workbook with a sheet per entity (``path: ledger.xlsx``).

    ``entities`` limits what it delivers (a bank's payments file, say); ``files`` names a file per entity instead
    of the default ``<entity>.csv``/``.xlsx``; ``columns`` maps a ledger field to the file's header (``amount:
    Сумма``).
    """

    def __init__(self, id: str, path: Path, known_groups: frozenset[str] | None = None, *,
                 entities: tuple[str, ...] = ENTITIES, files: Mapping[str, str] | None = None,
                 columns: Mapping[str, Mapping[str, str]] | None = None, write_back: FileWriteBack | None = None,
                 write_back_path: Path | None = None):
        self.id = id
        #: FileWriteBack (or None) and its journal's resolved path.
        self.write_back = write_back
        self.write_back_path = write_back_path
        self.path = Path(path)
        self.known_groups = known_groups
        self.entities = tuple(e for e in ENTITIES if e in entities)
        self.files = dict(files or {})
        self.columns = {e: dict(m) for e, m in (columns or {}).items()}

    @classmethod
    def from_config(cls, config: FileConnectorConfig, *, base_dir: Path, state_dir: Path,
                    known_groups: frozenset[str] | None = None) -> FileConnector:
        """The connector of a ``kind: file`` entry, its paths relative to ``base_dir`` unless absolute (it keeps no
        state of its own, so ``state_dir`` is not used)."""
        def resolve(p: Path) -> Path:
            return p if p.is_absolute() else base_dir / p

        return cls(config.id, resolve(config.path), known_groups=known_groups, entities=config.entities,
                   files=config.files, columns=config.columns, write_back=config.write_back,
                   write_back_path=resolve(config.write_back.journal) if config.write_back else None)

    def close(self) -> None:
        pass

    # -- write-back: a CSV journal (connectors.files.journal)

    def block_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return self._journal("block_shipments", counterparty_id, contract_id, reason)

    def unblock_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return self._journal("unblock_shipments", counterparty_id, contract_id, reason)

    def post_note(self, counterparty_id: str, contract_id: str | None, text: str) -> WriteResult:
        return self._journal("post_note", counterparty_id, contract_id, text)

    def _journal(self, action: str, counterparty_id: str, contract_id: str | None, text: str) -> WriteResult:
        if self.write_back is None or not getattr(self.write_back, action, False):
            raise WriteBackUnsupported(f"connector '{self.id}' has no write_back.{action}: add write_back: "
                                       "{journal: <file>} to it in schedules.yaml")
        path = self.write_back_path  # set with write_back (from_config resolves the journal)
        return append_action(self.id, path, action, counterparty_id, contract_id, text)  # type: ignore[arg-type]

    def fetch(self) -> Fetched:
        """Read every table. Raises :class:`ConnectorUnavailable` when the folder or workbook cannot be read at
        all; problems with single files, headers and rows go into the result."""
        return self._fetch_only(self.entities)

    def _fetch_only(self, entities: tuple[str, ...]) -> Fetched:
        problems: list[Problem] = []
        tables: dict[str, list[Record] | None] = {}
        try:
            if self.path.suffix.lower() in (".xlsx", ".xlsm") and not self.path.is_dir():
                if not self.path.is_file():
                    raise ConnectorUnavailable(self.id, f"workbook {self.path} does not exist")
                try:
                    wb = open_workbook(self.path)
                except BadFile as e:
                    problems.append(Problem(self.path.name, str(e)))
                    return Fetched(self.id, dict.fromkeys(entities), problems)
                try:
                    for entity in entities:
                        sheet = self.files.get(entity, entity)
                        tables[entity] = xlsx_table(wb, sheet, entity, f"{self.path.name}[{sheet}]",
                                                     self.columns.get(entity, {}), problems)
                finally:
                    wb.close()
                return Fetched(self.id, tables, problems)
            if not self.path.is_dir():
                what = "is not a folder" if self.path.exists() else "does not exist"
                raise ConnectorUnavailable(self.id, f"folder {self.path} {what}")
            for entity in entities:
                tables[entity] = self._read(entity, problems)
        except OSError as e:  # permission denied, I/O error, a share gone: the environment's, retry later
            raise ConnectorUnavailable(self.id, f"cannot read {self.path}: {e.strerror or e}") from None
        return Fetched(self.id, tables, problems)

    def _read(self, entity: str, problems: list[Problem]) -> list[Record] | None:
        aliases = self.columns.get(entity, {})
        if entity in self.files:
            candidates = [self.files[entity]]
        else:
            candidates = [n for n in (f"{entity}.csv", f"{entity}.xlsx") if (self.path / n).exists()]
            if len(candidates) > 1:
                problems.append(Problem(candidates[0], f"both {entity}.csv and {entity}.xlsx exist; keep one"))
                return None
            if not candidates:
                problems.append(Problem(f"{entity}.csv", "the file is missing (or put the table in "
                                        f"{entity}.xlsx); expected columns: {', '.join(FIELDS[entity])}"))
                return None
        name = candidates[0]
        path = self.path / name
        if not path.exists():
            problems.append(Problem(name, f"the file is missing; expected columns: {', '.join(FIELDS[entity])}"))
            return None
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            try:
                wb = open_workbook(path)
            except BadFile as e:
                problems.append(Problem(name, str(e)))
                return None
            try:
                return xlsx_table(wb, None, entity, name, aliases, problems)
            finally:
                wb.close()
        return csv_table(path.read_bytes(), entity, name, aliases, problems)

    def payments_for(self, contract_id: str) -> Fetched:
        """One contract's payments, read from the file now (the ``reconcile`` step): the payments table filtered."""
        if "payments" not in self.entities:
            return Fetched(self.id, {}, [])
        fetched = self._fetch_only(("payments",))
        fetched.tables["payments"] = records_of_contract(fetched.tables.get("payments"), contract_id)
        return fetched

    def pull(self) -> Ledger:
        """Fetch and validate on its own (a connector that delivers all four entities): the Ledger, or
        :class:`SyncRejected` with every problem, file by file and line by line."""
        fetched = self.fetch()
        problems = list(fetched.problems)
        ledger = build_ledger(fetched.tables, problems, self.known_groups)
        if problems:
            order = {f"{e}.csv": i for i, e in enumerate(ENTITIES)}
            problems.sort(key=lambda p: (order.get(p.source, len(order)), p.line or 0))
            raise SyncRejected(self.id, tuple(problems))
        return ledger

