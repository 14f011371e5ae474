"""The run panel on a live rehearsal (issue 12, deliverables 5 and 6), through the demo's
composition (`demo.rehearsal.RehearsalSource`: the pilot runner, its relay over TLS and
the simulated participants on their own thread), with the test as the officer at the
console: pausing stops injects firing, Fire now fires an inject once (its report reaches
the officer's session), the officer's claim ticks its expected action to met, and an
answer nobody gives turns to missed when its deadline passes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication

from backend_client import messages as m
from backend_client import pilots as p
from backend_client.pilots import RunState
from console.compose import open_session
from console.pilots.run_panel import RunPanel
from demo.rehearsal import RehearsalSource
from tests.support.peer import wait_until

pytestmark = pytest.mark.gui

PRESTON = p.load(Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml")
SPEED = 40.0
SCRIPTED = "Scripted: our flat has been broken into, window smashed."


def plan() -> p.Plan:
    return p.Plan(
        name="run-panel-test",
        title="Run panel",
        timezone="Europe/London",
        area=PRESTON.area,
        zones=list(PRESTON.zones),
        days=[p.Day(date=dt.date(2017, 11, 21), start=dt.time(9), end=dt.time(10))],
        groups=[p.Group(name="students", role="citizen", count=3)],
        acts=[
            p.Act(
                id="burglary",
                day=1,
                start=dt.time(9),
                end=dt.time(10),
                scenario="burglary",
                report_rate_per_min=0.0,  # only the scripted report
                injects=[
                    p.PromptInject(id="ask", at_s=240, text="Ask for photos."),
                    p.ReportInject(
                        id="first",
                        at_s=3_000,
                        category="burglary",
                        place="student flats on Maudland Bank",
                        text=SCRIPTED,
                    ),
                ],
                expect=[
                    p.Expectation(
                        id="claimed", action="claim", trigger="each_report", within_s=1_200
                    ),
                    p.Expectation(
                        id="answered", action="first_response", trigger="first_report", within_s=80
                    ),
                ],
            )
        ],
    )


async def test_the_officer_practises_on_a_live_rehearsal(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On pytest-asyncio's loop, not qasync's: a qasync run ends with QApplication.exit(),
    whose aboutToQuit tears QtWebEngine down for the whole test process (a later test's map
    page then crashed). The panel's refresh timer runs through `tick`."""
    await asyncio.wait_for(_practise(qtbot, tmp_path), timeout=150)


async def shown(cond: Callable[[], bool], timeout: float) -> None:
    """`wait_until`, letting Qt run between looks (the panel's refresh timer)."""
    await wait_until(cond, timeout, tick=QCoreApplication.processEvents)


async def _practise(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = RehearsalSource(plan(), SPEED, data_dir=tmp_path / "console")
    opened = None
    try:
        login = await source.open()
        assert source.run_control is not None
        opened = open_session(login.config, login.credentials, login.data_dir, local_cache=False)
        session = opened.session
        await session.start()
        panel = RunPanel(source.run_control)
        qtbot.addWidget(panel)
        panel.show()
        assert panel.refresh().state is RunState.READY and not panel.pause.isEnabled()

        # Start, then Pause before the prompt is due: its time passes, nothing fires
        panel.start.click()
        panel.pause.click()
        view = panel.refresh()
        assert view.state is RunState.PAUSED and view.plan_time < 240.0
        paused_at = view.plan_time
        due_wall = time.monotonic() + (240.0 - view.plan_time) / SPEED + 1.0
        await shown(lambda: time.monotonic() > due_wall, timeout=15)
        view = panel.refresh()
        assert view.fired == 0 and view.prompts == ()
        assert view.plan_time == paused_at  # stood still
        assert [u.entry.ref for u in view.next_up] == ["ask", "first"]

        # Fire now (the scripted report, chosen in the list) while paused: once only
        panel.next.setCurrentItem(panel.next.topLevelItem(1))
        assert panel.chosen() == "first"
        panel.fire.click()
        view = panel.refresh()
        assert view.fired == 1 and [u.entry.ref for u in view.next_up] == ["ask"]
        with pytest.raises(p.RefusedMove, match="fired already"):
            source.run_control.fire("first")
        await shown(lambda: any(r.text == SCRIPTED for r in session.reports.values()), timeout=20)
        (report,) = [r for r in session.reports.values() if r.text == SCRIPTED]
        assert report.exercise and report.pilot_id == "run-panel-test"
        await shown(lambda: panel.refresh().expectations[0].status == "pending", timeout=10)
        assert panel.expected_rows()["claimed"][0] == "pending"

        # the officer claims it: met, with its time, while the run is still paused
        await session.client.request(
            m.ReportClaim(id="", idem="practise-claim", report_id=report.report_id)
        )
        await shown(lambda: panel.expected_rows()["claimed"][0] == "met", timeout=10)
        assert panel.expected_rows()["claimed"][1].startswith("done ")
        assert panel.expected_rows()["answered"][0] == "pending"  # paused: no deadline passes

        # Resume: the prompt fires at its time, and nobody answers: missed at its deadline
        panel.resume.click()
        await shown(lambda: panel.refresh().prompts != (), timeout=20)
        assert "Ask for photos." in panel.prompt.text()
        await shown(lambda: panel.expected_rows()["answered"][0] == "missed", timeout=20)
        assert panel.expected_rows()["claimed"][0] == "met"
        assert panel.refresh().fired == 2
    finally:
        if opened is not None:
            await opened.close()
        await source.close()
