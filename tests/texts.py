"""Reading numbers out of texts as whole tokens, so that "400,00" never passes for a piece of "1 400,00".

Russian documents write amounts with a normal or no-break space between the thousands and a decimal comma
("30 000,00", "30\u00a0000,00"); an amount, a count or an id asserted in a larger text must stand alone there.
"""

from __future__ import annotations

import re

#: One amount as Russian documents write it: groups of three digits after a space or a no-break space, then ",dd".
AMOUNT = re.compile(r"(?<![\d,.])\d{1,3}(?:[ \u00a0]\d{3})*,\d{2}(?![\d,])")


def amounts(text: str) -> list[str]:
    """Every amount in ``text``, whole (the longest run of thousands groups), with plain spaces: "30 000,00"."""
    return [m.group().replace("\u00a0", " ") for m in AMOUNT.finditer(text)]


def number_re(value: str | int) -> re.Pattern[str]:
    """``value`` (a count, an id, an HTTP status, an amount) as a whole token: no digit, no decimal mark and no
    digit-group separator (a space or no-break space after a digit) right before or after it."""
    escaped = re.escape(str(value)).replace(r"\ ", "[ \u00a0]")
    return re.compile(rf"(?<![\d.,])(?<!\d[ \u00a0]){escaped}(?![.,]?\d)(?![ \u00a0]\d{{3}}(?!\d))")


def has_number(text: str, value: str | int) -> bool:
    """``value`` occurs in ``text`` as a whole token (see number_re)."""
    return number_re(value).search(text) is not None
