"""The feed's triage actions: claim, in progress, close, reopen, assign, priority.

Every action goes through `session.submit()` (the durable outbox); the feed changes when
the relay's event comes back, never optimistically. Which action is offered comes from
`console.feed.triage`, i.e. from the shared rules the relay enforces.

Close asks for a reason and is sent at once (other officers see it closed, honestly, and
nothing waits in a timer across a reconnect); its Undo, offered for a few seconds, is a
reopen to the status the report had, queued behind the close in the same outbox.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QMenu, QToolButton, QWidget

from backend_client import messages as m
from backend_client import rules
from console.feed import triage
from console.feed.close_dialog import CloseDialog
from console.session import ConsoleSession

#: (name, button text, key shown in the tooltip); the table maps the keys to these actions
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("claim", "Claim", "C"),
    ("progress", "In progress", "P"),
    ("close", "Close…", "X"),
    ("reopen", "Reopen", "R"),
    ("assign", "Assign…", ""),
    ("high", "High priority", "H"),  # a key and a menu entry, no button of its own
)


class FeedActions(QWidget):
    """The action row, acting on whichever report `target()` returns."""

    #: an action was not sent; the reason, in the officer's words
    refused = Signal(str)
    #: a close was sent: (report id, the status it had, the reason): the feed offers Undo
    closed = Signal(str, str, str)

    def __init__(self, session: ConsoleSession, target: Callable[[], m.Report | None]) -> None:
        super().__init__()
        self.session = session
        self._target_report = target
        #: Assign's "who?": the team's online-officer picker once the window sets it
        #: (console.team.widget.pick_officer), a typed user name until then
        self.choose_officer: Callable[[QWidget, str], str | None] = _typed_officer
        self.actions_by_name: dict[str, QAction] = {}
        #: the open close dialog, if any (tests pick its reason)
        self.close_dialog: CloseDialog | None = None
        slots: dict[str, Callable[[], None]] = {
            "claim": self.claim,
            "progress": self.start_progress,
            "close": self.close_report,
            "reopen": self.reopen,
            "assign": self.ask_assign,
            "high": lambda: self.set_priority("high"),
        }
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        for name, text, key in ACTIONS:
            action = QAction(text, self)
            action.setToolTip(f"{text} ({key})" if key else text)
            action.triggered.connect(slots[name])
            self.actions_by_name[name] = action
            if name == "high":
                continue
            button = QToolButton()
            button.setDefaultAction(action)
            row.addWidget(button)
        self.priority_menu = QMenu("Priority", self)
        for level in ("high", "normal", "low"):
            act = self.priority_menu.addAction(level.capitalize())
            act.triggered.connect(lambda _c=False, lv=level: self.set_priority(lv))
        self.priority_button = QToolButton()
        self.priority_button.setText("Priority")
        self.priority_button.setToolTip("Set priority (H = high)")
        self.priority_button.setMenu(self.priority_menu)
        self.priority_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        row.addWidget(self.priority_button)
        row.addStretch(1)

    # ------------------------------------------------------------ the actions

    def claim(self) -> None:
        report = self._target()
        if report is None:
            return
        me, role = self.session.username, self.session.role
        if not triage.claim_would_change(report, me):
            return
        if not triage.may_claim(report, me, role):
            self._refuse(report, m.ReportClaim)
            return
        force = triage.must_force(report, me)
        self.session.submit(m.ReportClaim(id="", idem="", report_id=report.report_id, force=force))

    def start_progress(self) -> None:
        self._move("in_progress")

    def close_report(self) -> None:
        """Ask why, then close (see `close_with_reason`); Cancel sends nothing."""
        report = self._target()
        if report is None or report.status == "closed":
            return
        if not triage.may_move_to(report, "closed", self.session.username, self.session.role):
            self._refuse(report, m.ReportSetStatus)
            return
        if self.close_dialog is not None:
            self.close_dialog.raise_()
            return
        dialog = CloseDialog(report, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.close_dialog = dialog

        def done(result: int) -> None:
            self.close_dialog = None
            reason = dialog.reason()
            if result == CloseDialog.DialogCode.Accepted and reason is not None:
                self.close_with_reason(report, reason)

        dialog.finished.connect(done)
        dialog.open()  # window-modal, and the event loop (and the feed) keep running

    def close_with_reason(self, report: m.Report, reason: str) -> None:
        """Send the close with its reason now, and tell the feed (for the Undo bar)."""
        self.session.submit(
            m.ReportSetStatus(
                id="", idem="", report_id=report.report_id, status="closed", reason=reason
            )
        )
        self.closed.emit(report.report_id, report.status, reason)

    def undo_close(self, report_id: str, previous: str) -> None:
        """Reopen a report this officer just closed, to the status it had: queued behind the
        close, so it holds whether or not the close's event is back yet."""
        target = previous if previous in ("claimed", "in_progress") else "claimed"
        self.session.submit(
            m.ReportSetStatus(id="", idem="", report_id=report_id, status=target)  # type: ignore[arg-type]
        )

    def reopen(self) -> None:
        """A closed report back into work: into progress for whoever held it (or a
        supervisor), otherwise claimed by this officer."""
        report = self._target()
        if report is None or report.status != "closed":
            return
        target = triage.reopen_target(report, self.session.username, self.session.role)
        if triage.may_move_to(report, target, self.session.username, self.session.role):
            self.session.submit(
                m.ReportSetStatus(id="", idem="", report_id=report.report_id, status=target)  # type: ignore[arg-type]
            )
        else:
            self._refuse(report, m.ReportSetStatus)

    def assign(self, officer: str) -> None:
        report = self._target()
        officer = officer.strip()
        if report is not None and officer:
            self.session.submit(
                m.ReportAssign(id="", idem="", report_id=report.report_id, officer=officer)
            )

    def set_priority(self, priority: str) -> None:
        report = self._target()
        if report is not None and report.priority != priority:
            self.session.submit(
                m.ReportSetPriority(
                    id="",
                    idem="",
                    report_id=report.report_id,
                    priority=priority,  # type: ignore[arg-type]
                )
            )

    def ask_assign(self) -> None:
        report = self._target()
        if report is None:
            return
        officer = self.choose_officer(self, f"Assign {report.report_id} to:")
        if officer:
            self.assign(officer)

    # ------------------------------------------------------------ state

    def update_for(self, report: m.Report | None) -> None:
        """Enable what the rules allow for the selected report (or nothing)."""
        me = self.session.username
        offer = triage.offer(report, me, self.session.role)
        a = self.actions_by_name
        a["claim"].setEnabled(offer.claim)
        a["progress"].setEnabled(offer.progress)
        a["close"].setEnabled(offer.close)
        a["reopen"].setEnabled(offer.reopen)
        a["assign"].setEnabled(offer.assign)
        a["high"].setEnabled(offer.priority)
        self.priority_button.setEnabled(offer.priority)
        if report is not None and report.claimed_by and report.claimed_by != me:
            a["claim"].setToolTip(f"Claimed by {report.claimed_by} (C)")
        else:
            a["claim"].setToolTip("Claim (C)")

    # ------------------------------------------------------------ internals

    def _move(self, status: str) -> None:
        report = self._target()
        if report is None:
            return
        me = self.session.username
        if triage.may_move_to(report, status, me, self.session.role):
            self.session.submit(
                m.ReportSetStatus(
                    id="",
                    idem="",
                    report_id=report.report_id,
                    status=status,  # type: ignore[arg-type]
                )
            )
        elif report.status != status:
            self._refuse(report, m.ReportSetStatus)

    def _refuse(self, report: m.Report, request: type[m.Msg]) -> None:
        """Say why a request was not sent, when the officer can do something about it
        (a move the report's status does not allow, like closed to in progress, is silent)."""
        role = self.session.role
        if not triage.may_send(role, request):
            self.refused.emit(f"Your role ({role}) reads reports; it cannot change them.")
        elif rules.held_by_other(report.status, report.claimed_by, self.session.username):
            self.refused.emit(
                f"Report {report.report_id} is claimed by {report.claimed_by}; "
                "ask them or a supervisor to hand it over."
            )

    def _target(self) -> m.Report | None:
        report = self._target_report()
        if report is None:
            self.refused.emit("Select a report first.")
        return report


def _typed_officer(parent: QWidget, prompt: str) -> str | None:
    officer, ok = QInputDialog.getText(parent, "Assign report", f"{prompt} (user name)")
    return officer if ok else None
