"""The File menu's export entries: each takes what its view shows now into a job and opens
the dialog; the controller does the rest. The views are passed in (the feed, the map,
the incidents pane), so the main window only adds these actions to its menu."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from console.exports import model as em
from console.exports.controller import ExportController
from console.exports.dialog import ExportDialog
from console.feed.widget import FeedWidget
from console.incidents.widget import IncidentsWidget
from console.map.model import alert_visible, area_bounds, overlaps
from console.map.widget import MapWidget
from console.session import ConsoleSession


class ExportActions(QObject):
    def __init__(
        self,
        session: ConsoleSession,
        feed: FeedWidget,
        map_widget: MapWidget,
        incidents: IncidentsWidget,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.feed = feed
        self.map = map_widget
        self.incidents = incidents
        self.window = parent
        self.controller = ExportController(session, self)
        #: where the dialog proposes to save (the last folder used, for this run)
        self.folder = Path.home()
        self.controller.exported.connect(self._remember_folder)
        self.feed_action = QAction("Export &feed…", parent)
        self.feed_action.setToolTip("The reports the feed shows now, with its filters")
        self.feed_action.triggered.connect(self.export_feed)
        self.map_action = QAction("Export &map view…", parent)
        self.map_action.setToolTip("The reports and alerts the map shows")
        self.map_action.triggered.connect(self.export_map_view)
        self.incident_action = QAction("Export &incident…", parent)
        self.incident_action.setToolTip(
            "The incident selected in the Incidents tab, with its reports"
        )
        self.incident_action.triggered.connect(self.export_incident)
        # the incidents pane keeps its selection first (it connected first), then this
        incidents.table.currentItemChanged.connect(lambda *_: self.update_enabled())
        self.update_enabled()

    @property
    def actions(self) -> list[QAction]:
        return [self.feed_action, self.map_action, self.incident_action]

    def update_enabled(self) -> None:
        """Export incident… only with an incident selected (called as the menu opens)."""
        self.incident_action.setEnabled(self.incidents.selected_incident() is not None)

    def export_feed(self) -> ExportDialog:
        model = self.feed.model
        shown = [r for rid in model.shown_ids() if (r := model.report(rid)) is not None]
        f = model.feed_filter
        scope = em.feed_scope(
            f.effective_statuses(), f.categories, f.window_s, f.text, f.hide_exercise, len(shown)
        )
        return self._open(em.feed_job(shown, scope))

    def export_map_view(self) -> ExportDialog:
        """The reports the map shows in its visible bounds (under the feed's filters) and
        the alerts drawn there; everything on the map until the page has said its bounds."""
        bounds = self.map.visible_bounds
        reports = em.map_reports(
            self.session.reports.values(),
            self.feed.report_filter(),
            self.map.hiding_exercise,
            bounds,
        )
        alerts = [
            a
            for a in self.session.alerts.values()
            if alert_visible(a) and (bounds is None or overlaps(area_bounds(a.info.area), bounds))
        ]
        return self._open(em.map_job(reports, alerts, bounded=bounds is not None))

    def export_incident(self) -> ExportDialog | None:
        ref = self.incidents.selected_incident()
        if ref is None:
            self.controller.failed.emit("Select an incident in the Incidents tab to export it.")
            return None
        model = self.incidents.model
        info = model.info(ref)
        summary = em.incident_summary(
            ref, info.title, info.opened_by, info.opened_at, model.reports_of(ref)
        )
        return self._open(em.incident_job(summary))

    def _open(self, job: em.ExportJob) -> ExportDialog:
        dialog = ExportDialog(job, self.folder, self.window)
        dialog.accepted.connect(
            lambda: self.controller.export(job, dialog.fmt, dialog.path(), dialog.bom.isChecked())
        )
        dialog.open()
        return dialog

    def _remember_folder(self, path: Path, _rendered: em.Rendered) -> None:
        self.folder = path.parent
