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
