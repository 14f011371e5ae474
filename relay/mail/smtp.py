"""The SMTP server: its URL, and one blocking connection used from a worker thread.

`smtp://user:pass@host:587` speaks STARTTLS and refuses to go on without it;
`smtps://user:pass@host:465` is TLS from the first byte. User and password are optional
(percent-encoded in the URL). Certificates are checked against the system's CAs, or
`smtp_ca`. The URL holds a password: it is never logged, and errors name only the host.

`classify` decides what a failure means, in one place: a 5xx reply to the recipient is a
bounce (stop sending to that address), another 5xx a permanent failure, everything else
(4xx, a dropped connection, a timeout, a refused connection) is retried with backoff.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from relay.mail.store import Outcome

#: servers echo addresses in their replies; a stored reason must not carry one
_ADDRESS = re.compile(r"\S+@\S+")


class SmtpUrlError(ValueError):
    """The smtp_url setting cannot be used; the message never repeats a password."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool
    user: str | None
    password: str | None
    timeout_s: float
    ca: Path | None = None

    @classmethod
    def parse(cls, url: str, timeout_s: float, ca: Path | None = None) -> SmtpSettings:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise SmtpUrlError("smtp_url is not a URL like smtp://user:pass@host:587") from None
        if parts.scheme not in ("smtp", "smtps"):
            raise SmtpUrlError("smtp_url must start smtp:// (STARTTLS) or smtps:// (TLS)")
        if not parts.hostname:
            raise SmtpUrlError("smtp_url has no host name")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 587),
            implicit_tls=implicit,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout_s=timeout_s,
            ca=ca,
        )

    def describe(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp+starttls'}://{self.host}:{self.port}"

    def tls(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx


class SmtpSession:
    """One connection, opened on first use and kept for the next email (a worker thread
    owns it); a failure closes it so the next send reconnects."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        st = self.settings
        conn: smtplib.SMTP
        if st.implicit_tls:
            conn = smtplib.SMTP_SSL(st.host, st.port, timeout=st.timeout_s, context=st.tls())
        else:
            conn = smtplib.SMTP(st.host, st.port, timeout=st.timeout_s)
            conn.ehlo()
            if not conn.has_extn("starttls"):
                conn.close()
                raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
            conn.starttls(context=st.tls())
            conn.ehlo()
        if st.user is not None:
            conn.login(st.user, st.password or "")
        return conn

    def send(self, msg: EmailMessage, envelope_from: str, to: str) -> tuple[Outcome, str]:
        try:
            if self._conn is None:
                self._conn = self._open()
            self._conn.send_message(msg, from_addr=envelope_from, to_addrs=[to])
        except Exception as exc:  # every failure is classified, none escapes the worker
            self.close()
            return classify(exc)
        return "sent", ""

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except Exception:
                self._conn.close()
            self._conn = None


def classify(exc: BaseException) -> tuple[Outcome, str]:
    """What an SMTP failure means for the email: (outcome, a short reason, no address)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code = codes[0] if codes else 0
        return ("bounced" if 500 <= code < 600 else "retry"), f"recipient refused ({code})"
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        raw = exc.smtp_error
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        reason = _ADDRESS.sub("<address>", f"{code} {text}")[:150]
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return "retry", f"authentication refused ({code})"  # the operator's to fix
        return ("failed" if 500 <= code < 600 else "retry"), reason
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "retry", "the server does not offer STARTTLS"
    if isinstance(exc, ssl.SSLError):
        return "retry", f"TLS failed: {exc.reason or type(exc).__name__}"
    if isinstance(exc, OSError | smtplib.SMTPException):
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "connection failed"
        return "retry", f"{type(exc).__name__}: {why}"
    return "retry", type(exc).__name__
