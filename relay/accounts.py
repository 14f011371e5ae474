"""Officer credentials: scrypt password hashes, TOTP (RFC 6238) and session tokens.

Every comparison of a secret is constant-time, and `check_password` of an unknown user
runs against `DUMMY_HASH` (same parameters as a real one), so a login for a user name
that does not exist costs what a wrong password costs and names cannot be enumerated.
"""

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


#: a real scrypt hash of a random password nobody knows: unknown users are checked against it
DUMMY_HASH = hash_password(secrets.token_urlsafe(24))
#: checked instead of a real secret for an unknown user (so every path costs the same)
DUMMY_TOTP_SECRET = base64.b32encode(b"lookout-dummy-totp!!").decode("ascii")


def new_totp_secret() -> str:
    return base64.b32encode(os.urandom(20)).decode("ascii")


def _totp(secret_b32: str) -> TOTP:
    key = base64.b32decode(secret_b32)
    return TOTP(key, TOTP_DIGITS, SHA1(), TOTP_STEP, enforce_key_length=False)


def totp_now(secret_b32: str, at: float | None = None) -> str:
    """The current code, as an authenticator app would show it (used by tests and demo)."""
    return _totp(secret_b32).generate(int(at if at is not None else time.time())).decode()


def time_step(at: float | None = None) -> int:
    """The RFC 6238 counter (30 s steps since the epoch) at `at`."""
    return int(at if at is not None else time.time()) // TOTP_STEP


def totp_at_step(secret_b32: str, step: int) -> str:
    """The code for one time step (tests and `officer code` pick an unused step)."""
    return _totp(secret_b32).generate(step * TOTP_STEP).decode()


def match_totp(
    secret_b32: str, code: str, after_step: int | None = None, at: float | None = None
) -> int | None:
    """The time step `code` belongs to (current one, or one either side for clock drift),
    or None. A step at or before `after_step` (the officer's last accepted one) never
    matches: a code works once, and so does every older code."""
    now = time_step(at)
    totp = _totp(secret_b32)
    found = None
    for step in (now - 1, now, now + 1):  # every candidate is checked: constant work
        try:
            totp.verify(code.encode(), step * TOTP_STEP)
        except InvalidToken:
            continue
        if found is None and (after_step is None or step > after_step):
            found = step
    return found


def check_totp(secret_b32: str, code: str, at: float | None = None) -> bool:
    """Accept the current code and one step either side (clock drift); not single-use."""
    return match_totp(secret_b32, code, None, at) is not None


def otpauth_uri(secret_b32: str, username: str, issuer: str = "Lookout") -> str:
    return _totp(secret_b32).get_provisioning_uri(quote(username), issuer)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
