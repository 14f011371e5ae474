"""Issue 13's alerts: the send preview (text, area on the map, categories in words, expiry,
reach from a fresh count, warnings at no phone and at a large reach, a send that needs a
deliberate act), the incident reference, the composer's cancel signal, the alert's history
beside the list, and the approval notice for alerts replayed while signed out.

As tests/gui/test_alerts.py: a real ConsoleSession over a client never started; actions
land in its outbox; `session.run` is a recorder and the test answers for the relay.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QDateTime, Qt
from PySide6.QtGui import QColor

from backend_client import messages as m
from backend_client.cache import Incident
from console.alerts.composer import AlertComposer
from console.alerts.preview import SendPreview
from console.alerts.widget import AlertsWidget
from console.session import ConsoleSession
from console.theme import current
from tests.gui.test_alerts import CIRCLE, Runs, changed, login, pending
from tests.support.console import offline_client
from tests.support.samples import ELM_ROAD as SQUARE
from tests.support.samples import elm_road_alert as alert
from tests.support.samples import elm_road_info as info

pytestmark = pytest.mark.gui


class Incidents:
    """The part of the console cache the composer reads."""

    def incidents(self) -> list[Incident]:
        return [Incident("INC-2026-000017", "Missing person, Avenham", "dana", time.time())]


@pytest.fixture
def session(tmp_path: Path):
    client = offline_client(tmp_path)
    s = ConsoleSession(client, cache=Incidents())
    s.run = Runs()  # type: ignore[method-assign]
    login(s, "dana", "dispatcher")
    yield s
    client.outbox.close()


def runs(session: ConsoleSession) -> Runs:
    r = session.run
    assert isinstance(r, Runs)
    return r


def filled(qtbot: Any, session: ConsoleSession, **kw: Any) -> AlertComposer:
    kw.setdefault("debounce_ms", 60_000)  # the composer's own count stays out of the way
    dlg = AlertComposer(session, kw.pop("area", CIRCLE), **kw)
    qtbot.addWidget(dlg)
    dlg.template.setCurrentIndex(dlg.template.findText("Burglary warning"))
    dlg.headline.setText("Two burglaries on Elm Road tonight")
    dlg.description.setPlainText("<b>Two</b> houses were entered between 8 and 10 pm.")
    dlg.set_categories(["burglary", "vehicle"])
    dlg.expiry.setDateTime(QDateTime.currentDateTime().addSecs(2 * 3600 + 30))
    return dlg


def opened(qtbot: Any, dlg: AlertComposer) -> tuple[SendPreview, Any]:
    """Press the composer's Send; the preview and its count request's reply callback."""
    before = len(runs(dlg.session).calls)
    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    preview = dlg.preview
    assert preview is not None and preview.isVisible()
    [(request, on_reply, _)] = runs(dlg.session).calls[before:]
    assert isinstance(request, m.AlertPreview)
    return preview, on_reply


# ------------------------------------------------------------------ the preview


def test_send_opens_a_preview_of_everything_that_goes_out(qtbot, session):
    dlg = filled(qtbot, session)
    dlg.incident_ref.setText("INC-2026-000017")
    areas: list[m.Alert] = []
    dlg.show_area.connect(areas.append)
    preview, on_reply = opened(qtbot, dlg)
    assert pending(session) == [], "Send in the composer no longer sends"
    assert [a.info.area for a in areas] == [CIRCLE], "the area is put on the main map"
    assert preview.values["Reaches"].text() == "Counting…"
    assert not preview.send_button.isEnabled(), "no send before a fresh count"

    on_reply(
        m.AlertCount(re="p", recipients=312, approval_required=False, emails=41)
    )  # the relay's answer to this preview, not the composer's older one
    text = {k: v.text() for k, v in preview.values.items()}
    assert text["Headline"] == "Two burglaries on Elm Road tonight"
    assert text["Description"] == "<b>Two</b> houses were entered between 8 and 10 pm."
    assert preview.values["Description"].textFormat() == Qt.TextFormat.PlainText
    assert text["Instruction"].startswith("Lock doors and windows")
    assert text["Area"] == "1.5 km radius around 53.7590, -2.6990"
    assert text["Categories"] == "Burglary, Vehicle crime"
    assert text["Expires"].endswith("(in 2 h)")
    assert text["Status"].startswith("Actual")
    assert text["Incident"] == "INC-2026-000017"
    assert text["Reaches"] == "312 phones and 41 email subscribers"
    assert text["Approval"].startswith("No")
    assert not preview.warning.isVisibleTo(preview)
    assert preview.send_button.isEnabled() and preview.send_button.text() == "Send to 312 phones"
    assert preview.back_button.isDefault() and not preview.send_button.isDefault()

    dropped: list[str] = []
    dlg.hide_area.connect(dropped.append)
    with qtbot.waitSignal(dlg.sent):
        qtbot.mouseClick(preview.send_button, Qt.MouseButton.LeftButton)
    assert dropped == [areas[0].alert_id], "the preview's area leaves the map with it"
    [action] = pending(session)
    assert isinstance(action, m.AlertSend)
    assert action.info == preview.info and action.info.incident_ref == "INC-2026-000017"


def test_back_returns_to_the_composer_with_nothing_sent(qtbot, session):
    dlg = filled(qtbot, session)
    dlg.show()
    preview, on_reply = opened(qtbot, dlg)
    on_reply(m.AlertCount(re="p", recipients=12, approval_required=False))
    qtbot.keyClick(preview, Qt.Key.Key_Return)  # Enter goes back: it never sends
    qtbot.waitUntil(lambda: not preview.isVisible())
    assert pending(session) == []
    assert dlg.isVisible() and dlg.result() != dlg.DialogCode.Accepted
    assert dlg.headline.text() == "Two burglaries on Elm Road tonight"  # nothing lost


def test_no_phone_gives_a_loud_warning_and_needs_a_tick_to_send(qtbot, session):
    dlg = filled(qtbot, session)
    preview, on_reply = opened(qtbot, dlg)
    on_reply(m.AlertCount(re="p", recipients=0, approval_required=False))
    assert preview.warning.isVisibleTo(preview)
    assert preview.warning_text.text() == "This alert will reach no phone now."
    assert QColor(current()["danger"]).name() in preview.warning.styleSheet()
    assert not preview.send_button.isEnabled()
    assert preview.confirm.isVisibleTo(preview) and "reaches no phone" in preview.confirm.text()
    preview.confirm.setChecked(True)
    assert preview.send_button.isEnabled()
    preview.grab().save(str(Path("/tmp") / "alerts-preview-zero.png"))


@pytest.mark.parametrize(
    ("count", "words"),
    [
        (m.AlertCount(re="p", recipients=1500, approval_required=False), "1,500 phones"),
        (m.AlertCount(re="p", recipients=60, approval_required=True), "60 phones"),
    ],
)
def test_a_large_reach_is_spelled_out_and_confirmed_on_purpose(qtbot, session, count, words):
    dlg = filled(qtbot, session)
    preview, on_reply = opened(qtbot, dlg)
    on_reply(count)
    assert preview.warning_text.text() == f"This will reach {words}."
    assert not preview.send_button.isEnabled()
    assert words in preview.confirm.text()
    if count.approval_required:
        assert preview.values["Approval"].text().startswith("Yes: a supervisor")
    preview.confirm.setChecked(True)
    with qtbot.waitSignal(dlg.sent):
        qtbot.mouseClick(preview.send_button, Qt.MouseButton.LeftButton)
    assert len(pending(session)) == 1
    if count.recipients == 1500:
        preview_png = Path("/tmp") / "alerts-preview-large.png"
        assert preview.grab().save(str(preview_png))


def test_a_coarsened_count_reads_fewer_than_five_without_a_warning(qtbot, session):
    dlg = filled(qtbot, session)
    preview, on_reply = opened(qtbot, dlg)
    on_reply(m.AlertCount(re="p", recipients=0, approval_required=False, fewer_than=5))
    assert preview.values["Reaches"].text() == "fewer than 5 phones"
    assert not preview.warning.isVisibleTo(preview)
    assert preview.send_button.isEnabled()


def test_a_failed_count_warns_and_still_lets_a_deliberate_send_queue(qtbot, session):
    dlg = filled(qtbot, session)
    before = len(runs(session).calls)
    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    preview = dlg.preview
    assert preview is not None
    _, _, on_error = runs(session).calls[before]
    on_error("the relay is not reachable")
    assert "could not be counted" in preview.warning_text.text()
    assert not preview.send_button.isEnabled()
    preview.confirm.setChecked(True)
    preview.accept()
    assert len(pending(session)) == 1


def test_an_exercise_preview_says_so(qtbot, session):
    dlg = filled(qtbot, session)
    dlg.cap_status.setCurrentText("Exercise")
    dlg.pilot.addItem("Preston 2017 (preston-2017)", "preston-2017")
    dlg.pilot.setCurrentIndex(dlg.pilot.count() - 1)
    preview, on_reply = opened(qtbot, dlg)
    on_reply(m.AlertCount(re="p", recipients=9, approval_required=False))
    assert (
        preview.values["Status"].text() == "Exercise of pilot preston-2017 (its participants only)"
    )


def test_an_update_is_previewed_too(qtbot, session):
    dlg = AlertComposer(session, CIRCLE, editing=alert())
    qtbot.addWidget(dlg)
    assert dlg.send_button.text() == "Review update…"
    preview, on_reply = opened(qtbot, dlg)
    on_reply(m.AlertCount(re="p", recipients=30, approval_required=False))
    assert preview.send_button.text() == "Send update"
    preview.accept()
    [action] = pending(session)
    assert isinstance(action, m.AlertUpdate) and action.alert_id == "alr_1"


# ------------------------------------------------------------------ incident, cancel


def test_compose_for_incident_fills_the_reference_and_waits_for_the_area(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    dlg = w.compose_for_incident("INC-2026-000017")
    assert dlg.incident_ref.text() == "INC-2026-000017" and dlg.isVisible()
    assert dlg.incident.isVisibleTo(dlg)
    assert dlg.incident.findData("INC-2026-000017") > 0  # picked from the known incidents
    assert "Draw the alert's area" in dlg.reach.text()
    assert "INC-2026-000017" in w.message.text()
    dlg.headline.setText("Have you seen this man?")
    dlg.set_categories(["missing_person"])
    assert dlg.review() is None and "Draw the alert's area" in dlg.problems.text()

    # the area drawn next goes into this draft; its text stays
    assert w.compose(SQUARE) is dlg
    assert dlg.area == SQUARE and dlg.area_desc.text().startswith("Polygon, 4 points")
    assert dlg.headline.text() == "Have you seen this man?"
    preview = dlg.review()
    assert preview is not None and preview.values["Incident"].text() == "INC-2026-000017"


def test_picking_a_known_incident_fills_the_reference(qtbot, session):
    dlg = AlertComposer(session, SQUARE)
    qtbot.addWidget(dlg)
    i = dlg.incident.findData("INC-2026-000017")
    assert dlg.incident.itemText(i) == "INC-2026-000017 — Missing person, Avenham"
    dlg.incident.activated.emit(i)
    assert dlg.incident_ref.text() == "INC-2026-000017"


def test_cancelling_a_new_draft_says_so_and_an_update_does_not(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    dropped: list[bool] = []
    w.draft_cancelled.connect(lambda: dropped.append(True))
    dlg = w.compose(SQUARE)
    assert dlg is not None
    dlg.reject()
    assert dropped == [True]
    session.dispatch(changed(1, alert()))
    w.select_alert("alr_1")
    upd = w.update_selected()
    assert upd is not None
    upd.reject()
    assert dropped == [True]


def test_sending_a_new_alert_takes_its_drawn_draft_off_the_map_too(qtbot, session):
    """The alert's own area replaces the drawn shape: the draft is not left under it."""
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    dropped: list[bool] = []
    w.draft_cancelled.connect(lambda: dropped.append(True))
    dlg = w.compose(SQUARE)
    assert dlg is not None
    dlg.template.setCurrentIndex(dlg.template.findText("Burglary warning"))
    dlg.set_categories(["burglary"])
    dlg.expiry.setDateTime(QDateTime.currentDateTime().addSecs(2 * 3600))
    assert dropped == []
    assert dlg.send() is not None, dlg.problems.text()
    assert dropped == [True]


