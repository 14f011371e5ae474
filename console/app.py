"""`lookout`: the composition root. Builds the loop, wires services to widgets, and shuts
down in reverse order. Feature logic lives in the feature folders, not here."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault(
    "QTWEBENGINE_CHROMIUM_FLAGS", "--disable-background-networking --disable-component-update"
)
if os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox on
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

log = logging.getLogger("lookout")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="lookout", description="Lookout control-room console.")
    p.add_argument(
        "--demo",
        action="store_true",
        help="start an embedded relay with simulated citizens and log in by itself",
    )
    p.add_argument("--devices", type=int, default=60, help="simulated citizens in demo mode")
    p.add_argument("--scenario", default="mixed", help="pilot scenario the demo citizens follow")
    p.add_argument("--screenshot", type=Path, help="write a PNG of the main window, then quit")
    p.add_argument(
        "--quit-after",
        type=float,
        default=None,
        help="seconds of traffic before the screenshot / quitting",
    )
    p.add_argument(
        "--theme",
        choices=["dark", "light"],
        default=None,
        help="colour theme (default: the saved one, else dark)",
    )
    p.add_argument("--relay", help="relay address, e.g. wss://relay.example:8765")
    p.add_argument("--user", help="user name to prefill in the login dialog")
    p.add_argument("--data-dir", type=Path, help="where the console keeps its cache and outbox")
    p.add_argument(
        "--forget-relay", metavar="URL", help="forget the pinned certificate of a relay, then exit"
    )
    args = p.parse_args(argv)
    if not args.demo and (args.devices != 60 or args.scenario != "mixed"):
        p.error("--devices and --scenario only apply with --demo")
    if args.devices < 1:
        p.error("--devices must be at least 1")
    if args.demo:
        from simulator.scenarios import ScenarioError, load

        try:
            load(args.scenario)
        except ScenarioError as exc:
            p.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.forget_relay:
        from console.login.dialog import TrustStore

        if TrustStore().forget(args.forget_relay):
            print(
                f"forgot the certificate pinned for {args.forget_relay}; you will be asked to confirm the new one"
            )
        else:
            print(f"no certificate was pinned for {args.forget_relay}")
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("websockets", "alembic", "relay.db", "simulator"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a headless render still works
    if not (
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        print(
            "lookout: no display (DISPLAY and WAYLAND_DISPLAY are unset). Run it on a desktop, "
            "or headless with --screenshot out.png --quit-after 20 (or QT_QPA_PLATFORM=offscreen).",
            file=sys.stderr,
        )
        return 2
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_offscreen_screen()}"
    import qasync
    from PySide6.QtWidgets import QApplication

    import console.map.tiles  # noqa: F401 - its URL scheme must be registered before the app

    QApplication.setApplicationName("Lookout")
    QApplication.setOrganizationName("Lookout")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # run() decides when to stop, after a clean shutdown
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    code = 0
    with loop:
        try:
            code = loop.run_until_complete(run(args, app))
        finally:
            pass
    return code


async def run(args: argparse.Namespace, app: Any) -> int:
    from backend_client.client import ClientConfig, Credentials, RelayClient
    from backend_client.outbox import Outbox
    from backend_client.state import State
    from console.main_window import MainWindow
    from console.session import ConsoleSession
    from console.settings import ConsoleSettings
    from console.theme import apply_theme

    demo = None
    if args.demo:
        from console.demo import EmbeddedRelay
        from relay.accounts import totp_now

        demo = EmbeddedRelay(devices=args.devices, scenario=args.scenario)
        info = demo.start()
        secret = info.totp_secret
        config = ClientConfig(url=info.url, pin_sha256=info.fingerprint)
        creds = Credentials(info.username, info.password, lambda: totp_now(secret))
        home = args.data_dir or Path(tempfile.mkdtemp(prefix="lookout-console-"))
        home.mkdir(parents=True, exist_ok=True)
        cache = _open_cache(home, creds)
        client = RelayClient(config, creds, Outbox(home / "outbox.sqlite"), sink=cache)
        session = ConsoleSession(client, cache)
        await session.start()
    else:
        from console.login.dialog import LoginDialog

        apply_theme(app, args.theme or "dark")
        dialog = LoginDialog(relay=args.relay, user=args.user)
        while True:
            result = await dialog.ask()
            if result is None:
                return 1
            config, creds = result.config, result.credentials
            home = args.data_dir or result.data_dir
            home.mkdir(parents=True, exist_ok=True)
            cache = _open_cache(home, creds)
            client = RelayClient(config, creds, Outbox(home / "outbox.sqlite"), sink=cache)
            session = ConsoleSession(client, cache)
            await session.start()
            state = await _first_outcome(client)
            if state is not State.FATAL:
                break  # live, or the relay is unreachable: work from the cache until it returns
            dialog.failed(client.status.reason)
            await session.stop()
            if cache is not None:
                cache.close()
    settings = ConsoleSettings(creds.username)
    apply_theme(app, args.theme or settings.theme())
    window = MainWindow(session, settings)
    session.load_cached()
    # what the cache held is long-lived: keep the collector from rescanning it (at 1M reports
    # a full collection otherwise pauses the GUI for 100-400 ms)
    gc.collect()
    gc.freeze()
    window.show()
    done = asyncio.Event()
    window.closed.connect(done.set)
    try:
        if args.quit_after is not None or args.screenshot is not None:
            await _wait_for_traffic(session, args.quit_after or 10.0)
            if args.screenshot is not None:
                await window.settle()
                window.grab().save(str(args.screenshot))
                print(f"screenshot written to {args.screenshot}", flush=True)
        else:
            await done.wait()
    finally:
        window.save_layout()
        window.close()
        await session.stop()
        if cache is not None:
            cache.close()
        if demo is not None:
            await asyncio.to_thread(demo.stop)
    return 0


def _offscreen_screen(width: int = 1600, height: int = 1000) -> Path:
    """Qt's offscreen screen is 800x600 by default: too small to judge a control-room layout."""
    import json

    path = Path(tempfile.gettempdir()) / f"lookout-offscreen-{width}x{height}.json"
    screen = {
        "name": "Offscreen",
        "x": 0,
        "y": 0,
        "width": width,
        "height": height,
        "logicalDpi": 96,
        "logicalBaseDpi": 96,
        "dpr": 1,
    }
    path.write_text(json.dumps({"synchronousWindowSystemEvents": False, "screens": [screen]}))
    return path


async def _first_outcome(client: Any, timeout: float = 20.0) -> Any:
    """Wait until the first connection attempt went live, failed for good, or is backing off."""
    from backend_client.state import State

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if client.status.state in (State.LIVE, State.FATAL, State.BACKING_OFF):
            break
        await asyncio.sleep(0.05)
    return client.status.state


async def _wait_for_traffic(session: Any, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(min(0.25, end - loop.time()))


def _open_cache(home: Path, creds: Any) -> Any:
    try:
        from backend_client.cache import LocalCache, NoKeyAvailable, cache_key
    except ImportError:  # the cache module is optional during development
        return None
    try:
        key = cache_key(
            account=creds.username, passphrase=creds.password, salt_path=home / "cache.salt"
        )
    except NoKeyAvailable as exc:
        log.warning("no local cache: %s", exc)
        return None
    return LocalCache(home / "cache.sqlite", key)


if __name__ == "__main__":
    raise SystemExit(main())
