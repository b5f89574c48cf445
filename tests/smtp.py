"""A real SMTP server (aiosmtpd) on loopback for a test: plain, with AUTH, with STARTTLS or implicit TLS.

The smtp_server fixture is the plain one; tests/mail/conftest.py and tests/steps/conftest.py import it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from demo.pki import free_port

USER, PASSWORD = "robot", "s3cret-Pa55"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Handler:
    """Keeps what it receives; refuses recipients starting with "bad" (550) and, while ``busy``, DATA (451)."""

    received: list[Received] = field(default_factory=list)
    busy: bool = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bad"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.busy:
            return "451 4.3.0 Try again later"
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return f"250 2.0.0 Ok: queued as ARB{len(self.received)}"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: Handler
    ca_file: Path | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1 (and localhost), made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "arbots test SMTP")])
    now = dt.datetime.now(dt.UTC)  # OpenSSL checks a TLS peer on the wall clock: the certificate must be valid now
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def start(tmp_path: Path, mode: str) -> Iterator[SmtpServer]:
    handler = Handler()
    port = free_port()
    kwargs: dict = {}
    ca = None
    if mode == "auth":
        kwargs = dict(authenticator=_authenticator, auth_required=True, auth_require_tls=False)
    elif mode in ("starttls", "tls"):
        ca, key = self_signed(tmp_path)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(ca, key)
        if mode == "starttls":
            kwargs = dict(tls_context=ctx, require_starttls=True, authenticator=_authenticator, auth_required=True)
        else:
            # aiosmtpd does not count implicit TLS as TLS for AUTH; the connection is TLS all the same
            kwargs = dict(ssl_context=ctx, authenticator=_authenticator, auth_required=True, auth_require_tls=False)
    # aiosmtpd warns about AUTH without TLS; that is what the "auth" mode tests on purpose
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler, ca)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """A plain SMTP server without AUTH (a trusted relay on loopback)."""
    yield from start(tmp_path, "plain")

