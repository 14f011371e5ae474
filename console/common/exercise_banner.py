"""The exercise banner the report pane and the chat put above an exercise report."""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel

from console.common.exercise import EXERCISE_COLOUR, EXERCISE_TEXT_COLOUR, report_banner
from console.common.labels import plain_label

#: a striped yellow band: the words carry the meaning, the stripes catch the eye
_SHEET = (
    f"QLabel {{ color: {EXERCISE_TEXT_COLOUR}; border: 2px dashed {EXERCISE_TEXT_COLOUR};"
    " border-radius: 3px; padding: 4px 8px;"
    " background: qlineargradient(spread:repeat, x1:0, y1:0, x2:0.04, y2:0.04,"
    f" stop:0 {EXERCISE_COLOUR}, stop:0.5 {EXERCISE_COLOUR}, stop:0.51 #f2d37a,"
    " stop:1 #f2d37a); }"
)


def exercise_banner() -> QLabel:
    """A hidden banner; `show_exercise(banner, pilot_id)` fills and shows it."""
    label = plain_label(selectable=False)
    bold = QFont(label.font())
    bold.setBold(True)
    label.setFont(bold)
    label.setStyleSheet(_SHEET)
    label.setAccessibleName("Exercise marking")
    label.setVisible(False)
    return label


def show_exercise(banner: QLabel, exercise: bool, pilot_id: str | None) -> None:
    """Show the banner for an exercise report (pilot named), hide it for a real one."""
    if exercise:
        banner.setText(report_banner(pilot_id))
    else:
        banner.clear()
    banner.setVisible(exercise)
