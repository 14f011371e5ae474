"""The pure parts of the console's File -> Export (console/exports/model.py): what each
view holds, its count per format, the audit request (numbers and names, no citizen
text), the file name, and the all-or-nothing write."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from backend_client import messages as m
from console.exports import model as em

HOSTILE = '<b>x</b>"; =HYPERLINK("http://evil") van'


def report(i: int, *, lat: float = 53.76, lon: float = -2.70, exercise: bool = False) -> m.Report:
    return m.Report(
        report_id=f"R-{i}",
        reporter=f"anon-{i}",
        category="burglary",
        text=HOSTILE,
        lat=lat,
        lon=lon,
        created_at=1767261600.0 + i,
        status="new",
        priority="normal",
        claimed_by=None,
        incident_ref=None,
        media=[],
        pilot_id="p1" if exercise else None,
        exercise=exercise,
    )


def alert() -> m.Alert:
    from tests.unit.test_exports import alert as make

    return make("alr_1", m.Circle(lat=53.76, lon=-2.70, radius_m=500))


def test_feed_job_renders_and_the_audit_names_it_without_citizen_text(tmp_path: Path) -> None:
    job = em.feed_job([report(2), report(1)], "feed: filter new; 2 rows")
    assert job.kind == "reports" and job.count("csv") == 2
    rendered = em.render(job, "geojson")
    doc = json.loads(rendered.data)
    assert [f["properties"]["report_id"] for f in doc["features"]] == ["R-2", "R-1"]
    assert rendered.sha256 == hashlib.sha256(rendered.data).hexdigest()
    msg = em.audit_request(job, rendered, tmp_path / "out.geojson")
    assert (msg.kind, msg.format, msg.count, msg.sha256, msg.filename) == (
        "reports",
        "geojson",
        2,
        rendered.sha256,
        "out.geojson",
    )
    assert "van" not in msg.scope and "HYPERLINK" not in msg.scope
    assert em.audit_request(job, rendered, tmp_path / "out.geojson").idem != msg.idem


def test_map_view_holds_the_filtered_reports_and_the_alerts_but_csv_only_reports() -> None:
    reports = [report(1), report(2, exercise=True), report(3, lat=10.0)]
    keep = em.map_reports(reports, lambda r: r.report_id != "R-3", hide_exercise=True)
    assert [r.report_id for r in keep] == ["R-1"]
    shown = em.map_reports(reports, lambda r: True, hide_exercise=False, bounds=(-3, 53, -2, 54))
    assert [r.report_id for r in shown] == ["R-2", "R-1"]  # newest first, R-3 out of bounds
    job = em.map_job(keep, [alert()], bounded=False)
    assert job.count("geojson") == 2 and job.count("csv") == 1
    assert "everything on the map" in job.scope
    geo = json.loads(em.render(job, "geojson").data)
    assert {f["geometry"]["type"] for f in geo["features"]} == {"Point", "Polygon"}
    rows = list(
        csv.DictReader(io.StringIO(em.render(job, "csv", bom=True).data.decode("utf-8-sig")))
    )
    assert [r["report_id"] for r in rows] == ["R-1"]


def test_incident_job() -> None:
    s = em.incident_summary("INC-7", "Sheds", "dana", 1767261000.0, [report(1), report(2)])
    job = em.incident_job(s)
    assert job.kind == "incidents" and job.count("kml") == 1 and not s.exercise
    assert job.scope == "incident INC-7: 2 reports"
    assert em.default_name(job, "kml").startswith("lookout-INC-7-")
    assert em.default_name(job, "kml").endswith(".kml")


def test_feed_scope_in_words() -> None:
    text = em.feed_scope({"new", "claimed"}, {"burglary"}, 3600, "van", True, 12)
    assert (
        text
        == 'feed: filter claimed, new; burglary; last 3600 s; search "van"; no exercise traffic; 12 rows'
    )
    assert len(em.feed_scope({"new"}, None, None, "x" * 500, False, 1)) < 120


def test_with_suffix() -> None:
    assert em.with_suffix(Path("/t/a"), "csv") == Path("/t/a.csv")
    assert em.with_suffix(Path("/t/a.KML"), "kml") == Path("/t/a.KML")


def test_write_is_whole_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")

    def broken(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        em.write_atomically(target, b"new")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    monkeypatch.undo()
    em.write_atomically(target, b"new")
    assert target.read_bytes() == b"new" and sorted(tmp_path.iterdir()) == [target]


def test_the_map_views_audit_says_it_holds_alerts_too(tmp_path: Path) -> None:
    """A map view's GeoJSON or KML holds reports and alerts: its audit request says
    `kinds` reports+alerts (the action stays export.reports); its CSV, a feed's file and
    a map with no alert on it hold reports only."""
    job = em.map_job([report(1)], [alert()], bounded=True)
    for fmt in ("geojson", "kml"):
        msg = em.audit_request(job, em.render(job, fmt), tmp_path / f"m.{fmt}")
        assert (msg.kind, msg.kinds) == ("reports", ["reports", "alerts"])
    csv_msg = em.audit_request(job, em.render(job, "csv"), tmp_path / "m.csv")
    assert csv_msg.kinds == ["reports"]
    assert em.map_job([report(1)], [], bounded=True).kinds("geojson") == ("reports",)
    assert em.feed_job([report(1)], "feed").kinds("kml") == ("reports",)
    summary = em.incident_summary("INC-1", "t", "dana", 0.0, [report(1)])
    assert em.incident_job(summary).kinds("geojson") == ("incidents",)
