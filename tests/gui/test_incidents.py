"""The Incidents dock over an offline session: events in through `session.dispatch`, the
list and one incident's view drawn, the actions landing in the real outbox (the model on
its own: tests/unit/console/test_incidents_model.py)."""

from __future__ import annotations

import msgspec
import pytest
from PySide6.QtWidgets import QInputDialog, QMenu

from backend_client import messages as m
from console.incidents.actions import MergeDialog
from console.incidents.widget import IncidentsWidget
from console.session import ConsoleSession
from tests.support.samples import T0, exercise_report, numbered_report, timed_alert, timed_chat

pytestmark = pytest.mark.gui
REF = "INC-2026-00007"
_seq = iter(range(1, 1_000_000))


@pytest.fixture
def selected() -> list[m.Report]:
    return []


@pytest.fixture
def widget(qtbot, session: ConsoleSession, selected: list[m.Report]) -> IncidentsWidget:  # type: ignore[no-untyped-def]
    w = IncidentsWidget(session, lambda: list(selected))
    qtbot.addWidget(w)
    w.resize(1000, 400)
    w.show()
    return w


def arrive(session: ConsoleSession, *reports: m.Report) -> None:
    for r in reports:
        session.dispatch(m.ReportCreated(seq=next(_seq), at=r.created_at, report=r))


def update(session: ConsoleSession, r: m.Report, at: float, by: str = "dev") -> None:
    session.dispatch(m.ReportUpdated(seq=next(_seq), at=at, report=r, by=by))


def pending(session: ConsoleSession) -> list[m.Msg]:
    return [e.message for e in session.client.outbox.pending()]


def texts(tree, col: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [tree.topLevelItem(i).text(col) for i in range(tree.topLevelItemCount())]


def test_the_list_and_an_incident_s_reports_chat_alerts_and_timeline(
    qtbot, session: ConsoleSession, widget: IncidentsWidget
) -> None:  # type: ignore[no-untyped-def]
    arrive(session, numbered_report(1), numbered_report(2), numbered_report(3))
    session.dispatch(
        m.IncidentOpened(
            seq=next(_seq), at=T0 + 50, incident_ref=REF, title="Missing boy", by="dev"
        )
    )
    update(session, numbered_report(1, incident_ref=REF), T0 + 51)
    dup = numbered_report(2, incident_ref=REF, duplicate_of="R-0001", status="closed")
    update(session, dup, T0 + 52)
    session.dispatch(
        m.ChatPosted(seq=next(_seq), at=T0 + 60, message=timed_chat("R-0001", "citizen", T0 + 60))
    )
    alert = timed_alert(T0 + 70)
    alert = msgspec.structs.replace(
        alert, info=msgspec.structs.replace(alert.info, incident_ref=REF)
    )
    session.dispatch(m.AlertChanged(seq=next(_seq), at=T0 + 70, alert=alert))
    qtbot.waitUntil(lambda: widget.table.topLevelItemCount() == 1, timeout=3000)
    assert texts(widget.table, 0) == [REF]
    assert texts(widget.table, 2) == ["2 (1 dup.)"] and texts(widget.table, 3) == ["dev"]

    widget.select_incident(REF)
    assert widget.selected_incident() == REF
    assert texts(widget.reports, 0) == ["R-0001", "R-0002"]
    assert texts(widget.reports, 2) == ["new", "duplicate of R-0001"]
    assert "Kestrel-1 (citizen): hello" in widget.chat.toPlainText()
    assert texts(widget.alerts, 2) == ["Burglaries"]
    timeline = texts(widget.timeline, 1)
    assert timeline[0].startswith("R-0001 reported") and "Incident opened by dev" in timeline
    assert "R-0002 merged as a duplicate of R-0001 by dev" in timeline
    assert timeline[-1] == "Alert active: Burglaries"
    assert "Missing boy" in widget.heading.text()

    with qtbot.waitSignal(widget.open_report) as opened:
        widget.reports.itemClicked.emit(widget.reports.topLevelItem(1), 0)
    assert opened.args == ["R-0002"]
    with qtbot.waitSignal(widget.alert_for_incident) as asked:
        widget.alert_button.click()
    assert asked.args == [REF]


def test_a_burst_of_unlinked_reports_does_not_redraw(
    qtbot, session: ConsoleSession, widget: IncidentsWidget
) -> None:  # type: ignore[no-untyped-def]
    drawn = widget.redraws
    arrive(session, *(numbered_report(n) for n in range(500)))
    widget.redraw()
    assert widget.redraws == drawn and widget.table.topLevelItemCount() == 0


def test_new_link_unlink_and_merge_go_through_the_outbox(
    qtbot, monkeypatch, session: ConsoleSession, widget: IncidentsWidget, selected: list[m.Report]
) -> None:  # type: ignore[no-untyped-def]
    actions = widget.incident_actions
    assert not actions.new_incident.isEnabled()  # nothing selected
    primary = numbered_report(1, category="missing_person", text="Boy in a red coat")
    twin = numbered_report(2, category="missing_person", text="Small boy, red coat")
    arrive(session, primary, twin, numbered_report(3))
    selected.append(primary)
    actions.update_enabled()
    assert actions.new_incident.isEnabled() and not actions.link.isEnabled()

    monkeypatch.setattr(
        QInputDialog, "getText", lambda *a, **kw: (kw.get("text", "") + " (Avenham)", True)
    )
    actions.new_incident.trigger()
    (made,) = pending(session)
    assert isinstance(made, m.IncidentCreate)
    assert made.title == "Missing person: Boy in a red coat (Avenham)"
    assert made.report_ids == ["R-0001"]

    session.dispatch(
        m.IncidentOpened(seq=next(_seq), at=T0 + 9, incident_ref=REF, title=made.title, by="dana")
    )
    assert widget.selected_incident() == REF  # the one this console just opened
    linked = numbered_report(1, category="missing_person", incident_ref=REF)
    update(session, linked, T0 + 10, by="dana")
    selected[:] = [twin]
    actions.update_enabled()
    assert actions.link.isEnabled() and not actions.unlink.isEnabled()
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **kw: (f"{REF} — {made.title}", True))
    actions.link.trigger()
    assert pending(session)[-1] == m.ReportLink(
        id=pending(session)[-1].id,
        idem=pending(session)[-1].idem,
        report_id="R-0002",
        incident_ref=REF,  # type: ignore[attr-defined]
    )

    selected[:] = [session.reports["R-0001"]]
    dialog = actions.ask_merge()
    assert isinstance(dialog, MergeDialog)
    offered = [dialog.list.item(i).text().split()[0] for i in range(dialog.list.count())]
    assert offered[0] == "R-0002"  # same category, nearest: first
    dialog.tick("R-0002")
    dialog.accept()
    merge = pending(session)[-1]
    assert isinstance(merge, m.ReportMerge)
    assert (merge.into, merge.report_ids, merge.incident_ref) == ("R-0001", ["R-0002"], REF)

    actions.update_enabled()
    assert actions.unlink.isEnabled()
    actions.unlink.trigger()
    unlink = pending(session)[-1]
    assert isinstance(unlink, m.ReportUnlink) and unlink.report_id == "R-0001"


