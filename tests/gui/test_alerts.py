"""Alerts: templates, the composer (defaults, live count, validation, send) and the list
(progress from alert.changed, two-person rule on the buttons, cancel, refusals, export).

A real ConsoleSession over a RelayClient that is never started: actions land in its durable
outbox, events are fed with `session.dispatch`. `session.run` (a live request) is replaced by
a recorder, since no relay answers; the test delivers the reply itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDateTime, Qt

from backend_client import messages as m
from console.alerts.composer import DEFAULT_CONTACT, AlertComposer
from console.alerts.model import approval_waiting_text, can_approve, review_lines
from console.alerts.table import DELIVERED, REACH, READ, STATE
from console.alerts.widget import AlertsWidget
from console.session import ConsoleSession
from tests.support.console import offline_client
from tests.support.samples import ELM_ROAD as SQUARE
from tests.support.samples import elm_road_alert as alert
from tests.support.samples import elm_road_info as info

pytestmark = pytest.mark.gui

CIRCLE = m.Circle(lat=53.759, lon=-2.699, radius_m=1500)


class Runs:
    """Stands in for `session.run`: keeps each request and its callbacks."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, Any]] = []

    def __call__(self, request: Any, on_reply: Any, on_error: Any = None) -> None:
        self.calls.append((request, on_reply, on_error))


@pytest.fixture
def session(tmp_path: Path):
    client = offline_client(tmp_path)
    s = ConsoleSession(client)
    s.run = Runs()  # type: ignore[method-assign]
    yield s
    client.outbox.close()


def pending(session: ConsoleSession) -> list[m.Msg]:
    return [e.message for e in session.client.outbox.pending()]


def login(session: ConsoleSession, username: str, role: str) -> None:
    session.client.username = username
    session.client.role = role


def changed(seq: int, a: m.Alert) -> m.AlertChanged:
    return m.AlertChanged(seq=seq, at=time.time(), alert=a)


# ------------------------------------------------------------------ composer


def test_composer_defaults_from_the_drawn_area(qtbot, session):
    dlg = AlertComposer(session, SQUARE)
    qtbot.addWidget(dlg)
    assert dlg.area_desc.text().startswith("Polygon, 4 points")
    assert dlg.contact.text() == DEFAULT_CONTACT
    assert dlg.headline.text() == ""
    assert dlg.headline.maxLength() == 200
    assert dlg.cap_category.currentText() == "Security"
    assert dlg.cap_status.currentText() == "Actual"
    assert abs(dlg.expires_at() - (time.time() + 24 * 3600)) < 120
    assert dlg.checked_categories() == []
    assert "Tick at least one category" in dlg.reach.text()

    circle = AlertComposer(session, CIRCLE)
    qtbot.addWidget(circle)
    assert circle.area_desc.text().startswith("1.5 km radius around 53.7590, -2.6990")


def test_template_fills_the_fields(qtbot, session):
    dlg = AlertComposer(session, SQUARE)
    qtbot.addWidget(dlg)
    dlg.template.setCurrentIndex(dlg.template.findText("Missing person appeal"))
    assert dlg.headline.text() == "Help us find a missing person"
    assert dlg.urgency.currentText() == "Immediate"
    assert dlg.cap_category.currentText() == "Rescue"
    assert dlg.checked_categories() == ["missing_person"]
    assert abs(dlg.expires_at() - (time.time() + 12 * 3600)) < 120
    # the placeholder in the template's description must be filled in before sending
    dlg.send()
    assert "square brackets" in dlg.problems.text()
    assert pending(session) == []


