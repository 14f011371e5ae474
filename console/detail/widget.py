"""The selected report in full: its text, facts, media previews, and links to map and chat.

Everything a citizen wrote is shown as plain text (labels fixed to `Qt.PlainText`, the
report body in a read-only plain-text editor); media files are shown only after the
checks in `media` pass, decoded off the GUI thread.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontDatabase, QResizeEvent, QTextOption
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from backend_client import rules
from backend_client.outbox import OutboxEntry
from backend_client.state import ConnectionStatus, State
from console.common.erasure import ERASED_TEXT, reporter_text
from console.common.exercise import is_exercise_report
from console.common.exercise_banner import exercise_banner, show_exercise
from console.common.labels import plain_label
from console.detail.history import HistoryPane, NotesPane
from console.detail.image_view import ImagePreview
from console.detail.media import IMAGE_MIMES, VIDEO_MIMES, PrivateMediaDir, human_type
from console.detail.model import (
    STATUS_WORDS,
    absolute_time,
    coordinates,
    human_size,
    relative_time,
    words,
)
from console.detail.video_view import VideoPreview
from console.detail.viewer import MediaViewer
from console.session import ConsoleSession
from console.theme import PRIORITY_COLOURS, STATUS_COLOURS

_RELATIVE_REFRESH_MS = 30_000
_PREVIEW_LOADING_H = 160  # room kept for a photo while it is fetched and decoded
_PREVIEW_MIN_H, _PREVIEW_MAX_H = 120, 480
#: a new selection asks for its history after this pause (arrowing down the feed asks once)
_HISTORY_SELECT_MS = 200
#: and a change to the shown report asks again after this one (several changes: once)
_HISTORY_CHANGED_MS = 800


class HashField(QPlainTextEdit):
    """A file's SHA-256, whole: wrapped at any digit to the pane's width, read-only,
    selectable, and as tall as its lines (a 64-digit hash never hides behind an edge)."""

    def __init__(self, digest: str) -> None:
        super().__init__(digest)
        self.setReadOnly(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(max(6.0, mono.pointSizeF() * 0.85))  # a detail below the photo
        self.setFont(mono)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setToolTip(f"SHA-256 of the file, as verified on receipt:\n{digest}")
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self._fit()

    def text(self) -> str:
        return self.toPlainText()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)  # re-wraps the digits to the new width
        self._fit()

    def _fit(self, *_: object) -> None:
        # QPlainTextEdit's document size is counted in lines, not pixels
        lines = max(1, int(self.document().documentLayout().documentSize().height()))
        margins = self.contentsMargins()
        extra = margins.top() + margins.bottom() + 2 * self.document().documentMargin()
        self.setFixedHeight(int(lines * self.fontMetrics().lineSpacing() + extra + 2))


class MediaItem(QFrame):
    """One media file: what it is (type, size), its preview once checked, and below it
    the SHA-256, small and selectable. A shown photo opens full size (`open_viewer`)."""

    open_viewer = Signal(str)  # the file's sha256

    def __init__(
        self,
        session: ConsoleSession,
        info: m.MediaInfo,
        media_dir: Callable[[], PrivateMediaDir],
    ) -> None:
        super().__init__()
        self.session = session
        self.info = info
        self._media_dir = media_dir
        self.preview: ImagePreview | VideoPreview | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)

        self._lay = lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.type_label = plain_label(f"{human_type(info.mime)} · {human_size(info.size)}")
        bold = QFont(self.type_label.font())
        bold.setBold(True)
        self.type_label.setFont(bold)
        self.status_label = plain_label("", selectable=False)
        self.status_label.setVisible(False)
        lay.addWidget(self.type_label)
        #: the preview (or the Load video button) goes here, above the hash
        self._media_slot = QVBoxLayout()
        self._media_slot.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self._media_slot)
        lay.addWidget(self.status_label)

        self.sha_label = HashField(info.sha256)
        small = QFont(self.type_label.font())
        small.setBold(False)
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        caption = plain_label("SHA-256", selectable=False)
        caption.setWordWrap(False)
        caption.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        caption.setFont(small)
        caption.setEnabled(False)  # a quiet caption
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the whole SHA-256 to the clipboard")
        self.copy_button.clicked.connect(self._copy_hash)
        sha_row = QHBoxLayout()
        sha_row.addWidget(caption)
        sha_row.addStretch(1)
        sha_row.addWidget(self.copy_button)
        lay.addLayout(sha_row)
        lay.addWidget(self.sha_label)

        self.load_button: QPushButton | None = None
        if not info.stored:
            self._set_status(
                "Still arriving from the citizen; the preview appears once every byte is "
                "received and verified."
            )
        elif info.mime in IMAGE_MIMES:
            self.preview = ImagePreview()
            self.preview.setMinimumHeight(_PREVIEW_LOADING_H)
            self.preview.finished.connect(lambda _ok: self._fit_preview())
            self.preview.activated.connect(lambda: self.open_viewer.emit(self.info.sha256))
            self.preview.view.setToolTip(
                "Double-click (or Enter) to open full size; the wheel zooms, a drag pans"
            )
            self._media_slot.addWidget(self.preview)
            self._fetch()
        elif info.mime in VIDEO_MIMES:
            self.load_button = QPushButton("Load video")
            self.load_button.setAutoDefault(False)
            self.load_button.setToolTip(session.video_load_tip)
            self.load_button.clicked.connect(self._load_video)
            self._media_slot.addWidget(self.load_button, 0, Qt.AlignmentFlag.AlignLeft)
        else:
            self._set_status("No preview for this type of file.")

    def _copy_hash(self) -> None:
        QApplication.clipboard().setText(self.info.sha256)
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self, lambda: self.copy_button.setText("Copy"))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_preview()

    def _fit_preview(self) -> None:
        """A shown photo fills the pane's width at its own aspect ratio (never taller
        than `_PREVIEW_MAX_H`, never blown up past its own pixels)."""
        preview = self.preview
        if not isinstance(preview, ImagePreview) or preview.image_size is None:
            return
        if preview.state != "shown":
            return
        w, h = preview.image_size
        width = preview.width()
        if w <= 0 or h <= 0 or width <= 0:
            return
        height = max(_PREVIEW_MIN_H, min(_PREVIEW_MAX_H, h, round(width * h / w)))
        frame = 2 * preview.view.frameWidth()
        if preview.view.height() != height + frame:
            preview.setMinimumHeight(0)
            preview.view.setMinimumHeight(0)
            preview.view.setFixedHeight(height + frame)

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))

    def _load_video(self) -> None:
        if self.load_button is not None:
            self.load_button.setVisible(False)
        video = VideoPreview(self._media_dir())
        self.preview = video
        self._media_slot.addWidget(video)
        if video.available:
            self._fetch()

    def _fetch(self) -> None:
        self._set_status(self.session.media_loading_text)

        def done(_mime: str, data: bytes) -> None:
            if shiboken6.isValid(self):
                self._show(data)

        def failed(reason: str) -> None:
            if shiboken6.isValid(self):
                self._set_status("")
                if self.preview is not None:
                    self.preview.show_error(f"Could not fetch the file: {reason}")

        try:
            self.session.fetch_media(self.info.sha256, done, failed)
        except Exception as exc:  # e.g. the local cache refused a damaged copy
            failed(str(exc) or type(exc).__name__)

    def _show(self, data: bytes) -> None:
        # The type checked is the one the report declared, against the bytes themselves.
        self._set_status("")
        if isinstance(self.preview, ImagePreview):
            self.preview.show_bytes(self.info.mime, data)
        elif isinstance(self.preview, VideoPreview):
            self.preview.show_bytes(self.info.sha256, self.info.mime, data)

    def release(self) -> None:
        if isinstance(self.preview, VideoPreview):
            self.preview.stop()


class ReportDetailWidget(QWidget):
    show_on_map = Signal(str)
    open_chat = Signal(str)

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        self.report_id: str | None = None
        self.report: m.Report | None = None
        self.media_items: dict[str, MediaItem] = {}
        self._media_dirs: list[PrivateMediaDir] = []  # at most one, made on first video
        weakref.finalize(self, _cleanup, self._media_dirs)

        self._pages = QStackedWidget()
        self.placeholder = plain_label(
            "Select a report in the feed or on the map.", selectable=False
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._pages.addWidget(self.placeholder)
        self.history = HistoryPane()
        self.notes = NotesPane()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_content(), "Report")
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.notes, "Notes")
        self.tabs.setTabToolTip(2, "Officers' internal notes: never shown to the reporter")
        self._pages.addWidget(self.tabs)
        self.viewer: MediaViewer | None = None
        self._history_timer = QTimer(self)
        self._history_timer.setSingleShot(True)
        self._history_timer.timeout.connect(self._load_history)
        self.notes.save_requested.connect(self._save_note)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._pages)

        self._clock = QTimer(self)
        self._clock.setInterval(_RELATIVE_REFRESH_MS)
        self._clock.timeout.connect(self._refresh_time)
        session.report_changed.connect(self._on_report_changed)
        session.reports_erased.connect(self._on_erased)
        session.event_received.connect(self._on_event)
        session.outbox_changed.connect(self._on_outbox)
        session.connection_state_changed.connect(self._on_connection)

    # ------------------------------------------------------------------ building

    def _build_content(self) -> QWidget:
        content = QWidget()
        lay = QVBoxLayout(content)
        lay.setContentsMargins(8, 8, 8, 8)
        #: "EXERCISE — pilot <id>: not a real incident", above everything else
        self.exercise_banner = exercise_banner()
        lay.addWidget(self.exercise_banner)

        self.category_label = plain_label()
        big = QFont(self.category_label.font())
        big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)
        self.category_label.setFont(big)
        self.status_chip = plain_label(selectable=False)
        self.priority_chip = plain_label(selectable=False)
        for chip in (self.status_chip, self.priority_chip):
            chip.setWordWrap(False)
            chip.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        title = QHBoxLayout()
        title.addWidget(self.category_label, 1)
        title.addWidget(self.status_chip)
        title.addWidget(self.priority_chip)
        lay.addLayout(title)

        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text_view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.text_view.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.text_view.document().documentLayout().documentSizeChanged.connect(self._fit_text)
        self.text_view.installEventFilter(self)  # a narrower pane wraps to more lines
        lay.addWidget(self.text_view)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        for key, caption in (
            ("status", "Status"),
            ("claimed_by", "Claimed by"),
            ("priority", "Priority"),
            ("time", "Reported"),
            ("reporter", "Reporter"),
            ("location", "Location"),
            ("incident", "Incident"),
            ("report_id", "Report ID"),
        ):
            label = plain_label(mono=key in ("report_id", "location"))
            self.fields[key] = label
            caption_label = plain_label(caption, selectable=False)
            caption_label.setWordWrap(False)
            caption_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
            form.addRow(caption_label, label)
        lay.addLayout(form)

        buttons = QHBoxLayout()
        self.map_button = QPushButton("Show on map")
        self.chat_button = QPushButton("Chat")
        for b in (self.map_button, self.chat_button):
            b.setAutoDefault(False)
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.map_button.clicked.connect(self._emit_map)
        self.chat_button.clicked.connect(self._emit_chat)
        lay.addLayout(buttons)

        self.media_title = plain_label(selectable=False)
        self.media_title.setFont(self.category_label.font())
        lay.addWidget(self.media_title)
        self._media_box = QVBoxLayout()
        lay.addLayout(self._media_box)
        lay.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        return scroll

    # ------------------------------------------------------------------ public

    def show_report(self, report_id: str) -> None:
        if report_id != self.report_id:
            self.history.clear()
            self.notes.clear()
            self._set_notes_title()
            self.history.show_message("Loading the history…")
            self.notes.show_message("Loading the notes…")
            self._history_timer.start(_HISTORY_SELECT_MS)
        self.report_id = report_id
        report = self.session.reports.get(report_id)
        if report is None:
            self._clear_media()
            self.report = None
            self.placeholder.setText("That report is not known to this console yet.")
            self._pages.setCurrentIndex(0)
            self._clock.stop()
            return
        self._fill(report)
        self._pages.setCurrentIndex(1)
        self._clock.start()

    # ------------------------------------------------------------------ updates

    def _on_report_changed(self, report: m.Report, _created: bool) -> None:
        if report.report_id == self.report_id:
            self._fill(report)
            self._pages.setCurrentIndex(1)
            self._clock.start()
            if not self._history_timer.isActive():  # claimed, moved, linked: ask again
                self._history_timer.start(_HISTORY_CHANGED_MS)

    # ------------------------------------------------------------------ history and notes

    def _load_history(self) -> None:
        report_id = self.report_id
        if report_id is None or report_id not in self.session.reports:
            return
        if self.session.status.state is not State.LIVE:  # asked again once it is
            said = "The history and notes appear once the console is connected to the relay."
            self.history.show_message(said)
            self.notes.show_message(said)
            return

        def done(reply: m.Msg) -> None:
            ok = shiboken6.isValid(self) and isinstance(reply, m.ReportHistory)
            if ok and isinstance(reply, m.ReportHistory) and reply.report_id == self.report_id:
                self.history.set_entries(reply.entries, reply.omitted)
                self.notes.set_notes(reply.notes, reply.notes_omitted)
                self._set_notes_title()

        def failed(reason: str) -> None:
            if shiboken6.isValid(self) and report_id == self.report_id:
                said = f"The history could not be fetched: {reason}"
                self.history.show_message(said)
                self.notes.show_message(said.replace("history", "notes"))

        self.session.run(m.ReportHistoryGet(id="", report_id=report_id), done, failed)

    def _on_connection(self, status: ConnectionStatus) -> None:
        if status.state is State.LIVE and self.report is not None:
            self._history_timer.start(_HISTORY_SELECT_MS)  # what changed while away

    def _on_event(self, event: m.Msg) -> None:
        if not isinstance(event, m.ReportNoted) or event.note.report_id != self.report_id:
            return
        if self.notes.add(event.note):
            self.history.add(
                m.HistoryEntry(
                    event.note.at,
                    event.note.author,
                    "report.note",
                    f"added an internal note ({len(event.note.text)} characters)",
                )
            )
            self._set_notes_title()

    def _save_note(self, text: str) -> None:
        if self.report_id is None:
            return
        self.session.submit(m.ReportNoteAdd(id="", idem="", report_id=self.report_id, text=text))

    def _on_outbox(self, entry: OutboxEntry, reply: object) -> None:
        action = entry.message
        if not isinstance(action, m.ReportNoteAdd) or action.report_id != self.report_id:
            return
        if reply is None:
            self.notes.show_message("Saving the note… (it is sent as soon as the link is up)")
        elif isinstance(reply, m.ReportNoteAdded):
            self.notes.show_message("")
            self.notes.add(reply.note)
            self._set_notes_title()
        elif isinstance(reply, m.Error):
            self.notes.show_message(f"The note was not saved: {reply.message}")
            if not self.notes.editor.toPlainText():
                self.notes.editor.setPlainText(action.text)

    def _set_notes_title(self) -> None:
        n = len(self.notes.notes)
        self.tabs.setTabText(2, f"Notes ({n})" if n else "Notes")

    def open_viewer(self, sha256: str) -> MediaViewer | None:
        """The report's photos full size, starting at this one."""
        if self.report is None:
            return None
        photos = [x for x in self.report.media if x.stored and x.mime in IMAGE_MIMES]
        start = next((i for i, x in enumerate(photos) if x.sha256 == sha256), 0)
        if self.viewer is not None and shiboken6.isValid(self.viewer):
            self.viewer.close()
        self.viewer = MediaViewer(self.session, self.report.report_id, photos, start, self)
        self.viewer.show()
        self.viewer.raise_()
        self.viewer.activateWindow()
        return self.viewer

    def _on_erased(self, event: m.ReportErased) -> None:
        """The report shown was erased: everything of it leaves the pane, and it says why.
        A kept one shown stays, its reporter marked as a tombstone."""
        if self.report_id is None:
            return
        if self.report_id in event.report_ids:
            self._clear_media()
            self.report = None
            self.text_view.clear()
            for label in self.fields.values():
                label.clear()
            self.history.clear()
            self.notes.clear()
            self._set_notes_title()
            if self.viewer is not None and shiboken6.isValid(self.viewer):
                self.viewer.close()
            self.placeholder.setText(ERASED_TEXT)
            self._pages.setCurrentIndex(0)
            self._clock.stop()
        elif self.report_id in event.tombstoned and self.report is not None:
            self._fill(self.report)

    def _fill(self, r: m.Report) -> None:
        self.report = r
        show_exercise(self.exercise_banner, is_exercise_report(r), r.pilot_id)
        self.category_label.setText(rules.category_label(r.category))
        status = STATUS_WORDS.get(r.status, r.status)
        self.status_chip.setText(f" {status} ")
        self.status_chip.setStyleSheet(_chip(STATUS_COLOURS.get(r.status, "#768390")))
        self.priority_chip.setText(f" {words(r.priority)} priority ")
        self.priority_chip.setStyleSheet(_chip(PRIORITY_COLOURS.get(r.priority, "#768390")))
        if self.text_view.toPlainText() != r.text:
            self.text_view.setPlainText(r.text)
        self.fields["status"].setText(status)
        self.fields["claimed_by"].setText(r.claimed_by or "Nobody yet")
        self.fields["priority"].setText(words(r.priority))
        self.fields["reporter"].setText(
            reporter_text(r.reporter, r.report_id in self.session.tombstoned)
        )
        self.fields["location"].setText(coordinates(r.lat, r.lon))
        self.fields["incident"].setText(r.incident_ref or "Not linked to an incident")
        self.fields["report_id"].setText(r.report_id)
        self._refresh_time()
        self._sync_media(r.media)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if watched is self.text_view and event.type() == QEvent.Type.Resize:
            # after the editor has re-wrapped to its new width (it does so on this event)
            QTimer.singleShot(0, self, self._fit_text)
        return super().eventFilter(watched, event)

    def _fit_text(self, *_: object) -> None:
        """As tall as the text, between 2 and 12 lines (longer text scrolls inside)."""
        # QPlainTextEdit's document size is counted in lines, not pixels
        lines = int(self.text_view.document().documentLayout().documentSize().height())
        lines = max(2, min(12, lines))
        margins = self.text_view.contentsMargins()
        extra = margins.top() + margins.bottom() + 2 * self.text_view.document().documentMargin()
        line = self.text_view.fontMetrics().lineSpacing()
        self.text_view.setFixedHeight(int(lines * line + extra + 4))

    def _refresh_time(self) -> None:
        if self.report is not None:
            ts = self.report.created_at
            self.fields["time"].setText(f"{absolute_time(ts)} ({relative_time(ts)})")

    def _sync_media(self, media: list[m.MediaInfo]) -> None:
        """Keep previews already decoded; rebuild only files that are new or changed."""
        wanted = {info.sha256: info for info in media}
        for sha, item in list(self.media_items.items()):
            if sha not in wanted or wanted[sha] != item.info:
                self._drop(sha)
        for info in media:
            if info.sha256 not in self.media_items:
                item = MediaItem(self.session, info, self._private_dir)
                item.open_viewer.connect(self.open_viewer)
                self.media_items[info.sha256] = item
        # lay out in the report's order
        for info in media:
            self._media_box.addWidget(self.media_items[info.sha256])
        count = len(media)
        self.media_title.setText(
            f"Media ({count} file{'s' if count != 1 else ''})" if count else "No media attached"
        )

    def _drop(self, sha: str) -> None:
        item = self.media_items.pop(sha)
        item.release()
        self._media_box.removeWidget(item)
        item.setParent(None)
        item.deleteLater()

    def _clear_media(self) -> None:
        for sha in list(self.media_items):
            self._drop(sha)

    def _private_dir(self) -> PrivateMediaDir:
        if not self._media_dirs:
            self._media_dirs.append(PrivateMediaDir())
        return self._media_dirs[0]

    def _emit_map(self) -> None:
        if self.report_id is not None:
            self.show_on_map.emit(self.report_id)

    def _emit_chat(self) -> None:
        if self.report_id is not None:
            self.open_chat.emit(self.report_id)


def _cleanup(dirs: list[PrivateMediaDir]) -> None:
    for d in dirs:
        d.cleanup()


def _chip(colour: str) -> str:
    return f"background: {colour}; color: #111; border-radius: 3px; padding: 1px 4px;"
