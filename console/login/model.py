"""Trust on first use, decided without Qt: what a presented relay fingerprint means given
the one pinned for that relay address (where pins are kept is the dialog's business)."""

from __future__ import annotations

from typing import Literal, Protocol

Verdict = Literal["pinned", "new", "changed"]


class PinnedFingerprints(Protocol):
    def pinned(self, url: str) -> str | None: ...


def relay_key(url: str) -> str:
    """One settings key per relay address, whatever its trailing slash or spacing."""
    return url.strip().rstrip("/").replace("/", "|")


def check_trust(store: PinnedFingerprints, url: str, presented: str) -> Verdict:
    """'pinned' (matches), 'new' (first contact: ask), or 'changed' (refuse)."""
    pinned = store.pinned(url)
    if pinned is None:
        return "new"
    return "pinned" if pinned.upper() == presented.upper() else "changed"


#: the relay's minimum (relay/passwords.py); the relay judges the rest
MIN_PASSWORD_LENGTH = 8


def password_form_problem(current: str, new: str, again: str, code: str) -> str | None:
    """What stops the change-password form being sent, in words; None when it can go.
    Only what the console can tell alone: the relay says if the password is too weak."""
    if not current or not new or not code.strip():
        return "Fill in your current password, the new one twice and a fresh code."
    if new != again:
        return "The two new passwords differ."
    if len(new) < MIN_PASSWORD_LENGTH:
        return f"A password needs at least {MIN_PASSWORD_LENGTH} characters."
    if new == current:
        return "The new password is the current one."
    if not code.strip().isdigit():
        return "The code is the 6 digits your authenticator shows."
    return None
