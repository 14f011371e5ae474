"""`lookout-relay export`: a real relay's data (tests/support/evidence_case.py) written as
GeoJSON, KML and CSV, each read back by an independent reader, every export audited, and
no device position anywhere."""

from __future__ import annotations

import csv
import dataclasses
import getpass
import io
import json
import os
import shutil
import stat
from importlib import resources
from pathlib import Path
from typing import Any

import geojson_validator
import pytest
import shapely
from lxml import etree
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from relay import audit
from relay import cli as relay_cli
from relay.db import models as db
from tests.support.evidence_case import HTML_TEXT, Case, make_case

geojson_validator.configure_logging(enabled=False)
KML = "{http://www.opengis.net/kml/2.2}"
#: where every device is said to be: it must appear in no export
DEVICE_LAT, DEVICE_LON = 54.123457, -3.654321


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    c = make_case(tmp_path_factory.mktemp("exports") / "relay")
    engine = create_engine(f"sqlite:///{c.data_dir / 'relay.sqlite'}")
    with Session(engine) as s, s.begin():
        s.execute(update(db.Device).values(lat=DEVICE_LAT, lon=DEVICE_LON))
    engine.dispose()
    return c


def run(case: Case, out: Path, *args: str) -> bytes:
    argv = ["export", *args, "--data-dir", str(case.data_dir), "--out", str(out)]
    assert relay_cli.main(argv) == 0
    data = out.read_bytes()
    assert str(DEVICE_LAT).encode() not in data and str(DEVICE_LON).encode() not in data
    return data


def audit_rows(case: Case) -> list[db.AuditLog]:
    engine = create_engine(f"sqlite:///{case.data_dir / 'relay.sqlite'}")
    try:
        with Session(engine) as s:
            rows = list(s.scalars(select(db.AuditLog).order_by(db.AuditLog.seq)))
            assert audit.verify_chain(rows).ok
            s.expunge_all()
            return rows
    finally:
        engine.dispose()


def test_reports_geojson_is_valid_and_audited(case: Case, tmp_path: Path) -> None:
    data = run(case, tmp_path / "r.geojson", "reports", "--format", "geojson")
    doc = json.loads(data)
    assert geojson_validator.validate_structure(doc, check_crs=True) == {}
    assert geojson_validator.validate_geometries(doc)["invalid"] == {}
    ids = {f["id"] for f in doc["features"]}
    assert ids == {*case.reports, case.far_report}
    texts = {f["properties"]["text"] for f in doc["features"]}
    assert HTML_TEXT in texts
    far = next(f for f in doc["features"] if f["id"] == case.far_report)
    assert far["geometry"]["coordinates"] == [-0.12, 51.5]
    last = audit_rows(case)[-1]
    assert last.action == "export.reports" and last.subject == "r.geojson"
    detail = json.loads(last.detail)
    assert detail["count"] == 3 and detail["format"] == "geojson"
    assert "Elm Road" not in last.detail  # no citizen words in the audit log


def test_area_and_time_narrow_the_reports(case: Case, tmp_path: Path) -> None:
    area = tmp_path / "london.geojson"
    ring = [[-0.2, 51.4], [0.0, 51.4], [0.0, 51.6], [-0.2, 51.6], [-0.2, 51.4]]
    area.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    data = run(case, tmp_path / "r.csv", "reports", "--format", "csv", "--area", str(area))
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert [r["report_id"] for r in rows] == [case.far_report]
    later = run(case, tmp_path / "none.csv", "reports", "--format", "csv", "--since", "2100-01-01")
    assert len(list(csv.DictReader(io.StringIO(later.decode("utf-8"))))) == 0


