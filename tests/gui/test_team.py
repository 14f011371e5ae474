"""The Team dock and the officer picker over an offline session (the model on its own:
tests/unit/console/test_team_model.py)."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from backend_client import messages as m
from backend_client.state import ConnectionStatus, State
from console.feed.actions import FeedActions
from console.session import ConsoleSession
from console.team.model import TeamModel
from console.team.widget import OfficerPicker, TeamWidget, pick_officer
from tests.support.samples import numbered_report

pytestmark = pytest.mark.gui


def officer(name: str, holds: list[str], role: str = "dispatcher") -> m.OnlineOfficer:
    return m.OnlineOfficer(name, role, time.time() - 600, holds, len(holds))  # type: ignore[arg-type]


def test_the_dock_follows_team_changed_and_forgets_when_the_link_drops(
    qtbot, session: ConsoleSession
) -> None:  # type: ignore[no-untyped-def]
    w = TeamWidget(session)
    qtbot.addWidget(w)
    w.show()
    assert w.table.topLevelItemCount() == 0 and "not known" in w.caption.text()
    with qtbot.waitSignal(w.team_changed):
        session.dispatch(
            m.TeamChanged(officers=[officer("sam", [], "supervisor"), officer("dana", ["R-1"])])
        )
    rows = [
        [w.table.topLevelItem(i).text(c) for c in range(4)]
        for i in range(w.table.topLevelItemCount())
    ]
    assert rows == [
        ["dana", "dispatcher", "10 min", "1: R-1"],
        ["sam", "supervisor", "10 min", "nothing"],
    ]
    assert w.caption.text() == "2 officers signed in"
    assert w.table.topLevelItem(0).font(0).bold()  # that is me
    session.connection_state_changed.emit(ConnectionStatus(State.BACKING_OFF, time.time()))
    assert w.table.topLevelItemCount() == 0 and "not known" in w.caption.text()


def test_the_picker_lists_the_least_loaded_first_and_takes_a_typed_name(qtbot) -> None:  # type: ignore[no-untyped-def]
    team = TeamModel()
    team.replace([officer("dev", ["R-1", "R-2"]), officer("sam", [], "supervisor")])
    p = OfficerPicker(team, "Assign R-9 to:")
    qtbot.addWidget(p)
    assert [p.list.item(i).text() for i in range(p.list.count())] == [
        "sam — supervisor, holds 0",
        "dev — dispatcher, holds 2",
    ]
    assert p.choice() == "sam"
    p.list.setCurrentRow(1)
    assert p.choice() == "dev"
    p.typed.setText("  ola ")  # an officer who is not signed in
    assert p.choice() == "ola"
    empty = OfficerPicker(TeamModel(), "Assign R-9 to:")
    qtbot.addWidget(empty)
    assert empty.choice() is None and empty.list.isHidden()


def test_assign_in_the_feed_picks_from_the_online_list(qtbot, session: ConsoleSession) -> None:  # type: ignore[no-untyped-def]
    team = TeamModel()
    team.replace([officer("dev", []), officer("sam", ["R-7"], "supervisor")])
    report = numbered_report(1)
    actions = FeedActions(session, lambda: report)
    qtbot.addWidget(actions)
    actions.choose_officer = lambda parent, prompt: pick_officer(parent, team, prompt)

    def answer() -> None:  # the modal picker is open: choose the second officer, OK
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, OfficerPicker):
            QTimer.singleShot(20, answer)
            return
        dialog.list.setCurrentRow(1)
        dialog.accept()

    QTimer.singleShot(0, answer)
    actions.ask_assign()
    (sent,) = [e.message for e in session.client.outbox.pending()]
    assert isinstance(sent, m.ReportAssign) and (sent.report_id, sent.officer) == ("R-0001", "sam")
