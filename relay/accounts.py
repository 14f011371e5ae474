"""Officer credentials: scrypt password hashes, TOTP (RFC 6238) and session tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from urllib.parse import quote

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from backend_client import rules

ROLES = rules.ROLES
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
TOTP_DIGITS, TOTP_STEP = 6, 30


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(got, bytes.fromhex(digest))


def new_totp_secret() -> str:
    return base64.b32encode(os.urandom(20)).decode("ascii")


def _totp(secret_b32: str) -> TOTP:
    key = base64.b32decode(secret_b32)
    return TOTP(key, TOTP_DIGITS, SHA1(), TOTP_STEP, enforce_key_length=False)


def totp_now(secret_b32: str, at: float | None = None) -> str:
    """The current code, as an authenticator app would show it (used by tests and demo)."""
    return _totp(secret_b32).generate(int(at if at is not None else time.time())).decode()


def check_totp(secret_b32: str, code: str, at: float | None = None) -> bool:
    """Accept the current code and one step either side (clock drift)."""
    t = int(at if at is not None else time.time())
    totp = _totp(secret_b32)
    for drift in (0, -TOTP_STEP, TOTP_STEP):
        try:
            totp.verify(code.encode(), t + drift)
            return True
        except InvalidToken:
            continue
    return False


def otpauth_uri(secret_b32: str, username: str, issuer: str = "Lookout") -> str:
    return _totp(secret_b32).get_provisioning_uri(quote(username), issuer)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
