"""The whole console against a real relay over TLS: a dispatcher's shift in one test.

Log in, a citizen's report arrives in the feed and on the map, reply in chat and see it
delivered; 50 reports a second arrive while the selected row and the row under the
pointer stay put; a click on a single map marker selects its report; draw an area, see
the recipient count, send through the preview, see delivered counts rise; close a report
with a reason and reopen it; then
the link drops: the status bar says so, an action waits in the outbox, and drains once the
link is back. The asyncio loop is qasync's, so Qt (and the map's QtWebEngine page) and the
client run together exactly as in `lookout`.

Then the `lookout` command itself, as a user runs it, each in a child process (its own
QApplication, config and temp directories): `--demo` with a screenshot; signing in through
the login dialog, refused once; `--forget-relay`; and the argument errors. This file is
also that child's script for the login (`python test_app_live.py login DIR`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":  # the child: the repository is its import root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
import qasync
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QEnterEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from backend_client import messages as m
from backend_client.state import State
from backend_client.version import lookout_version
from console.main_window import MainWindow
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from tests.conftest import PASSWORD, start_relay
from tests.support.clients import make_client
from tests.support.fault_proxy import FaultProxy
from tests.support.flows import PRESTON, device, report
from tests.support.peer import Peer, next_id, wait_until
from tests.support.totp import fresh_code

pytestmark = pytest.mark.gui


def test_a_dispatchers_shift_end_to_end(qapp, tmp_path: Path) -> None:
    """Run on qasync's loop, as `lookout` does, so Qt (and the map page) and asyncio interleave."""
    qapp.setQuitOnLastWindowClosed(False)  # closing a window is not quitting
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(_shift(tmp_path), timeout=180))
    finally:
        loop.close()  # stops qasync's executor threads (QThreads must not outlive the test)
        asyncio.set_event_loop(None)


def _box(d: float = 0.02) -> m.Polygon:
    lat, lon = PRESTON
    return m.Polygon(
        coordinates=[(lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d)]
    )


def lat_of(i: int) -> float:
    """Reports spread over Preston (not on one point, which would always cluster)."""
    return PRESTON[0] + 0.004 * ((i % 7) - 3) + 0.0003 * i


def lon_of(i: int) -> float:
    return PRESTON[1] + 0.006 * ((i % 5) - 2) - 0.0002 * i


