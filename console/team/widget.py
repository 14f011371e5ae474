"""The Team dock (who is signed in, their role, what they hold) and the officer picker.

The dock asks the relay `team.list` each time the link goes live and follows the
relay's `team.changed` pushes after that; while the link is down it says it does not know
(an old list would name officers who have gone). `pick_officer` is what the feed's Assign
opens: the online officers, least loaded first, and a field to type a name for an officer
who is not signed in.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend_client import limits
from backend_client import messages as m
from backend_client.state import ConnectionStatus, State
from console.common.labels import plain_label
from console.session import ConsoleSession
from console.team.model import TeamModel, holding_words, picker_line, since_words

#: how often "signed in for" moves on
SINCE_REFRESH_MS = 60_000


class TeamWidget(QWidget):
    #: the team list changed (after a `team.listed` or `team.changed`)
    team_changed = Signal()

    def __init__(self, session: ConsoleSession, model: TeamModel | None = None) -> None:
        super().__init__()
        self.session = session
        self.model = model or TeamModel()
        self.caption = plain_label("Who is signed in: asking the relay…")
        self.table = QTreeWidget()
        self.table.setHeaderLabels(["Officer", "Role", "Signed in for", "Holds"])
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.header().setStretchLastSection(True)
        for col, width in ((0, 110), (1, 90), (2, 100)):
            self.table.setColumnWidth(col, width)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.caption)
        lay.addWidget(self.table, 1)
        self._timer = QTimer(self, interval=SINCE_REFRESH_MS)
        self._timer.timeout.connect(self.redraw)
        self._timer.start()
        session.event_received.connect(self._event)
        session.connection_state_changed.connect(self._link)
        if session.status.state is State.LIVE:
            self.refresh()
        self.redraw()

    def refresh(self) -> None:
        """Ask the relay who is signed in now."""
        self.session.run(m.TeamList(id=""), self._listed, self._failed)

    def apply(self, officers: list[m.OnlineOfficer]) -> None:
        if self.model.replace(officers):
            self.redraw()
            self.team_changed.emit()

    def redraw(self) -> None:
        self.table.clear()
        if not self.model.known:
            self.caption.setText("Who is signed in: not known while the link is down.")
            return
        n = len(self.model.officers)
        self.caption.setText(f"{n} officer{'s' if n != 1 else ''} signed in")
        for o in self.model.officers:
            item = QTreeWidgetItem([o.username, o.role, since_words(o.since), holding_words(o)])
            item.setToolTip(3, ", ".join(o.holds) or "nothing")
            if o.username == self.session.username:
                font = item.font(0)
                font.setBold(True)
                item.setFont(0, font)
            self.table.addTopLevelItem(item)

    # ------------------------------------------------------------ internals

    def _listed(self, reply: m.Msg) -> None:
        if isinstance(reply, m.TeamListed):
            self.apply(reply.officers)

    def _failed(self, why: str) -> None:
        self.caption.setText(f"Who is signed in: {why}")

    def _event(self, event: m.Msg) -> None:
        if isinstance(event, m.TeamChanged):
            self.apply(event.officers)

    def _link(self, status: ConnectionStatus) -> None:
        if status.state is State.LIVE:
            self.refresh()
        elif self.model.known:
            self.model.forget()
            self.redraw()
            self.team_changed.emit()


class OfficerPicker(QDialog):
    """Choose an officer: the online ones listed, or a typed user name."""

    def __init__(self, team: TeamModel | None, prompt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose an officer")
        self.resize(380, 360)
        lay = QVBoxLayout(self)
        lay.addWidget(plain_label(prompt))
        self.list = QListWidget()
        officers = sorted(
            team.officers if team is not None else [], key=lambda o: (o.holding, o.username)
        )
        for o in officers:
            item = QListWidgetItem(picker_line(o))
            item.setData(Qt.ItemDataRole.UserRole, o.username)
            self.list.addItem(item)
        if officers:
            lay.addWidget(plain_label("Signed in now (least loaded first):"))
            lay.addWidget(self.list, 1)
        else:
            self.list.hide()
            known = team is not None and team.known
            lay.addWidget(
                plain_label(
                    "Nobody else is signed in." if known else "Who is signed in is not known now."
                )
            )
        lay.addWidget(plain_label("Or type the user name of an officer not signed in:"))
        self.typed = QLineEdit()
        self.typed.setMaxLength(limits.MAX_SHORT_CHARS)
        self.typed.setPlaceholderText("user name")
        lay.addWidget(self.typed)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        self.list.currentItemChanged.connect(lambda _c, _p: self.typed.clear())
        if officers:
            self.list.setCurrentRow(0)

    def choice(self) -> str | None:
        typed = self.typed.text().strip()
        if typed:
            return typed
        item = self.list.currentItem()
        if item is not None and not self.list.isHidden():
            return str(item.data(Qt.ItemDataRole.UserRole))
        return None


def pick_officer(
    parent: QWidget | None, team: TeamModel | None, prompt: str = "Assign to:"
) -> str | None:
    """The officer to assign to, or None if the dispatcher cancelled or chose nobody."""
    dialog = OfficerPicker(team, prompt, parent)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.choice()
    finally:
        dialog.deleteLater()
