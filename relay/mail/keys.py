"""The keys of email subscriptions, all derived from the relay's secrets key.

A database copy alone gives no address: each is sealed with AES-GCM (associated data: its
lookup hash, so a sealed address moved to another row does not open), and looked up by an
HMAC of its normalised form, which without the key cannot be checked against a guessed
address. Tokens in links are random (confirmation) or derived from the key and a
per-subscription salt (unsubscribe, so every email can carry it); the database holds only
their SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from relay.secret_box import SecretBox, SecretKeyError

_PREFIX = "m1:"


class MailKeys:
    def __init__(self, box: SecretBox) -> None:
        self._aead = AESGCM(box.derive_key("email address seal"))
        self._lookup = box.derive_key("email address lookup")
        self._unsub = box.derive_key("email unsubscribe token")

    def lookup_hash(self, normalised: str) -> str:
        return hmac.new(self._lookup, normalised.encode("utf-8"), hashlib.sha256).hexdigest()

    def seal(self, address: str, lookup: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, address.encode("utf-8"), lookup.encode("ascii"))
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, lookup: str) -> str:
        raw = base64.b64decode(stored.removeprefix(_PREFIX))
        try:
            return self._aead.decrypt(raw[:12], raw[12:], lookup.encode("ascii")).decode("utf-8")
        except InvalidTag:
            raise SecretKeyError("a sealed email address does not open with this key") from None

    def seal_token(self, token: str) -> str:
        """A confirmation token kept in the outbox until its email is sent."""
        return self.seal(token, "confirm-token")

    def open_token(self, stored: str) -> str:
        return self.open(stored, "confirm-token")

    def unsubscribe_token(self, salt: str) -> str:
        digest = hmac.new(self._unsub, salt.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_salt() -> str:
    return secrets.token_hex(16)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