async def _flood(phone: Peer, n: int, per_s: float) -> None:
    """`n` reports at `per_s` a second from one phone, as the street sends them."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(n):
        await report(phone, text=f"flood {i}", lat=lat_of(100 + i), lon=lon_of(100 + i))
        await asyncio.sleep(max(0.0, start + (i + 1) / per_s - loop.time()))


async def _js(window: MainWindow, script: str) -> object:
    """A script's value from the map page, awaited on qasync's loop."""
    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    window.map.run_js(script, lambda value: done.done() or done.set_result(value))
    return await asyncio.wait_for(done, timeout=10)


async def _shift(tmp_path: Path) -> None:
    relay = await start_relay(tmp_path / "relay", counts_interval_s=0.1)
    proxy = FaultProxy("127.0.0.1", relay.relay.port)  # type: ignore[attr-defined]
    await proxy.start()
    session = ConsoleSession(make_client(relay, tmp_path, "dana", url=proxy.url, backoff_cap=1.0))
    settings = ConsoleSettings(
        "dana", QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    )
    window = MainWindow(session, settings)
    window.show()
    phone = None
    try:
        await session.start()
        await wait_until(lambda: session.status.state is State.LIVE, timeout=20)
        assert "Live" in window.status.connection.text()
        about = window.show_about()  # Help > About: the version, as plain text
        assert about.textFormat() == Qt.TextFormat.PlainText
        assert f"Lookout {lookout_version()}" in about.text() and "dana" in about.text()
        about.close()

        # a citizen reports; it reaches the feed, the map and the session
        phone, _ = await device(relay, categories=("burglary",))
        acc = await report(phone, text="Someone climbing into the back of no. 12 <b>now</b>")
        await wait_until(lambda: acc.report_id in session.reports, timeout=10)
        await wait_until(lambda: window.feed.model.rowCount() >= 1, timeout=10)
        await window.map.settle()

        # reply in chat: queued, then sent, then delivered when the phone acknowledges
        window._select(acc.report_id)
        window.chat.compose.setPlainText("Police are on the way. Stay inside.")
        window.chat.send()
        push = await phone.wait_for(lambda x: isinstance(x, m.ChatDeliver))
        assert isinstance(push, m.ChatDeliver) and push.message.text.startswith("Police")
        await phone.request(
            m.ChatReceipt(id=next_id(), message_ids=[push.message.message_id], status="delivered")
        )
        thread = lambda: session.chats.get(acc.report_id, [])  # noqa: E731
        await wait_until(
            lambda: any(
                x.message_id == push.message.message_id and x.status == "delivered"
                for x in thread()
            ),
            timeout=10,
        )

        # 50 reports a second from the street while the dispatcher works: the selected
        # row and the row under the pointer stay where they are (issue 13)
        for i in range(12):
            await report(phone, text=f"street report {i}", lat=lat_of(i), lon=lon_of(i))
        await wait_until(lambda: window.feed.model.rowCount() >= 13, timeout=10)
        await window.map.settle()
        feed, table = window.feed, window.feed.table
        feed.select_report(acc.report_id)
        selected = window.feed.model.row_of(acc.report_id)
        assert selected is not None
        selected_y = table.visualRect(feed.model.index(selected, 0)).y()
        pointer = QPoint(200, table.rowViewportPosition(3) + 5)  # over the 4th row
        vp = table.viewport()
        QApplication.sendEvent(
            vp, QEnterEvent(QPointF(pointer), QPointF(pointer), QPointF(pointer))
        )
        under = feed.model.report_at(table.indexAt(pointer).row())
        assert under is not None
        rows_before = feed.model.rowCount()
        flood = asyncio.create_task(_flood(phone, 100, per_s=50.0))
        while not flood.done():
            await asyncio.wait({flood}, timeout=0.05)  # look again every 50 ms meanwhile
            now_under = feed.model.report_at(table.indexAt(pointer).row())
            assert now_under is not None and now_under.report_id == under.report_id
            row = feed.model.row_of(acc.report_id)
            assert row is not None
            assert table.visualRect(feed.model.index(row, 0)).y() == selected_y
            assert feed.current_report().report_id == acc.report_id  # type: ignore[union-attr]
        await flood
        # a short list cannot scroll to keep the rows still: the reports waited (counted)
        # while the pointer rested on it, and come in when it leaves
        assert feed.pending_new() > 0
        QApplication.sendEvent(vp, QEvent(QEvent.Type.Leave))
        await wait_until(lambda: feed.model.rowCount() >= rows_before + 100, timeout=15)
        assert feed.pending_new() > 50 and "new report" in feed.new_bar.text()
        feed.new_bar.click()  # to the newest, and the count clears
        assert table.verticalScrollBar().value() == 0 and feed.pending_new() == 0

        # a click on a single marker on the map selects its report in the feed
        await window.map.settle()
        target = acc.report_id
        feed.select_report(under.report_id)
        await _js(
            window,
            f"LookoutMap.map().setView([{PRESTON[0]}, {PRESTON[1]}], 18, {{animate: false}}); 1",
        )
        await window.map.settle()
        where = await _js(
            window,
            "JSON.stringify(LookoutMap.map().latLngToContainerPoint("
            f"LookoutMap.markerFor('{target}').getLatLng()))",
        )
        at = json.loads(str(where))
        view = window.map.view.focusProxy()
        assert view is not None
        QTest.mouseClick(
            view,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            QPoint(round(at["x"]), round(at["y"])),
        )
        await wait_until(
            lambda: (r := feed.current_report()) is not None and r.report_id == target, timeout=10
        )
        assert window.detail.report_id == target  # and the Report pane shows it

        # draw an area, see the count, send, see delivered climb
        window.map.area_drawn.emit(_box())
        composer = window.alerts.composer
        assert composer is not None
        composer.template.setCurrentIndex(composer.template.findText("Burglary warning"))
        composer.request_count()
        await wait_until(lambda: composer.last_count is not None, timeout=10)
        assert composer.reach.text() == "Reaches 1 phone"
        # Send goes through the preview: it asks the relay again, and sends only on its
        # own Send button (Enter goes back to the composer)
        composer.headline.setText("Burglaries in Preston centre tonight")
        preview = composer.review()
        assert preview is not None and preview.back_button.isDefault()
        await wait_until(lambda: preview.count is not None, timeout=10)
        assert preview.count is not None and preview.count.recipients == 1
        assert "Burglaries in Preston centre tonight" in preview.values["Headline"].text()
        assert session.client.outbox.count_pending() == 0  # nothing sent yet
        if preview.confirm.isVisible():
            preview.confirm.setChecked(True)
        assert preview.send_button.isEnabled()
        preview.send_button.click()
        alert_push = await phone.wait_for(lambda x: isinstance(x, m.AlertDeliver))
        assert isinstance(alert_push, m.AlertDeliver)
        await phone.request(
            m.AlertAck(id=next_id(), alert_id=alert_push.alert.alert_id, status="delivered")
        )
        await wait_until(
            lambda: (
                session.alerts.get(alert_push.alert.alert_id) is not None
                and session.alerts[alert_push.alert.alert_id].delivered == 1
            ),
            timeout=10,
        )
        assert window.alerts.model.book.at(0).delivered == 1

        # the link drops: the state changes, an action waits in the outbox, then drains
        proxy.refuse()
        proxy.reset_all()
        await wait_until(lambda: session.status.state is State.BACKING_OFF, timeout=15)
        assert (
            "Reconnecting" in window.status.connection.text()
            or "Offline" in window.status.connection.text()
        )
        window.feed.select_report(acc.report_id)
        window.feed.claim()
        assert session.client.outbox.count_pending() == 1
        await wait_until(lambda: "1" in window.status.queued.text(), timeout=5)
        proxy.heal()
        await wait_until(lambda: session.status.state is State.LIVE, timeout=20)
        await wait_until(lambda: session.client.outbox.count_pending() == 0, timeout=10)
        await wait_until(lambda: session.reports[acc.report_id].claimed_by == "dana", timeout=10)
        await wait_until(
            lambda: (
                (r := window.feed.model.report(acc.report_id)) is not None
                and r.claimed_by == "dana"
            ),
            timeout=5,
        )

        # close it with a reason (the dialog's quick picks), then reopen it
        window.feed.select_report(acc.report_id)
        window.feed.close_report()
        close = window.feed.action_bar.close_dialog
        assert close is not None
        close.choose("Resolved")
        close.ok.click()
        await wait_until(lambda: session.reports[acc.report_id].status == "closed", timeout=10)
        assert session.reports[acc.report_id].close_reason == "Resolved"
        window.feed.show_closed.setChecked(True)  # closed jobs leave the list unless shown
        await wait_until(
            lambda: (
                (r := window.feed.model.report(acc.report_id)) is not None and r.status == "closed"
            ),
            timeout=5,
        )
        window.feed.select_report(acc.report_id)
        window.feed.reopen()
        await wait_until(lambda: session.reports[acc.report_id].status != "closed", timeout=10)
        assert session.reports[acc.report_id].close_reason is None

        # Session > Change password: the relay's reason for a weak one is shown as it
        # says it; a good one is changed and this session goes on
        dialog = window.change_password()
        dialog.current.setText(PASSWORD)
        for field in (dialog.new, dialog.again):
            field.setText("Password123!")
        dialog.totp.setText("000000")
        dialog.submit()
        await wait_until(lambda: "commonly used" in dialog.message.text(), timeout=10)
        assert dialog.ok.isEnabled() and dialog.totp.text() == ""
        for field in (dialog.new, dialog.again):
            field.setText("quiet orchard lamplight 42")
        dialog.totp.setText(fresh_code(relay.totp["dana"]))
        dialog.submit()
        await wait_until(lambda: dialog.done_ok, timeout=10)
        assert "Password changed" in dialog.message.text()
        assert dialog.current.text() == "" and session.status.state is State.LIVE
        dialog.close()

        # Session > Sign out: the window closes as signed out, and closing the session
        # logs out on the relay: the token resumes nowhere afterwards
        token = session.client.token
        assert token is not None
        closed: list[bool] = []
        window.closed.connect(lambda: closed.append(True))
        window.sign_out()
        assert window.signed_out and closed == [True]
        await session.stop()
        peer = await Peer.open(relay.officer_url, relay.ssl, officer=True)
        refused = await peer.request(m.Resume(id=next_id(), token=token))
        await peer.close()
        assert isinstance(refused, m.Error) and refused.code == "bad_credentials", refused
    finally:
        window.close()
        await session.stop()
        await proxy.close()
        await relay.relay.stop()  # type: ignore[attr-defined]
        if phone is not None:
            await phone.close()


# ---------------------------------------------------------------- the `lookout` command

ROOT = Path(__file__).resolve().parents[2]


def _child_env(tmp_path: Path) -> dict[str, str]:
    """Settings, data and temp files of a child under tmp_path, never the user's own."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TMPDIR": str(tmp_path / "tmp"),
        "QT_QPA_PLATFORM": "offscreen",
        "QTWEBENGINE_DISABLE_SANDBOX": "1",
    }


