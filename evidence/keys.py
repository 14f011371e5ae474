"""An Ed25519 signing key in a PEM file, made on first use: the relay's evidence key
(relay/checkpoints.py) and the analyst's disclosure key (evidence/disclosure.py)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class NotAnEd25519Key(ValueError):
    pass


def load_or_make(path: Path) -> Ed25519PrivateKey:
    """The key in `path` (PKCS8 PEM, unencrypted), made first if there is none: the file
    0600 in a 0700 folder, created exclusively (a second process making it at the same
    moment loses the race and reads the winner's), and synced before it is used."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise NotAnEd25519Key(f"{path} is not an Ed25519 private key")
    return key
