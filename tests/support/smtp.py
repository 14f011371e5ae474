"""A real SMTP server for tests: aiosmtpd on loopback, STARTTLS required, AUTH required."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "lookout", "s@cret pass"
SMTP_USERINFO = "lookout:s%40cret%20pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the server accepted; `hold` (set) makes DATA wait, `refuse` answers 451,
    `delay_s` makes every DATA take that long before its answer (a slow server)."""

    got: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    refuse: bool = False
    reject_rcpt: set[str] = field(default_factory=set)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd calls handle_<VERB>)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.reject_rcpt:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.hold.is_set():
            import asyncio

            await asyncio.to_thread(self.release.wait, 30)
            return "451 4.3.0 try again later"
        if self.refuse:
            return "451 4.3.0 try again later"
        if self.delay_s:
            import asyncio

            await asyncio.sleep(self.delay_s)
        msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self.lock:
            self.got.append((list(envelope.rcpt_tos), msg))
        return "250 OK queued"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [msg for rcpt, msg in self.got if address in rcpt]

    def count(self) -> int:
        with self.lock:
            return len(self.got)


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


def start_smtp(tls_dir: Path, inbox: Inbox, port: int | None = None) -> tuple[Controller, Path]:
    """An SMTP server on 127.0.0.1 speaking STARTTLS with a certificate of a test CA;
    returns it and the CA file to trust."""
    from relay import tls

    files = tls.ensure_certificates(tls_dir, ("127.0.0.1", "localhost"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.server_cert, files.server_key)
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port or free_port(),
        tls_context=ctx,
        require_starttls=True,
        authenticator=_auth,
        auth_required=True,
    )
    controller.start()
    return controller, files.ca_cert
