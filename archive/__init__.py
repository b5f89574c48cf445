"""The per-contract archive: ``<root>/<counterparty>/<contract>/`` with each document and its JSON sidecar."""

from archive.folders import contract_folder, safe_name
from archive.writer import ArchiveConflict, put_document

__all__ = ["ArchiveConflict", "contract_folder", "put_document", "safe_name"]
