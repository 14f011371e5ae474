"""Issue 13's alerts in the main window's default layout: the Alerts dock shows its header
and at least four rows at 1600x1000 and at 1280x800, and the composer opens docked beside
the map, never over it, and goes away when cancelled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QRect, QSettings
from PySide6.QtWidgets import QWidget

from backend_client import messages as m
from console.alerts.widget import AlertsWidget
from console.main_window import MainWindow
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from tests.gui.test_alerts import Runs
from tests.support.console import offline_session
from tests.support.samples import ELM_ROAD
from tests.support.samples import elm_road_alert as alert

pytestmark = pytest.mark.gui


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    s = offline_session(tmp_path, "dana")
    s.run = Runs()  # type: ignore[method-assign]  # no relay answers: requests are kept
    yield s
    s.client.outbox.close()


def global_rect(w: QWidget) -> QRect:
    return QRect(w.mapToGlobal(w.rect().topLeft()), w.size())


def rows_shown(alerts: AlertsWidget) -> float:
    """Rows of the list that fit below its header, whole or not."""
    return alerts.table.viewport().height() / alerts.ROW_HEIGHT


@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800)])
def test_the_alerts_dock_shows_four_rows_and_the_composer_sits_beside_the_map(
    qtbot, session, tmp_path, size
):
    for n in range(6):
        session.dispatch(m.AlertChanged(seq=n + 1, at=0.0, alert=alert(f"alr_{n}")))
    settings = ConsoleSettings(
        "dana", QSettings(str(tmp_path / "c.ini"), QSettings.Format.IniFormat)
    )
    window = MainWindow(session, settings)
    window.resize(*size)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.map.ready, timeout=30_000)
        alerts = window.alerts
        qtbot.waitUntil(lambda: rows_shown(alerts) >= 4, timeout=5_000)
        assert rows_shown(alerts) < 6, "no more than needed: the map and feed keep the room"
        assert alerts.table.horizontalHeader().isVisible()
        map_before = window.map.width()

        composer = alerts.compose(ELM_ROAD)
        assert composer is not None
        dock = alerts.composer_dock
        qtbot.waitUntil(lambda: dock.isVisible() and composer.isVisible(), timeout=5_000)
        assert composer.isWindow() is False, "docked, not a window over the map"
        assert composer.window() is window
        assert not global_rect(window.map).intersects(global_rect(dock))
        assert window.map.width() >= map_before - 2, "the map keeps its width"
        # its fields are usable in the pane: as wide as the pane, not cut off at its edge
        pane = dock.pane.viewport()
        qtbot.waitUntil(lambda: composer.width() <= pane.width(), timeout=5_000)
        assert global_rect(pane).contains(global_rect(composer.headline))
        # and it takes most of its column while open
        chat = window._docks[2]  # below it in the right-hand column
        qtbot.waitUntil(lambda: dock.height() > 2 * chat.height(), timeout=5_000)
        window.grab().save(f"/tmp/alerts-composer-{size[0]}.png")

        # the preview opens over the composer's pane: the map beside it shows the area
        composer.headline.setText("Burglaries on Elm Road")
        composer.set_categories(["burglary"])
        preview = composer.review()
        assert preview is not None
        qtbot.waitUntil(preview.isVisible, timeout=5_000)
        assert not global_rect(window.map).intersects(preview.frameGeometry())
        assert preview.frameGeometry().intersects(global_rect(dock))
        preview.grab().save(f"/tmp/alerts-preview-docked-{size[0]}.png")
        preview.reject()
        qtbot.waitUntil(lambda: not preview.isVisible(), timeout=5_000)
        assert composer.isVisible(), "back in the composer"

        # raising Report does not end the draft: composing again goes into it
        composer.headline.setText("Keep this text")
        window._docks[1].raise_()
        again = alerts.compose_for_incident("INC-2026-000017")
        assert again is composer and composer.headline.text() == "Keep this text"
        assert composer.incident_ref.text() == "INC-2026-000017"

        cleared: list[bool] = []
        alerts.draft_cancelled.connect(lambda: cleared.append(True))
        composer.reject()
        qtbot.waitUntil(lambda: not dock.isVisible(), timeout=5_000)
        assert cleared == [True]
    finally:
        window.close()
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
