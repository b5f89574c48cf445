"""The engine tests' fixtures: a plain SMTP server of the test's own (tests/smtp.py)."""

from tests.smtp import smtp_server  # noqa: F401
