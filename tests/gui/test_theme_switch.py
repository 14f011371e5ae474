"""View > Light theme, live: every feature restyles itself on the palette change, with no
widget rebuilt and the map page never reloaded.

Widgets stand over a real ConsoleSession on a RelayClient that is never started; events go
in through `session.dispatch`, the path the relay's events take. Each test switches
dark -> light -> dark and checks what the user would see: backgrounds that follow the
theme, and text that stays readable on them (WCAG contrast ratio >= 4.5).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from backend_client import messages as m
from backend_client.state import ConnectionStatus, State
from console import theme
from console.chat.widget import ChatWidget
from console.dashboard.widget import DashboardWidget
from console.map.widget import MapWidget
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from console.status.bar import StatusBar
from tests.support.console import close_map, js, offline_session, shown_map

pytestmark = pytest.mark.gui

PRESTON = (53.7590, -2.6990)


# ---------------------------------------------------------------------- helpers


def luminance(colour: QColor) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF())
        + 0.7152 * channel(colour.greenF())
        + 0.0722 * channel(colour.blueF())
    )


def contrast(a: QColor, b: QColor) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def sheet_colour(sheet: str, prop: str) -> QColor:
    found = re.search(rf"(?<![-\w]){prop}:\s*(#[0-9a-fA-F]{{6}})", sheet)
    assert found, f"no {prop} in {sheet!r}"
    return QColor(found.group(1))


@pytest.fixture
def themed(qapp: QApplication) -> Iterator[QApplication]:
    """Start dark; afterwards give the next test the application as it was."""
    saved = (qapp.palette(), qapp.styleSheet(), qapp.style().name(), theme._current)
    theme.apply_theme(qapp, "dark")
    yield qapp
    palette, sheet, style, name = saved
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)
    theme._current = name


def switch(app: QApplication, name: str) -> None:
    theme.apply_theme(app, name)
    QCoreApplication.processEvents()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path)
    now = time.time()
    session.dispatch(
        m.ReportCreated(
            seq=1,
            at=now,
            report=m.Report(
                report_id="r-1",
                reporter="quiet-heron-42",
                category="burglary",
                text="Two men trying door handles",
                lat=PRESTON[0],
                lon=PRESTON[1],
                created_at=now - 300,
                status="new",
                priority="normal",
                claimed_by=None,
                incident_ref=None,
                media=[],
            ),
        )
    )
    yield session
    session.client.outbox.close()


def chat(mid: str, sender: str, text: str, at: float) -> m.ChatPosted:
    return m.ChatPosted(
        seq=10,
        at=at,
        message=m.ChatMessage(
            message_id=mid,
            report_id="r-1",
            sender=sender,  # type: ignore[arg-type]
            author="dana" if sender == "officer" else "quiet-heron-42",
            text=text,
            sent_at=at,
            status="delivered",
        ),
    )


def alert(sent_at: float, delivered: int, read: int, alert_id: str = "alr_1") -> m.AlertChanged:
    return m.AlertChanged(
        seq=20,
        at=time.time(),
        alert=m.Alert(
            alert_id=alert_id,
            sender="dana",
            sent_at=sent_at,
            msg_type="Alert",
            state="active",
            info=m.AlertInfo(
                categories=["burglary"],
                area=m.Circle(lat=PRESTON[0], lon=PRESTON[1], radius_m=800),
                area_desc="Fishergate",
                headline="Burglaries",
                expires_at=sent_at + 3600,
            ),
            recipients=50,
            delivered=delivered,
            read=read,
        ),
    )


# ---------------------------------------------------------------------- chat


def test_chat_bubbles_follow_the_theme_and_stay_readable(
    qtbot: Any, themed: QApplication, session: ConsoleSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # opening the conversation tells the relay it was read; there is no relay here
    monkeypatch.setattr(session, "run", lambda request, on_reply, on_error=None: None)
    now = time.time()
    session.dispatch(chat("c1", "citizen", "They went towards the canal", now - 60))
    session.dispatch(chat("o1", "officer", "Thank you, a car is on its way", now - 30))
    w = ChatWidget(session)
    qtbot.addWidget(w)
    w.resize(600, 500)
    w.show()
    w.open_conversation("r-1")
    pane = w.panes["r-1"]
    bubbles = [pane.bubbles["c1"], pane.bubbles["o1"]]
    qtbot.waitUntil(lambda: all(b.isVisible() for b in bubbles))

    def seen() -> list[tuple[str, str]]:
        """(background drawn inside the bubble, colour its text is drawn in), per bubble."""
        out = []
        for b in bubbles:
            image = b.grab().toImage()
            drawn = image.pixelColor(b.width() - 4, b.height() // 2)  # the right margin
            declared = sheet_colour(b.styleSheet(), "background")
            assert drawn.name() == declared.name()  # the style sheet is what is painted
            text = b.text_label.palette().color(QPalette.ColorRole.WindowText)
            assert contrast(declared, text) >= 4.5, (theme._current, b.entry.key)
            meta = b.meta_label.palette().color(QPalette.ColorRole.WindowText)
            assert contrast(declared, meta) >= 4.5
            out.append((declared.name(), text.name()))
        return out

    dark = seen()
    assert dark == [(theme.DARK["alt"], theme.DARK["text"]), (theme.DARK["button"], "#e6e9ec")]

    switch(themed, "light")
    light = seen()
    assert light == [(theme.LIGHT["alt"], theme.LIGHT["text"]), (theme.LIGHT["button"], "#1f2328")]
    assert pane.bubbles["c1"] is bubbles[0]  # restyled in place, not rebuilt

    switch(themed, "dark")
    assert seen() == dark


# ---------------------------------------------------------------------- dashboard


def test_dashboard_plots_follow_the_theme(
    qtbot: Any, themed: QApplication, session: ConsoleSession
) -> None:
    w = DashboardWidget(session, interval_ms=60_000)
    qtbot.addWidget(w)
    plots = (w.reports_plot, w.response_plot, w.delivery_plot)

    def backgrounds() -> set[str]:
        return {p.backgroundBrush().color().name() for p in plots}

    def titles() -> set[str]:
        return {p.getPlotItem().titleLabel.opts["color"] for p in plots}

    now = time.time()
    session.dispatch(alert(now - 40, delivered=12, read=3))
    w.redraw(now)  # a legend entry drawn in dark colours, before the switch
    legend = w.delivery_plot.getPlotItem().legend
    [(_sample, label)] = legend.items

    assert backgrounds() == {theme.current()["base"]} == {theme.DARK["base"]}
    switch(themed, "light")
    assert f"color:{theme.LIGHT['text']}" in label.item.toHtml()  # the drawn legend text
    assert backgrounds() == {theme.LIGHT["base"]}
    assert titles() == {theme.LIGHT["text"]}
    for p in plots:
        axis = p.getAxis("left")
        assert axis.textPen().color().name() == theme.LIGHT["muted"]
        ratio = contrast(axis.textPen().color(), QColor(theme.LIGHT["base"]))
        assert ratio >= 4.5
    switch(themed, "dark")
    assert backgrounds() == {theme.DARK["base"]}
    assert titles() == {theme.DARK["text"]}


def test_alert_delivery_axis_says_seconds_or_minutes_never_a_power_of_ten(
    qtbot: Any, session: ConsoleSession
) -> None:
    w = DashboardWidget(session, interval_ms=60_000)
    qtbot.addWidget(w)
    axis = w.delivery_plot.getAxis("bottom")
    now = time.time()
    session.dispatch(alert(now - 40, delivered=12, read=3))
    w.redraw(now)
    assert axis.labelString().endswith(">seconds since sent </span>")
    xs = w.delivery_plot.listDataItems()[0].getData()[0]
    assert xs[-1] == pytest.approx(40, abs=1)

    session.dispatch(alert(now - 600, delivered=30, read=9, alert_id="alr_2"))
    w.redraw(now)
    assert axis.labelString().endswith(">minutes since sent </span>")
    ends = sorted(item.getData()[0][-1] for item in w.delivery_plot.listDataItems())
    assert ends[0] == pytest.approx(40 / 60, abs=0.02) and ends[-1] == pytest.approx(10, abs=0.02)


# ---------------------------------------------------------------------- status bar


def test_status_bar_link_colour_follows_the_theme(
    qtbot: Any, themed: QApplication, session: ConsoleSession
) -> None:
    bar = StatusBar(session)
    qtbot.addWidget(bar)
    bar.set_status(ConnectionStatus(state=State.LIVE, since=time.time()))
    for name, colours in (("light", theme.LIGHT), ("dark", theme.DARK)):
        switch(themed, name)
        colour = sheet_colour(bar.connection.styleSheet(), "color")
        assert colour.name() == colours["success"]
        assert contrast(colour, QColor(colours["window"])) >= 4.5


# ---------------------------------------------------------------------- map


@pytest.fixture
def map_widget(
    qtbot: Any, themed: QApplication, session: ConsoleSession, tmp_path: Path
) -> Iterator[MapWidget]:
    settings = ConsoleSettings(
        "tester", QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    )
    w = shown_map(qtbot, session, settings, tmp_path / "cache", (800, 600))
    yield w
    close_map(w)


def rgb(hex_colour: str) -> str:
    c = QColor(hex_colour)
    return f"rgb({c.red()}, {c.green()}, {c.blue()})"


def test_map_page_restyles_in_place(
    qtbot: Any, themed: QApplication, map_widget: MapWidget
) -> None:
    w = map_widget
    background = "getComputedStyle(document.querySelector('.leaflet-container')).backgroundColor"
    zoom_text = "getComputedStyle(document.querySelector('.leaflet-bar a')).color"
    assert js(qtbot, w, background) == rgb(theme.DARK["base"])

    switch(themed, "light")
    qtbot.waitUntil(lambda: js(qtbot, w, background) == rgb(theme.LIGHT["base"]), timeout=10_000)
    assert js(qtbot, w, zoom_text) == rgb(theme.LIGHT["text"])
    assert js(qtbot, w, "document.querySelectorAll('style#lookout-theme').length") == 1

    switch(themed, "dark")
    qtbot.waitUntil(lambda: js(qtbot, w, background) == rgb(theme.DARK["base"]), timeout=10_000)
    assert js(qtbot, w, zoom_text) == rgb(theme.DARK["text"])
    assert w.load_count == 1  # the page was never reloaded