# ------------------------------------------------------------------ history


def test_the_selected_alerts_history_lists_each_step_with_time_and_officer(qtbot, session):
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    first = time.time() - 600
    session.dispatch(changed(1, alert(sent_at=first, approved_by="sam")))
    w.select_alert("alr_1")
    request, on_reply, _ = runs(session).calls[-1]
    assert isinstance(request, m.AlertHistory) and request.alert_id == "alr_1"
    entries = [
        m.AlertHistoryEntry(action="approval requested", by="dana", at=first),
        m.AlertHistoryEntry(action="approved", by="sam", at=first + 120),
        m.AlertHistoryEntry(action="updated", by="dana", at=first + 300),
    ]
    on_reply(m.AlertHistoryListed(re="h", alert_id="alr_1", entries=entries))
    lines = w.history.text().splitlines()
    assert [ln.split("  ", 1)[1] for ln in lines] == [
        "Approval requested by dana",
        "Approved by sam",
        "Updated by dana",
    ]
    assert lines[1].startswith(time.strftime("%H:%M", time.localtime(first + 120)))
    asked = len(runs(session).calls)
    session.dispatch(changed(2, alert(sent_at=first, approved_by="sam", delivered=40)))
    assert len(runs(session).calls) == asked, "a count moving does not ask again"
    session.dispatch(changed(3, alert(sent_at=first, approved_by="sam", state="cancelled")))
    assert isinstance(runs(session).calls[-1][0], m.AlertHistory), "a new step asks again"
    assert w.model.book.get("alr_1").sent_at == first  # type: ignore[union-attr]


# ------------------------------------------------------------------ approval waiting


def test_a_supervisor_hears_once_of_an_alert_replayed_while_signed_out(qtbot, session):
    login(session, "sam", "supervisor")
    session.alerts["alr_9"] = alert("alr_9", state="pending_approval", sender="dana")
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    waiting: list[str] = []
    w.approval_waiting.connect(waiting.append)  # connected after construction, as the window
    qtbot.waitUntil(lambda: len(waiting) == 1)
    assert "Burglaries on Elm Road" in waiting[0] and "dana" in waiting[0]
    session.dispatch(changed(5, alert("alr_9", state="pending_approval", sender="dana")))
    QCoreApplication.processEvents()
    assert len(waiting) == 1, "not again for the same alert"
    session.dispatch(changed(6, alert("alr_10", state="pending_approval", sender="dana")))
    assert len(waiting) == 2
    session.dispatch(
        changed(
            7,
            alert(
                "alr_11",
                state="pending_approval",
                sender="dana",
                info=info(expires_at=time.time() - 1),
            ),
        )
    )
    assert len(waiting) == 2, "an alert past its expiry waits for nobody"
