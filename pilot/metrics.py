"""A rehearsal's metrics, from its embedded relay's files: the relay's own query and the
pure computation, as a real pilot's `pilot.review` runs them on the force's relay.

`read` opens the rehearsal's relay database and reads the pilot's record with
`relay.pilot_review.read` (a rehearsal's clock: plan time 0 at its start, `speed` plan
seconds a second); `compute` and `write_csv` are `backend_client.pilots.metrics`'s, with
the rehearsal's linear clock. What the figures mean: docs/pilots.md, Metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from backend_client import messages as m
from backend_client.pilots import Plan, Schedule
from backend_client.pilots import metrics as pure
from backend_client.pilots.metrics import AlertRecord, Record, ReportRecord, csv_rows, write_csv
from backend_client.pilots.timemap import mapper
from relay import admin, pilot_review

#: the record's parts under their old names (tests build records by hand)
_Report = ReportRecord
_Alert = AlertRecord
_expectation = pure._expectation


def read(
    data_dir: Path,
    plan: Plan,
    pilot_id: str,
    started_at: float,
    speed: float,
    scenario_dir: Path | None = None,
) -> Record:
    """The pilot's reports, officer actions, alerts and participants from the relay."""
    plan_t = mapper(m.LinearClock(started_at=started_at, speed=speed), Schedule.of(plan))
    engine = admin.open_engine(data_dir)
    try:
        with Session(engine) as s:
            return pilot_review.read(s, plan, pilot_id, plan_t, scenario_dir)
    finally:
        engine.dispose()


def compute(
    plan: Plan,
    rec: Record,
    *,
    started_at: float,
    speed: float,
    burst_reports: dict[str, list[str]],
    prompts: dict[str, float],
) -> dict[str, Any]:
    """metrics.json for a rehearsal run from `started_at` at `speed`."""
    clock = m.LinearClock(started_at=started_at, speed=speed)
    return pure.compute(plan, rec, clock=clock, burst_reports=burst_reports, prompts=prompts)


__all__ = ["AlertRecord", "Record", "ReportRecord", "compute", "csv_rows", "read", "write_csv"]
