"""Help > Dispatcher's guide shows the window screenshots fitted to the dialog and the
small dialog screenshots at their own size (never blown up)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QTextDocument

from console.help.dialogs import IMAGE_WIDTH, GuideDialog
from console.help.model import guide_path

pytestmark = pytest.mark.gui


def image_widths(doc: QTextDocument) -> dict[str, float]:
    widths = {}
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.isImageFormat():
                image = fmt.toImageFormat()
                widths[image.name().rsplit("/", 1)[-1]] = image.width()
            it += 1
        block = block.next()
    return widths


def test_window_shots_are_fitted_and_dialog_shots_keep_their_size(qtbot: Any) -> None:
    path = guide_path("dispatcher")
    assert path is not None
    dialog = GuideDialog(path)
    qtbot.addWidget(dialog)
    widths = image_widths(dialog.browser.document())
    assert dialog.images == len(widths) >= 10
    assert widths["workspace.png"] == IMAGE_WIDTH  # 1600 px wide: fitted
    assert widths["workspace-1280.png"] == IMAGE_WIDTH
    assert widths["close-reason.png"] == 0  # 380 px wide: its own size (no width set)
    assert widths["alert-preview.png"] == 0
