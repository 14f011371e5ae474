"""Labels that can never be tricked into rendering citizen text as HTML."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QSizePolicy


def plain_label(
    text: str = "",
    *,
    selectable: bool = True,
    mono: bool = False,
    wrap: bool = True,
    shrink: bool = True,
) -> QLabel:
    """A QLabel fixed to plain text (QLabel otherwise guesses rich text from content).

    `shrink` lets the label be narrower than its text (a pane's width wins over a long
    string); without it the label asks for its text's width, as a caption beside a field
    should.
    """
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setOpenExternalLinks(False)
    if selectable:
        label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
    if mono:
        label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    if shrink:
        # a long unbroken string must not widen the whole pane
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        label.setMinimumWidth(40)
    label.setText(text)
    return label


#: longest text a tooltip shows (a report's text can be 8,000 characters)
TOOLTIP_CHARS = 2000


def plain_tooltip(text: str) -> str:
    """A tooltip showing `text` literally: Qt renders a tooltip that looks like HTML as
    HTML (`Qt.mightBeRichText`), so citizen and officer text is escaped into one."""
    if len(text) > TOOLTIP_CHARS:
        text = text[:TOOLTIP_CHARS] + "…"
    body = html.escape(text, quote=False).replace("\n", "<br>")
    return f"<qt><p style='white-space:pre-wrap'>{body}</p></qt>"