def _lookout(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`lookout ARGS`, as the installed command runs it, in a child of its own."""
    return subprocess.run(
        [sys.executable, "-m", "demo.cli", *args],
        cwd=ROOT,
        env=_child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_lookout_demo_renders_the_workspace_and_cleans_up(tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "out.png"
    done = _lookout(
        tmp_path, "--demo", "--devices", "5", "--screenshot", str(shot), "--quit-after", "4"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"screenshot written to {shot}" in done.stdout
    with Image.open(shot) as image:
        # the whole main window (1600x960), on the 1600x1000 offscreen screen, not Qt's 800x600
        assert image.width >= 1500 and image.height >= 900, image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 100, "the screenshot is (nearly) blank"
    tmp = tmp_path / "tmp"
    assert not list(tmp.glob("lookout-demo-*")), "the embedded relay's data was left behind"
    homes = list(tmp.glob("lookout-console-*"))
    assert len(homes) == 1 and (homes[0] / "outbox.sqlite").exists()
    settings = (tmp_path / "config" / "Lookout" / "console.conf").read_text()
    assert "demo\\window\\geometry" in settings  # signed in as the demo dispatcher, layout saved


@pytest.mark.slow
def test_lookout_signs_in_through_the_dialog_after_a_refusal(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, __file__, "login", str(tmp_path)],
        cwd=ROOT,
        env=_child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen["refused"] and seen["refused"] != "Contacting the relay…"
    assert seen["code_cleared"] is True  # each code works once: the dialog asks for a new one
    assert seen["run"] == 0
    assert seen["title"] == "Lookout — dana"
    assert (tmp_path / "home" / "outbox.sqlite").exists()


async def _sign_in_refused_once(tmp_path: Path) -> dict[str, object]:
    """Run the console's own `run` without a session source, and be the officer at its
    login dialog: a wrong code first, then the right one."""
    from PySide6.QtWidgets import QApplication

    from backend_client.client import fetch_fingerprint
    from console import app as console_app
    from console.login.dialog import LoginDialog, TrustStore
    from tests.conftest import PASSWORD
    from tests.support.totp import fresh_code

    relay = await start_relay(tmp_path / "relay")
    url = relay.relay.url  # type: ignore[attr-defined]
    TrustStore().pin(url, await fetch_fingerprint(url))  # confirmed before, as on a 2nd day
    argv = ["--relay", url, "--user", "dana", "--data-dir", str(tmp_path / "home")]
    args, source = console_app.parse_args([*argv, "--quit-after", "1"])
    assert source is None
    app = QApplication.instance()
    run = asyncio.ensure_future(console_app.run(args, app))  # type: ignore[arg-type]
    seen: dict[str, object] = {}
    try:

        def dialog() -> LoginDialog | None:
            shown = [w for w in app.topLevelWidgets() if isinstance(w, LoginDialog)]  # type: ignore[union-attr]
            return shown[0] if shown and shown[0].isVisible() else None

        await wait_until(lambda: dialog() is not None, timeout=20)
        first = dialog()
        assert first is not None
        first.password.setText(PASSWORD)
        first.totp.setText("000000")
        first._submit()
        await wait_until(
            lambda: first.isVisible() and first.error.text() not in ("", "Contacting the relay…"),
            timeout=30,
        )
        seen["refused"] = first.error.text()
        seen["code_cleared"] = first.totp.text() == ""
        first.totp.setText(fresh_code(relay.totp["dana"]))
        first._submit()

        def workspace() -> str | None:
            titles = [w.windowTitle() for w in app.topLevelWidgets() if w.isVisible()]  # type: ignore[union-attr]
            return next((t for t in titles if t.startswith("Lookout — ") and "sign" not in t), None)

        await wait_until(lambda: workspace() is not None, timeout=30)
        seen["title"] = workspace()
        seen["run"] = await asyncio.wait_for(run, 60)
    finally:
        run.cancel()
        await relay.relay.stop()  # type: ignore[attr-defined]
    return seen


def _login_child(tmp_path: Path) -> int:
    from console.app import _offscreen_screen

    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_offscreen_screen()}"
    from PySide6.QtWidgets import QApplication

    import console.map.tiles  # noqa: F401 - its URL scheme must be registered before the app

    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        seen = loop.run_until_complete(_sign_in_refused_once(tmp_path))
    print(json.dumps(seen))
    return 0


def test_lookout_forget_relay(tmp_path: Path) -> None:
    assert _lookout(tmp_path, "--forget-relay", "wss://x:1").stdout == (
        "no certificate was pinned for wss://x:1\n"
    )
    pin = "from console.login.dialog import TrustStore; TrustStore().pin('wss://x:1', 'AB:CD')"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", pin], env=env, check=True, timeout=60)
    done = _lookout(tmp_path, "--forget-relay", "wss://x:1")
    assert done.returncode == 0
    assert done.stdout == (
        "forgot the certificate pinned for wss://x:1; you will be asked to confirm the new one\n"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--demo", "--scenario", "nonsense"], "lookout: error: No scenario called 'nonsense'"),
        (["--demo", "--devices", "0"], "lookout: error: --devices must be at least 1"),
        (["--devices", "5"], "lookout: error: --devices and --scenario only apply with --demo"),
        (["--scenario", "burglary"], "lookout: error: --devices and --scenario only apply"),
        (["--theme", "pink"], "lookout: error: argument --theme: invalid choice: 'pink'"),
    ],
)
def test_lookout_refuses_bad_arguments(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from demo.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err


def test_lookout_help_lists_the_demo_and_console_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from demo.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lookout [-h] [--version] [--demo] [--devices DEVICES]")
    for option in ("--screenshot", "--quit-after", "--theme", "--relay", "--user", "--data-dir"):
        assert option in out


def test_lookout_version(capsys: pytest.CaptureFixture[str]) -> None:
    from demo.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"lookout {lookout_version()}\n"


def test_the_console_alone_knows_no_demo(capsys: pytest.CaptureFixture[str]) -> None:
    from console.app import main

    with pytest.raises(SystemExit) as exit_:
        main(["--demo"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --demo" in capsys.readouterr().err


if __name__ == "__main__":
    assert sys.argv[1] == "login", sys.argv
    raise SystemExit(_login_child(Path(sys.argv[2])))


def test_sign_out_returns_to_the_login_dialog_and_quit_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`run`'s loop: a workspace left by Sign out asks for a login again; one left by Quit
    ends the program; closing the login dialog ends it with 1."""
    from console import app as console_app

    logins: list[str] = []
    outcomes = [console_app.SIGNED_OUT, 0]

    async def log_in(_args: object) -> object:
        logins.append("asked")
        return object()

    async def workspace(_args: object, _app: object, _opened: object) -> int:
        return outcomes.pop(0)

    monkeypatch.setattr(console_app, "_log_in", log_in)
    monkeypatch.setattr(console_app, "_workspace", workspace)
    monkeypatch.setattr("console.theme.apply_theme", lambda *_a: None)
    args = console_app.parse_args([])[0]
    assert asyncio.run(console_app.run(args, object())) == 0  # type: ignore[arg-type]
    assert logins == ["asked", "asked"]

    async def gives_up(_args: object) -> None:
        return None

    monkeypatch.setattr(console_app, "_log_in", gives_up)
    assert asyncio.run(console_app.run(args, object())) == 1  # type: ignore[arg-type]


def test_a_shutdown_that_hangs_ends_with_every_stack_not_a_stuck_process() -> None:
    """The deadline `main` arms once the window closes (or the screenshot is written)."""
    code = (
        "import threading, time\n"
        "from console import app\n"
        "app._deadline_armed = True\n"
        "app.SHUTDOWN_DEADLINE_S = 0.5\n"
        "app._shutting_down()\n"
        "threading.Thread(target=time.sleep, args=(60,), name='stuck').start()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done
    # every thread's stack, the stuck one too: what a hung shutdown was waiting for
    assert done.stderr.count("most recent call first") >= 2, done.stderr
