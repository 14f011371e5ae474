"""TOTP secrets at rest: AES-GCM under a key kept outside the database.

A copy of the database (a backup, a stolen disk image of the database volume, a
PostgreSQL dump) must not hand over every officer's second factor. So the key lives in a
file beside the data (`data_dir/secrets.key`, mode 0600, never in the database), and each
secret is sealed with the officer's user name as associated data, so a sealed secret
copied onto another officer's row does not open. A relay in a cluster gives every node the
same key file (`RelayConfig.secrets_key`).

Sealed values carry a version prefix (`v1:`); a plain base32 secret (written before this
existed) has no colon, which is how `seal_plain_secrets` finds and upgrades them at start-up.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from relay.db import models as db

PREFIX = "v1:"
KEY_FILE = "secrets.key"


class SecretKeyError(Exception):
    """The key file is missing, unreadable or not the key these secrets were sealed with."""


def key_path(data_dir: Path, configured: Path | None = None) -> Path:
    return configured if configured is not None else data_dir / KEY_FILE


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretKeyError("the secrets key must be 32 bytes")
        self._aead = AESGCM(key)
        self._key = key

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for another use (the email subscriptions' sealing and lookup
        keys, relay/mail/keys.py), derived with HKDF: the same key file, and so the same
        backups and cluster sharing, without reusing the AES key itself."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        hkdf = HKDF(hashes.SHA256(), 32, salt=None, info=f"lookout {purpose}".encode())
        return hkdf.derive(self._key)

    @classmethod
    def load_or_create(cls, path: Path) -> SecretBox:
        """Read the key, or make one on first run (created 0600 whatever the umask)."""
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = AESGCM.generate_key(bit_length=256)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                return cls(path.read_bytes())
            with os.fdopen(fd, "wb") as f:
                f.write(key)
                f.flush()
                os.fsync(f.fileno())
        os.chmod(path, 0o600)
        return cls(key)

    def seal(self, secret_b32: str, username: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret_b32.encode("ascii"), username.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, username: str) -> str:
        if not is_sealed(stored):
            return stored  # not yet upgraded (seal_plain_secrets runs at start-up)
        raw = base64.b64decode(stored[len(PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], username.encode()).decode("ascii")
        except InvalidTag:
            raise SecretKeyError(
                f"the TOTP secret of {username!r} does not open with this key file"
            ) from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def seal_plain_secrets(engine: Engine, box: SecretBox) -> int:
    """Encrypt every secret still stored in plain text; returns how many were upgraded."""
    with Session(engine) as s, s.begin():
        plain = [o for o in s.scalars(select(db.Officer)) if not is_sealed(o.totp_secret)]
        for o in plain:
            o.totp_secret = box.seal(o.totp_secret, o.username)
        return len(plain)
