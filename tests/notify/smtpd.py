"""A real SMTP server on loopback for the notification tests (aiosmtpd), with scripted trouble.

Imported as ``notify.smtpd``. The server records every message it accepted; a test can make it
answer RCPT or the end of DATA with given codes, hang after receiving a body (to kill the client
mid-send), require STARTTLS or implicit TLS with a self-signed certificate, and require AUTH.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 made here (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Handler:
    """Records accepted mail; answers from scripts when a test wants trouble."""

    rcpt_replies: list[str] = field(default_factory=list)  # consumed one per RCPT
    data_replies: list[str] = field(default_factory=list)  # consumed one per end of DATA
    hang_after_data: float = 0.0  # seconds to sit on a received body before replying
    hang_at_rcpt: float = 0.0  # seconds to sit on RCPT before replying (nothing sent yet)
    got_rcpt: threading.Event = field(default_factory=threading.Event)
    received: list[Message] = field(default_factory=list)
    bodies_seen: int = 0
    got_body: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.got_rcpt.set()
        if self.hang_at_rcpt:
            await asyncio.sleep(self.hang_at_rcpt)
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.bodies_seen += 1
        self.got_body.set()
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(message_from_bytes(envelope.content))
        if self.hang_after_data:
            await asyncio.sleep(self.hang_after_data)
        return "250 Message accepted for delivery"


@dataclass
class Server:
    """A running server and what a client needs to reach it."""

    handler: Handler
    port: int
    ca_file: Path | None = None


@contextmanager
def smtp_server(
    tmp: Path,
    *,
    tls: str = "none",
    auth: tuple[str, str] | None = None,
    handler: Handler | None = None,
) -> Iterator[Server]:
    """Run an aiosmtpd server on 127.0.0.1 for the duration of the block."""
    handler = handler or Handler()
    port = free_port()
    kwargs: dict[str, Any] = {}
    ca_file = None
    if tls in ("starttls", "ssl"):
        cert, key = self_signed(tmp)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        ca_file = cert
        if tls == "ssl":
            kwargs["ssl_context"] = ctx
        else:
            kwargs["tls_context"] = ctx
            kwargs["require_starttls"] = True
    if auth is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == auth
            )
            return AuthResult(success=ok, handled=False)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        # aiosmtpd does not count implicit TLS as TLS for this check; STARTTLS it does.
        kwargs["auth_require_tls"] = tls == "starttls"
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield Server(handler, port, ca_file)
    finally:
        controller.stop()


def use_server(ws: Any, port: int, **kw: object) -> None:
    """Point the workspace's SMTP settings at a test server on loopback."""
    from nextofkin.settings import SmtpSettings

    ws.settings.smtp = SmtpSettings.model_validate(
        {"host": "127.0.0.1", "port": port, "from": "team@example.org", "timeout": 5, **kw}
    )
