"""Email counts in the console (issue 11): the composer's preview says how many email
subscribers the alert reaches apart from phones, or that email alerts are off; the alert
list's Emails column follows alert.changed (sent of queued, failed), coarsened like phones.
Plain text, as every label."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from backend_client import messages as m
from console.alerts.composer import AlertComposer
from console.alerts.model import AlertRow, email_reach_text, emails_text
from console.alerts.table import COLUMNS, EMAILS
from console.alerts.widget import AlertsWidget
from tests.gui import test_alerts
from tests.gui.test_alerts import Runs, changed
from tests.support.samples import ELM_ROAD as SQUARE
from tests.support.samples import elm_road_alert as alert

pytestmark = pytest.mark.gui
session = test_alerts.session  # the fixture: a ConsoleSession whose `run` records


def count(**kw: object) -> m.AlertCount:
    return m.AlertCount(re="c", recipients=40, approval_required=False, **kw)  # type: ignore[arg-type]


def test_the_preview_counts_email_subscribers_apart_or_says_email_is_off(qtbot, session):
    dlg = AlertComposer(session, SQUARE, debounce_ms=10)
    qtbot.addWidget(dlg)
    runs: Runs = session.run  # type: ignore[assignment]
    dlg.categories.item(0).setCheckState(Qt.CheckState.Checked)
    assert dlg.reach_email.text() == ""  # nothing said while counting
    qtbot.waitUntil(lambda: len(runs.calls) == 1, timeout=2000)
    _, on_reply, _ = runs.calls[0]
    on_reply(count(emails=12))
    assert dlg.reach.text() == "Reaches 40 phones"
    assert dlg.reach_email.text() == "and 12 email subscribers"
    assert dlg.reach_email.textFormat() == Qt.TextFormat.PlainText

    dlg.categories.item(1).setCheckState(Qt.CheckState.Checked)
    assert dlg.reach_email.text() == ""  # the old answer is stale
    qtbot.waitUntil(lambda: len(runs.calls) == 2, timeout=2000)
    _, on_reply, on_error = runs.calls[1]
    on_reply(count(emails=None))
    assert dlg.reach_email.text() == "Email alerts off (this relay has no mail server set)"
    on_error("rate limited")
    assert dlg.reach_email.text() == ""


def test_preview_words() -> None:
    assert email_reach_text(count(emails=1)) == "and 1 email subscriber"
    assert email_reach_text(count(emails=0, emails_fewer_than=5)) == (
        "and fewer than 5 email subscribers"
    )
    assert email_reach_text(count()).startswith("Email alerts off")  # null: no SMTP


def test_the_list_shows_emails_sent_and_failed_from_alert_changed(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    assert COLUMNS[EMAILS] == "Emails"
    session.dispatch(changed(1, alert()))
    cell = lambda: w.model.index(0, EMAILS)  # noqa: E731
    assert cell().data() == "–"
    assert "nobody signed up" in cell().data(Qt.ItemDataRole.ToolTipRole)
    for seq, (sent, failed) in enumerate([(0, 0), (30, 0), (57, 3)], start=2):
        session.dispatch(changed(seq, alert(emails=60, emails_sent=sent, emails_failed=failed)))
        assert w.model.rowCount() == 1
    assert cell().data() == "57 / 60, 3 failed"
    tip = cell().data(Qt.ItemDataRole.ToolTipRole)
    assert "57 of 60 emails accepted" in tip and "3 failed" in tip
    session.dispatch(changed(9, alert(emails=0, emails_fewer_than=5)))
    assert cell().data() == "–"
    assert "fewer than 5 subscribers" in cell().data(Qt.ItemDataRole.ToolTipRole)
    w.show()
    w.grab()  # the delegate paints the new column


def test_emails_cell_words() -> None:
    row = AlertRow.of(alert(emails=5, emails_sent=5), 0.0)
    assert emails_text(row) == "5 / 5"
