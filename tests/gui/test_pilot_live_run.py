"""A real pilot run live at the console (issue 12, deliverable 6), through the demo's
composition for `lookout --run-pilot` (`demo.pilot_run.PilotRunCompanion`): a real relay
over TLS, an inspector's own console session, the pilot created from the plan when the
relay has none (offered, answered yes), then the run panel. Start; a prompt shows at its
time (in the panel, and announced for the status bar); Fire now sends the scripted report
from a scripted device that joined the pilot with a code asked for through the session,
and it reaches the officer's session as an exercise report of the pilot; the officer's
claim ticks its expectation to met; Pause holds the next inject. A dispatcher is refused,
in words. Nothing of the scripted devices' positions is logged."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication

from backend_client import messages as m
from backend_client.client import ClientConfig, Credentials
from backend_client.pilots import RunState
from console.app import Refused
from console.compose import open_session
from console.pilots.run_panel import RunPanel
from demo.pilot_run import PilotRunCompanion
from pilot.live_run import PilotControl, StartMode, default_start
from tests.conftest import PASSWORD, start_relay
from tests.support.live_run_plan import LATER_AT_S, SCRIPTED, plan
from tests.support.peer import wait_until, wait_until_async
from tests.support.totp import coder

pytestmark = pytest.mark.gui


async def test_an_inspector_runs_a_real_pilot(qapp, qtbot, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """On pytest-asyncio's loop (tests/unit/test_gui_suite_rules.py says why not qasync's);
    the panel's timer runs through `tick`."""
    qapp.setQuitOnLastWindowClosed(False)
    caplog.set_level(logging.DEBUG)
    for name in ("pilot", "simulator", "demo"):  # a rehearsal's source quietens these
        caplog.set_level(logging.DEBUG, logger=name)
    await asyncio.wait_for(_run(qtbot, tmp_path, caplog), timeout=120)


async def shown(cond: Callable[[], bool], timeout: float) -> None:
    """`wait_until`, letting Qt run between looks (the panel's refresh timer)."""
    await wait_until(cond, timeout, tick=QCoreApplication.processEvents)


async def _signed_in(r, name: str, home: Path):  # type: ignore[no-untyped-def]
    config = ClientConfig(url=r.relay.url, ca_file=r.relay.ca_path)
    opened = open_session(
        config, Credentials(name, PASSWORD, coder(r.totp[name])), home, local_cache=False
    )
    await opened.session.start()
    await opened.session.client.wait_live(20)
    return opened