def test_live_and_exercise_together_are_refused_in_the_console_too(
    qtbot, session: ConsoleSession, widget: IncidentsWidget
) -> None:  # type: ignore[no-untyped-def]
    live, drill = numbered_report(1), exercise_report(2)
    arrive(session, live, drill)
    with qtbot.waitSignal(widget.incident_actions.refused) as why:
        assert not widget.incident_actions.merge_into(live, [drill])
    assert "exercise" in why.args[0]
    widget.model.report(msgspec.structs.replace(live, incident_ref=REF))
    assert not widget.incident_actions.link_to(REF, [drill])  # the incident's live already
    assert pending(session) == []
    assert widget.note.isVisible() and "exercise" in widget.note.text()


def test_an_analyst_is_offered_no_incident_action(
    qtbot, session: ConsoleSession, widget: IncidentsWidget, selected: list[m.Report]
) -> None:  # type: ignore[no-untyped-def]
    session.client.role = "analyst"
    arrive(session, numbered_report(1, incident_ref=REF))
    selected.append(session.reports["R-0001"])
    widget.incident_actions.update_enabled()
    assert not any(a.isEnabled() for a in widget.incident_actions.all())


def test_the_feed_s_context_menu_hook_adds_the_four_actions(
    qtbot, session: ConsoleSession, widget: IncidentsWidget, selected: list[m.Report]
) -> None:  # type: ignore[no-untyped-def]
    menu = QMenu()
    widget.incident_actions.add_to_menu(menu)
    names = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert names == [
        "New incident from report…",
        "Link to incident…",
        "Unlink from incident",
        "Merge as duplicates…",
    ]


def test_the_dock_s_buttons_follow_the_feed_s_selection(
    qtbot, session: ConsoleSession, widget: IncidentsWidget, selected: list[m.Report]
) -> None:  # type: ignore[no-untyped-def]
    arrive(session, numbered_report(1))
    merge = widget.incident_actions.merge
    assert not merge.isEnabled()
    selected.append(session.reports["R-0001"])  # the feed's selection moved, silently
    qtbot.waitUntil(merge.isEnabled, timeout=3000)
    selected.clear()
    qtbot.waitUntil(lambda: not merge.isEnabled(), timeout=3000)
