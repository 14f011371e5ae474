"""The Pilots pane: the relay's pilots with their state, dates and, per group, planned,
joined and active participants; and the inspector's actions on them: create, invite,
end, purge, and Review… (`pilot.review`: the relay computes the metrics, the pane saves
metrics.json, metrics.csv and the after-action report).

Every action is the relay's request (`pilot.create`, `pilot.invite`, `pilot.end`,
`pilot.purge`): the relay decides, the pane words its answer. Counts come from
`pilot.list` and then from every `pilot.changed` event the session routes here, so a phone
joining with a code shows in its group's joined count without a refresh. The pane is for
the pilot roles only (`rules.PILOT_ROLES`): `available_changed` tells the window to show
or hide its dock once the relay has said who signed in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from backend_client.pilots import DEFAULT_DIR, Plan, PlanError, dumps, find, load, running
from backend_client.pilots.metrics import plan_problem
from backend_client.pilots.timemap import RunLog, RunLogError
from backend_client.state import ConnectionStatus, State
from console.common.labels import plain_label
from console.common.ops import run_off_thread
from console.pilots import model as report_model
from console.pilots import pilots_model as pm
from console.pilots import plots
from console.pilots.invites_folder import Saved, save_invites
from console.pilots.pilots_dialogs import CreateDialog, InviteDialog
from console.pilots.review_dialog import ReviewDialog
from console.pilots.review_files import Reviewed, save_review
from console.pilots.run_logs import logs_of, runs_dir
from console.pilots.text import plain_tip
from console.session import ConsoleSession

COLUMNS = ("Pilot", "State", "Dates", "Planned", "Joined", "Active")
PLANNED, JOINED, ACTIVE = 3, 4, 5


#: what the pane says while the relay has no pilot
NO_PILOTS = "No pilots on the relay yet: create one from a plan."


class PilotsPanel(QWidget):
    #: True once the signed-in officer may run pilots (False: hide the pane)
    available_changed = Signal(bool)
    #: a batch of invitations was written (console.pilots.invites_folder.Saved)
    invites_saved = Signal(object)
    #: a review was written (console.pilots.review_files.Reviewed)
    review_saved = Signal(object)

    def __init__(
        self,
        session: ConsoleSession,
        plans_dir: Path | None = None,
        invites_dir: Path | None = None,
        reviews_dir: Path | None = None,
        run_logs_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.book = pm.PilotsBook()
        self.available = False
        self.plans_dir = plans_dir or DEFAULT_DIR
        documents = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation
        )
        self.invites_dir = invites_dir or Path(documents or Path.home()) / "Lookout invitations"
        self.reviews_dir = reviews_dir or Path(documents or Path.home()) / "Lookout reviews"
        self.run_logs_dir = run_logs_dir
        #: the confirmation open now (End or Purge), for the test that answers it
        self.confirm_box: QMessageBox | None = None
        self.confirm_button: QPushButton | None = None
        self.dialog: CreateDialog | InviteDialog | ReviewDialog | None = None
        self._reviewing = False
        self._listing = False
        self._list_again = False
        self._state = State.OFFLINE

        self.create_button = QPushButton("Create from plan…")
        self.create_button.setToolTip("Start a pilot on the relay from a plan file (TOML)")
        self.invite_button = QPushButton("Invite…")
        self.invite_button.setToolTip(
            "Issue invite codes for a group: QR PNGs and a sheet to print"
        )
        self.end_button = QPushButton("End pilot")
        self.end_button.setToolTip(
            "Participants become ordinary devices; the data stays for review"
        )
        self.purge_button = QPushButton("Purge data…")
        self.purge_button.setToolTip("Erase an ended pilot's data after review (audited)")
        self.review_button = QPushButton("Review…")
        self.review_button.setToolTip(
            "The pilot's metrics from the relay's records: metrics.json, metrics.csv and "
            "the after-action report (PDF)"
        )
        self.refresh_button = QPushButton("Refresh")
        self.review_button.clicked.connect(self.review_selected)
        self.create_button.clicked.connect(self.choose_plan)
        self.invite_button.clicked.connect(self.invite_selected)
        self.end_button.clicked.connect(self.end_selected)
        self.purge_button.clicked.connect(self.purge_selected)
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        for b in (
            self.create_button,
            self.invite_button,
            self.end_button,
            self.review_button,
            self.purge_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setRootIsDecorated(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col, width in ((1, 80), (2, 300), (PLANNED, 76), (JOINED, 76), (ACTIVE, 76)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, width)
        header.setStretchLastSection(False)
        self.tree.itemSelectionChanged.connect(self._enable)
        self.message = plain_label("")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.message)
        self._enable()

        session.connection_state_changed.connect(self._status)
        session.pilot_changed.connect(self._changed)
        session.report_changed.connect(self._report)

    # ------------------------------------------------------------ who may, and the data

    def _status(self, status: ConnectionStatus) -> None:
        """On each arrival in LIVE (the status is re-sent while live, for the round trip)."""
        was, self._state = self._state, status.state
        if status.state is not State.LIVE or was is State.LIVE:
            return
        allowed = pm.may_run_pilots(self.session.role)
        if allowed != self.available:
            self.available = allowed
            self.available_changed.emit(allowed)
        if allowed:
            self.refresh()  # after every (re)connection: the counts may have moved meanwhile

    def refresh(self) -> None:
        """Ask the relay for every pilot (purged ones too: the pane says they are)."""
        if self._listing:
            self._list_again = True
            return
        self._listing = True
        self.session.run(m.PilotList(id="", include_purged=True), self._listed, self._list_failed)

    def _listed(self, reply: m.Msg) -> None:
        self._listing = False
        if isinstance(reply, m.PilotListed):
            self.book.replace(reply.pilots)
            self._redraw()
        if self._list_again:
            self._list_again = False
            self.refresh()

    def _list_failed(self, why: str) -> None:
        self._listing = self._list_again = False
        self.say(f"The pilots could not be listed: {why}")

    def _changed(self, info: m.PilotInfo) -> None:
        self.book.apply(info)
        self._redraw()

    def _report(self, report: m.Report, created: bool) -> None:
        """A participant who had gone quiet reported: its group's active count moved, and
        only a listing says so (joins and leaves come as events)."""
        info = self.book.get(report.pilot_id) if created and report.pilot_id else None
        if info is not None and any(g.active < g.joined for g in info.groups):
            self.refresh()

    # ------------------------------------------------------------ the tree

    def _redraw(self) -> None:
        chosen = self.selected_id()
        self.tree.clear()
        now = time.time()
        for row in self.book.rows(now):
            item = QTreeWidgetItem(
                [
                    f"{row.title} ({row.pilot_id})",
                    row.state,
                    row.dates,
                    str(row.planned),
                    str(row.joined),
                    str(row.active),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, row.pilot_id)
            item.setToolTip(0, plain_tip(f"{row.title}\nid {row.pilot_id}, by {row.created_by}"))
            for g in row.groups:
                child = QTreeWidgetItem(
                    [g.name, "", "", str(g.planned), str(g.joined), str(g.active)]
                )
                child.setData(0, Qt.ItemDataRole.UserRole, row.pilot_id)
                for col in (PLANNED, JOINED, ACTIVE):
                    child.setTextAlignment(col, Qt.AlignmentFlag.AlignRight)
                item.addChild(child)
            for col in (PLANNED, JOINED, ACTIVE):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight)
            self.tree.addTopLevelItem(item)
            item.setExpanded(row.state in ("planned", "running"))
            if row.pilot_id == chosen:
                item.setSelected(True)
        if not self.book:
            self.say(NO_PILOTS)
        elif self.message.text() == NO_PILOTS:  # the first pilot arrived
            self.say("")
        self._enable()

    def pilot_item(self, pilot_id: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == pilot_id:
                return item
        return None

    def group_counts(self, pilot_id: str) -> dict[str, tuple[int, int, int]]:
        """(planned, joined, active) per group, as the tree shows them."""
        item = self.pilot_item(pilot_id)
        if item is None:
            return {}
        out = {}
        for i in range(item.childCount()):
            c = item.child(i)
            if c is None:
                continue
            out[c.text(0)] = (int(c.text(PLANNED)), int(c.text(JOINED)), int(c.text(ACTIVE)))
        return out

    def select(self, pilot_id: str) -> None:
        item = self.pilot_item(pilot_id)
        if item is not None:
            self.tree.setCurrentItem(item)

    def selected_id(self) -> str | None:
        items = self.tree.selectedItems()
        return str(items[0].data(0, Qt.ItemDataRole.UserRole)) if items else None

    def selected(self) -> m.PilotInfo | None:
        chosen = self.selected_id()
        return self.book.get(chosen) if chosen else None

    def _enable(self) -> None:
        info = self.selected()
        self.invite_button.setEnabled(info is not None and pm.can_invite(info))
        self.end_button.setEnabled(info is not None and pm.can_end(info))
        self.purge_button.setEnabled(info is not None and pm.can_purge(info))
        self.review_button.setEnabled(
            info is not None and pm.can_review(info) and not self._reviewing
        )

    def say(self, text: str) -> None:
        self.message.setText(text)

    # ------------------------------------------------------------ create from a plan

    def choose_plan(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Create a pilot from a plan", str(self.plans_dir), "Pilot plans (*.toml)"
        )
        if path:
            self.create_from_plan(Path(path))

    def create_from_plan(self, path: Path) -> CreateDialog | None:
        """Read and check the plan, then ask for the pilot's id (opened, not run)."""
        try:
            plan = load(path)
        except PlanError as exc:
            self.say(f"The plan cannot be used: {exc}")
            return None
        pilot_id = running.pilot_id_of(plan)
        probe = running.create_request(plan, pilot_id, time.time(), "probe")
        dialog = CreateDialog(plan, pilot_id, _runs(probe), self)
        dialog.accepted.connect(lambda: self.create_pilot(plan, dialog.pilot_id.text().strip()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def create_pilot(self, plan: Plan, pilot_id: str) -> None:
        if not running.is_pilot_id(pilot_id):
            self.say(
                f"“{pilot_id}” cannot be a pilot id: use lower-case letters, digits and dashes "
                "(2 to 64, a letter or digit at each end)."
            )
            return
        request = running.create_request(plan, pilot_id, time.time(), uuid.uuid4().hex)
        self.say(f"Creating pilot {pilot_id}…")

        def done(reply: m.Msg) -> None:
            if not isinstance(reply, m.PilotAccepted):
                self.say(f"The pilot could not be created ({type(reply).__name__}).")
                return
            self.book.apply(reply.pilot)
            self._redraw()
            self.select(pilot_id)
            self.say(
                f"Pilot {pilot_id} created: {_runs(request)}. Issue invite codes for its groups "
                "with Invite…"
            )

        self.session.run(request, done, lambda why: self.say(f"The pilot was not created: {why}"))

    # ------------------------------------------------------------ invite codes

    def invite_selected(self) -> InviteDialog | None:
        info = self.selected()
        if info is None:
            self.say("Choose a pilot first.")
            return None
        portal = running.portal_of(self.session.client.config.url)
        dialog = InviteDialog(info, portal, self.invites_dir, self)

        def go() -> None:
            self.invite(
                info.pilot_id,
                dialog.chosen_group(),
                dialog.count.value(),
                dialog.valid_days.value() * 86400.0,
                dialog.portal.text().strip(),
                Path(dialog.folder.text().strip() or str(self.invites_dir)),
            )

        dialog.accepted.connect(go)
        self.dialog = dialog
        dialog.open()
        return dialog

    def invite(
        self, pilot_id: str, group: str, count: int, valid_s: float, portal: str, parent: Path
    ) -> None:
        """Ask for the codes, then save them in a new folder under `parent`."""
        info = self.book.get(pilot_id)
        problem = pm.invite_problem(info, group, count)
        if problem is None and not portal.startswith(("https://", "http://")):
            problem = "The portal's address must start with https:// (the QR codes open it)."
        if problem is not None:
            self.say(problem)
            return
        assert info is not None
        title = info.title
        self.say(f"Asking the relay for {count} codes…")

        def got(reply: m.Msg) -> None:
            if not isinstance(reply, m.PilotInvites):
                self.say(f"No codes were issued ({type(reply).__name__}).")
                return
            folder = parent / pm.invites_folder_name(pilot_id, group, time.time())
            run_off_thread(
                lambda: save_invites(reply, title, portal, folder),
                self._saved,
                lambda exc: self._not_saved(reply, folder, exc),
                owner=self,
            )

        request = m.PilotInvite(id="", pilot_id=pilot_id, group=group, count=count, valid_s=valid_s)
        self.session.run(request, got, lambda why: self.say(f"No codes were issued: {why}"))

    def _saved(self, saved: Saved) -> None:
        self.say(
            f"{saved.pngs} invitations saved in {saved.folder}: a QR code PNG per code and "
            f"{saved.sheet.name} to print ({_pages(saved.pages)}). {pm.CODES_ONCE}"
        )
        self.invites_saved.emit(saved)

    def _not_saved(self, got: m.PilotInvites, folder: Path, exc: BaseException) -> None:
        """The codes exist on the relay and nowhere else: show them rather than lose them."""
        codes = "\n".join(got.codes)
        self.say(f"The invitations could not be saved in {folder}: {exc}")
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Invite codes not saved",
            f"The invitations could not be saved ({exc}). Write these codes down now: the "
            f"relay shows them once only.\n\nGroup {got.group}:\n{codes}",
            parent=self,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.open()

    # ------------------------------------------------------------ review

    def review_selected(self) -> ReviewDialog | None:
        """Ask for the plan, the plan-time mapping and the folder (opened, not sent)."""
        info = self.selected()
        problem = pm.review_problem(info)
        if problem is not None:
            self.say(problem)
            return None
        assert info is not None
        shipped = find(Path(info.pilot_id), self.plans_dir)
        logs = logs_of(info.pilot_id, self.run_logs_dir or runs_dir())
        dialog = ReviewDialog(
            info, shipped if shipped.exists() else None, logs, self.reviews_dir, self
        )

        def go() -> None:
            started = dialog.started_at() if dialog.chosen_mode() == "start" else None
            self.review(
                info.pilot_id,
                Path(dialog.plan.text().strip()),
                dialog.chosen_mode(),
                Path(dialog.folder.text().strip() or str(self.reviews_dir)),
                started_at=started,
                run_log=dialog.run_log_path(),
            )

        dialog.accepted.connect(go)
        self.dialog = dialog
        dialog.open()
        return dialog

    def review(
        self,
        pilot_id: str,
        plan_path: Path,
        mode: pm.ReviewMode,
        parent: Path,
        *,
        started_at: float | None = None,
        run_log: Path | None = None,
    ) -> None:
        """Check the choices here (in words), ask the relay, save the three files."""
        info = self.book.get(pilot_id)
        problem = pm.review_problem(info)
        if problem is not None:
            self.say(problem)
            return
        assert info is not None
        try:
            plan = load(plan_path)
        except PlanError as exc:
            self.say(f"The plan cannot be used for the review: {exc}")
            return
        if (why := plan_problem(plan, info)) is not None:
            self.say(f"That plan does not fit: {why}.")
            return
        prompts: list[m.PromptShown] = []
        try:
            log = RunLog.load(run_log) if mode == "run_log" and run_log else None
            clock = pm.review_clock(mode, started_at, log.clock if log else None)
        except (RunLogError, ValueError) as exc:
            self.say(f"Plan time cannot be mapped: {exc}.")
            return
        if log is not None:
            if log.pilot_id != pilot_id:
                self.say(
                    f"That run log is of pilot {log.pilot_id}, not {pilot_id}: choose its own."
                )
                return
            prompts = [m.PromptShown(inject=k, at=v) for k, v in log.prompts.items()]
        request = m.PilotReview(
            id="", pilot_id=pilot_id, plan=dumps(plan), clock=clock, prompts=prompts
        )
        folder = parent / pm.review_folder_name(pilot_id, time.time())
        self._reviewing = True
        self._enable()
        self.say(f"The relay is computing {pilot_id}'s metrics…")

        def got(reply: m.Msg) -> None:
            if not isinstance(reply, m.PilotReviewed):
                self._review_done()
                self.say(f"No review came back ({type(reply).__name__}).")
                return
            metrics = reply.metrics
            self.say(f"Writing the review of {pilot_id}…")
            try:  # here, on the GUI thread: pyqtgraph's plots are graphics widgets
                images = plots.render_all(report_model.sections(plan, metrics))
            except Exception as exc:  # a malformed figure must not take the console down
                self._not_reviewed(folder, exc)
                return
            run_off_thread(
                lambda: save_review(plan, metrics, folder, images),
                lambda done: self._reviewed(pilot_id, metrics, done),
                lambda exc: self._not_reviewed(folder, exc),
                owner=self,
            )

        def failed(why: str) -> None:
            self._review_done()
            self.say(f"The pilot was not reviewed: {why}")

        self.session.run(request, got, failed)

    def _review_done(self) -> None:
        self._reviewing = False
        self._enable()

    def _reviewed(self, pilot_id: str, metrics: dict[str, object], done: Reviewed) -> None:
        self._review_done()
        self.say(pm.reviewed_text(pilot_id, str(done.folder), done.pages, metrics))
        self.review_saved.emit(done)

    def _not_reviewed(self, folder: Path, exc: BaseException) -> None:
        self._review_done()
        self.say(
            f"The review could not be saved in {folder}: {exc}. Choose another folder and "
            "review again (the relay keeps the data)."
        )

    # ------------------------------------------------------------ end and purge

    def _confirm(self, title: str, text: str, action: str, then: Callable[[], None]) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        button = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(lambda clicked: then() if clicked is button else None)
        self.confirm_box, self.confirm_button = box, button
        box.open()
        return box

    def end_selected(self) -> QMessageBox | None:
        info = self.selected()
        if info is None or not pm.can_end(info):
            self.say("Choose a running pilot to end.")
            return None
        pid = info.pilot_id
        return self._confirm(
            "End the pilot", pm.end_question(info), "End pilot", lambda: self.end(pid)
        )

    def end(self, pilot_id: str) -> None:
        def done(reply: m.Msg) -> None:
            if isinstance(reply, m.PilotAccepted):
                self.book.apply(reply.pilot)
                self._redraw()
                self.say(
                    f"Pilot {pilot_id} ended: its participants are ordinary devices again. "
                    "Review it, then purge its data."
                )

        self.session.run(
            m.PilotEnd(id="", idem=uuid.uuid4().hex, pilot_id=pilot_id),
            done,
            lambda why: self.say(f"The pilot was not ended: {why}"),
        )

    def purge_selected(self) -> None:
        """Ask the relay what a purge would erase (nothing goes), then confirm it by name."""
        info = self.selected()
        if info is None or not pm.can_purge(info):
            self.say("Only an ended pilot can be purged: end it and review it first.")
            return

        def counted(reply: m.Msg) -> None:
            if isinstance(reply, m.PilotPurged) and reply.dry_run:
                pid = info.pilot_id
                self._confirm(
                    "Purge the pilot's data",
                    pm.purge_question(info, reply),
                    "Purge data",
                    lambda: self.purge(pid),
                )

        self.say(f"Counting what a purge of {info.pilot_id} would erase…")
        self.session.run(
            m.PilotPurge(id="", pilot_id=info.pilot_id, confirm=False),
            counted,
            lambda why: self.say(f"The purge could not be prepared: {why}"),
        )

    def purge(self, pilot_id: str) -> None:
        def done(reply: m.Msg) -> None:
            if isinstance(reply, m.PilotPurged) and not reply.dry_run:
                self.say(pm.purged_text(reply))

        self.session.run(
            m.PilotPurge(id="", pilot_id=pilot_id, confirm=True),
            done,
            lambda why: self.say(f"Nothing was purged: {why}"),
        )


def _runs(request: m.PilotCreate) -> str:
    """When the pilot runs, in words, from the request the plan makes."""
    start = "from now" if request.starts_at is None else f"from {_day(request.starts_at)}"
    if request.ends_at is None:
        return f"runs {start} until you end it (the plan's days have passed)"
    return f"runs {start} to {_day(request.ends_at)}"


def _pages(n: int) -> str:
    return "1 page" if n == 1 else f"{n} pages"


def _day(t: float) -> str:
    return time.strftime("%d %b %Y %H:%M", time.localtime(t))