def test_alerts_kml_is_valid_against_the_ogc_schema(case: Case, tmp_path: Path) -> None:
    data = run(case, tmp_path / "a.kml", "alerts", "--format", "kml")
    xsd = resources.files("fastkml") / "schema" / "ogckml22.xsd"
    with resources.as_file(xsd) as path:
        schema = etree.XMLSchema(etree.parse(str(path)))
    root = etree.fromstring(data)
    assert schema.validate(root), schema.error_log
    placemarks = root.findall(f".//{KML}Placemark")
    assert [
        p.find(f"{KML}ExtendedData/{KML}Data[@name='alert_id']/{KML}value").text for p in placemarks
    ] == [case.alert_id]  # type: ignore[union-attr]
    coords = root.findtext(f".//{KML}Polygon//{KML}coordinates")
    assert coords is not None
    ring = [tuple(map(float, p.split(","))) for p in coords.split()]
    assert shapely.LinearRing(ring).is_ccw


def test_incident_csv_with_bom(case: Case, tmp_path: Path) -> None:
    args = ("incidents", "--format", "csv", "--bom", "--incident", case.incident_ref)
    data = run(case, tmp_path / "i.csv", *args)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(rows) == 1 and rows[0]["incident_ref"] == case.incident_ref
    assert set(rows[0]["report_ids"].split(";")) == set(case.reports)
    assert audit_rows(case)[-1].action == "export.incidents"


def test_an_unknown_incident_writes_nothing(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "x.geojson"
    before = len(audit_rows(case))
    argv = ["export", "incidents", "--format", "geojson", "--incident", "NOPE"]
    assert relay_cli.main([*argv, "--data-dir", str(case.data_dir), "--out", str(out)]) == 1
    assert not out.exists() and not list(tmp_path.iterdir())
    assert len(audit_rows(case)) == before


@pytest.mark.parametrize("kind", ["reports", "alerts", "incidents"])
@pytest.mark.parametrize("fmt", ["geojson", "kml", "csv"])
def test_every_kind_in_every_format_reads_back(
    case: Case, tmp_path: Path, kind: str, fmt: str
) -> None:
    data = run(case, tmp_path / f"x.{fmt}", kind, "--format", fmt)
    expected = {"reports": 3, "alerts": 1, "incidents": 1}[kind]
    if fmt == "geojson":
        doc = json.loads(data)
        assert geojson_validator.validate_structure(doc, check_crs=True) == {}
        assert geojson_validator.validate_geometries(doc)["invalid"] == {}
        assert len(doc["features"]) == expected
    elif fmt == "kml":
        xsd = resources.files("fastkml") / "schema" / "ogckml22.xsd"
        with resources.as_file(xsd) as path:
            schema = etree.XMLSchema(etree.parse(str(path)))
        root = etree.fromstring(data)
        assert schema.validate(root), schema.error_log
        assert len(root.findall(f".//{KML}Placemark")) == expected
    else:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
        assert len(rows) == expected
    last = audit_rows(case)[-1]
    assert last.action == f"export.{kind}" and json.loads(last.detail)["format"] == fmt


def test_the_file_is_0600_and_a_planted_symlink_is_not_followed(case: Case, tmp_path: Path) -> None:
    """Exports hold citizens' words: the writer's alone, whatever the umask, and the old
    guessable temporary name (`.NAME.PID.tmp`) pointing elsewhere is not written through."""
    out = tmp_path / "r.csv"
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    link.symlink_to(victim)
    old = os.umask(0o022)
    try:
        run(case, out, "reports", "--format", "csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert victim.read_bytes() == b"precious" and link.is_symlink()


def copy_of(case: Case, tmp_path: Path) -> Case:
    """The case's data in a folder of the test's own, to change without touching others."""
    data_dir = tmp_path / "relay-copy"
    shutil.copytree(case.data_dir, data_dir)
    return dataclasses.replace(case, data_dir=data_dir)


def change(case: Case, *statements: Any) -> None:
    engine = create_engine(f"sqlite:///{case.data_dir / 'relay.sqlite'}")
    try:
        with Session(engine) as s, s.begin():
            for st in statements:
                s.execute(st)
    finally:
        engine.dispose()


def one(case: Case, query: Any) -> Any:
    engine = create_engine(f"sqlite:///{case.data_dir / 'relay.sqlite'}")
    try:
        with Session(engine) as s:
            row = s.scalars(query).one()
            s.expunge_all()
            return row
    finally:
        engine.dispose()


def alert_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_config_min_count_shown_decides_the_blank_counts(case: Case, tmp_path: Path) -> None:
    """Without --config the class default (5) blanks the alert's small counts; a relay
    configured with min_count_shown = 0 shows every count, as its officers see them."""
    (blank,) = alert_rows(run(case, tmp_path / "a.csv", "alerts", "--format", "csv"))
    assert blank["recipients"] == "" and blank["delivered"] == ""
    config = tmp_path / "relay.toml"
    config.write_text("min_count_shown = 0\n")
    args = ("alerts", "--format", "csv", "--config", str(config))
    (shown,) = alert_rows(run(case, tmp_path / "b.csv", *args))
    assert shown["recipients"].isdigit() and shown["delivered"].isdigit()
    config.write_text("min_count_shwn = 0\n")
    argv = ["export", *args, "--data-dir", str(case.data_dir), "--out", str(tmp_path / "c.csv")]
    assert relay_cli.main(argv) == 2 and not (tmp_path / "c.csv").exists()


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("pending_approval", "Actual"),
        ("rejected", "Actual"),
        ("active", "Test"),
        ("active", "Draft"),
    ],
)
def test_alerts_that_never_reached_the_public_need_include_unpublished(
    case: Case, tmp_path: Path, state: str, status: str
) -> None:
    mine = copy_of(case, tmp_path)
    row = one(mine, select(db.Alert).where(db.Alert.public_id == case.alert_id))
    info = json.loads(row.info_json)
    info["status"] = status
    change(
        mine,
        update(db.Alert)
        .where(db.Alert.public_id == case.alert_id)
        .values(state=state, info_json=json.dumps(info)),
    )
    assert alert_rows(run(mine, tmp_path / "a.csv", "alerts", "--format", "csv")) == []
    args = ("alerts", "--format", "csv", "--include-unpublished")
    (row_out,) = alert_rows(run(mine, tmp_path / "b.csv", *args))
    assert (row_out["alert_id"], row_out["state"], row_out["status"]) == (
        case.alert_id,
        state,
        status,
    )
    assert json.loads(audit_rows(mine)[-1].detail)["include_unpublished"] is True


