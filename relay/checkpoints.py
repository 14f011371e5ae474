"""Signed checkpoints of the audit chain's head, kept outside the database.

A hash chain alone cannot show records cut off its end, or a tail rewritten with fresh
hashes (see relay/audit.py). So the relay signs `(seq, head hash, time)` with its Ed25519
key at intervals and on shutdown, and appends it as one JSON line to
`data_dir/audit-checkpoints/checkpoints.jsonl`: a file the database cannot roll back, and
that an operator ships off the machine (docs/deployment.md). `lookout-relay audit verify`
then demands that the chain still passes through the latest checkpoint.

The signed message is the compact JSON array `[DOMAIN, seq, head, repr(float(at)), key]`
(`key` = SHA-256 hex of the raw 32-byte public key), ASCII-only: the same unambiguous
encoding as the audit record hash. The key file `data_dir/keys/relay-ed25519.pem` is the
relay's identity; evidence packages are signed with it too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from evidence import keys

DOMAIN: Final = "lookout.audit.checkpoint.v1"
KEY_FILE: Final = Path("keys") / "relay-ed25519.pem"
CHECKPOINT_FILE: Final = Path("audit-checkpoints") / "checkpoints.jsonl"


class CheckpointError(Exception):
    """A checkpoint file or line that cannot be trusted; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # the audit record at the head when signed
    head: str  # its hash
    at: float  # when it was signed (unix time)
    key: str  # SHA-256 hex of the signing public key (raw bytes)
    public_key: str  # base64 of the raw 32-byte Ed25519 public key
    signature: str  # base64 Ed25519 signature of `message()`

    def message(self) -> bytes:
        return signed_message(self.seq, self.head, self.at, self.key)

    def to_line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")) + "\n"


def signed_message(seq: int, head: str, at: float, key: str) -> bytes:
    if not math.isfinite(at):
        raise ValueError("checkpoint time must be finite")
    return json.dumps(
        [DOMAIN, seq, head, repr(float(at)), key], ensure_ascii=True, separators=(",", ":")
    ).encode("ascii")


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def relay_key(data_dir: Path) -> Ed25519PrivateKey:
    """The relay's Ed25519 key, made on first use (file 0600 in a 0700 folder)."""
    try:
        return keys.load_or_make(data_dir / KEY_FILE)
    except keys.NotAnEd25519Key as exc:
        raise CheckpointError(str(exc)) from None


def sign(key: Ed25519PrivateKey, seq: int, head: str, at: float) -> Checkpoint:
    public = key.public_key()
    fp = fingerprint(public)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = key.sign(signed_message(seq, head, at, fp))
    return Checkpoint(
        seq=seq,
        head=head,
        at=at,
        key=fp,
        public_key=base64.b64encode(raw).decode("ascii"),
        signature=base64.b64encode(sig).decode("ascii"),
    )


def append(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line and fsync it: a checkpoint reported written survives a crash."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as f:
        f.write(checkpoint.to_line())
        f.flush()
        os.fsync(f.fileno())


def latest(path: Path) -> Checkpoint | None:
    """The last checkpoint in `path` (None if the file is missing or empty)."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    for number in range(len(lines), 0, -1):
        line = lines[number - 1].strip()
        if line:
            return parse(line, f"{path}:{number}")
    return None


def parse(line: str, where: str) -> Checkpoint:
    try:
        data = json.loads(line)
        cp = Checkpoint(**data)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{where} is not a checkpoint: {exc}") from None
    if isinstance(cp.seq, bool) or not isinstance(cp.seq, int) or cp.seq < 1:
        raise CheckpointError(f"{where}: seq must be a positive integer")
    if not all(isinstance(v, str) for v in (cp.head, cp.key, cp.public_key, cp.signature)):
        raise CheckpointError(f"{where}: head, key, public_key and signature must be strings")
    if isinstance(cp.at, bool) or not isinstance(cp.at, int | float):
        raise CheckpointError(f"{where}: at must be a number")
    return cp


def check_signature(cp: Checkpoint, trusted: Ed25519PublicKey | None) -> None:
    """Raise CheckpointError unless `cp` is signed by `trusted` (or, with no trusted key
    at hand, by the key it names: then only its fingerprint ties it to the relay)."""
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(cp.public_key))
        signature = base64.b64decode(cp.signature, validate=True)
    except ValueError:
        raise CheckpointError("the checkpoint's key or signature is not valid base64") from None
    if fingerprint(public) != cp.key:
        raise CheckpointError("the checkpoint's public key does not match its fingerprint")
    if trusted is not None and fingerprint(trusted) != cp.key:
        raise CheckpointError(
            f"the checkpoint is signed by key {cp.key[:16]}..., not by this relay's key "
            f"{fingerprint(trusted)[:16]}..."
        )
    try:
        public.verify(signature, cp.message())
    except (InvalidSignature, ValueError):
        raise CheckpointError(
            "the checkpoint's signature does not verify: it was altered"
        ) from None


def trusted_key(data_dir: Path) -> Ed25519PublicKey | None:
    """This relay's public key, if its key file exists (never creates one)."""
    if not (data_dir / KEY_FILE).exists():
        return None
    return relay_key(data_dir).public_key()