def test_filling_in_and_pressing_send_queues_alert_send(qtbot, session):
    dlg = AlertComposer(session, CIRCLE)
    qtbot.addWidget(dlg)
    dlg.template.setCurrentIndex(dlg.template.findText("Burglary warning"))
    dlg.headline.setText("Two burglaries on Elm Road tonight")
    dlg.incident_ref.setText("INC-2026-000017")
    dlg.severity.setCurrentText("Severe")
    dlg.set_categories(["burglary", "business"])
    expires = QDateTime.currentDateTime().addSecs(6 * 3600)
    dlg.expiry.setDateTime(expires)
    # Send opens the preview first: nothing is queued until its own Send
    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    preview = dlg.preview
    assert preview is not None and preview.isVisible()
    assert pending(session) == []
    runs: Runs = session.run  # type: ignore[assignment]
    request, on_reply, _ = runs.calls[-1]  # the preview's fresh count
    assert isinstance(request, m.AlertPreview) and request.area == CIRCLE
    on_reply(m.AlertCount(re="p", recipients=40, approval_required=False))
    assert preview.send_button.isEnabled() and not preview.send_button.isDefault()
    with qtbot.waitSignal(dlg.sent):
        qtbot.mouseClick(preview.send_button, Qt.MouseButton.LeftButton)

    [action] = pending(session)
    assert isinstance(action, m.AlertSend)
    got = action.info
    assert got.headline == "Two burglaries on Elm Road tonight"
    assert got.categories == ["burglary", "business"]
    assert got.area == CIRCLE
    assert got.area_desc.startswith("1.5 km radius")
    assert got.event == "Burglary"
    assert got.severity == "Severe" and got.urgency == "Expected"
    assert got.certainty == "Observed" and got.cap_category == "Security"
    assert got.contact == DEFAULT_CONTACT
    assert got.incident_ref == "INC-2026-000017"
    assert got.instruction.startswith("Lock doors and windows")
    assert abs(got.expires_at - expires.toMSecsSinceEpoch() / 1000) < 1
    assert got.status == "Actual"
    assert action.idem  # the outbox gave it an idempotency key
    assert dlg.result() == dlg.DialogCode.Accepted


@pytest.mark.parametrize("problem", ["past_expiry", "empty_headline", "no_category"])
def test_validation_blocks_sending(qtbot, session, problem):
    dlg = AlertComposer(session, SQUARE)
    qtbot.addWidget(dlg)
    dlg.headline.setText("Vehicle crime on Elm Road")
    dlg.set_categories(["vehicle"])
    if problem == "past_expiry":
        dlg.expiry.setDateTime(QDateTime.currentDateTime().addSecs(-3600))
        expected = "expiry time has passed"
    elif problem == "empty_headline":
        dlg.headline.setText("   ")
        expected = "Write a headline"
    else:
        dlg.set_categories([])
        expected = "Tick at least one category"
    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    assert pending(session) == []
    assert expected in dlg.problems.text()
    assert dlg.problems.isVisibleTo(dlg)
    assert dlg.result() != dlg.DialogCode.Accepted


def test_recipient_count_is_requested_debounced_and_shown(qtbot, session):
    dlg = AlertComposer(session, SQUARE, debounce_ms=50)
    qtbot.addWidget(dlg)
    runs: Runs = session.run  # type: ignore[assignment]
    item = dlg.categories.item(0)  # burglary
    item.setCheckState(Qt.CheckState.Checked)
    dlg.categories.item(1).setCheckState(Qt.CheckState.Checked)  # vehicle, within the debounce
    assert dlg.reach.text() == "Counting phones…"
    qtbot.waitUntil(lambda: len(runs.calls) == 1, timeout=2000)
    qtbot.wait(120)
    assert len(runs.calls) == 1  # two ticks, one question
    request, on_reply, on_error = runs.calls[0]
    assert isinstance(request, m.AlertPreview)
    assert request.area == SQUARE and request.categories == ["burglary", "vehicle"]

    on_reply(m.AlertCount(re="c1", recipients=137, approval_required=True))
    assert dlg.reach.text() == "Reaches 137 phones"
    assert dlg.approval.isVisibleTo(dlg)
    assert "two-person rule" in dlg.approval.text()

    # a change makes the outstanding answer stale: a late reply is ignored
    dlg.categories.item(1).setCheckState(Qt.CheckState.Unchecked)
    on_reply(m.AlertCount(re="c1", recipients=999, approval_required=False))
    assert "999" not in dlg.reach.text()
    qtbot.waitUntil(lambda: len(runs.calls) == 2, timeout=2000)
    _, on_reply2, on_error2 = runs.calls[1]
    on_reply2(m.AlertCount(re="c2", recipients=1, approval_required=False))
    assert dlg.reach.text() == "Reaches 1 phone"
    assert not dlg.approval.isVisibleTo(dlg)

    on_error2("polygon ring intersects itself")
    assert dlg.reach.text().startswith("This area cannot be used")
    assert "draw the area again" in dlg.reach.text()


def test_update_prefills_and_queues_alert_update(qtbot, session):
    original = alert(info=info(incident_ref="INC-1", contact="PC Smith, 101"))
    dlg = AlertComposer(session, CIRCLE, editing=original)
    qtbot.addWidget(dlg)
    assert dlg.headline.text() == "Burglaries on Elm Road"
    assert dlg.area == SQUARE  # the alert's own area, not the one passed
    assert dlg.contact.text() == "PC Smith, 101"
    assert dlg.checked_categories() == ["burglary"]
    dlg.description.setPlainText("A man was arrested; patrols continue.")
    assert dlg.send() is not None
    [action] = pending(session)
    assert isinstance(action, m.AlertUpdate)
    assert action.alert_id == "alr_1"
    assert action.info.description == "A man was arrested; patrols continue."
    assert action.info.incident_ref == "INC-1"