def test_a_sent_cancelled_actual_alert_is_exported_by_default(case: Case, tmp_path: Path) -> None:
    (row,) = alert_rows(run(case, tmp_path / "a.csv", "alerts", "--format", "csv"))
    assert (row["alert_id"], row["state"], row["status"]) == (case.alert_id, "cancelled", "Actual")


def test_area_writes_only_the_incidents_reports_inside_it(case: Case, tmp_path: Path) -> None:
    """--area on incidents: an incident with one report inside and one outside is written
    with the one inside, its position and count; the other's position appears nowhere."""
    mine = copy_of(case, tmp_path)
    inside, outside = case.reports
    change(mine, update(db.Report).where(db.Report.public_id == outside).values(lat=53.9, lon=-2.9))
    here = one(mine, select(db.Report).where(db.Report.public_id == inside))
    lat, lon = here.lat, here.lon
    d = 0.001
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    area = tmp_path / "here.geojson"
    area.write_text(json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]}))
    for fmt in ("geojson", "kml", "csv"):
        data = run(mine, tmp_path / f"i.{fmt}", "incidents", "--format", fmt, "--area", str(area))
        assert b"53.9" not in data and b"-2.9," not in data and outside.encode() not in data
    doc = json.loads(
        run(mine, tmp_path / "i.geojson", "incidents", "--format", "geojson", "--area", str(area))
    )
    (feature,) = doc["features"]
    assert feature["properties"]["report_count"] == 1
    assert feature["properties"]["report_ids"] == inside
    assert feature["geometry"]["coordinates"] == [[round(lon, 6), round(lat, 6)]]


def test_the_cli_audits_the_os_user_who_ran_it(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "ops.jane")
    run(case, tmp_path / "r.kml", "reports", "--format", "kml")
    last = audit_rows(case)[-1]
    assert last.actor == "ops.jane" and last.action == "export.reports"
    assert json.loads(last.detail)["source"] == "cli"
