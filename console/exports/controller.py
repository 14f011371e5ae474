"""Render, have the relay audit, then write: an export file never exists unaudited.

The rendering and the write run off the GUI thread (a large feed is megabytes); the
audit is one request through the session. Offline, refused or failed at any step: the
user is told what happened in their words and no file is left behind.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from backend_client import exports
from backend_client import messages as m
from console.common.ops import run_off_thread
from console.exports.model import ExportJob, Rendered, audit_request, render, write_atomically
from console.session import ConsoleSession


class ExportController(QObject):
    #: the file is written: its path, and what was in it (format, count, SHA-256)
    exported = Signal(object, object)
    #: nothing was written, and why (for the user)
    failed = Signal(str)

    def __init__(self, session: ConsoleSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        #: the relay's audit record of the last export written (its seq)
        self.last_audit_seq: int | None = None

    def export(self, job: ExportJob, fmt: exports.Format, path: Path, bom: bool = False) -> None:
        if job.is_empty():
            self.failed.emit("There is nothing in this view to export; nothing was written.")
            return
        run_off_thread(
            lambda: render(job, fmt, bom),
            lambda rendered: self._audit(job, rendered, path),
            lambda exc: self.failed.emit(f"Could not write the export: {exc}"),
            owner=self,
        )

    def _audit(self, job: ExportJob, rendered: Rendered, path: Path) -> None:
        def on_reply(reply: m.Msg) -> None:
            if not isinstance(reply, m.ExportAudited):
                self.failed.emit("The relay did not confirm the audit; nothing was written.")
                return
            self.last_audit_seq = reply.audit_seq
            self._write(rendered, path)

        def on_error(message: str) -> None:
            self.failed.emit(
                "Every export is audited by the relay before it is written, and this one "
                f"could not be: {message} Nothing was written."
            )

        self.session.run(audit_request(job, rendered, path), on_reply, on_error)

    def _write(self, rendered: Rendered, path: Path) -> None:
        def failed(exc: BaseException) -> None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self.failed.emit(f"Could not save {path}: {reason}. The export was audited.")

        run_off_thread(
            lambda: write_atomically(path, rendered.data),
            lambda written: self.exported.emit(written, rendered),
            failed,
            owner=self,
        )
