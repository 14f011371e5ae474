"""The small plan a live pilot run is tested on (the GUI test and the runner's unit
tests share it; the unit tests must not import a GUI test module, which imports Qt)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from backend_client import pilots as p

PRESTON = p.load(Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml")
SCRIPTED = "Scripted: a flat broken into on Maudland Bank, door forced."
LATER_AT_S = 8.0


def plan() -> p.Plan:
    return p.Plan(
        name="live-run-test",
        title="Live run",
        timezone="Europe/London",
        area=PRESTON.area,
        zones=list(PRESTON.zones),
        days=[p.Day(date=dt.date(2017, 11, 21), start=dt.time(9), end=dt.time(10))],
        groups=[p.Group(name="students", role="citizen", count=20)],
        acts=[
            p.Act(
                id="burglary",
                day=1,
                start=dt.time(9),
                end=dt.time(10),
                scenario="burglary",
                report_rate_per_min=0.0,
                injects=[
                    p.PromptInject(id="ask", at_s=1.0, text="Ask the students for photos."),
                    p.PromptInject(id="later", at_s=LATER_AT_S, text="Check on the patrol."),
                    p.BurstInject(id="crowd", at_s=2_000, count=30),
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
                ],
            )
        ],
    )
