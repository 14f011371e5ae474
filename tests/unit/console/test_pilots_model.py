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
    (plot,) = [p for p in parts if isinstance(p, model.Plot)]  # no other figures given
    assert plot.name == "reports-per-act" and plot.categories == ["burglary", "vehicle"]
    assert plot.series == {"reports": [40.0, 31.0]}
    assert parts[parts.index(plot) - 1] == model.Heading("Reports per act", 11)
    assert model.hms(3725.0) == "1:02:05" and model.num(None) == "n/a"


def test_participation_report_times_and_alert_reading_have_their_tables() -> None:
    plan = pilots.load(PRESTON)
    dist = {"reports": 3, "responded": 2, "median": 10.0, "p90": 30.0}
    day = {"joined": 5, "active": 4, "active_next_day": 2, "retention": 0.5}
    last = {"joined": 5, "active": 3, "active_next_day": None, "retention": None}
    metrics = {
        "reports_by_act": {},
        "reports_by_group": {"students": 2, "university-security": 1},
        "retention_day_over_day": 0.5,
        "participation_by_day": {
            "all": {"retention_day_over_day": 0.5, "days": {"day 1": day, "day 2": last}},
            "by_group": {
                "students": {"retention_day_over_day": 0.5, "days": {"day 1": day, "day 2": last}}
            },
        },
        "time_to_acknowledge_s": {
            "all": dist,
            "by_act": {"burglary": dist},
            "by_group": {"students": dist},
        },
        "time_to_first_response_s": {
            "all": {**dist, "responded": 1, "median": 90.0},
            "by_act": {"burglary": dist},
            "by_group": {"students": dist},
        },
        "alerts": [
            {
                "sent_s": 50.0,
                "sender": "desk",
                "headline": "Drill",
                "reach": 4,
                "delivered": 3,
                "read": 2,
                "delivered_rate": 0.75,
                "read_rate": 0.5,
                "time_to_read_s": {"read": 2, "median": 30.0, "p90": 90.0},
            }
        ],
    }
    parts = model.sections(plan, metrics)
    tables = {tuple(t.header[:2]): t for t in parts if isinstance(t, model.Table)}
    participation = tables[("scope", "day")]
    assert participation.rows[0] == ["all", "day 1", "5", "4", "2", "0.5"]
    assert participation.rows[-1] == ["students", "day 2", "5", "3", "n/a", "n/a"]
    times = tables[("scope", "reports")]
    assert [r[0] for r in times.rows] == ["all", "act burglary", "group students"]
    assert times.rows[0][5:7] == ["1", "90"]  # answered, answer median
    alerts = tables[("sent", "sender")]
    assert alerts.rows[0][4:] == ["3 (75%)", "2 (50%)", "30", "90"]
    assert tables[("group", "reports")].rows == [["students", "2"], ["university-security", "1"]]
    plots = {p.name: p for p in parts if isinstance(p, model.Plot)}
    assert plots["participation-per-day"].categories == ["day 1 (retention 0.5)", "day 2"]
    assert plots["participation-per-day"].series["active"] == [4, 3]
    assert plots["first-response-per-act"].series == {"median": [10.0], "p90": [30.0]}
    assert plots["alert-delivery"].series == {"reach": [4], "delivered": [3], "read": [2]}
    metric_rows = dict(r for r in tables[("metric", "value")].rows)  # type: ignore[misc]
    assert metric_rows["retention_day_over_day"] == "0.5"
