"""Make the screenshots in docs/images/ from the real console on a demo relay.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py

It runs what `lookout --demo` runs (an embedded relay, simulated citizens), then drives the
main window the way a dispatcher would (through its own widgets and the session's outbox)
and grabs it at each step of the guide: the window at 1600x1000 on a fresh settings file
(no saved layout), and once more at 1280x800 after View > Reset layout.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from docs.shots import OUT, qimage_png, run_in_qt, save_png

PRESTON = (53.7590, -2.6990)
WIDE, SMALL = (1600, 1000), (1280, 800)


async def shoot(app: object) -> None:
    from PySide6.QtCore import QRect, QSettings, Qt
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

    from backend_client import messages as m
    from backend_client.client import RelayClient
    from backend_client.outbox import Outbox
    from backend_client.state import State
    from console.compose import open_session
    from console.main_window import MainWindow
    from console.settings import ConsoleSettings
    from console.theme import apply_theme
    from demo.embedded import DEMO_SUPERVISOR, EmbeddedRelay

    assert isinstance(app, QApplication)
    OUT.mkdir(exist_ok=True)
    demo = EmbeddedRelay(devices=80, report_rate_per_min=3.0)
    info = demo.start()
    home = Path(tempfile.mkdtemp(prefix="lookout-shots-"))  # a fresh settings file
    opened = open_session(info.client_config(), info.credentials(), home, local_cache=False)
    session = opened.session
    settings = ConsoleSettings("shots", QSettings(str(home / "c.ini"), QSettings.Format.IniFormat))
    apply_theme(app, "dark")
    window = MainWindow(session, settings)
    window.resize(*WIDE)
    window.show()
    await session.start()

    async def until(cond: object, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not cond():  # type: ignore[operator]
            if loop.time() > end:
                raise TimeoutError("the demo did not get there in time")
            await asyncio.sleep(0.2)

    def save(widget: QWidget, name: str, rect: QRect | None = None) -> None:
        # while reports stream in, the feed draws rows it has not drawn before within a
        # time budget and the rest a moment later: a grab is one paint, so give it all
        delegate = window.feed.table.delegate
        budget, delegate.budget_s = delegate.budget_s, float("inf")
        try:
            pixmap = widget.grab() if rect is None else widget.grab(rect)
        finally:
            delegate.budget_s = budget
        save_png(qimage_png(pixmap), name)

    async def grab(name: str) -> None:
        await window.settle()
        save(window, name)

    def side_by_side(left: QPixmap, right: QPixmap, name: str) -> None:
        from PIL import Image

        a, b = (Image.open(io.BytesIO(qimage_png(p))) for p in (left, right))
        both = Image.new("RGB", (a.width + b.width + 12, max(a.height, b.height)), "#30363d")
        both.paste(a, (0, 0))
        both.paste(b, (a.width + 12, 0))
        buf = io.BytesIO()
        both.save(buf, "PNG")
        save_png(buf.getvalue(), name)

    try:
        await until(lambda: session.status.state is State.LIVE)
        await until(lambda: len(session.reports) >= 30)
        await asyncio.sleep(3)
        await grab("workspace.png")
        # the demo's missing-person reports are HIGH: the row under the menu waits for them
        await until(lambda: window.status.high_showing, timeout=60)
        await window.settle()
        save(window, "high-banner.png", QRect(0, 0, WIDE[0], 250))

        with_photo = [
            r
            for r in session.reports.values()
            if any(x.stored and x.mime == "image/jpeg" for x in r.media)
        ]
        chosen = (with_photo or list(session.reports.values()))[-1]
        window._select(chosen.report_id)
        window.chat.compose.setPlainText("Thanks for the report. Are you somewhere safe?")
        window.chat.send()
        await asyncio.sleep(4)
        # the splitter between Report and Chat dragged down, so the report's photo shows
        # under its details (the pane scrolls; the rest of this shot's chat still shows)
        report_dock, chat_dock = window._docks[1], window._docks[2]
        window.resizeDocks([report_dock, chat_dock], [640, 60], Qt.Orientation.Vertical)
        await asyncio.sleep(0.5)
        scroll = window.detail.findChild(QScrollArea)
        if scroll is not None:  # the hash below the photo may stay out of view
            scroll.verticalScrollBar().setValue(window.detail.media_title.y() - 40)
        await grab("report-and-chat.png")

        # the Report dock's History and Notes tabs: a note, then the history that records it
        detail = window.detail
        detail.notes.editor.setPlainText(
            "Caller sounded shaken; PCSO Patel knows the address. Check CCTV at the corner shop."
        )
        detail.notes.save()
        await until(lambda: any("CCTV" in t for t in detail.notes.texts()), timeout=30)
        detail.tabs.setCurrentWidget(detail.history)
        await until(lambda: len(detail.history.rows()) >= 2, timeout=30)
        await asyncio.sleep(0.5)
        history_shot = window._docks[1]  # the Report dock
        a = history_shot.grab()
        detail.tabs.setCurrentWidget(detail.notes)
        await asyncio.sleep(0.5)
        side_by_side(a, history_shot.grab(), "report-history-notes.png")
        detail.tabs.setCurrentIndex(0)

        # close asks for a reason
        others = [
            r
            for r in session.reports.values()
            if r.status == "new" and r.report_id != chosen.report_id
        ]
        window._select(others[0].report_id)
        window.feed.close_report()
        dialog = window.feed.action_bar.close_dialog
        if dialog is not None:
            dialog.choose("No police action")
            await asyncio.sleep(0.5)
            save(dialog, "close-reason.png")
            dialog.reject()

        # an incident: one report, and three duplicates of it merged under it
        by_category: dict[str, list[m.Report]] = {}
        for r in session.reports.values():
            if r.status == "new" and not r.incident_ref and r.report_id != chosen.report_id:
                by_category.setdefault(r.category, []).append(r)
        group = max(by_category.values(), key=len)
        primary, dups = group[0], group[1:4]
        actions = window.incidents.incident_actions
        actions.create_incident(f"{primary.category.replace('_', ' ').title()} spree", [primary])
        await until(lambda: session.reports[primary.report_id].incident_ref, timeout=30)
        actions.merge_into(session.reports[primary.report_id], dups)
        await until(
            lambda: all(session.reports[d.report_id].duplicate_of for d in dups), timeout=30
        )
        ref = session.reports[primary.report_id].incident_ref
        assert ref is not None
        inc_dock = window.incidents_dock
        inc_dock.raise_()
        window.resizeDocks([inc_dock], [330], Qt.Orientation.Vertical)
        await asyncio.sleep(2.5)  # the dock redraws on its timer
        window.incidents.select_incident(ref)
        await asyncio.sleep(1)
        await window.settle()
        save(inc_dock, "incidents.png")
        window._docks[3].raise_()
        window.resizeDocks(
            [window._docks[3]],
            [window.height() // 5],
            Qt.Orientation.Vertical,
        )

        # the map: the legend open (bottom right) and a measurement of three points in the
        # part of the map it leaves clear, placed by their position in the map's pane
        lat, lon = PRESTON
        window.map.run_js("document.querySelector('.lk-legend-toggle').click(); 1")
        window.map.run_js("LookoutMap.startMeasure(); 1")
        for x, y in ((60, 230), (210, 180), (190, 400)):
            window.map.run_js(
                "LookoutMap.addMeasurePoint("
                f"LookoutMap.map().containerPointToLatLng([{x}, {y}])); 1"
            )
        window.map.run_js("LookoutMap.endMeasure(); 1")
        await asyncio.sleep(1)
        await window.settle()
        save(window.map, "map-legend-measure.png")
        window.map.run_js("document.querySelector('.lk-legend-toggle').click(); 1")
        window.map.run_js("document.querySelector('.lk-measure-clear').click(); 1")

        # an area drawn as Draw area draws one: the page's own "shape finished" path, so
        # the shape stays on the map and the composer opens beside it
        d = 0.012
        ring = [
            (lat - d, lon - d),
            (lat - d * 0.6, lon + d),
            (lat + d, lon + d * 0.8),
            (lat + d * 0.9, lon - d * 0.7),
        ]
        points = ", ".join(f"[{a}, {b}]" for a, b in ring)
        window.map.run_js(
            f"LookoutMap.map().fire(L.Draw.Event.CREATED, {{layer: L.polygon([{points}]),"
            " layerType: 'polygon'}); 1"
        )
        await until(lambda: window.alerts.composer is not None, timeout=30)
        composer = window.alerts.composer
        assert composer is not None
        composer.template.setCurrentIndex(max(0, composer.template.findText("Burglary warning")))
        composer.request_count()
        await until(lambda: composer.last_count is not None)
        await asyncio.sleep(0.5)
        await grab("alert-composer.png")  # docked beside the map
        # the same alert in Welsh too: a second CAP <info>, shown to Welsh readers
        composer.add_translation.click()
        composer.tr_headline.setText("Lladradau yn eich ardal")
        composer.tr_description.setPlainText("Sawl lladrad drwy ddrysau cefn ers nos Sul.")
        composer.tr_instruction.setPlainText("Cloiwch ddrysau a ffenestri, ffoniwch 101.")
        await asyncio.sleep(0.5)
        save(composer, "alert-translation.png")
        preview = composer.review()  # Send opens the preview first
        assert preview is not None
        await until(lambda: preview.count is not None or preview.count_error is not None)
        await asyncio.sleep(0.5)
        save(preview, "alert-preview.png")
        if preview.needs_confirmation():
            preview.confirm.setChecked(True)
        preview.send_button.click()
        await until(lambda: len(session.alerts) > 0, timeout=30)
        pending = [a for a in session.alerts.values() if a.state == "pending_approval"]
        if pending:  # the two-person rule: the demo's supervisor approves from their console
            sup = RelayClient(
                info.client_config(),
                info.credentials(DEMO_SUPERVISOR),
                Outbox(home / "sup-outbox.sqlite"),
            )
            await sup.start()
            await sup.wait_live(30)
            sup.submit(m.AlertApprove(id="", idem="", alert_id=pending[0].alert_id))
            await until(lambda: any(a.delivered > 0 for a in session.alerts.values()), timeout=30)
            await sup.stop()
        await until(lambda: any(a.delivered > 0 for a in session.alerts.values()), timeout=30)
        await asyncio.sleep(4)
        window.alerts.select_alert(next(iter(session.alerts)))
        await grab("alert-progress.png")

        export = window.exports.export_map_view()  # File > Export map view…
        export.set_format("kml")
        await asyncio.sleep(0.3)
        save(export, "export-dialog.png")
        export.reject()

        dash_dock = window._docks[4]
        dash_dock.raise_()
        window.resizeDocks([dash_dock], [320], Qt.Orientation.Vertical)  # a taller look
        await asyncio.sleep(3)
        window.dashboard.redraw()
        await grab("dashboard.png")

        window.reset_layout()  # View > Reset layout
        apply_theme(app, "light")
        await asyncio.sleep(1.5)
        await grab("workspace-light.png")

        apply_theme(app, "dark")
        window.resize(*SMALL)
        await asyncio.sleep(0.5)
        window.reset_layout()  # the default layout, worked out for this size
        await asyncio.sleep(1.5)
        await grab("workspace-1280.png")
    finally:
        window.close()
        await opened.close()
        await asyncio.to_thread(demo.stop)


def main() -> None:
    run_in_qt(shoot)


if __name__ == "__main__":
    main()
