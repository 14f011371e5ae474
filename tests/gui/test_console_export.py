"""File -> Export in the whole console, on a real relay over TLS (issue 14): the feed's
filtered rows reach a file the exports tests' readers accept (RFC 7946 GeoJSON, CSV read
back) only after the relay audited it; the incident entry needs a selected incident; off
the relay, nothing is written and the officer is told why.

On pytest-asyncio's loop, not qasync's (see tests/gui/test_erasure_live.py)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import geojson_validator
import pytest
from lxml import etree
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from sqlalchemy import select

from backend_client import messages as m
from backend_client.state import State
from console.exports import model as em
from console.exports.dialog import ExportDialog
from console.feed.store import FeedFilter
from console.main_window import MainWindow
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from relay.db import models as db
from tests.conftest import start_relay
from tests.support.clients import make_client
from tests.support.flows import device, officer, report
from tests.support.peer import next_id, wait_until
from tests.unit.test_console_exports import alert
from tests.unit.test_console_exports import report as make_report

pytestmark = pytest.mark.gui

HOSTILE = '<b>van</b> =HYPERLINK("http://evil") outside no. 7'


def _tick() -> None:
    QApplication.processEvents()


def _kml_schema() -> etree.XMLSchema:
    xsd = resources.files("fastkml") / "schema" / "ogckml22.xsd"
    with resources.as_file(xsd) as path:
        return etree.XMLSchema(etree.parse(str(path)))


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    await wait_until(cond, timeout=timeout, tick=_tick)


async def test_file_export_feed_and_incident_write_audited_files_and_offline_writes_nothing(
    qapp: QApplication, tmp_path: Path
) -> None:
    relay = await start_relay(tmp_path / "relay")
    session = ConsoleSession(make_client(relay, tmp_path, "dana"))
    settings = ConsoleSettings(
        "dana", QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    )
    window = MainWindow(session, settings)
    window.show()
    phone = None
    done: list[Path] = []
    problems: list[str] = []
    window.exports.controller.exported.connect(lambda path, _r: done.append(path))
    window.exports.controller.failed.connect(problems.append)
    try:
        menus = [a.text() for a in window.menuBar().actions()]
        assert menus[0] == "&File"
        file_menu = window.menuBar().actions()[0].menu()
        entries = [a.text() for a in file_menu.actions()]
        assert entries == ["Export &feed…", "Export &map view…", "Export &incident…"]
        assert not window.exports.incident_action.isEnabled()  # no incident selected

        await session.start()
        await _until(lambda: session.status.state is State.LIVE, timeout=20)
        phone, _ = await device(relay)
        shown = await report(phone, text=HOSTILE, category="burglary")
        hidden = await report(phone, text="bike taken", category="cycle")
        await _until(lambda: window.feed.model.rowCount() == 2)
        window.feed.set_filter(FeedFilter(categories=frozenset({"burglary"})))
        assert window.feed.model.shown_ids() == [shown.report_id]

        dialog = window.exports.export_feed()
        assert "1 item" in dialog.summary.text()
        dialog.set_format("geojson")
        target = tmp_path / "out" / "feed"
        target.parent.mkdir()
        dialog.path_edit.setText(str(target))
        dialog.accept()
        await _until(lambda: bool(done or problems))
        assert problems == [] and done == [target.with_suffix(".geojson")]
        data = done[0].read_bytes()
        doc = json.loads(data)
        assert geojson_validator.validate_structure(doc, check_crs=True) == {}
        assert geojson_validator.validate_geometries(doc)["invalid"] == {}
        ids = [f["properties"]["report_id"] for f in doc["features"]]
        assert ids == [shown.report_id] and hidden.report_id not in data.decode()
        assert doc["features"][0]["properties"]["text"] == HOSTILE  # text, as sent
        audit = relay.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: list(
                s.scalars(select(db.AuditLog).where(db.AuditLog.action == "export.reports"))
            )
        )
        assert len(audit) == 1 and audit[0].actor == "dana"
        detail = json.loads(audit[0].detail)
        assert detail["sha256"] == hashlib.sha256(data).hexdigest() and detail["count"] == 1
        assert "burglary" in detail["scope"] and "van" not in audit[0].detail
        assert window.exports.controller.last_audit_seq == audit[0].seq

        # CSV with Excel's BOM, read back
        dialog = window.exports.export_feed()
        dialog.set_format("csv")
        assert dialog.bom.isEnabled()
        dialog.bom.setChecked(True)
        dialog.path_edit.setText(str(tmp_path / "out" / "feed.csv"))
        dialog.accept()
        await _until(lambda: len(done) == 2 or bool(problems))
        raw = done[1].read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        assert [r["report_id"] for r in rows] == [shown.report_id]

        # the map view: what the officer sees there, by the bounds the real page reports
        window.map.focus_report(shown.report_id)

        where = session.reports[shown.report_id]

        def in_view() -> bool:
            b = window.map.visible_bounds
            return b is not None and b[0] <= where.lon <= b[2] and b[1] <= where.lat <= b[3]

        await _until(in_view, timeout=20)
        dialog = window.exports.export_map_view()
        assert dialog.job.scope.startswith("map view: ")  # bounded, not "everything"
        assert [r.report_id for r in dialog.job.reports] == [shown.report_id]  # feed filter
        dialog.reject()

        # the selected incident with its reports, as KML 2.2 the OGC schema accepts
        sam = await officer(relay, "sam", subscribe=None)
        inc = await sam.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Sheds"))
        assert isinstance(inc, m.IncidentCreated)
        ref = inc.incident_ref
        linked = await sam.request(
            m.ReportLink(id=next_id(), idem=next_id(), report_id=shown.report_id, incident_ref=ref)
        )
        assert isinstance(linked, m.Ack)
        await sam.close()
        model = window.incidents.model
        await _until(lambda: ref in model.refs() and len(model.reports_of(ref)) == 1)
        window.incidents.select_incident(ref)
        await _until(lambda: window.incidents.selected_incident() == ref)
        assert window.exports.incident_action.isEnabled()
        dialog = window.exports.export_incident()
        assert dialog is not None
        dialog.set_format("kml")
        dialog.path_edit.setText(str(tmp_path / "out" / "incident.kml"))
        dialog.accept()
        await _until(lambda: len(done) == 3 or bool(problems))
        assert problems == []
        root = etree.fromstring(done[2].read_bytes())
        assert _kml_schema().validate(root), _kml_schema().error_log
        assert ref.encode() in done[2].read_bytes()

        # off the relay: told why, nothing written
        await session.stop()
        dialog = window.exports.export_feed()
        offline = tmp_path / "out" / "offline.kml"
        dialog.set_format("kml")
        dialog.path_edit.setText(str(offline))
        dialog.accept()
        await _until(lambda: bool(problems))
        assert "Nothing was written" in problems[0] and "Not connected" in problems[0]
        assert not offline.exists()
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
            "feed.csv",
            "feed.geojson",
            "incident.kml",
        ]
    finally:
        window.close()
        await session.stop()
        if phone is not None:
            await phone.close()
        await relay.relay.stop()  # type: ignore[attr-defined]


def test_the_dialog_follows_the_format(qtbot: Any, tmp_path: Path) -> None:
    """The ending follows the format, the BOM is for CSV only, the count says what the
    format holds (a map view's CSV: its reports only), and an empty view saves nothing."""

    job = em.map_job([make_report(1), make_report(2)], [alert()], bounded=False)
    dialog = ExportDialog(job, tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.path_edit.text().endswith(".geojson") and not dialog.bom.isEnabled()
    assert "3 items" in dialog.summary.text()
    dialog.set_format("csv")
    assert dialog.path_edit.text().endswith(".csv") and dialog.bom.isEnabled()
    assert "2 items" in dialog.summary.text() and "one kind" in dialog.summary.text()
    dialog.path_edit.setText(str(tmp_path / "mine"))
    assert dialog.path() == tmp_path / "mine.csv"
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert save.isEnabled()
    empty = ExportDialog(em.feed_job([], "feed: filter new; 0 rows"), tmp_path)
    qtbot.addWidget(empty)
    assert not empty.buttons.button(QDialogButtonBox.StandardButton.Save).isEnabled()
