"""Hostile text in issue 13's widgets (incident titles, citizen text in an incident's
reports and timeline, close reasons in a report's history) shows as plain text, tooltips
included: Qt renders a tooltip that looks like HTML as HTML (`Qt.mightBeRichText`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGuiNs
from PySide6.QtGui import QTextDocument

from backend_client import messages as m
from console.detail.history import HistoryPane
from console.feed.close_dialog import CloseDialog
from console.incidents.widget import IncidentsWidget
from console.session import ConsoleSession
from tests.support.console import offline_session
from tests.support.samples import T0, numbered_report

pytestmark = pytest.mark.gui
HOSTILE = "<b>bold</b> <img src='x'> \u202eevil\u202c &amp; <a href='http://x'>click</a>"
REF = "INC-2026-00009"


def shown(tip: str) -> str:
    """What a tooltip shows a person: rich text rendered (as Qt would), else the text."""
    if QtGuiNs.mightBeRichText(tip):
        doc = QTextDocument()
        doc.setHtml(tip)
        return doc.toPlainText()
    return tip


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path, "dana")
    session.client.role = "dispatcher"
    yield session
    session.client.outbox.close()


def test_an_incident_s_title_reports_and_timeline_tooltips_are_plain(
    qtbot, session: ConsoleSession
) -> None:  # type: ignore[no-untyped-def]
    w = IncidentsWidget(session, lambda: [])
    qtbot.addWidget(w)
    w.show()
    r = numbered_report(1, text=HOSTILE)
    session.dispatch(m.ReportCreated(seq=1, at=T0, report=r))
    session.dispatch(m.IncidentOpened(seq=2, at=T0 + 1, incident_ref=REF, title=HOSTILE, by="dev"))
    linked = numbered_report(1, text=HOSTILE, incident_ref=REF)
    session.dispatch(m.ReportUpdated(seq=3, at=T0 + 2, report=linked, by="dev"))
    qtbot.waitUntil(lambda: w.table.topLevelItemCount() == 1, timeout=3000)
    assert shown(w.table.topLevelItem(0).toolTip(1)) == HOSTILE
    w.select_incident(REF)
    assert shown(w.reports.topLevelItem(0).toolTip(3)) == HOSTILE
    tips = [w.timeline.topLevelItem(i).toolTip(1) for i in range(w.timeline.topLevelItemCount())]
    texts = [w.timeline.topLevelItem(i).text(1) for i in range(w.timeline.topLevelItemCount())]
    assert any("<b>bold</b>" in t for t in texts)
    assert [shown(t) for t in tips] == texts
    assert HOSTILE in w.heading.text() and w.heading.textFormat() == Qt.TextFormat.PlainText


def test_a_history_entry_s_tooltip_is_plain(qtbot) -> None:  # type: ignore[no-untyped-def]
    pane = HistoryPane()
    qtbot.addWidget(pane)
    what = f"set the status to Closed (reason: {HOSTILE})"
    pane.set_entries([m.HistoryEntry(T0, "dana", "report.status", what)], omitted=0)
    item = pane.tree.topLevelItem(0)
    assert item.text(2) == what and shown(item.toolTip(2)) == what


def test_the_close_dialog_shows_the_citizen_s_words_as_plain_text(qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QLabel

    dialog = CloseDialog(numbered_report(1, text=HOSTILE))
    qtbot.addWidget(dialog)
    about = next(x for x in dialog.findChildren(QLabel) if HOSTILE in x.text())
    assert about.textFormat() == Qt.TextFormat.PlainText
