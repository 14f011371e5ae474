"""Analysts' statistics: counts by category, area, hour and weekday, first responses."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from evidence import stats
from evidence.stats import Content, compute, inside

# Monday 2026-11-30 23:30 UTC is Monday 23:30 in London (GMT in winter)
MON_2330 = datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp()


def report(rid: str, category: str, at: float, lat: float = 53.759, lon: float = -2.699) -> dict:  # type: ignore[type-arg]
    return {"report_id": rid, "category": category, "created_at": at, "lat": lat, "lon": lon}


CONTENT = Content(
    reports=[
        report("R-1", "burglary", MON_2330),
        report("R-2", "burglary", MON_2330 + 3600),  # Tuesday 00:30
        report("R-3", "drugs", MON_2330 + 7200, lat=53.80),  # ~4.5 km north
        report("R-4", "=cmd|' /C calc'!A0", MON_2330 + 60),  # hostile text, for the CSV
    ],
    chat=[
        {"report_id": "R-2", "sender": "citizen", "sent_at": MON_2330 + 3610},
        {"report_id": "R-2", "sender": "officer", "sent_at": MON_2330 + 3700},
    ],
    audit=[
        {"action": "report.claim", "subject": "R-1", "at": MON_2330 + 120},
        {"action": "report.set_status", "subject": "R-1", "at": MON_2330 + 600},
        {"action": "alert.send", "subject": "A-1", "at": MON_2330 + 5},
        {"action": "report.claim", "subject": "R-2", "at": MON_2330 + 3900},
    ],
)


def test_counts_by_category_hour_and_weekday_in_the_given_time_zone() -> None:
    fig = compute(CONTENT, tz=ZoneInfo("Europe/London"))
    assert fig.reports == 4 and fig.by_category["burglary"] == 2
    assert fig.by_hour[23] == 2 and fig.by_hour[0] == 1 and fig.by_hour[1] == 1
    assert fig.by_weekday[0] == 2 and fig.by_weekday[1] == 2  # Mon, Tue
    tokyo = compute(CONTENT, tz=ZoneInfo("Asia/Tokyo"))  # +9: Tuesday 08:30
    assert tokyo.by_hour[8] == 2 and tokyo.by_weekday[1] == 4


def test_first_response_is_the_earliest_officer_action_or_reply() -> None:
    fig = compute(CONTENT)
    assert fig.response_s["R-1"] == pytest.approx(120.0)  # the claim, not the status change
    assert fig.response_s["R-2"] == pytest.approx(100.0)  # the officer's chat reply came first
    assert fig.response_s["R-3"] is None  # nobody answered
    summary = fig.response_summary()
    assert summary["answered"] == 2 and summary["unanswered"] == 2
    assert summary["median_s"] == pytest.approx(110.0)


def test_grid_and_polygon_counts() -> None:
    near = [[-2.72, 53.74], [-2.68, 53.74], [-2.68, 53.78], [-2.72, 53.78]]
    fig = compute(CONTENT, cell_m=1000.0, area=near)
    assert fig.in_area == 3
    assert sorted(fig.by_cell.values()) == [1, 3]  # three share a cell, one is 4.5 km off
    assert inside(53.759, -2.699, near) and not inside(53.80, -2.699, near)
    with pytest.raises(ValueError):
        compute(CONTENT, cell_m=0.0)


def test_csv_tables_and_formula_injection() -> None:
    tables = stats.tables(compute(CONTENT))
    text = stats.write_csv(tables["by_category"])
    assert text.splitlines()[0] == "category,reports"
    assert "'=cmd|' /C calc'!A0" in text  # a spreadsheet shows it as text, never runs it
    hours = stats.write_csv(tables["by_hour"]).splitlines()
    assert len(hours) == 25 and hours[24] == "23,2"
    assert stats.write_csv(tables["response_times"]).splitlines()[3] == "R-3,"


def test_a_bare_carriage_return_cannot_start_a_row_of_its_own():
    """A lone CR ends a row in a spreadsheet: unquoted, `=cmd|…` after it would be a live
    formula in a new row (the apostrophe guards only a cell's first character)."""
    import csv
    import io

    text = stats.write_csv([["R-1", "Bike stolen.\r=cmd|' /C calc'!A0", 0], ["R-2", "ok", 1]])
    assert "\"Bike stolen.\r=cmd|' /C calc'!A0\"" in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["R-1", "Bike stolen.\r=cmd|' /C calc'!A0", "0"], ["R-2", "ok", "1"]]
