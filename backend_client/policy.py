"""Reconnection policy in one place: what is retryable, and how long to wait.

Like websockets' `process_exception`, one function decides retryable versus fatal, so no
other code grows its own idea of when to give up.
"""

from __future__ import annotations

import random
import ssl
from dataclasses import dataclass

from websockets.exceptions import InvalidStatus, InvalidURI

from backend_client.errors import ErrorCode, ProtocolError


class CertificateChanged(Exception):
    """The relay presented a certificate whose fingerprint is not the pinned one."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(
            "The relay's certificate has changed (expected fingerprint "
            f"{expected}, got {got}). This could be an attack; the connection was refused. "
            "Ask your administrator before trusting the new certificate."
        )
        self.expected = expected
        self.got = got


class LinkLost(Exception):
    """An open link stopped answering (a black hole): only a timeout can tell."""


FATAL_CODES = {
    ErrorCode.BAD_CREDENTIALS,
    ErrorCode.ACCOUNT_DISABLED,
    ErrorCode.FORBIDDEN,
    ErrorCode.UNSUPPORTED_VERSION,
}


@dataclass(frozen=True)
class Verdict:
    retry: bool
    reason: str  # in the user's words


def classify(exc: BaseException) -> Verdict:
    """Retryable (the network or the relay will come back) or fatal (a person must act)."""
    if isinstance(exc, CertificateChanged):
        return Verdict(False, str(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Verdict(
            False,
            f"The relay's certificate is not trusted: {exc.verify_message}. Check the CA file or the relay address.",
        )
    if isinstance(exc, ProtocolError):
        if exc.code in FATAL_CODES:
            return Verdict(False, exc.message)
        return Verdict(True, exc.message)
    if isinstance(exc, InvalidURI):
        return Verdict(False, f"The relay address is not valid: {exc}")
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (404, 426):
            return Verdict(False, f"That address is not a Lookout relay (HTTP {status}).")
        return Verdict(True, f"The relay answered HTTP {status}; retrying.")
    if isinstance(exc, LinkLost):
        return Verdict(True, f"The link to the relay was lost ({exc}); reconnecting.")
    if isinstance(exc, ConnectionRefusedError):
        return Verdict(True, "The relay refused the connection (is it running?); retrying.")
    if isinstance(exc, TimeoutError):
        return Verdict(True, "The relay did not answer in time; retrying.")
    if isinstance(exc, OSError | EOFError):
        return Verdict(True, f"The link to the relay failed ({exc.__class__.__name__}); retrying.")
    from websockets.exceptions import ConnectionClosed

    if isinstance(exc, ConnectionClosed):
        return Verdict(True, "The link to the relay was lost; reconnecting.")
    return Verdict(True, f"Unexpected error ({exc.__class__.__name__}: {exc}); retrying.")


@dataclass
class Backoff:
    """Exponential backoff with full jitter, capped (AWS architecture blog's 'Full Jitter')."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0
    rng: random.Random | None = None

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return (self.rng or random).uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
