"""Dashboard: the widget redrawing on its timer, never per event (the aggregator on its
own: tests/unit/console/test_dashboard_model.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backend_client import messages as m
from console.dashboard.widget import DashboardWidget
from tests.support.console import offline_session
from tests.support.samples import timed_alert as alert
from tests.support.samples import timed_chat as chat
from tests.support.samples import timed_report as report

pytestmark = pytest.mark.gui


# ------------------------------------------------------------------ the widget


@pytest.fixture
def session(tmp_path: Path):
    session = offline_session(tmp_path)
    yield session
    session.client.outbox.close()


def test_widget_redraws_on_its_timer_not_per_event(qtbot, session):
    w = DashboardWidget(session, interval_ms=150)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.redraws == 1, timeout=2000)  # first paint when shown
    qtbot.wait(400)
    assert w.redraws == 1  # nothing changed: the timer ticks but does not redraw

    now = time.time()
    for i in range(300):
        session.dispatch(
            m.ReportCreated(
                seq=i, at=now, report=report(f"r{i}", now - i, ("burglary", "drugs")[i % 2])
            )
        )
    session.dispatch(m.ChatPosted(seq=400, at=now, message=chat("r1", "officer", now + 30)))
    session.dispatch(m.AlertChanged(seq=401, at=now, alert=alert(now - 60, 10, 2)))
    assert w.redraws == 1  # 302 events, no drawing yet
    assert w.dirty
    qtbot.waitUntil(lambda: w.redraws == 2, timeout=2000)
    qtbot.wait(400)
    assert w.redraws == 2  # one redraw for the whole burst
    assert w.summary.text().startswith("Last 2 hours: 300 reports")
    assert "(n=1)" in w.summary.text() and "299 awaiting" in w.summary.text()
    assert "median first response — (n=1)" in w.summary.text()  # one sample: no median
    assert len(w.delivery_plot.listDataItems()) == 2  # delivered and read for alr_1
    assert len(w.reports_plot.getPlotItem().items) == 2  # two categories stacked


def test_hidden_dashboard_does_not_draw(qtbot, session):
    w = DashboardWidget(session, interval_ms=50)
    qtbot.addWidget(w)
    session.dispatch(m.ReportCreated(seq=1, at=time.time(), report=report("r", time.time())))
    qtbot.wait(300)
    assert w.redraws == 0 and w.dirty  # a hidden tab costs nothing
    w.show()
    qtbot.waitUntil(lambda: w.redraws == 1, timeout=2000)
    assert not w.dirty


def test_count_axes_tick_whole_numbers_only(qtbot, session):
    w = DashboardWidget(session, interval_ms=60_000)
    qtbot.addWidget(w)
    axis = w.response_plot.getAxis("left")
    [(spacing, values)] = axis.tickValues(0, 1.3, 60)
    assert spacing == 1.0 and values == [0.0, 1.0]
    for plot in (w.reports_plot, w.response_plot, w.delivery_plot):
        levels = plot.getAxis("left").tickSpacing(0, 4, 200)
        assert all(float(s).is_integer() and s >= 1 for s, _ in levels)


def test_legends_sit_beside_the_plots_not_over_them(qtbot, session):
    w = DashboardWidget(session, interval_ms=60_000)
    qtbot.addWidget(w)
    w.resize(1500, 200)
    w.show()
    now = time.time()
    for i, cat in enumerate(("burglary", "vehicle", "drugs", "missing_person")):
        session.dispatch(m.ReportCreated(seq=i, at=now, report=report(f"r{i}", now, cat)))
    w.redraw(now)
    qtbot.wait(50)
    for plot in (w.reports_plot, w.delivery_plot):
        item = plot.getPlotItem()
        legend = item.legend
        assert legend.parentItem() is not item.vb  # not floating inside the data area
        box = legend.mapRectToScene(legend.boundingRect())
        data = item.vb.mapRectToScene(item.vb.boundingRect())
        assert box.left() >= data.right() - 1  # to the right of the data, outside it
    assert len(w.reports_plot.getPlotItem().legend.items) == 4
