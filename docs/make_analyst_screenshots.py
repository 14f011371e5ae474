"""Make the analyst's guide's screenshots (docs/images/analyst-*.png) from the real workspace.

    QT_QPA_PLATFORM=offscreen python docs/make_analyst_screenshots.py [--work DIR]

It builds the demo case (`python -m demo.evidence_case`), opens its package in the
analyst's workspace (what `lookout --evidence PKG --fingerprint F` opens), drives it the way
an analyst would, as docs/guide-analyst.md tells it, and grabs the window at each step;
then opens a tampered copy. `--work DIR` keeps the case, the package, its sidecar and the
tampered copy there (default: a temporary directory, removed afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from docs.shots import OUT, qimage_png, run_in_qt, save_png

ANALYST = "r.khan"
#: the street photo's number plate and the face by the car (demo/evidence_photos.py)
PLATE = (232, 544, 136, 42)
FACE = (668, 346, 64, 84)


def _save(image: Any, name: str) -> None:
    """A QImage as docs/images/<name>, optimised to stay small."""
    save_png(qimage_png(image), name)


def tampered_copy(package: Path, out: Path) -> Path:
    """`package` with one word of one report changed and nothing re-signed: what a package
    edited after export looks like."""
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "reports.json":
                data = data.replace(b"Laptop", b"Phone", 1)
            dst.writestr(info, data)
    return out


async def shoot(app: Any, work: Path) -> None:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication, QDockWidget, QScrollArea

    from console.settings import ConsoleSettings
    from console.theme import apply_theme
    from console.workspace_window import WorkspaceWindow
    from demo import evidence_case

    assert isinstance(app, QApplication)
    OUT.mkdir(exist_ok=True)
    case = evidence_case.build(work / "case")
    print(f"package {case.package}\nfingerprint {case.fingerprint}", flush=True)
    apply_theme(app, "dark")
    loop = asyncio.get_running_loop()

    async def until(cond: Any, what: str, timeout: float = 30.0) -> None:
        end = loop.time() + timeout
        while not cond():
            if loop.time() > end:
                raise TimeoutError(f"the workspace did not get there in time: {what}")
            await asyncio.sleep(0.1)

    def open_window(path: Path, fingerprint: str | None) -> WorkspaceWindow:
        settings = ConsoleSettings(
            "analyst-shots", QSettings(str(work / "ws.ini"), QSettings.Format.IniFormat)
        )
        w = WorkspaceWindow(
            path,
            settings,
            fingerprint=fingerprint,
            map_cache_dir=work / "map-cache",
            analyst=ANALYST,
        )
        w.show()
        w.start()
        return w

    async def grab(w: WorkspaceWindow, name: str) -> None:
        await w.settle()
        await asyncio.sleep(0.5)
        QApplication.processEvents()
        _save(w.grab().toImage(), name)

    def dock_of(widget: Any) -> QDockWidget:
        dock = widget.parentWidget()
        while not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        return dock

    def photos_shown(w: WorkspaceWindow) -> bool:
        items = list(w.detail.media_items.values())
        return bool(items) and all(
            i.preview is not None and getattr(i.preview, "state", "") == "shown" for i in items
        )

    def zoom_out(w: WorkspaceWindow) -> None:
        """One step out (the map's own "-" button), so the alerts' labels fit above them."""
        w.map.run_js("document.querySelector('.leaflet-control-zoom-out').click()")

    def split_right(w: WorkspaceWindow, report_share: float) -> None:
        """Share the right-hand column between the Report pane and the Chat/Notes tabs."""
        _left, right, chat, _bottom = w._docks
        h = w.height() * 0.68
        w.resizeDocks(
            [right, chat],
            [int(h * report_share), int(h * (1 - report_share))],
            Qt.Orientation.Vertical,
        )

    w = open_window(case.package, case.fingerprint)
    try:
        await w.settle()
        zoom_out(w)
        # 1. opened: the banner, the reports, the map, the timeline of the whole three weeks
        await grab(w, "analyst-workspace.png")

        # 2. a report with photos: the night street with a car's plate and a face
        w._select(case.photo_report)
        split_right(w, 0.85)
        await until(lambda: photos_shown(w), "the photo shown")
        await asyncio.sleep(0.3)
        scroll = w.detail.findChild(QScrollArea)
        if scroll is not None:
            scroll.ensureWidgetVisible(next(iter(w.detail.media_items.values())), 0, 0)
        await grab(w, "analyst-report-photo.png")

        # 3. the chat with markup in it, shown as the citizen typed it
        w._select(case.hostile_report)
        split_right(w, 0.3)
        await until(lambda: w.chat.current == case.hostile_report, "the chat open")
        await grab(w, "analyst-chat.png")
        split_right(w, 0.57)

        # 4. zoom the timeline to the days around the photo's report, brush the busiest two
        photo = next(r for r in w.package.reports if r.report_id == case.photo_report)  # type: ignore[union-attr]
        day = 86400.0
        w.timeline.plot.setXRange(photo.created_at - 3 * day, photo.created_at + 4 * day, padding=0)
        w.timeline.set_brush(photo.created_at - 1.2 * day, photo.created_at + 1.0 * day)
        w._select(case.photo_report)
        await grab(w, "analyst-timeline-brush.png")

        # 5. notes: a note on the report, tags on its photo, a bookmark of the brushed range
        await until(lambda: photos_shown(w), "the photo shown again")
        w.notes_dock.raise_()
        notes = w.notes
        notes.choose(next(t for t in notes.targets if t.type == "report"))
        notes.text.setPlainText(
            "Same hooded figure as the doorbell still two nights earlier: compare the coats."
        )
        notes.add("note")
        notes.choose(next(t for t in notes.targets if t.type == "media"))
        notes.text.setPlainText("plate-readable")
        notes.add("tag")
        notes.text.setPlainText("face-visible")
        notes.add("tag")
        notes.choose(next(t for t in notes.targets if t.type == "time_range"))
        notes.text.setPlainText("Peak of the series, before the first alert")
        notes.add("bookmark")
        notes.choose(next(t for t in notes.targets if t.type == "report"))
        await grab(w, "analyst-notes.png")
        dock_of(w.chat).raise_()

        # 6. statistics over the reports in view (the brush is still on), then all of them
        w.timeline.brush_button.setChecked(False)
        w.timeline.show_all()
        stats_dock = dock_of(w.statistics)
        stats_dock.raise_()
        w.resizeDocks([stats_dock], [int(w.height() * 0.42)], Qt.Orientation.Vertical)
        await until(lambda: w.statistics.figures is not None, "the statistics")
        await grab(w, "analyst-statistics.png")

        # 7. the audit trail of one report
        audit_dock = dock_of(w.audit)
        audit_dock.raise_()
        linked = next(r for r in w.package.reports if r.incident_ref and r.status == "closed")  # type: ignore[union-attr]
        w._select(linked.report_id)
        await grab(w, "analyst-audit.png")
        w.resizeDocks([stats_dock], [int(w.height() * 0.28)], Qt.Orientation.Vertical)

        # 8. redact the photo's number plate (black box) and the face (pixelated)
        w._select(case.photo_report)
        await until(lambda: photos_shown(w), "the photo shown for redaction")
        w.redact_selected_photo()
        await until(lambda: w.redaction_dialog is not None, "the redaction dialog")
        dialog = w.redaction_dialog
        assert dialog is not None
        dialog.add_region(*PLATE, mode="box")
        dialog.add_region(*FACE, mode="pixelate")
        dialog.reason.setText("Third party's vehicle and a bystander's face: not relevant")
        dialog.show()
        await asyncio.sleep(0.3)
        QApplication.processEvents()
        _save(dialog.grab().toImage(), "analyst-redact.png")
        dialog.accept()
        await until(
            lambda: any(w._redaction_of(sha) for sha in w.detail.media_items), "the redaction saved"
        )

        # 9. a disclosure of the photo's incident: the dialog, then the signed package
        if photo.incident_ref:
            w.incidents.select_incident(photo.incident_ref)
        w._ask_disclosure()
        await until(lambda: w.disclosure_dialog is not None, "the disclosure dialog")
        ask = w.disclosure_dialog
        assert ask is not None
        ask.reason.setText("Initial disclosure to CPS, file 42/7781")
        ask.path.setText(str(work / "case" / "disclosure.lookout-evidence"))
        await asyncio.sleep(0.3)
        QApplication.processEvents()
        _save(ask.grab().toImage(), "analyst-disclosure.png")
        ask.accept()
        await until(lambda: w.last_disclosure is not None, "the disclosure written", 60)
        print(f"disclosure {w.last_disclosure}", flush=True)
    finally:
        w.close()
        await w.session.stop()

    # 8. a copy edited after export: the red banner, the failure named, the pane marked
    bad = tampered_copy(case.package, work / "case" / "tampered.lookout-evidence")
    t = open_window(bad, case.fingerprint)
    try:
        await t.settle()
        zoom_out(t)
        await grab(t, "analyst-tampered.png")
    finally:
        t.close()
        await t.session.stop()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"done {stamp}; the case is in {work / 'case'}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, help="keep the case here (a new directory)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="lookout-analyst-shots-"))
    try:
        run_in_qt(lambda app: shoot(app, work))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
