"""The Pilots pane's Review… against a real relay on TLS loopback (issue 12, deliverables
7 and 8 for a real pilot): a pilot with participants, reports, a claim, an answer and an
exercise alert; the pane offers the run log `lookout --run-pilot` saved, sends
`pilot.review`, and writes metrics.json, metrics.csv and report.pdf in a new folder (off
the GUI thread); the PDF holds the evaluation table. A plan of another pilot and a purged
pilot are refused in words, before anything is sent.
"""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication

from backend_client import messages as m
from backend_client import pilots as p
from backend_client.pilots.timemap import RunLog
from backend_client.state import State
from console.pilots.pilots_panel import PilotsPanel
from console.session import ConsoleSession
from relay import admin
from tests.conftest import PASSWORD, RunningRelay
from tests.integration.test_pilot_review import review_plan, run_pilot
from tests.support.clients import make_client
from tests.support.peer import wait_until

pytestmark = pytest.mark.gui


def processed() -> None:
    QCoreApplication.processEvents()


def add_inspectors(r: RunningRelay) -> None:
    engine = admin.open_engine(r.data_dir)
    try:
        for name in ("ivy", "iris"):
            r.totp[name] = admin.add_officer(engine, name, "inspector", PASSWORD).totp_secret
    finally:
        engine.dispose()


async def test_review_writes_the_metrics_and_the_after_action_report(
    qapp: Any, relay: RunningRelay, tmp_path: Path
) -> None:
    add_inspectors(relay)
    plan = review_plan()
    pid = p.pilot_id_of(plan)
    plan_file = tmp_path / f"{plan.name}.toml"
    plan_file.write_text(p.dumps(plan))
    started = time.time() - 5.0
    iris, _ = await run_pilot(relay, plan, "iris")  # the pilot, run from another desk
    runs = tmp_path / "runs"
    RunLog(plan.name, pid, (m.ClockSegment(at=started, t=0.0),), {"ask": started + 1}).save(
        runs / "run.run.json"
    )
    session = ConsoleSession(make_client(relay, tmp_path, "ivy"))
    panel = PilotsPanel(
        session, plans_dir=tmp_path, reviews_dir=tmp_path / "reviews", run_logs_dir=runs
    )
    await session.start()
    try:
        await wait_until(lambda: session.status.state is State.LIVE)
        await wait_until(lambda: panel.pilot_item(pid) is not None, tick=processed)
        panel.select(pid)
        assert panel.review_button.isEnabled()

        # a plan of another pilot: refused in the pane's words, nothing sent
        other = review_plan("another-pilot", "Another pilot")
        other_file = tmp_path / "another-pilot.toml"
        other_file.write_text(p.dumps(other))
        panel.review(pid, other_file, "dates", tmp_path / "reviews")
        assert "does not fit" in panel.message.text() and "not the plan of pilot" in (
            panel.message.text()
        )

        dialog = panel.review_selected()
        assert dialog is not None
        assert dialog.plan.text() == str(plan_file)  # found by the pilot's id
        assert dialog.chosen_mode() == "run_log" and dialog.run_log_path() == runs / "run.run.json"
        done: list[Any] = []
        panel.review_saved.connect(done.append)
        dialog.accept()
        await wait_until(lambda: bool(done), timeout=60, tick=processed)
        folder = done[0].folder
        assert folder.parent == tmp_path / "reviews" and folder.name.startswith(f"{pid}-review-")
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["reports"] == 3 and metrics["participants"] == 3
        assert {i["id"]: i["fired"] for i in metrics["injects"]} == {
            "ask": True,
            "scripted": True,
        }
        with (folder / "metrics.csv").open() as f:
            rows = {(r["metric"], r["scope"]): r["value"] for r in csv.DictReader(f)}
        assert rows[("reports", "pilot")] == "3"
        text = subprocess.run(
            ["pdftotext", "-layout", str(folder / "report.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "Evaluation: expected officer actions" in text
        assert "answered" in text and "claimed" in text
        assert f"Review of {pid} saved in {folder}" in panel.message.text()
        assert panel.review_button.isEnabled()  # ready for another

        # purged: nothing to review, said before anything is sent
        assert isinstance(
            await iris.request(m.PilotEnd(id="e1", idem="e1", pilot_id=pid)), m.PilotAccepted
        )
        assert isinstance(
            await iris.request(m.PilotPurge(id="p1", pilot_id=pid, confirm=True)), m.PilotPurged
        )
        await wait_until(
            lambda: (i := panel.pilot_item(pid)) is not None and i.text(1) == "purged",
            tick=processed,
        )
        panel.select(pid)
        assert not panel.review_button.isEnabled()
        assert panel.review_selected() is None
        assert "nothing to review" in panel.message.text()
    finally:
        panel.close()
        panel.deleteLater()
        await session.stop()