async def _run(qtbot, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    from relay import admin

    r = await start_relay(tmp_path / "relay", counts_interval_s=0.1)
    engine = admin.open_engine(r.data_dir)
    r.totp["ivy"] = admin.add_officer(engine, "ivy", "inspector", PASSWORD).totp_secret
    engine.dispose()
    opened = dana = None
    companion = PilotRunCompanion(plan(), run_log_dir=tmp_path / "runs")
    asked: list[str] = []

    async def yes(_title: str, question: str) -> bool:
        asked.append(question)
        return True

    try:
        # a dispatcher may not run a pilot: refused in words, and nothing is created
        dana = await _signed_in(r, "dana", tmp_path / "dana")
        with pytest.raises(Refused, match="dispatcher.*inspector"):
            await PilotRunCompanion(plan()).attach(dana.session, yes)
        assert asked == []

        opened = await _signed_in(r, "ivy", tmp_path / "ivy")
        session = opened.session
        control = await companion.attach(session, yes)
        assert len(asked) == 1 and "'live-run-test'" in asked[0]  # offered, and created
        listed = await session.client.request(m.PilotList(id=""))
        assert isinstance(listed, m.PilotListed)
        (info,) = [x for x in listed.pilots if x.pilot_id == "live-run-test"]
        assert info.title == "Live run" and [g.name for g in info.groups] == ["students"]

        run = companion.run
        assert run is not None and isinstance(control, PilotControl)
        await run.wait_devices(30)
        (phone,) = run.devices()  # one scripted device for the one group a report needs

        async def joined() -> bool:  # the relay counts it as the group's participant
            got = await session.client.request(m.PilotList(id=""))
            assert isinstance(got, m.PilotListed)
            pilot = next(x for x in got.pilots if x.pilot_id == "live-run-test")
            return [g.joined for g in pilot.groups] == [1]

        await wait_until_async(joined, timeout=10)

        panel = RunPanel(control)
        qtbot.addWidget(panel)
        panel.show()
        notices: list[str] = []
        panel.prompt_shown.connect(notices.append)
        # 2017 is not today: plan time starts at Start by default; the dates are offered
        assert default_start(plan()) is StartMode.FROM_START
        assert panel.start_from is not None and panel.start_from.currentData() == "start"
        assert panel.start_from.count() == 2
        view = panel.refresh()
        assert view.state is RunState.READY and view.speed == 1.0

        # Start: the prompt shows at its time, in the panel and as a notice
        panel.start.click()
        await shown(lambda: panel.refresh().prompts != (), timeout=10)
        assert "Ask the students for photos." in panel.prompt.text()
        assert notices == ["Pilot prompt: Ask the students for photos."]

        # Fire now the scripted report: from the pilot's participant device, as exercise
        item = next(
            panel.next.topLevelItem(i)
            for i in range(panel.next.topLevelItemCount())
            if panel.next.topLevelItem(i).data(0, 256) == "first"  # type: ignore[union-attr]
        )
        panel.next.setCurrentItem(item)
        assert panel.chosen() == "first"
        panel.fire.click()
        await shown(lambda: any(x.text == SCRIPTED for x in session.reports.values()), timeout=20)
        (report,) = [x for x in session.reports.values() if x.text == SCRIPTED]
        assert report.exercise and report.pilot_id == "live-run-test"
        assert report.reporter == phone.pseudonym
        await shown(lambda: panel.expected_rows().get("claimed", ("",))[0] == "pending", 10)

        # the officer claims it: met, with its time
        await session.client.request(
            m.ReportClaim(id="", idem="live-claim", report_id=report.report_id)
        )
        await shown(lambda: panel.expected_rows()["claimed"][0] == "met", timeout=10)
        assert panel.expected_rows()["claimed"][1].startswith("done ")

        # Pause before the next prompt is due: its time passes, it does not fire
        panel.pause.click()
        view = panel.refresh()
        assert view.state is RunState.PAUSED and view.plan_time < LATER_AT_S
        due_wall = time.monotonic() + (LATER_AT_S - view.plan_time) + 1.0
        await shown(lambda: time.monotonic() > due_wall, timeout=15)
        view = panel.refresh()
        assert [s.inject for s in view.prompts] == ["ask"]
        assert [u.entry.ref for u in view.next_up][:1] == ["later"]
        # the pause saved the run's log; the relay reviews the pilot by it (pilot.review)
        import msgspec

        from backend_client.pilots import check, dumps
        from backend_client.pilots.timemap import RunLog

        # the relay checks the plan: the test plan's act and deadline end inside its day
        (act,) = plan().acts
        (exp,) = act.expect
        fitted = msgspec.structs.replace(
            plan(),
            acts=[
                msgspec.structs.replace(
                    act, end=dt.time(9, 55), expect=[msgspec.structs.replace(exp, within_s=300)]
                )
            ],
        )
        assert check(fitted) == []

        assert companion.run_log is not None and companion.run_log.parent == tmp_path / "runs"
        saved = RunLog.load(companion.run_log)
        assert saved.pilot_id == "live-run-test" and set(saved.prompts) == {"ask"}
        assert saved.segments[-1].until_t == pytest.approx(view.plan_time, abs=0.5)
        reviewed = await session.client.request(
            m.PilotReview(
                id="",
                pilot_id="live-run-test",
                plan=dumps(fitted),
                clock=saved.clock,
                prompts=[m.PromptShown(inject=k, at=v) for k, v in saved.prompts.items()],
            )
        )
        assert isinstance(reviewed, m.PilotReviewed), reviewed
        figures = reviewed.metrics
        assert figures["reports"] == 1 and figures["reports_by_act"] == {"burglary": 1}
        assert {e["id"]: e["status"] for e in figures["expected_actions"]} == {"claimed": "met"}
        fired = {i["id"]: i["fired"] for i in figures["injects"]}
        assert fired["ask"] and fired["first"] and not fired["later"]

        # a live pilot sends no simulated burst: the scripted report was the only one
        assert run.sent == {"first": [report.report_id]}
        assert len([x for x in session.reports.values() if x.exercise]) == 1

        # nothing of where the scripted devices stand, or their report was made, is logged
        (planned,) = [x for x in run.drawn.reports if x.inject == "first"]
        where = [f"{planned.lat:.4f}", f"{planned.lon:.4f}"]
        where += [f"{phone.behaviour.lat:.4f}", f"{phone.behaviour.lon:.4f}"]
        logged = caplog.text
        assert "scripted device(s) joined pilot live-run-test" in logged  # the log was read
        assert not [w for w in where if w in logged]
    finally:
        await companion.close()
        for o in (opened, dana):
            if o is not None:
                await o.close()
        await r.relay.stop()  # type: ignore[attr-defined]
