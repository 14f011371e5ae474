"""The console's composition root: builds the loop, opens the session, wires it to the main
window, and shuts down in reverse order. Feature logic lives in the feature folders.

The console knows nothing of the relay or the simulator. A program above it (the `demo`
package, whose `main` is the `lookout` command) passes an `Extension` to `main`: it adds
its own arguments, checks them, and may hand back a `SessionSource`, a relay and an officer
that need no login dialog. Everything after that (the session, the window, the screenshot,
the shutdown) runs through this one root, whichever way the session was found; without an
extension `main` is the plain console, signing in through the login dialog.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import faulthandler
import gc
import json
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from backend_client.version import lookout_version

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from backend_client.client import RelayClient
    from backend_client.state import State
    from console.compose import OpenedSession
    from console.evidence.early import StagedVerification
    from console.login.dialog import LoginResult
    from console.session import ConsoleSession

os.environ.setdefault(
    "QTWEBENGINE_CHROMIUM_FLAGS", "--disable-background-networking --disable-component-update"
)
if os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox on
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")


class SessionSource(Protocol):
    """Where to sign in, found without the login dialog (e.g. an embedded relay)."""

    async def open(self) -> LoginResult:
        """Ready the relay and say how to reach it, as the officer and where files live."""
        ...

    async def close(self) -> None:
        """Called once the session is closed, whatever happened after `open` returned."""
        ...


class Refused(Exception):
    """A companion will not run beside this sign-in: why, in the user's words (shown in
    the login dialog, which asks again)."""


#: a yes/no question to the officer: (title, question) -> the answer
Ask = Callable[[str, str], Awaitable[bool]]


@runtime_checkable
class SessionCompanion(Protocol):
    """Something that runs beside a session the officer signs in to through the login
    dialog, as without a source (e.g. `lookout --run-pilot`: a real pilot's live run)."""

    async def attach(self, session: ConsoleSession, ask: Ask) -> object:
        """Once signed in and live: a `RunControl` for the run panel (or None), or
        `Refused` for this account or relay."""
        ...

    async def close(self) -> None:
        """Called once the session is closed, if `attach` returned."""
        ...


class Extension(Protocol):
    """What a program above the console adds to the command line."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def session_source(
        self, parser: argparse.ArgumentParser, args: argparse.Namespace
    ) -> SessionSource | SessionCompanion | None:
        """Check the added arguments (`parser.error` on bad ones); a source when they ask
        for one, else None for the login dialog. Must not start anything yet."""
        ...


def parse_args(
    argv: list[str] | None, extension: Extension | None = None
) -> tuple[argparse.Namespace, SessionSource | SessionCompanion | None]:
    p = argparse.ArgumentParser(prog="lookout", description="Lookout control-room console.")
    p.add_argument("--version", action="version", version=f"%(prog)s {lookout_version()}")
    if extension is not None:
        extension.add_arguments(p)
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
    p.add_argument(
        "--evidence",
        type=Path,
        metavar="FILE",
        help="open a signed evidence package in the analyst's workspace (offline, read-only)",
    )
    p.add_argument(
        "--fingerprint",
        metavar="F",
        help="with --evidence: the signer's fingerprint you were given, to pin it",
    )
    p.add_argument(
        "--parent-fingerprint",
        metavar="F",
        help="with --evidence, for a disclosure package: the fingerprint of the relay's "
        "evidence key that signed its parent package, to pin it",
    )
    p.add_argument(
        "--analyst",
        metavar="NAME",
        help="with --evidence: who the notes and the media access log name (default: your "
        "user name)",
    )
    p.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="open a pilot plan in the inspector's workspace (offline); a file that does "
        "not exist yet starts a new plan that is saved there",
    )
    p.add_argument("--relay", help="relay address, e.g. wss://relay.example:8765")
    p.add_argument("--user", help="user name to prefill in the login dialog")
    p.add_argument("--data-dir", type=Path, help="where the console keeps its cache and outbox")
    p.add_argument(
        "--forget-relay", metavar="URL", help="forget the pinned certificate of a relay, then exit"
    )
    args = p.parse_args(argv)
    source = extension.session_source(p, args) if extension is not None else None
    if args.fingerprint and not args.evidence:
        p.error("--fingerprint only applies with --evidence")
    if args.parent_fingerprint and not args.evidence:
        p.error("--parent-fingerprint only applies with --evidence")
    if args.analyst and not args.evidence:
        p.error("--analyst only applies with --evidence")
    if args.evidence:
        if source is not None or args.relay or args.user:
            p.error("--evidence opens a package offline; it takes no relay, login or demo")
        if not args.evidence.is_file():
            p.error(f"--evidence: no such file: {args.evidence}")
    if args.plan:
        if args.evidence:
            p.error("--plan and --evidence open different workspaces; give one")
        if source is not None or args.relay or args.user:
            p.error("--plan edits a plan offline; it takes no relay, login or demo")
        if args.plan.is_dir() or not args.plan.parent.is_dir():
            p.error(f"--plan: not a file in an existing folder: {args.plan}")
    return args, source


#: seconds the shutdown (logout, the embedded relay, Qt's threads) may take before the
#: process prints every thread's stack to stderr and exits 1, rather than hang for ever
SHUTDOWN_DEADLINE_S = 60.0
#: only `main` arms it: it is the process (the deadline stays armed through interpreter
#: exit, where threads are joined), while tests drive `run` inside their own process
_deadline_armed = False


def _shutting_down() -> None:
    """From here the process only closes down (the window closed or the screenshot is
    written): a hang in any of it ends in stacks on stderr and exit 1, never a process
    that outlives its window."""
    if _deadline_armed:
        faulthandler.dump_traceback_later(SHUTDOWN_DEADLINE_S, exit=True)


def _not_shutting_down() -> None:
    """Signed out, back at the login dialog: the deadline no longer applies."""
    if _deadline_armed:
        faulthandler.cancel_dump_traceback_later()


def main(argv: list[str] | None = None, extension: Extension | None = None) -> int:
    global _deadline_armed
    args, source = parse_args(argv, extension)
    _deadline_armed = True
    if args.forget_relay:
        from console.login.dialog import TrustStore

        if TrustStore().forget(args.forget_relay):
            print(
                f"forgot the certificate pinned for {args.forget_relay}; you will be asked to confirm the new one"
            )
        else:
            print(f"no certificate was pinned for {args.forget_relay}")
        return 0
    verification = None
    if args.evidence:  # before Qt's import: the package's hashing overlaps it
        from console.evidence.early import start_verification

        # its media are hashed once the workspace has shown the package
        verification = start_verification(
            args.evidence,
            args.fingerprint,
            parent_fingerprint=args.parent_fingerprint,
            hold_media=True,
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("websockets", "alembic"):
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
    import qasync  # type: ignore[import-untyped]
    from PySide6.QtWidgets import QApplication

    import console.map.tiles  # noqa: F401 - its URL scheme must be registered before the app

    QApplication.setApplicationName("Lookout")
    QApplication.setOrganizationName("Lookout")
    # the Wayland app id: the desktop entry installer/deb.py installs, for its icon and name
    QApplication.setDesktopFileName("org.lookout.Console")
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # run() decides when to stop, after a clean shutdown
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        if args.evidence:
            code: int = loop.run_until_complete(run_evidence(args, app, verification))
        elif args.plan:
            code = loop.run_until_complete(run_plan(args, app))
        else:
            code = loop.run_until_complete(run(args, app, source))
    return code


async def run_evidence(
    args: argparse.Namespace, app: QApplication, verification: StagedVerification | None = None
) -> int:
    """The analyst's workspace over one package: no session, no relay, no login;
    `verification` is the package's, if main already started it."""
    from console.settings import ConsoleSettings
    from console.theme import apply_theme
    from console.workspace_window import WorkspaceWindow

    settings = ConsoleSettings("evidence-workspace")
    apply_theme(app, args.theme or settings.theme())
    window = WorkspaceWindow(
        args.evidence,
        settings,
        fingerprint=args.fingerprint,
        parent_fingerprint=args.parent_fingerprint,
        analyst=args.analyst,
        verification=verification,
    )
    try:
        window.show()
        window.start()
        await _until_done(args, window)
    finally:
        _shutting_down()
        window.close()
        await window.session.stop()
    return 0


async def _until_done(args: argparse.Namespace, window: Any) -> None:
    """Keep a window up as the command line says: for `--quit-after` seconds (and grab
    `--screenshot` then), or until it is closed. `window` has `closed` and `settle()`."""
    done = asyncio.Event()
    window.closed.connect(done.set)
    if args.quit_after is None and args.screenshot is None:
        await done.wait()
        return
    await _wait_for_traffic(10.0 if args.quit_after is None else args.quit_after)
    if args.screenshot is not None:
        await window.settle()
        window.grab().save(str(args.screenshot))
        print(f"screenshot written to {args.screenshot}", flush=True)


async def run_plan(args: argparse.Namespace, app: QApplication) -> int:
    """The inspector's workspace over one plan file (new if it does not exist yet): no
    session, no relay, no login."""
    from backend_client.pilots import PlanError
    from console.inspector_window import InspectorWindow, open_or_new
    from console.settings import ConsoleSettings
    from console.theme import apply_theme

    try:
        edit = open_or_new(args.plan)
    except PlanError as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        return 2
    settings = ConsoleSettings("inspector")
    apply_theme(app, args.theme or settings.theme())
    window = InspectorWindow(edit, settings)
    try:
        window.show()
        await _until_done(args, window)
    finally:
        _shutting_down()
        window.close_without_asking()
        await window.session.stop()
    return 0


async def run(
    args: argparse.Namespace,
    app: QApplication,
    source: SessionSource | SessionCompanion | None = None,
) -> int:
    """Sign in (through `source`, else the login dialog), then the workspace until done."""
    from console.compose import open_session
    from console.theme import apply_theme

    if source is None or isinstance(source, SessionCompanion):
        companion = source
        attached: list[object] = []  # what the companion attached to this sign-in

        async def admit(opened: OpenedSession) -> None:
            assert companion is not None
            attached[:] = [await companion.attach(opened.session, _ask)]

        while True:  # Sign out closes the session (logging out) and asks again
            apply_theme(app, args.theme or "dark")
            opened = await (_log_in(args) if companion is None else _log_in(args, admit))
            if opened is None:
                return 1  # the officer closed the login dialog
            try:
                code = await _workspace(args, app, opened, *attached)
            finally:
                if companion is not None:
                    await companion.close()
            if code != SIGNED_OUT:
                return code
            _not_shutting_down()
    login = await source.open()
    try:
        opened = open_session(login.config, login.credentials, args.data_dir or login.data_dir)
        await opened.session.start()
        code = await _workspace(args, app, opened, getattr(source, "run_control", None))
        return 0 if code == SIGNED_OUT else code  # a session source has no login to go back to
    finally:
        await source.close()


async def _log_in(
    args: argparse.Namespace, admit: Callable[[OpenedSession], Awaitable[None]] | None = None
) -> OpenedSession | None:
    """Ask until a sign-in is not refused for good (nor by `admit`, a companion's check
    once signed in); None when the officer gives up."""
    from backend_client.state import State
    from console.compose import open_session
    from console.login.dialog import LoginDialog

    dialog = LoginDialog(relay=args.relay, user=args.user)
    while True:
        result = await dialog.ask()
        if result is None:
            return None
        opened = open_session(result.config, result.credentials, args.data_dir or result.data_dir)
        await opened.session.start()
        if await _first_outcome(opened.session.client) is State.FATAL:
            dialog.failed(opened.session.status.reason)
            await opened.close()
            continue
        try:
            if admit is not None:
                await admit(opened)
        except Refused as exc:
            dialog.failed(str(exc))
            await opened.close()
            continue
        return opened  # live, or the relay is unreachable: work from the cache until it returns


async def _ask(title: str, question: str) -> bool:
    """A yes/no question in a window of its own, answered without blocking the loop."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    box = QMessageBox(QMessageBox.Icon.Question, title, question, yes | no)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(no)
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def answered(_code: int) -> None:
        if not answer.done():
            answer.set_result(box.clickedButton() is box.button(yes))

    box.finished.connect(answered)
    box.open()
    try:
        return await answer
    finally:
        box.deleteLater()


#: what `_workspace` returns when the officer signed out rather than quit
SIGNED_OUT = -1


async def _workspace(
    args: argparse.Namespace, app: QApplication, opened: OpenedSession, run: object = None
) -> int:
    """The main window over an open session, until it is closed or the screenshot is taken;
    the session is closed on the way out (which logs out on the relay). Returns 0, or
    `SIGNED_OUT`. `run`, a session source's live pilot run (a `RunControl`), gets the run
    panel."""
    from backend_client.pilots import RunControl
    from console.main_window import MainWindow
    from console.settings import ConsoleSettings
    from console.theme import apply_theme

    session = opened.session
    window: MainWindow | None = None
    try:
        settings = ConsoleSettings(session.client.credentials.username)
        apply_theme(app, args.theme or settings.theme())
        window = MainWindow(session, settings)
        if isinstance(run, RunControl):
            from console.pilots.run_panel import RunPanel

            panel = RunPanel(run)
            panel.prompt_shown.connect(window.status.show_notice)
            window.add_panel("Run", panel)
        session.load_cached()
        # what the cache held is long-lived: keep the collector from rescanning it (at 1M
        # reports a full collection otherwise pauses the GUI for 100-400 ms)
        gc.collect()
        gc.freeze()
        window.show()
        await _until_done(args, window)
    finally:
        _shutting_down()
        if window is not None:
            window.save_layout()
            window.close()
        await opened.close()
    return SIGNED_OUT if window is not None and window.signed_out else 0


def _offscreen_screen(width: int = 1600, height: int = 1000) -> Path:
    """Qt's offscreen screen is 800x600 by default: too small to judge a control-room layout.

    A file of this process's own (O_EXCL, removed at exit): a fixed name in the shared
    temporary directory fails for the second user whose headless run finds the first's."""
    fd, name = tempfile.mkstemp(prefix=f"lookout-offscreen-{width}x{height}-", suffix=".json")
    os.close(fd)
    path = Path(name)
    atexit.register(path.unlink, missing_ok=True)
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


async def _first_outcome(client: RelayClient, timeout: float = 20.0) -> State:
    """Wait until the first connection attempt went live, failed for good, or is backing off."""
    from backend_client.state import State

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if client.status.state in (State.LIVE, State.FATAL, State.BACKING_OFF):
            break
        await asyncio.sleep(0.05)
    return client.status.state


async def _wait_for_traffic(seconds: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(min(0.25, end - loop.time()))


if __name__ == "__main__":
    raise SystemExit(main())
