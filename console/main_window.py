"""The main window only composes feature widgets and wires their signals together."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMessageBox, QWidget

from backend_client import messages as m
from backend_client.version import lookout_version
from console.alerts.dock import dock_area_height
from console.alerts.widget import AlertsWidget
from console.chat.widget import ChatWidget
from console.dashboard.widget import DashboardWidget
from console.detail.widget import ReportDetailWidget
from console.exports.actions import ExportActions
from console.exports.model import Rendered
from console.feed.widget import FeedWidget
from console.help.dialogs import GuideDialog, ShortcutsDialog, about_box
from console.help.model import about_text, guide_path
from console.incidents.widget import IncidentsWidget
from console.login.password import PasswordDialog
from console.map.widget import MapWidget
from console.pilots.pilots_panel import PilotsPanel
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from console.status.bar import StatusBar
from console.status.link import LinkBar
from console.team.widget import TeamWidget, pick_officer
from console.theme import apply_theme

#: narrowest feed, Report and Chat docks, and map: 1280 px wide leaves the map a third
_FEED_MIN_W, _RIGHT_MIN_W, _MAP_MIN_W = 400, 300, 360
#: the docks' arrangement as saved: a layout saved by a console with other docks (before
#: issue 13's composer, incidents and team) is not restored, the defaults are used
LAYOUT_VERSION = 2


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, session: ConsoleSession, settings: ConsoleSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        #: the officer chose Session > Sign out (not Quit): the app asks for a login again
        self.signed_out = False
        self.setWindowTitle(f"Lookout — {session.username}")
        self.resize(1600, 960)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )

        self.map = MapWidget(session, settings)
        self.feed = FeedWidget(session, settings)
        self.detail = ReportDetailWidget(session)
        self.chat = ChatWidget(session)
        self.alerts = AlertsWidget(session)
        self.dashboard = DashboardWidget(session)
        self.pilots = PilotsPanel(session)
        self.status = StatusBar(session, settings=settings)
        self.link_bar = LinkBar(session)
        self.setCentralWidget(self.map)
        self.setStatusBar(self.status)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.link_bar)
        self.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.status.attention)

        left = self._dock("Feed", self.feed, Qt.DockWidgetArea.LeftDockWidgetArea)
        right = self._dock("Report", self.detail, Qt.DockWidgetArea.RightDockWidgetArea)
        chat = self._dock("Chat", self.chat, Qt.DockWidgetArea.RightDockWidgetArea)
        alerts = self._dock("Alerts", self.alerts, Qt.DockWidgetArea.BottomDockWidgetArea)
        dash = self._dock("Dashboard", self.dashboard, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.splitDockWidget(right, chat, Qt.Orientation.Vertical)
        # the alert composer: a tab beside Report, so the map stays in view while writing
        composer = self.alerts.composer_dock
        composer.setParent(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, composer)
        self.tabifyDockWidget(right, composer)
        composer.hide()
        self.tabifyDockWidget(alerts, dash)
        #: for the pilot roles only: shown once the relay says who signed in
        self.pilots_dock = self._dock("Pilots", self.pilots, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(dash, self.pilots_dock)
        # a pilot and its groups (six for Preston) without scrolling; the dock is hidden
        # for a dispatcher, so their bottom area stays short
        self.pilots.setMinimumHeight(240)
        # incidents and the team (issue 13): tabs beside the Dashboard
        self.incidents = IncidentsWidget(session, self._feed_selection)
        self.incidents_dock = self._dock(
            "Incidents", self.incidents, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.tabifyDockWidget(dash, self.incidents_dock)
        self.team = TeamWidget(session)
        self.team_dock = self._dock("Team", self.team, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.incidents_dock, self.team_dock)
        self.feed.context_menu_hooks.append(self.incidents.incident_actions.add_to_menu)
        self.feed.action_bar.choose_officer = lambda parent, prompt: pick_officer(
            parent, self.team.model, prompt
        )
        self.incidents.open_report.connect(self._select)
        self.incidents.alert_for_incident.connect(self.alerts.compose_for_incident)
        alerts.raise_()
        self._docks = [left, right, chat, alerts, dash]
        for dock, width in ((left, _FEED_MIN_W), (right, _RIGHT_MIN_W), (chat, _RIGHT_MIN_W)):
            dock.setMinimumWidth(width)  # readable panes even on a first, unsaved layout
        self.map.setMinimumWidth(_MAP_MIN_W)  # the docks never squeeze the map to a strip

        self.feed.report_selected.connect(self._select)
        self.map.report_selected.connect(self._select)
        self.detail.show_on_map.connect(self.map.focus_report)
        self.detail.open_chat.connect(self._open_chat)
        self.map.area_drawn.connect(self.alerts.compose)
        self.alerts.show_area.connect(self.map.show_alert_area)
        self.alerts.hide_area.connect(self.map.hide_outline)  # a send preview's area
        self.alerts.draft_cancelled.connect(self.map.clear_draft)
        # the map shows what the feed's filters show
        self.map.set_report_filter(self.feed.report_filter())
        self.feed.filter_changed.connect(self.map.set_report_filter)
        self.feed.high_priority.connect(self.status.show_high_priority)
        # "Hide exercise traffic" (a feed setting) takes pilots' reports off the map too
        self.map.set_hide_exercise(self.feed.hiding_exercise)
        self.feed.exercise_hidden_changed.connect(self.map.set_hide_exercise)
        self.alerts.approval_waiting.connect(self.status.show_approval)
        self.status.open_report.connect(self._select)
        self.status.open_alert.connect(self._open_alert)
        self.pilots.available_changed.connect(self._pilots_available)
        self._menus()
        self._first_state = self.saveState(LAYOUT_VERSION)  # for View > Reset layout
        self._restore()
        self._pilots_available(self.pilots.available)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def add_panel(self, title: str, widget: QWidget) -> QDockWidget:
        """A dock composed from outside the window (e.g. a rehearsal's run panel): a tab
        beside Alerts and Dashboard, the full width of the window, shown first, and in
        the View menu."""
        alerts = self._docks[3]
        dock = self._dock(title, widget, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(alerts, dock)
        QTimer.singleShot(0, dock.raise_)
        self._view_menu.insertAction(self._view_menu.actions()[0], dock.toggleViewAction())
        return dock

    def _menus(self) -> None:
        self._file_menu()
        view = self.menuBar().addMenu("&View")
        self._view_menu = view
        for dock in [*self._docks, self.incidents_dock, self.team_dock, self.pilots_dock]:
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        reset = QAction("&Reset layout", self)
        reset.setToolTip("Put the docks back where a first start puts them")
        reset.triggered.connect(self.reset_layout)
        view.addAction(reset)
        theme = QAction("&Light theme", self, checkable=True)
        theme.setChecked(self.settings.theme() == "light")
        theme.toggled.connect(self._toggle_theme)
        view.addAction(theme)
        view.addAction(self.status.mute_action)
        session = self.menuBar().addMenu("&Session")
        sign_out = QAction("Sign &out", self)
        sign_out.setToolTip("End this session on the relay and return to the login dialog")
        sign_out.triggered.connect(self.sign_out)
        session.addAction(sign_out)
        change = QAction("Change &password…", self)
        change.triggered.connect(self.change_password)
        session.addAction(change)
        quit_action = QAction("&Quit", self)
        # the platform's Quit keys, else Ctrl+Q (Qt's generic platforms have none)
        quit_keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
        quit_action.setShortcuts(quit_keys or [QKeySequence("Ctrl+Q")])
        quit_action.triggered.connect(self.close)
        session.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        guide = QAction("Dispatcher's &guide", self)
        guide.setShortcut(QKeySequence.StandardKey.HelpContents)
        guide.triggered.connect(self.show_guide)
        help_menu.addAction(guide)
        keys = QAction("&Keyboard shortcuts", self)
        keys.setShortcut(QKeySequence("Ctrl+/"))
        keys.triggered.connect(self.show_shortcuts)
        help_menu.addAction(keys)
        help_menu.addSeparator()
        about = QAction("&About Lookout", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def _file_menu(self) -> None:
        """The first menu: exports of what the feed, the map and an incident show."""
        self.exports = ExportActions(self.session, self.feed, self.map, self.incidents, self)
        self.exports.controller.exported.connect(self._exported)
        self.exports.controller.failed.connect(self.status.show_problem)
        menu = self.menuBar().addMenu("&File")
        menu.addActions(self.exports.actions)
        menu.aboutToShow.connect(self.exports.update_enabled)

    def _exported(self, path: Path, rendered: Rendered) -> None:
        self.status.show_notice(f"Exported {rendered.count} items to {path} (audited).")

    def about_text(self) -> str:
        client = self.session.client
        return about_text(lookout_version(), client.config.url, client.username)

    def show_about(self) -> QMessageBox:
        """The About box, as plain text (the relay address is not ours to trust as HTML)."""
        box = about_box(self.about_text(), self)
        box.open()
        return box

    def show_guide(self) -> GuideDialog | None:
        path = guide_path("dispatcher")
        if path is None:
            self.status.show_problem("The dispatcher's guide is not installed with this copy.")
            return None
        dialog = GuideDialog(path, self)
        dialog.show()
        return dialog

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self)
        dialog.open()
        return dialog

    def _open_alert(self, alert_id: str) -> None:
        """An approval notice was clicked: the Alerts pane, with that alert selected."""
        alerts = self._docks[3]
        alerts.show()
        alerts.raise_()
        self.alerts.select_alert(alert_id)

    def change_password(self) -> PasswordDialog:
        dialog = PasswordDialog(self.session, self)
        dialog.open()
        return dialog

    def sign_out(self) -> None:
        self.signed_out = True
        self.close()

    def _toggle_theme(self, light: bool) -> None:
        name = "light" if light else "dark"
        self.settings.set("theme", name)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, name)

    def _pilots_available(self, available: bool) -> None:
        self.pilots_dock.toggleViewAction().setVisible(available)
        self.pilots_dock.setVisible(available)
        if available:
            self.pilots_dock.raise_()

    def _feed_selection(self) -> list[m.Report]:
        report = self.feed.current_report()
        return [] if report is None else [report]

    def _select(self, report_id: str) -> None:
        self.feed.select_report(report_id)
        self.map.select_report(report_id)
        self.detail.show_report(report_id)
        self.chat.open_conversation(report_id)

    def _open_chat(self, report_id: str) -> None:
        self.chat.open_conversation(report_id)
        self.chat.focus_reply()

    def _restore(self) -> None:
        geometry, state = self.settings.layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is None or not self.restoreState(state, LAYOUT_VERSION):
            self._default_sizes_pending = True
        self._sync_bars()

    def _sync_bars(self) -> None:
        """A restored layout also restores whether the link bar and the "Waiting for you"
        row were up when it was saved: they show what is true now instead."""
        self.link_bar.setVisible(self.link_bar.showing)
        status = self.status
        status.attention.setVisible(status.high_showing or status.approval_showing)

    def reset_layout(self) -> None:
        """View > Reset layout: every dock where a first start puts it, at its default size."""
        self.restoreState(self._first_state, LAYOUT_VERSION)
        self._sync_bars()  # HIGH reports still waiting keep their row
        for dock in self._docks:
            dock.show()
        self._pilots_available(self.pilots.available)
        QTimer.singleShot(0, self._default_sizes)

    _default_sizes_pending = False

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if self._default_sizes_pending:  # dock sizes only stick once the window is laid out
            self._default_sizes_pending = False
            QTimer.singleShot(0, self._default_sizes)

    def _default_sizes(self) -> None:
        left, right, chat, alerts, _dash = self._docks
        width = self.width()
        # the Report pane scrolls; the chat shows a conversation (10+ lines) below it
        self.resizeDocks(
            [right, chat],
            [int(self.height() * 0.42), int(self.height() * 0.58)],
            Qt.Orientation.Vertical,
        )
        # feed 40 %, report and chat 24 %: the map keeps over a third (1280 px: 460 px)
        self.resizeDocks(
            [left, right],
            [max(_FEED_MIN_W, int(width * 0.40)), max(_RIGHT_MIN_W, int(width * 0.24))],
            Qt.Orientation.Horizontal,
        )
        # the bottom dock: the alert list's header and four rows, no more, so feed and map
        # keep the room (plus the dock's title and the tab bar it shares with Dashboard)
        self.resizeDocks(
            [alerts],
            [dock_area_height(self, alerts, self.alerts.list_height())],
            Qt.Orientation.Vertical,
        )

    def save_layout(self) -> None:
        self.settings.save_layout(self.saveGeometry(), self.saveState(LAYOUT_VERSION))

    async def settle(self) -> None:
        """Wait until the views have drawn what they hold (for screenshots and tests)."""
        await self.map.settle()
        # qasync's loop is Qt's: the pending paints run while this waits. (Calling
        # processEvents() here would run other tasks' steps inside this one.)
        await asyncio.sleep(0.3)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self.save_layout()
        self.closed.emit()
        super().closeEvent(event)
