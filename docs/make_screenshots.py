"""Make the screenshots in docs/images/ from the real console on a demo relay.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py

It runs what `lookout --demo` runs (an embedded relay, simulated citizens), then drives the
main window the way a dispatcher would and grabs it at each step of the guide.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from docs.shots import OUT, run_in_qt

PRESTON = (53.7590, -2.6990)


async def shoot(app: object) -> None:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication

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
    home = Path(tempfile.mkdtemp(prefix="lookout-shots-"))
    opened = open_session(info.client_config(), info.credentials(), home, local_cache=False)
    session = opened.session
    settings = ConsoleSettings("shots", QSettings(str(home / "c.ini"), QSettings.Format.IniFormat))
    apply_theme(app, "dark")
    window = MainWindow(session, settings)
    window.show()
    await session.start()

    async def until(cond: object, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not cond():  # type: ignore[operator]
            if loop.time() > end:
                raise TimeoutError("the demo did not get there in time")
            await asyncio.sleep(0.2)

    async def grab(name: str) -> None:
        await window.settle()
        window.grab().save(str(OUT / name))
        print(f"wrote docs/images/{name}", flush=True)

    try:
        await until(lambda: session.status.state is State.LIVE)
        await until(lambda: len(session.reports) >= 30)
        await asyncio.sleep(3)
        await grab("workspace.png")

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
        await grab("report-and-chat.png")

        lat, lon = PRESTON
        d = 0.012
        area = m.Polygon(
            coordinates=[
                (lon - d, lat - d),
                (lon + d, lat - d * 0.6),
                (lon + d * 0.8, lat + d),
                (lon - d * 0.7, lat + d * 0.9),
            ]
        )
        window.map.area_drawn.emit(area)
        composer = window.alerts.composer
        assert composer is not None
        composer.template.setCurrentIndex(max(0, composer.template.findText("Burglary warning")))
        composer.request_count()
        await until(lambda: composer.last_count is not None)
        await asyncio.sleep(0.5)
        window.grab().save(str(OUT / "alert-composer.png"))  # docked beside the map
        print("wrote docs/images/alert-composer.png", flush=True)
        preview = composer.review()  # Send opens the preview first
        assert preview is not None
        await until(lambda: preview.count is not None or preview.count_error is not None)
        await asyncio.sleep(0.5)
        preview.grab().save(str(OUT / "alert-preview.png"))
        print("wrote docs/images/alert-preview.png", flush=True)
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
        await grab("alert-progress.png")

        dash_dock = window.dashboard.parentWidget()
        dash_dock.raise_()
        window.resizeDocks([dash_dock], [320], Qt.Orientation.Vertical)  # a taller look
        await asyncio.sleep(3)
        window.dashboard.redraw()
        await grab("dashboard.png")

        window.resizeDocks([dash_dock], [160], Qt.Orientation.Vertical)
        apply_theme(app, "light")
        await asyncio.sleep(1)
        await grab("workspace-light.png")
    finally:
        window.close()
        await opened.close()
        await asyncio.to_thread(demo.stop)


def main() -> None:
    run_in_qt(shoot)


if __name__ == "__main__":
    main()
