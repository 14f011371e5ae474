"""The Pilots pane against a real relay on TLS loopback (issue 12, deliverables 3 and 4):
an inspector creates a pilot from a small plan, issues two invite codes (a QR PNG each and
the printable sheet, in a folder of their own), a simulated phone joins with one and the
group's joined count becomes 1 without a refresh (the relay's `pilot.changed`), the pilot
is ended and its data purged after a confirmation that names what goes; a hostile title
stays plain text; a dispatcher's window has no Pilots pane, an inspector's has.

No qasync: the test runs on pytest-asyncio's loop and Qt signals are direct calls on the
same thread. The invitations are written off the GUI thread, so the waits that need their
result let Qt deliver it (`tick=QCoreApplication.processEvents`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QSettings

from backend_client import pilots as p
from backend_client import rules
from backend_client.state import State
from console.main_window import MainWindow
from console.pilots.pilots_panel import JOINED, PilotsPanel
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from relay import admin
from simulator.device import Behaviour, SimDevice, Stats, client_ssl_context
from tests.conftest import PASSWORD, RunningRelay
from tests.support.clients import make_client
from tests.support.console import close_map
from tests.support.peer import wait_until

pytestmark = pytest.mark.gui

PRESTON = p.load(Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml")
HOSTILE = "<b>Pane</b> pilot <img src=x onerror=alert(1)>"
PILOT = "pane-test"


def small_plan(tmp_path: Path) -> Path:
    plan = p.Plan(
        name=PILOT,
        title=HOSTILE,
        timezone="Europe/London",
        area=PRESTON.area,
        days=[p.Day(date=dt.date(2017, 11, 21), start=dt.time(9), end=dt.time(11))],
        groups=[
            p.Group(name="police", role="officer", count=2),
            p.Group(name="students", role="citizen", count=6),
        ],
    )
    path = tmp_path / f"{PILOT}.toml"
    path.write_text(p.dumps(plan), encoding="utf-8")
    return path


def add_inspector(r: RunningRelay) -> None:
    """The suite's accounts have no inspector: add one while the relay runs."""
    engine = admin.open_engine(r.data_dir)
    try:
        r.totp["ivy"] = admin.add_officer(engine, "ivy", "inspector", PASSWORD).totp_secret
    finally:
        engine.dispose()


def processed() -> None:
    QCoreApplication.processEvents()


def officer_session(relay: RunningRelay, tmp_path: Path, name: str) -> ConsoleSession:
    """Not started: the test builds its widgets first, so they see the session go live."""
    return ConsoleSession(make_client(relay, tmp_path, name))


