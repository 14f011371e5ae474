"""The analyst's workspace window: composes the evidence feature with the live console's
own feed, map, report detail and chat widgets, fed from a package (no relay).

Like `main_window.py` it holds no feature logic. It verifies (a thread of its own, in two
stages) and loads the package (a worker thread) at once; once the first stage has passed
(signature, records, audit chain) it shows the package in the read-only `PackageSession`
the reused widgets read, while the banner counts the media being checked, then gives the
verdict. Whatever states the verdict (the PDF report, a disclosure) waits for the final
result. Nothing here writes to the package.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QImage, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from console.chat.widget import ChatWidget
from console.common.ops import run_off_thread, when_done
from console.detail.media import IMAGE_MIMES, VIDEO_MIMES, check_video, decode_image
from console.detail.widget import ReportDetailWidget
from console.evidence import model, notebook, redaction_video, report_pdf
from console.evidence import report as report_content
from console.evidence.alerts_view import AlertsWidget
from console.evidence.audit import AuditTrailWidget
from console.evidence.banner import VerificationBanner
from console.evidence.early import StagedVerification, start_verification
from console.evidence.incidents import IncidentsWidget
from console.evidence.notes import NotesWidget
from console.evidence.redaction import DisclosureDialog, RedactionDialog, redacted_png
from console.evidence.redaction_video_dialog import VideoRedactionDialog
from console.evidence.session import PackageSession
from console.evidence.stats_view import StatisticsWidget
from console.evidence.table_filter import FilteredTable
from console.evidence.timeline import TimelineWidget
from console.evidence.timing import FirstPaint
from console.feed.widget import FeedWidget
from console.map.widget import MapWidget
from console.settings import ConsoleSettings
from evidence import disclosure, stats
from evidence.format import SUFFIX
from evidence.sidecar import SidecarError
from evidence.verify import Cancelled, Result


class WorkspaceWindow(QMainWindow):
    closed = Signal()
    #: the PDF report was written: its path and page count (it is written off the GUI thread)
    pdf_written = Signal(object, int)
    pdf_failed = Signal(str)
    #: the items CSV was written (off the GUI thread): its path and how many items
    csv_written = Signal(object, int)
    csv_failed = Signal(str)

    def __init__(
        self,
        path: Path,
        settings: ConsoleSettings,
        *,
        fingerprint: str | None = None,
        parent_fingerprint: str | None = None,
        map_cache_dir: Path | None = None,
        analyst: str | None = None,
        verification: StagedVerification | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.fingerprint = fingerprint
        #: verification already under way (`lookout --evidence` starts it before Qt loads)
        self._verification = verification
        #: a disclosure's parent signer (the relay's evidence key), pinned when given
        self.parent_fingerprint = parent_fingerprint
        self.session = PackageSession(path)
        self.package: model.Package | None = None
        #: the final verification (None until every check, media included, has run)
        self.result: Result | None = None
        #: the first stage's result: everything but the media's bytes
        self.first_stage: Result | None = None
        #: set once the package is shown (its panes filled) or could not be read
        self.shown = asyncio.Event()
        #: set once the package is shown and verification has finished (or failed)
        self.done = asyncio.Event()
        #: verification and reading run at once; the package shows when it is read and
        #: the first stage has passed (or, if that failed, when verification is over)
        self._verify_done = False
        self._may_show = False
        self._showing = False
        self._read: model.Package | BaseException | None = None
        #: what waits for the final verdict (exports that state it), run once it is in
        self._after_verdict: list[Callable[[], object]] = []
        self.setWindowTitle(f"Lookout evidence workspace — {path.name} (read-only)")
        self.resize(1600, 960)

        self.banner = VerificationBanner()
        self.map = MapWidget(self.session, settings, cache_dir=map_cache_dir)
        self.feed = FeedWidget(self.session)
        self.feed.action_bar.hide()  # claim, assign, close: actions on a live relay
        self.feed.show_closed.setChecked(True)  # a case under review is usually closed
        self.detail = ReportDetailWidget(self.session)
        self.chat = ChatWidget(self.session)
        self.chat.read_only = True  # a transcript is read, never replied to
        self.chat.compose_row.hide()
        self.timeline = TimelineWidget()
        #: the first paint of the timeline with the package's events (its `seconds`)
        self.first_paint = FirstPaint(self.timeline.plot.viewport(), "timeline")
        self.audit = AuditTrailWidget()

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 0)
        lay.addWidget(self.banner)
        lay.addWidget(self.map, 1)
        self.setCentralWidget(central)
        left = self._dock("Reports", self.feed, Qt.DockWidgetArea.LeftDockWidgetArea)
        right = self._dock("Report", self.detail, Qt.DockWidgetArea.RightDockWidgetArea)
        chat = self._dock("Chat", self.chat, Qt.DockWidgetArea.RightDockWidgetArea)
        bottom = self._dock("Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.audit_filter = FilteredTable(self.audit, (2, 3), "Filter by actor or action")
        audit = self._dock("Audit trail", self.audit_filter, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(bottom, audit)
        bottom.raise_()
        self.splitDockWidget(right, chat, Qt.Orientation.Vertical)
        for dock, width in ((left, 520), (right, 340), (chat, 340)):
            dock.setMinimumWidth(width)
        bottom.setMinimumHeight(160)
        self._docks = (left, right, chat, bottom)
        #: which package entries each pane shows (to mark it when one fails verification)
        self._dock_entries = {
            left: ("reports.json",),
            right: ("reports.json", "media/", "incidents.json"),
            chat: ("chat.json",),
            bottom: ("reports.json", "chat.json", "alerts.json", "audit.jsonl", "checkpoint.json"),
            audit: ("audit.jsonl", "checkpoint.json"),
        }
        self._sized = False

        self.feed.report_selected.connect(self._select)
        self.map.report_selected.connect(self._select)
        self.timeline.report_selected.connect(self._select)
        self.timeline.range_brushed.connect(self._brushed)
        # the filter bar sets a whole filter: keep the brush on whatever it chose
        self.feed.filters.filter_changed.connect(
            lambda _f: self._brushed(self.timeline.brush_range())
        )
        self.detail.show_on_map.connect(self.map.focus_report)
        self.detail.open_chat.connect(self.chat.open_conversation)
        self._report_menu()
        self._add_notes_and_statistics(notebook.analyst_name(analyst))
        self._add_redaction()
        self._add_incidents(left)
        self._add_alerts()
        self._map_follows_reports()

    def start(self) -> None:
        """Verify and load, each off the GUI thread and at the same time. The package is
        shown once it is read and the first stage has passed, while its media are hashed
        (the banner says how far); if the first stage fails, once verification is over,
        under the whole list of failures, as without stages."""
        staged = self._verification or start_verification(
            self.path,
            self.fingerprint,
            parent_fingerprint=self.parent_fingerprint,
            hold_media=True,
        )
        self._verification = staged
        self._progress_timer = QTimer(self, interval=100)
        self._progress_timer.timeout.connect(self._media_progress)
        when_done(staged.structure, self._structure_checked, lambda _exc: None, owner=self)
        when_done(staged.final, self._verified, self._verify_failed, owner=self)
        self.closed.connect(staged.cancel)  # a window closed mid-check stops hashing
        self.session.media_viewed.connect(self._media_viewed_early)
        self._load()

    def _structure_checked(self, first: Result) -> None:
        self.first_stage = first
        if self._verify_done or not first.holds_so_far:
            return  # a failure is shown with the final result, every check listed
        self.banner.show_verdict(model.checking_media(first, None))
        self._progress_timer.start()
        self._may_show = True
        self._show_when_ready()

    def _media_progress(self) -> None:
        staged, first = self._verification, self.first_stage
        if self._verify_done or staged is None or first is None:
            return
        self.banner.show_verdict(model.checking_media(first, staged.progress))

    def _media_viewed_early(self, sha256: str) -> None:
        """A media file opened before the media check finished is shown (it matched its own
        SHA-256 as it was read) and the analyst is told the package's check is not over."""
        if self._verify_done:
            return
        progress = self._verification.progress if self._verification else None
        so_far = (
            f" ({progress.files_done:,} of {progress.files_total:,} checked)" if progress else ""
        )
        self.statusBar().showMessage(
            f"Media {sha256[:12]}… is not yet verified as part of the package: the media "
            f"check is still running{so_far}. It matched its own SHA-256 as it was read.",
            20_000,
        )

    def _wait_for_verdict(self, action: Callable[[], object], what: str) -> bool:
        """True (and `action` queued to run once the verdict is in) while verification is
        still running: what states the verdict must state the final one."""
        if self.done.is_set() or self._verify_done:
            return False
        self._after_verdict.append(action)
        self.statusBar().showMessage(
            f"{what} will be written once the media check has finished: it states the "
            "package's final verification."
        )
        return True

    def _verified(self, result: Result) -> None:
        self._progress_timer.stop()
        self.result = result
        self.banner.show_verdict(model.verdict(result))
        self._mark_failed_docks(result)
        self._verify_finished()

    def _mark_failed_docks(self, result: Result) -> None:
        """A pane whose entries failed says so in its title, beside the banner's list."""
        failed = {c.file for c in result.failures}
        for dock, entries in self._dock_entries.items():
            bad = sorted(
                e
                for e in failed
                if e in entries or any(e.startswith(p) for p in entries if p.endswith("/"))
            )
            if bad:
                dock.setWindowTitle(f"{dock.windowTitle()} — FAILED VERIFICATION: {', '.join(bad)}")

    def _verify_failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            return  # the window closed: nobody is waiting for the verdict
        self._progress_timer.stop()
        # never a bare reason (a KeyError's is just the key): the kind of error, then it
        self.banner.show_error(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        self._verify_finished()

    def _verify_finished(self) -> None:
        self._verify_done = self._may_show = True
        self._show_when_ready()
        self._check_done()

    def _release_media(self) -> None:
        """The package is shown: its media may be hashed now (not beside the first paint)."""
        if self._verification is not None:
            self._verification.release_media()

    def _check_done(self) -> None:
        if not (self._verify_done and self.shown.is_set()) or self.done.is_set():
            return
        self.done.set()
        waiting, self._after_verdict = self._after_verdict, []
        for action in waiting:
            action()

    def _load(self) -> None:
        path = self.path
        run_off_thread(lambda: model.load(path), self._read_done, self._read_done, owner=self)

    def _read_done(self, read: model.Package | BaseException) -> None:
        self._read = read
        self._show_when_ready()

    def _show_when_ready(self) -> None:
        read = self._read
        if not self._may_show or read is None or self._showing:
            return
        self._showing = True
        if isinstance(read, BaseException):
            self._load_failed(read)
        else:
            self._loaded(read)

    def _loaded(self, package: model.Package) -> None:
        """The timeline first (the first thing painted), then the other panes once it has
        been painted (or after `FILL_AFTER_MS` if the window is not being painted)."""
        self.package = package
        self.timeline.set_events(model.timeline(package))
        self.first_paint.arm()
        if package.problems:
            self.banner.add_problems(package.problems)
        self.first_paint.painted.connect(lambda _s: self._fill_panes())
        QTimer.singleShot(self.FILL_AFTER_MS, self._fill_panes)

    #: the longest the panes wait for the timeline's first paint before filling anyway
    FILL_AFTER_MS = 250

    def _fill_panes(self) -> None:
        package = self.package
        if package is None or self.shown.is_set():
            return
        self._release_media()  # the timeline is painted (or could not be): hash the media
        with self.chat.batch():  # the conversation list once, not once per message
            self.session.fill(package)
        self.feed.flush_pending()
        self.incidents.set_package(package)
        self.alerts_view.set_package(package)
        for record in package.alerts:  # every version's area: the earlier ones superseded
            self.map.show_alert_area(record.alert, model.alert_versions(record))
        self._open_notes(package)
        if package.reports:  # open the first report, so the detail pane is never idle
            self._select(min(package.reports, key=lambda r: r.created_at).report_id)
        self.shown.set()
        self._check_done()

    def _load_failed(self, exc: BaseException) -> None:
        self.banner.add_problems([f"The package could not be read: {exc}"])
        self.shown.set()
        self._release_media()
        self._check_done()

    def _brushed(self, span: tuple[float, float] | None) -> None:
        self.feed.set_filter(
            dataclasses.replace(
                self.feed.model.feed_filter, between=span, only=self._incident_reports
            )
        )
        self.chat.set_time_range(span)
        self._notes_follow()

    def _map_follows_reports(self) -> None:
        """The map's markers are the reports the Reports list shows, however it is narrowed
        (filter bar, brush, incident): one path, from the list's own model."""
        timer = QTimer(self, singleShot=True, interval=50)
        model_ = self.feed.model

        def follow() -> None:
            every = model_.rowCount() == model_.total()
            self.map.show_only(None if every else model_.shown_ids())

        timer.timeout.connect(follow)
        for signal in (model_.modelReset, model_.rowsInserted, model_.rowsRemoved):
            signal.connect(timer.start)

    # ------------------------------------------------------------ incidents

    def _add_incidents(self, reports_dock: QDockWidget) -> None:
        """The Incidents pane, beside the Reports list: choosing one narrows the list."""
        self._incident_reports: frozenset[str] | None = None
        self.incidents = IncidentsWidget()
        dock = self._dock("Incidents", self.incidents, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tabifyDockWidget(reports_dock, dock)
        reports_dock.raise_()
        self._dock_entries[dock] = ("incidents.json", "reports.json", "audit.jsonl")
        self.incidents.narrowed.connect(self._incident_chosen)

    def _incident_chosen(self, ids: frozenset[str] | None) -> None:
        self._incident_reports = ids
        self._brushed(self.timeline.brush_range())

    # ------------------------------------------------------------ alerts

    def _add_alerts(self) -> None:
        """The Alerts pane, tabbed with the bottom docks: choosing a message shows the
        alert's area as it then was on the map and narrows the Reports list to its incident."""
        self.alerts_view = AlertsWidget()
        timeline = self._docks[3]
        dock = self._dock("Alerts", self.alerts_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(timeline, dock)
        timeline.raise_()
        self._dock_entries[dock] = ("alerts.json", "cap/")
        self.alerts_view.alert_chosen.connect(self.map.show_alert_area)
        self.alerts_view.incident_chosen.connect(
            lambda ref: self.incidents.select_incident(ref) if ref else None
        )

    def _select(self, report_id: str) -> None:
        widened = self._widen_to_show(report_id)
        self.feed.select_report(report_id)
        if widened:
            self.feed.show_note(f"{widened} cleared to show report {report_id}.")
        self.map.select_report(report_id)
        self.detail.show_report(report_id)
        self.chat.open_conversation(report_id)
        if self.package is not None:
            self.audit.show_records(model.audit_for(self.package, report_id))
            self.audit_filter.apply()
        self._notes_follow()

    def _widen_to_show(self, report_id: str) -> str:
        """A package report the list hides: take away the brush and the incident that hide
        it (the filter bar is the feed's own to clear); says what was cleared."""
        if report_id not in self.session.reports or self.feed.model.row_of(report_id) is not None:
            return ""
        cleared = []
        if self.timeline.brush_range() is not None:
            self.timeline.clear_brush()
            cleared.append("the timeline's brush")
        if self._incident_reports is not None and report_id not in self._incident_reports:
            self.incidents.select_incident(None)
            cleared.append("the chosen incident")
        if cleared and self.feed.model.row_of(report_id) is None:
            cleared.append("the filters")
        if not cleared:
            return ""
        said = ", ".join(cleared[:-1]) + " and " + cleared[-1] if len(cleared) > 1 else cleared[0]
        return said[0].upper() + said[1:]

    # ------------------------------------------------- notes and statistics (issue 10, 4 and 7)

    def _add_notes_and_statistics(self, who: str) -> None:
        self.who = who
        self.notebook: notebook.Notebook | None = None
        self.notes = NotesWidget()
        self.statistics = StatisticsWidget()
        self.notes_dock = notes = self._dock(
            "Notes", self.notes, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.tabifyDockWidget(self._docks[2], notes)  # beside the chat
        self._docks[2].raise_()
        figures = self._dock("Statistics", self.statistics, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self._docks[3], figures)
        self._docks[3].raise_()
        self._dock_entries[figures] = ("reports.json", "chat.json", "audit.jsonl")
        self.session.media_viewed.connect(self._media_viewed)
        self.closed.connect(self._close_notes)
        # the figures follow the reports list: its filter, search and the timeline's brush
        self._stats_timer = QTimer(self, singleShot=True, interval=50)
        self._stats_timer.timeout.connect(self._statistics_in_view)
        for signal in (self.feed.model.modelReset, self.feed.model.rowsInserted):
            signal.connect(self._stats_timer.start)
        self.feed.model.rowsRemoved.connect(self._stats_timer.start)

    def _open_notes(self, package: model.Package) -> None:
        """Open the sidecar beside the package (made if new; read-only if it does not check),
        and read the figures' inputs off the GUI thread."""
        self.notebook = notebook.open_notebook(self.path, package.manifest, self.who)
        self.notes.set_notebook(self.notebook)
        if self.notebook.error is not None:
            self.banner.add_problems(
                [
                    f"Notes are read-only and media views are not logged: {self.notebook.error}. "
                    "Keep this file as it is and tell whoever gave you the package."
                ],
                about_package=False,
            )
            self.notes_dock.setWindowTitle("Notes — READ-ONLY")
        path = self.path
        run_off_thread(
            lambda: stats.load(path),
            self._statistics_loaded,
            lambda exc: self.statistics.show_error(str(exc)),
            owner=self,
        )

    def _statistics_loaded(self, content: stats.Content) -> None:
        self.statistics.set_content(content)
        self._statistics_in_view()

    def _statistics_in_view(self) -> None:
        m_ = self.feed.model
        ids = {r.report_id for row in range(m_.rowCount()) if (r := m_.report_at(row))}
        self.statistics.show_reports(ids)

    def _media_viewed(self, sha256: str) -> None:
        if self.notebook is not None:
            try:
                self.notebook.viewed(sha256)
            except OSError as exc:
                self.banner.add_problems([f"A media view could not be logged: {exc}"])
            self.notes.refresh()

    def _close_notes(self) -> None:
        """A fetch still under way when the window closes was never seen: log nothing more."""
        self.notebook = None

    def _notes_follow(self) -> None:
        """Offer the selected report, its media and the brushed range to annotate."""
        targets = []
        report = self.session.reports.get(self.detail.report_id or "")
        if report is not None:
            targets.append(notebook.report_target(report.report_id, report.created_at))
            targets += [notebook.media_target(i.sha256, i.mime) for i in report.media]
        span = self.timeline.brush_range()
        if span is not None:
            targets.append(notebook.range_target(*span))
        self.notes.set_targets(targets)

    # ------------------------------------------ redaction and disclosure (issue 10, item 5)
    # The dialogs are console/evidence/redaction.py's, the package evidence/disclosure.py's;
    # here only the wiring: which photo, the sidecar record, and the export off the GUI thread.

    def _add_redaction(self) -> None:
        self.redaction_dialog: RedactionDialog | None = None
        self.video_redaction_dialog: VideoRedactionDialog | None = None
        self.disclosure_dialog: DisclosureDialog | None = None
        #: the last disclosure export's outcome (what was written, or why it was not)
        self.last_disclosure: disclosure.Written | BaseException | None = None
        menu = next(
            m_
            for a in self.menuBar().actions()
            if isinstance(m_ := a.menu(), QMenu) and a.text() == "&File"
        )
        menu.addSeparator()
        menu.addAction("Redact photo…", self.redact_selected_photo)
        menu.addAction("Redact video…", self.redact_selected_video)
        menu.addAction("Export disclosure package…", self._ask_disclosure)

    def _say(self, text: str) -> None:
        self.statusBar().showMessage(text, 20_000)

    def _redaction_of(self, sha256: str) -> dict[str, Any] | None:
        side = self.notebook.sidecar if self.notebook is not None else None
        found = side.state().redaction_of(sha256) if side is not None else None
        return dict(found["body"]) if found is not None else None

    def redact_selected_photo(self) -> None:
        """The photo chosen in the Notes pane, else the selected report's first photo."""
        report = self.session.reports.get(self.detail.report_id or "")
        photos = (
            [i.sha256 for i in report.media if i.stored and i.mime in IMAGE_MIMES] if report else []
        )
        target = self.notes.current_target()
        if target is not None and target.type == "media" and target.id in photos:
            return self.open_redaction(target.id)
        if not photos:
            return self._say("The selected report has no photo to redact.")
        self.open_redaction(photos[0])

    def open_redaction(self, sha256: str) -> None:
        path, mime = self.path, self.session.media_types.get(sha256, "")
        run_off_thread(
            lambda: decode_image(mime, model.read_media(path, sha256)),
            lambda image: self._show_redaction(sha256, image),
            lambda exc: self._say(f"The photo cannot be redacted: {exc}"),
            owner=self,
        )

    def _show_redaction(self, sha256: str, image: QImage) -> None:
        self._media_viewed(sha256)  # the analyst sees the original: the access log says so
        dialog = RedactionDialog(image, f"media {sha256[:12]}…", self._redaction_of(sha256), self)
        dialog.accepted.connect(lambda: self._save_redaction(sha256, dialog))
        self.redaction_dialog = dialog
        dialog.open()

    def redact_selected_video(self) -> None:
        """The video chosen in the Notes pane, else the selected report's first video."""
        report = self.session.reports.get(self.detail.report_id or "")
        videos = (
            [i.sha256 for i in report.media if i.stored and i.mime in VIDEO_MIMES] if report else []
        )
        target = self.notes.current_target()
        if target is not None and target.type == "media" and target.id in videos:
            return self.open_video_redaction(target.id)
        if not videos:
            return self._say("The selected report has no video to redact.")
        self.open_video_redaction(videos[0])

    def open_video_redaction(self, sha256: str) -> None:
        """Read and check the video (the live console's limits, and the renderer's own),
        decode its first frame, all off the GUI thread; then the dialog."""
        path, mime = self.path, self.session.media_types.get(sha256, "")

        def op() -> tuple[bytes, redaction_video.VideoInfo, tuple[float, QImage]]:
            data = model.read_media(path, sha256)
            check_video(mime, data)
            info = redaction_video.probe(data)
            return data, info, redaction_video.frame_at(data, 0.0)

        run_off_thread(
            op,
            lambda got: self._show_video_redaction(sha256, *got),
            lambda exc: self._say(f"The video cannot be redacted: {exc}"),
            owner=self,
        )

    def _show_video_redaction(
        self,
        sha256: str,
        data: bytes,
        info: redaction_video.VideoInfo,
        first: tuple[float, QImage],
    ) -> None:
        self._media_viewed(sha256)
        dialog = VideoRedactionDialog(
            info,
            first,
            lambda t: redaction_video.frame_at(data, t),
            f"media {sha256[:12]}…",
            self._redaction_of(sha256),
            self,
        )
        dialog.accepted.connect(lambda: self._save_redaction(sha256, dialog))
        self.video_redaction_dialog = dialog
        dialog.open()

    def _save_redaction(self, sha256: str, dialog: RedactionDialog | VideoRedactionDialog) -> None:
        if self.notebook is None or not self.notebook.writable or self.notebook.sidecar is None:
            return self._say("The notes are read-only: the redaction was not saved.")
        try:
            self.notebook.sidecar.redaction(sha256, dialog.operation(), dialog.reason_text())
        except (SidecarError, OSError) as exc:
            return self._say(f"The redaction was not saved: {exc}")
        self.notes.refresh()
        self._say("Redaction saved in the notes; the package's photo is unchanged.")

    def _shown(self) -> list[m.Report]:
        model_ = self.feed.model
        return [r for row in range(model_.rowCount()) if (r := model_.report_at(row))]

    def _ask_disclosure(self) -> None:
        shown = self._shown()
        if not shown:
            return self._say("The Reports list shows no report to disclose.")
        media = [i for r in shown for i in r.media if i.stored]
        redacted = sum(1 for i in media if self._redaction_of(i.sha256) is not None)
        summary = (
            f"The {len(shown)} reports the Reports list shows, their chat, incidents and "
            f"alerts; {redacted} photo(s) or video(s) redacted as saved in the notes (their "
            "originals left out; a redacted video is re-encoded whole, which takes a while), "
            "other photos unchanged. Signed with your own key "
            f"({disclosure.key_path()})."
        )
        default = self.path.with_name(f"{self.path.name.removesuffix(SUFFIX)}-disclosure{SUFFIX}")
        has_video = any(not i.mime.startswith("image/") for i in media)
        dialog = DisclosureDialog(summary, str(default), has_video, self)
        dialog.accepted.connect(
            lambda: self.export_disclosure(
                Path(dialog.path.text()),
                dialog.reason.text(),
                include_videos=dialog.videos.isChecked(),
                include_audit=dialog.audit.isChecked(),
            )
        )
        self.disclosure_dialog = dialog
        dialog.open()

    def export_disclosure(
        self, out: Path, reason: str, *, include_videos: bool = False, include_audit: bool = False
    ) -> None:
        """Write a disclosure of the reports shown now, off the GUI thread (once the
        package's verification has finished)."""
        if self._wait_for_verdict(
            lambda: self.export_disclosure(
                out, reason, include_videos=include_videos, include_audit=include_audit
            ),
            "The disclosure package",
        ):
            return
        shown = self._shown()
        media = [i for r in shown for i in r.media if i.stored]
        redactions = {i.sha256: (i.mime, b) for i in media if (b := self._redaction_of(i.sha256))}
        withheld = (
            []
            if include_videos
            else [
                i.sha256 for i in media if i.mime not in IMAGE_MIMES and i.sha256 not in redactions
            ]
        )
        path, who, ids = self.path, self.who, [r.report_id for r in shown]

        def _derived(sha: str, mime: str, body: dict[str, Any]) -> disclosure.Derived:
            original, operation = model.read_media(path, sha), body["operation"]
            if mime in VIDEO_MIMES:
                check_video(mime, original)
                data = redaction_video.redacted_mp4(original, operation)
                return disclosure.Derived(data, sha, operation, str(body["reason"]), "video/mp4")
            data = redacted_png(decode_image, mime, original, operation)
            return disclosure.Derived(data, sha, operation, str(body["reason"]))

        def op() -> disclosure.Written:
            key = disclosure.analyst_key()
            derived = [_derived(sha, mime, body) for sha, (mime, body) in redactions.items()]
            return disclosure.write_disclosure(
                path,
                out,
                report_ids=ids,
                derived=derived,
                withheld=withheld,
                reason=reason,
                analyst=who,
                key=key,
                include_audit=include_audit,
            )

        self._say(f"Writing the disclosure package {out.name}…")
        run_off_thread(
            op, lambda w: self._disclosed(w, reason, ids), self._disclosure_failed, owner=self
        )

    def _disclosed(self, written: disclosure.Written, reason: str, ids: list[str]) -> None:
        self.last_disclosure = written
        if self.notebook is not None and self.notebook.writable and self.notebook.sidecar:
            try:
                self.notebook.sidecar.disclosed(
                    written.path.name,
                    written.merkle_root,
                    written.fingerprint,
                    reason,
                    ids,
                )
            except OSError as exc:
                self._say(f"The disclosure was written, but not noted: {exc}")
                return
        self._say(
            f"Disclosure package written: {written.path.name}, signed by your key "
            f"{written.fingerprint}. Give the recipient that fingerprint separately."
        )

    def _disclosure_failed(self, exc: BaseException) -> None:
        self.last_disclosure = exc
        self._say(f"The disclosure package was not written: {exc}")

    # ------------------------------------------------------------ the analyst's report

    def _report_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(
            "Export report (PDF)…", lambda: self._export_to(self.export_report_pdf, "PDF (*.pdf)")
        )
        menu.addAction(
            "Export items (CSV)…", lambda: self._export_to(self.export_items_csv, "CSV (*.csv)")
        )

    def _export_to(self, export: Callable[[Path], object], kind: str) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export", str(self.path.parent), kind)
        if name:
            export(Path(name))

    def report(self) -> report_content.Content | None:
        """The report's content: the reports the Reports list shows now (its filter bar
        and timeline brush), or None before the package is loaded and verified."""
        build = self._report_builder()
        return None if build is None else build()

    def _report_builder(self) -> Callable[[], report_content.Content] | None:
        """What the report holds, read on the GUI thread (the Reports list as it is now);
        building it (hashing the package, reading the sidecar) may run on any thread."""
        package, result = self.package, self.result
        if package is None or not self._verify_done:
            return None  # the report states the verdict: only the final one
        model = self.feed.model
        shown = [r for row in range(model.rowCount()) if (r := model.report_at(row))]
        selection = (
            f"The {len(shown)} of {len(package.reports)} reports the workspace's "
            "Reports list showed when this was exported (its filters and timeline brush)."
        )
        return lambda: report_content.build(package, result, shown, selection)

    def export_report_pdf(self, path: Path) -> bool:
        """Write the PDF report off the GUI thread: the map and the timeline are grabbed
        here, the content built, laid out and written on a worker; `pdf_written` (path,
        pages) or `pdf_failed` and the status bar say when. False if nothing is loaded.
        While the media are still being checked it waits for the verdict, then writes."""
        if self.package is None:
            return False
        if self._wait_for_verdict(lambda: self._export_report_pdf_now(path), "The report"):
            return True
        return self._export_report_pdf_now(path)

    def _export_report_pdf_now(self, path: Path) -> bool:
        build = self._report_builder()
        if build is None:
            return False
        # a map still loading grabs as half-drawn noise: then the positions are plotted
        map_image = self.map.view.grab().toImage() if self.map.settled else None
        timeline_image = self.timeline.plot.grab().toImage()
        units = report_pdf.screen_image_units()
        self.statusBar().showMessage(f"Writing the report to {path.name}…")

        def write() -> int:
            return report_pdf.write_pdf(
                build(),
                path,
                map_image=map_image,
                timeline_image=timeline_image,
                image_units=units,
            )

        run_off_thread(
            write,
            lambda pages: self._pdf_done(path, pages),
            lambda exc: self._export_failed(path, exc),
            owner=self,
        )
        return True

    def _pdf_done(self, path: Path, pages: int) -> None:
        self.statusBar().showMessage(f"Report written: {path} ({pages} pages)", 15_000)
        self.pdf_written.emit(path, pages)

    def _export_failed(self, path: Path, exc: BaseException) -> None:
        self.statusBar().showMessage(f"The report could not be written to {path}: {exc}")
        self.pdf_failed.emit(str(exc))

    def export_items_csv(self, path: Path) -> bool:
        """Write the items CSV off the GUI thread (building it hashes the whole package);
        `csv_written` (path, items) or `csv_failed` and the status bar say when. False if
        nothing is loaded. While the media are still being checked it waits for the
        verdict, then writes."""
        if self.package is None:
            return False
        if self._wait_for_verdict(lambda: self._export_items_csv_now(path), "The items (CSV)"):
            return True
        return self._export_items_csv_now(path)

    def _export_items_csv_now(self, path: Path) -> bool:
        build = self._report_builder()
        if build is None:
            return False
        self.statusBar().showMessage(f"Writing the items to {path.name}…")

        def write() -> int:
            content = build()
            path.write_text(report_content.items_csv(content), encoding="utf-8", newline="")
            return len(content.items)

        def done(items: int) -> None:
            self.statusBar().showMessage(f"Items written: {path} ({items} reports)", 15_000)
            self.csv_written.emit(path, items)

        def failed(exc: BaseException) -> None:
            self.statusBar().showMessage(f"The items could not be written to {path}: {exc}")
            self.csv_failed.emit(str(exc))

        run_off_thread(write, done, failed, owner=self)
        return True

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"evidence-dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if not self._sized:  # dock sizes only stick once the window is laid out
            self._sized = True
            QTimer.singleShot(0, self._default_sizes)

    def _default_sizes(self) -> None:
        left, right, chat, bottom = self._docks
        width = max(self.width(), 1200)
        self.resizeDocks([bottom], [int(self.height() * 0.28)], Qt.Orientation.Vertical)
        self.resizeDocks(
            [left, right], [int(width * 0.3), int(width * 0.22)], Qt.Orientation.Horizontal
        )
        self.resizeDocks(
            [right, chat],
            [int(self.height() * 0.4), int(self.height() * 0.3)],
            Qt.Orientation.Vertical,
        )

    async def settle(self) -> None:
        """Wait until verified, loaded and drawn (for screenshots and tests)."""
        await asyncio.wait_for(self.done.wait(), 60)
        await self.map.settle()
        # qasync's loop is Qt's: the pending paints run while this waits. (Calling
        # processEvents() here would run other tasks' steps inside this one.)
        await asyncio.sleep(0.3)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self.closed.emit()
        super().closeEvent(event)
