"""Human-readable, safe folder and file names for the archive.

Names keep Cyrillic and stay readable. Characters that are unsafe on some file system are mapped to look-alike
Unicode characters (documented in the README), so ``12/2024-Б`` becomes ``12∕2024-Б``:

    /  ->  ∕ (U+2215)      \\  ->  ⧵ (U+29F5)     :  ->  ꞉ (U+A789)     *  ->  ∗ (U+2217)
    ?  ->  ？ (U+FF1F)      "  ->  ＂ (U+FF02)     <  ->  ‹ (U+2039)     >  ->  › (U+203A)     |  ->  ǀ (U+01C0)

Control characters are dropped, runs of white space become one space, leading and trailing dots and spaces are
removed, Windows device names (CON, NUL, COM1, ...) get a leading underscore, an empty result becomes ``_`` and
names are cut to 120 characters and at most 200 bytes of UTF-8. Whatever the input, the result is one path
component: nothing escapes the root.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

_MAP = str.maketrans({
    "/": "\u2215", "\\": "\u29f5", ":": "\ua789", "*": "\u2217", "?": "\uff1f",
    '"': "\uff02", "<": "\u2039", ">": "\u203a", "|": "\u01c0",
})
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
MAX_LEN = 120
#: File systems allow 255 bytes a name; leave room for the ".pdf.json" a document's sidecar adds.
MAX_BYTES = 200


def safe_name(text: str) -> str:
    """One safe, readable path component for ``text``."""
    text = unicodedata.normalize("NFC", text).translate(_MAP)
    text = re.sub(r"\s+", " ", text)  # before control characters go, so "a\nb" stays two words
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip(" .")
    if text.split(".")[0].upper() in _RESERVED:
        text = "_" + text
    text = _cut(text[:MAX_LEN]).rstrip(" .")
    return text or "_"


def _cut(text: str) -> str:
    """At most MAX_BYTES of UTF-8, cut on a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= MAX_BYTES:
        return text
    return raw[:MAX_BYTES].decode("utf-8", errors="ignore")


def contract_folder(root: Path, counterparty_name: str, counterparty_key: str, contract_number: str) -> Path:
    """``<root>/<Name (key)>/<contract number>``, guaranteed inside ``root``."""
    party = safe_name(f"{counterparty_name} ({counterparty_key})" if counterparty_key else counterparty_name)
    folder = root / party / safe_name(contract_number)
    resolved_root = root.resolve()
    if resolved_root not in folder.resolve().parents:
        raise ValueError(f"archive folder {folder} would fall outside the archive root {root}")
    return folder
