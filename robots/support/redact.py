"""What counts as a secret, in one place: config keys, log fields and error messages all use these."""

from __future__ import annotations

import re

#: Words that mark a name (config key, log field) as holding a secret.
SECRET_WORDS = r"password|passwd|passphrase|pin|secret|token|api_?key|secret_?key|private_?key"

#: The password part of a URL such as postgresql://user:PASSWORD@host/db.
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def hide_url_password(text: str) -> str:
    return URL_PASSWORD.sub(r"\1***@", text)
