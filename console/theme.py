"""The dark control-room theme and a light one (Fusion style plus a palette)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

DARK = {
    "window": "#1b1f24",
    "base": "#12161a",
    "alt": "#1f252b",
    "text": "#e6e9ec",
    "muted": "#8b949e",
    "button": "#262c33",
    "highlight": "#2f81f7",
    "highlight_text": "#ffffff",
    "border": "#30363d",
    # text colours for states, readable on "window" and "base"
    "success": "#57ab5a",
    "warning": "#d29922",
    "danger": "#e5534b",
}
LIGHT = {
    "window": "#f3f4f6",
    "base": "#ffffff",
    "alt": "#f6f8fa",
    "text": "#1f2328",
    "muted": "#59636e",
    "button": "#e9ecef",
    "highlight": "#0969da",
    "highlight_text": "#ffffff",
    "border": "#d0d7de",
    "success": "#1a7f37",
    "warning": "#9a6700",
    "danger": "#cf222e",
}
#: status and priority colours shared by the feed, the map and the dashboard
STATUS_COLOURS = {
    "new": "#e5534b",
    "claimed": "#d29922",
    "in_progress": "#2f81f7",
    "closed": "#768390",
}
PRIORITY_COLOURS = {"high": "#e5534b", "normal": "#adbac7", "low": "#768390"}
CATEGORY_COLOURS = {
    "burglary": "#e5534b",
    "vehicle": "#f69d50",
    "drugs": "#b083f0",
    "missing_person": "#ff7b72",
    "fly_tipping": "#57ab5a",
    "antisocial": "#d29922",
    "rural": "#8ddb8c",
    "horse": "#c69026",
    "canal": "#39c5cf",
    "school": "#6cb6ff",
    "cycle": "#96d0ff",
    "business": "#dcbdfb",
    "violence": "#f47067",
    "other": "#adbac7",
}

_current = "dark"


def current() -> dict[str, str]:
    return DARK if _current == "dark" else LIGHT


def apply_theme(app: QApplication, name: str) -> None:
    """Switch the whole console, live: the palette change reaches every widget as a
    `QEvent.PaletteChange`, and widgets that draw with `current()` colours (style sheets,
    plots, the map page) restyle themselves in `changeEvent`."""
    global _current
    _current = name if name in ("dark", "light") else "dark"
    c = current()
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: c["window"],
        QPalette.ColorRole.WindowText: c["text"],
        QPalette.ColorRole.Base: c["base"],
        QPalette.ColorRole.AlternateBase: c["alt"],
        QPalette.ColorRole.Text: c["text"],
        QPalette.ColorRole.Button: c["button"],
        QPalette.ColorRole.ButtonText: c["text"],
        QPalette.ColorRole.Highlight: c["highlight"],
        QPalette.ColorRole.HighlightedText: c["highlight_text"],
        QPalette.ColorRole.ToolTipBase: c["alt"],
        QPalette.ColorRole.ToolTipText: c["text"],
        QPalette.ColorRole.PlaceholderText: c["muted"],
        QPalette.ColorRole.Link: c["highlight"],
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(c["muted"]))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(c["muted"]))
    app.setPalette(pal)
    app.setStyleSheet(
        f"""
        QDockWidget::title {{ background: {c["alt"]}; padding: 4px 8px; font-weight: 600; }}
        QTableView {{ gridline-color: {c["border"]}; }}
        QHeaderView::section {{ background: {c["alt"]}; color: {c["muted"]}; border: 0;
            border-bottom: 1px solid {c["border"]}; padding: 4px 6px; font-weight: 600; }}
        QStatusBar {{ border-top: 1px solid {c["border"]}; }}
        QLineEdit, QComboBox, QPlainTextEdit, QTextEdit, QSpinBox, QDateTimeEdit {{
            border: 1px solid {c["border"]}; border-radius: 4px; padding: 3px 6px; }}
        QPushButton {{ border: 1px solid {c["border"]}; border-radius: 4px; padding: 4px 10px; }}
        QPushButton:default {{ background: {c["highlight"]}; color: {c["highlight_text"]}; }}
        QTabBar::tab {{ padding: 5px 12px; }}
        """
    )
