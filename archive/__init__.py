"""The legal archive: one BagIt bag per contract folder, a hash-chained journal, verification and export."""

from archive.bag import Archive, ArchiveConflict, JournalError, NewFile, PutResult
from archive.folders import contract_folder, safe_name

__all__ = ["Archive", "ArchiveConflict", "JournalError", "NewFile", "PutResult", "contract_folder", "safe_name"]
