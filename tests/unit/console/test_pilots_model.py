"""The after-action report's content, section by section, without a printer: the
evaluation table says met or missed as metrics.json does, and plan text stays text."""

from __future__ import annotations

from pathlib import Path

from backend_client import pilots
from console.pilots import model

PRESTON = Path(__file__).resolve().parents[3] / "resources" / "pilots" / "preston-2017.toml"


def test_the_evaluation_table_follows_the_metrics_and_the_plot_counts_reports_per_act() -> None:
    plan = pilots.load(PRESTON)
    metrics = {
        "speed": 2000.0,
        "reports_by_act": {"burglary": 40, "vehicle": 31},
        "expected_actions": [
            {
                "id": "campus-alert",
                "act": "burglary",
                "action": "alert",
                "trigger": "first_report",
                "status": "met",
                "done_s": 18733.3,
                "first_due_s": 18905.5,
                "within_s": 600.0,
                "in_time": 1,
                "triggered": 1,
                "text": "<b>An alert</b> within 10 min",
            },
            {
                "id": "missing-first-response",
                "act": "missing",
                "action": "first_response",
                "trigger": "each_report",
                "status": "missed",
                "done_s": None,
                "first_due_s": 50.0,
                "within_s": 300.0,
                "in_time": 42,
                "triggered": 43,
            },
        ],
        "objectives": [
            {
                "id": "volume",
                "text": "Over 200 reports",
                "target": "reports > 200",
                "value": 290,
                "met": True,
            }
        ],
    }
    parts = model.sections(plan, metrics)
    tables = [p for p in parts if isinstance(p, model.Table)]
    evaluation = next(t for t in tables if t.header[:3] == ["id", "act", "action"])
    assert [row[0] for row in evaluation.rows] == ["campus-alert", "missing-first-response"]
    assert [row[4] for row in evaluation.rows] == ["met", "missed"]
    assert evaluation.rows[1][-1] == "42/43" and evaluation.colour_col == 4
    assert model.Line("campus-alert", "<b>An alert</b> within 10 min") in parts  # text, as typed
    (plot,) = [p for p in parts if isinstance(p, model.Plot)]
    assert plot.counts == {"burglary": 40, "vehicle": 31}
    assert model.hms(3725.0) == "1:02:05" and model.num(None) == "n/a"
