"""Plain text where Qt would guess rich text: tool tips.

A tool tip (an item's, a table cell's) is rendered as HTML whenever its text looks like
HTML, so a title typed as `<b>x</b>` would turn bold. Escaped and wrapped as rich text on
purpose, it shows exactly as typed, line breaks kept.
"""

from __future__ import annotations

import html


def plain_tip(text: str) -> str:
    escaped = html.escape(text, quote=False).replace("\n", "<br>")
    return f"<p style='white-space:pre-wrap'>{escaped}</p>"
