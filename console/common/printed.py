"""Citizen text as printed in a document (the analyst's evidence report, the inspector's
after-action report): every character visible, in the order it was typed. No Qt."""

from __future__ import annotations

#: the bidirectional controls (ALM, LRM, RLM, the embeddings and overrides, the isolates)
BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})


def as_typed(text: str) -> str:
    """`text` with each bidirectional control shown as [U+XXXX]: printed as typed means
    the reader sees every character, in the order it was typed."""
    if not any(ord(c) in BIDI_CONTROLS for c in text):
        return text
    return "".join(f"[U+{ord(c):04X}]" if ord(c) in BIDI_CONTROLS else c for c in text)