# ------------------------------------------------------------------ the list


def test_list_shows_progress_climbing_from_alert_changed(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    a = alert(recipients=80)
    session.dispatch(changed(1, a))
    assert w.model.rowCount() == 1
    for seq, (d, r) in enumerate([(20, 0), (60, 10), (80, 50)], start=2):
        session.dispatch(changed(seq, alert(recipients=80, delivered=d, read=r)))
        assert w.model.rowCount() == 1
        cell = w.model.index(0, DELIVERED)
        assert cell.data() == f"{d} / 80"
        assert w.model.index(0, READ).data() == f"{r} / 80"
    assert w.model.book.rows()[0].delivered_fraction == 1.0
    assert w.model.book.rows()[0].read_fraction == 0.625
    assert w.model.index(0, STATE).data() == "Active"
    session.dispatch(changed(9, alert("alr_2", state="pending_approval")))
    assert w.model.rowCount() == 2
    assert w.model.index(0, STATE).data() == "Awaiting approval"
    w.show()
    w.grab()  # the delegate paints chips and bars without error


def test_an_alert_to_fewer_than_five_phones_says_so_and_shows_no_counts(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    small = alert(recipients=0, delivered=0, read=0, fewer_than=5)
    session.dispatch(changed(1, small))
    assert w.model.index(0, REACH).data() == "< 5"
    assert w.model.index(0, DELIVERED).data() == "–"
    assert w.model.index(0, READ).data() == "–"
    tip = w.model.index(0, DELIVERED).data(Qt.ItemDataRole.ToolTipRole)
    assert "fewer than 5 phones" in tip
    assert ("Reaches", "fewer than 5 phones") in review_lines(small, time.time())
    assert "reaches fewer than 5 phones." in approval_waiting_text(small)
    assert ("Reaches", "1 phone") in review_lines(alert(recipients=1), time.time())
    w.show()
    w.grab()  # the delegate paints a row without counts


def test_approve_follows_the_two_person_rule(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    session.dispatch(changed(1, alert(state="pending_approval", sender="dana")))
    w.select_alert("alr_1")

    login(session, "dev", "dispatcher")
    w._update_buttons()
    assert not w.approve_button.isEnabled() and not w.reject_button.isEnabled()

    login(session, "dana", "supervisor")  # a supervisor, but the sender
    w._update_buttons()
    assert not w.approve_button.isEnabled()

    login(session, "sam", "supervisor")
    w._update_buttons()
    assert w.approve_button.isEnabled() and w.reject_button.isEnabled()
    assert can_approve(alert(state="active"), "supervisor", "sam") is False
    qtbot.mouseClick(w.reject_button, Qt.MouseButton.LeftButton)
    [action] = pending(session)
    assert isinstance(action, m.AlertApprove)
    assert action.alert_id == "alr_1" and action.approve is False


def test_cancel_asks_then_submits_alert_cancel(qtbot, session, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    w = AlertsWidget(session)
    qtbot.addWidget(w)
    session.dispatch(changed(1, alert()))
    w.select_alert("alr_1")
    assert w.cancel_button.isEnabled() and w.update_button.isEnabled()
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
    assert pending(session) == []  # said no
    qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
    [action] = pending(session)
    assert isinstance(action, m.AlertCancel) and action.alert_id == "alr_1"
    session.dispatch(changed(2, alert(state="cancelled", msg_type="Cancel")))
    assert not w.cancel_button.isEnabled() and not w.update_button.isEnabled()
    assert w.model.index(0, STATE).data() == "Cancelled (Cancel)"


def test_refusal_from_the_relay_is_shown_in_plain_words(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    session.dispatch(changed(1, alert(state="pending_approval")))
    w.select_alert("alr_1")
    entry = session.submit(m.AlertApprove(id="", idem="", alert_id="alr_1"))
    session.outbox_changed.emit(
        entry, m.Error(code="forbidden", message="the sender cannot approve their own alert")
    )
    assert w.message.text().startswith("The approval was refused.")
    assert "supervisor other than the sender" in w.message.text()
    assert w.message.textFormat() == Qt.TextFormat.PlainText


def test_accepted_reply_updates_the_row_and_says_approval_is_needed(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    entry = session.submit(m.AlertSend(id="", idem="", info=info()))
    accepted = alert("alr_9", state="pending_approval", recipients=300)
    session.outbox_changed.emit(entry, m.AlertAccepted(re="x", alert=accepted))
    assert w.model.rowCount() == 1
    assert "a supervisor other than you must approve" in w.message.text()


def test_export_cap_saves_the_xml(qtbot, session, tmp_path):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    session.dispatch(changed(1, alert()))
    w.select_alert("alr_1")
    out = tmp_path / "alert.xml"
    w.export_selected(out)
    request, on_reply, _ = session.run.calls[-1]  # type: ignore[attr-defined]
    assert isinstance(request, m.AlertExport) and request.alert_id == "alr_1"
    xml = '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>'
    on_reply(m.AlertCap(re="c1", alert_id="alr_1", xml=xml))
    assert out.read_text() == xml
    assert str(out) in w.message.text()


def test_compose_update_and_show_area(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    dlg = w.compose(CIRCLE)
    assert dlg is not None and dlg.isVisible() and dlg.area == CIRCLE
    dlg.reject()
    assert w.compose("not an area") is None
    a = alert()
    session.dispatch(changed(1, a))
    w.select_alert("alr_1")
    with qtbot.waitSignal(w.show_area) as sig:
        qtbot.mouseClick(w.area_button, Qt.MouseButton.LeftButton)
    assert sig.args == [a]
    upd = w.update_selected()
    assert upd is not None and upd.editing == a
    upd.reject()


def test_the_waiting_note_gives_way_to_the_approval(qtbot, session) -> None:
    """'Queued for approval' must not linger once a supervisor has decided."""
    from backend_client.outbox import OutboxEntry

    widget = AlertsWidget(session)
    qtbot.addWidget(widget)
    waiting = alert("A-1", state="pending_approval", recipients=63)
    entry = OutboxEntry(1, "k", "alert.send", m.Ping(id="x"), time.time(), "done", 1, None)
    session.outbox_changed.emit(entry, m.AlertAccepted(re="c1", alert=waiting))
    assert "supervisor other than you" in widget.message.text()
    session.dispatch(changed(2, alert("A-1", state="active", recipients=63, approved_by="sam")))
    assert "approved and sent by sam" in widget.message.text()
    assert "supervisor other than you" not in widget.message.text()


def test_the_approver_reviews_text_and_area_before_approve_is_offered(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    shown: list[m.Alert] = []
    waiting: list[str] = []
    w.show_area.connect(shown.append)
    w.approval_waiting.connect(waiting.append)
    login(session, "sam", "supervisor")
    pending_alert = alert(
        state="pending_approval",
        sender="dana",
        recipients=300,
        info=info(description="<b>Two</b> break-ins", instruction="Lock doors"),
    )
    session.dispatch(changed(1, pending_alert))
    assert waiting and "Burglaries on Elm Road" in waiting[0] and "dana" in waiting[0]
    session.dispatch(changed(2, pending_alert))
    assert len(waiting) == 1  # announced once
    assert w.review.isHidden() and not w.approve_button.isEnabled()
    w.select_alert("alr_1")
    assert [a.alert_id for a in shown] == ["alr_1"]  # its area went to the map
    assert w.review.isVisibleTo(w)
    assert w.review.text("Description") == "<b>Two</b> break-ins"  # plain text, as sent
    assert w.review.values["Description"].textFormat() == Qt.TextFormat.PlainText
    assert w.review.text("Instruction") == "Lock doors"
    assert w.review.text("Categories") == "Burglary"
    assert w.review.text("Reaches") == "300 phones"
    assert w.approve_button.isEnabled()
    login(session, "dev", "dispatcher")  # not an approver: no panel, no button
    w._update_buttons()
    assert w.review.isHidden() and not w.approve_button.isEnabled()


def test_an_approver_is_told_once_and_a_dispatcher_never(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    waiting: list[str] = []
    w.approval_waiting.connect(waiting.append)
    login(session, "dev", "dispatcher")
    session.dispatch(changed(1, alert(state="pending_approval", sender="dana")))
    login(session, "dana", "supervisor")  # the sender
    session.dispatch(changed(2, alert(state="pending_approval", sender="dana")))
    assert waiting == []


def test_the_alerts_dock_says_a_composer_is_open_and_its_hint_returns_when_it_closes(
    qtbot, session
):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    assert "Draw an area" in w.hint.text()
    composer = w.compose(SQUARE)
    assert composer is not None
    assert "Writing an alert" in w.hint.text()
    composer.reject()
    assert "Draw an area" in w.hint.text()
