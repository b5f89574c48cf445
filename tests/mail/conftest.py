"""The mail tests' fixtures: a plain SMTP server of the test's own, and the mail world mailing it."""

from tests.smtp import smtp_server  # noqa: F401
from tests.worlds import mail_env  # noqa: F401