async def test_an_inspector_runs_a_pilot_from_the_pane(
    qapp: Any, relay: RunningRelay, tmp_path: Path
) -> None:
    add_inspector(relay)
    session = officer_session(relay, tmp_path, "ivy")
    panel = PilotsPanel(session, invites_dir=tmp_path / "cards")
    shown: list[bool] = []
    panel.available_changed.connect(shown.append)
    await session.start()
    stop = asyncio.Event()
    phone_run: asyncio.Task[None] | None = None
    try:
        await wait_until(lambda: session.status.state is State.LIVE)
        await wait_until(lambda: shown == [True] and not panel._listing)
        assert panel.message.text().startswith("No pilots on the relay yet")

        dialog = panel.create_from_plan(small_plan(tmp_path))
        assert dialog is not None and dialog.pilot_id.text() == PILOT
        assert "until you end it" in dialog.runs.text()
        dialog.accept()
        await wait_until(lambda: panel.pilot_item(PILOT) is not None)
        item = panel.pilot_item(PILOT)
        assert item is not None
        assert item.text(0) == f"{HOSTILE} ({PILOT})" and item.text(1) == "running"
        assert "&lt;b&gt;Pane&lt;/b&gt;" in item.toolTip(0)  # the tip shows the tags as typed
        assert panel.group_counts(PILOT) == {"police": (2, 0, 0), "students": (6, 0, 0)}
        assert f"Pilot {PILOT} created" in panel.message.text()

        # from here on the counts must come from events alone: count every listing asked for
        listings: list[int] = []
        real_refresh = panel.refresh
        panel.refresh = lambda: (listings.append(1), real_refresh())  # type: ignore[method-assign]

        panel.select(PILOT)
        assert panel.invite_button.isEnabled() and not panel.purge_button.isEnabled()
        invite = panel.invite_selected()
        assert invite is not None
        invite.group.setCurrentIndex(invite.group.findData("students"))
        invite.count.setValue(2)
        assert invite.portal.text().startswith("https://127.0.0.1:")
        assert "once only" in invite.note.text()
        saved: list[Any] = []
        panel.invites_saved.connect(saved.append)
        invite.accept()
        await wait_until(lambda: bool(saved), timeout=30, tick=processed)
        folder = saved[0].folder
        assert folder.parent == tmp_path / "cards" and folder.name.startswith(f"{PILOT}-students-")
        pngs = sorted(folder.glob("*.png"))
        assert len(pngs) == 2 and (folder / "invites.pdf").read_bytes().startswith(b"%PDF")
        assert "once only" in panel.message.text() and "2 invitations saved" in panel.message.text()
        code = pngs[0].stem
        assert len(rules.normalise_invite_code(code)) == rules.INVITE_CODE_LENGTH

        behaviour = Behaviour(categories=["burglary"], lat=53.7645, lon=-2.7085)
        ctx = client_ssl_context(str(relay.relay.ca_path))  # type: ignore[attr-defined]
        phone = SimDevice(relay.citizen_url, ctx, behaviour, Stats(devices=1), random.Random(3))
        phone_run = asyncio.create_task(phone.run(stop))
        await asyncio.wait_for(phone.ready.wait(), 15)
        joined = await phone.join_pilot(code)
        assert (joined.pilot_id, joined.group) == (PILOT, "students")
        await wait_until(lambda: panel.group_counts(PILOT)["students"] == (6, 1, 1))
        assert listings == []  # the pilot.changed event did it, no refresh
        top = panel.pilot_item(PILOT)
        assert top is not None and top.text(JOINED) == "1"

        box = panel.end_selected()
        assert box is not None and "1 participant become" in box.text()
        assert panel.confirm_button is not None
        panel.confirm_button.click()
        await wait_until(
            lambda: (i := panel.pilot_item(PILOT)) is not None and i.text(1) == "ended"
        )
        panel.select(PILOT)
        assert panel.purge_button.isEnabled() and not panel.invite_button.isEnabled()
        assert "ordinary devices again" in panel.message.text()

        before = panel.confirm_box
        panel.purge_selected()
        await wait_until(lambda: panel.confirm_box is not before)
        question = panel.confirm_box
        assert question is not None
        for words in ("0 reports", "1 participant link", "2 invite codes", "cannot be undone"):
            assert words in question.text()
        assert HOSTILE in question.text()
        assert panel.confirm_button is not None and panel.confirm_button.text() == "Purge data"
        panel.confirm_button.click()
        await wait_until(
            lambda: (i := panel.pilot_item(PILOT)) is not None and i.text(1) == "purged"
        )
        await wait_until(lambda: "purged" in panel.message.text())
        assert "audit log records the purge" in panel.message.text()
        assert listings == []
        panel.select(PILOT)
        assert not (panel.invite_button.isEnabled() or panel.end_button.isEnabled())
        assert not panel.purge_button.isEnabled()
    finally:
        stop.set()
        if phone_run is not None:
            await asyncio.wait_for(phone_run, 10)
        panel.close()
        panel.deleteLater()
        await session.stop()


async def test_the_pilots_dock_is_for_pilot_roles_only(
    qapp: Any, relay: RunningRelay, tmp_path: Path
) -> None:
    add_inspector(relay)
    seen = {}
    for name in ("dana", "ivy"):
        session = officer_session(relay, tmp_path, name)
        ini = tmp_path / f"{name}.ini"
        window = MainWindow(
            session, ConsoleSettings(name, QSettings(str(ini), QSettings.Format.IniFormat))
        )
        window.show()
        try:
            await session.start()
            await wait_until(lambda s=session: s.status.state is State.LIVE)  # type: ignore[misc]
            await wait_until(lambda w=window: not w.pilots._listing, tick=processed)  # type: ignore[misc]
            processed()
            seen[name] = (
                window.pilots_dock.isVisible(),
                window.pilots_dock.toggleViewAction().isVisible(),
                window.pilots.available,
            )
        finally:
            window.close()
            close_map(window.map)
            await session.stop()
    assert seen == {"dana": (False, False, False), "ivy": (True, True, True)}
