"""The workspace's Alerts pane, its chat search and its CSV export off the GUI thread, over
real packages made by the real relay over TLS and `lookout-relay evidence export`."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import zipfile
from pathlib import Path

import pytest

from backend_client import messages as m
from console.evidence import report as report_content
from tests.conftest import start_relay
from tests.gui.test_evidence_workspace import (  # noqa: F401 - pytest fixtures
    _fp,
    _tampered,
    case,
    open_workspace,
    package,
)
from tests.support.flows import alert_info, officer
from tests.support.peer import next_id

pytestmark = pytest.mark.gui

HOSTILE = '<b>Bold</b> & <script>alert("x")</script> ]]> "quoted"'


def _cap(pkg: Path, entry: str) -> str:
    with zipfile.ZipFile(pkg) as zf:
        return zf.read(entry).decode("utf-8")


def _rows(w) -> list[tuple[str, ...]]:
    t = w.alerts_view.table
    return [
        tuple(t.item(r, c).text() for c in range(t.columnCount()))
        for r in w.alerts_view.filter.shown_rows()
    ]


def test_the_alerts_pane_lists_every_message_and_its_search_narrows_them(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    package,  # noqa: F811
):
    w = open_workspace(package, _fp(case))
    docks = {d.windowTitle() for d in w.tabifiedDockWidgets(w._docks[3])}
    assert {"Alerts", "Audit trail", "Statistics"} <= docks
    rows = _rows(w)
    # the case's alert was sent, updated, then cancelled: three CAP messages, in order
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (case.alert_id, "1", "Alert"),
        (case.alert_id, "2", "Update"),
        (case.alert_id, "3", "Cancel"),
    ]
    assert rows[0][4] == "Burglaries tonight" and rows[1][4] == "Burglaries: update"
    assert all(r[5] == "Security: burglary" and r[6].startswith("polygon") for r in rows)
    assert all(r[3].startswith("20") for r in rows)
    # counts are the alert's as it stands now, on its latest message only
    assert rows[0][7] == rows[1][7] == "" and rows[2][7]

    search = w.alerts_view.filter.search
    search.setText("UPDATE")  # the cancel carries the updated headline
    assert [r[1] for r in _rows(w)] == ["2", "3"]
    search.setText("tonight")
    assert [r[1] for r in _rows(w)] == ["1"]
    search.setText("lock doors")  # the description, not a column, is searched too
    assert len(_rows(w)) == 3
    search.setText("cancel")
    assert [r[1] for r in _rows(w)] == ["3"]
    search.setText("nothing like this")
    assert _rows(w) == []
    search.clear()
    assert len(_rows(w)) == 3


def test_selecting_a_message_shows_its_area_incident_and_exact_cap_xml(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    package,  # noqa: F811
    qtbot,
):
    w = open_workspace(package, _fp(case))
    view = w.alerts_view
    with (
        qtbot.waitSignal(view.alert_chosen, timeout=5_000) as chosen,
        qtbot.waitSignal(view.cap_shown, timeout=10_000) as shown,
    ):
        view.select_version(case.alert_id, 2)
    alert = chosen.args[0]
    assert isinstance(alert, m.Alert) and alert.alert_id == case.alert_id
    assert alert.msg_type == "Update" and alert.info.headline == "Burglaries: update"
    assert case.alert_id in w.map._pinned_alerts  # shown on the map, whatever its state
    assert w.incidents.chosen() == case.incident_ref  # the Reports list narrowed to it
    entry = shown.args[0]
    assert entry == f"cap/{case.alert_id}/2.xml"
    assert view.cap.isReadOnly()
    assert view.cap.toPlainText() == _cap(package, entry)
    assert "<msgType>Update</msgType>" in view.cap.toPlainText()
    assert "matches the manifest" in view.cap_label.text()


def test_a_cap_file_altered_after_signing_is_shown_and_said_to_differ(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    package,  # noqa: F811
    qtbot,
    tmp_path,
):
    entry = f"cap/{case.alert_id}/1.xml"
    bad = _tampered(
        package, tmp_path / "bad.lookout-evidence", entry, b"Burglaries tonight", b"All clear"
    )
    w = open_workspace(bad)
    alerts_dock = next(d for d in w._dock_entries if d.windowTitle().startswith("Alerts"))
    assert "FAILED VERIFICATION" in alerts_dock.windowTitle() and entry in alerts_dock.windowTitle()
    with qtbot.waitSignal(w.alerts_view.cap_shown, timeout=10_000):
        w.alerts_view.select_version(case.alert_id, 1)
    assert "All clear" in w.alerts_view.cap.toPlainText()
    assert "DOES NOT MATCH THE MANIFEST" in w.alerts_view.cap_label.text()


async def _hostile(data_dir: Path) -> tuple[str, str]:
    """An incident's alert whose update carries markup in its headline and description."""
    r = await start_relay(data_dir)
    try:
        off = await officer(r, "dana")
        inc = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Op Mark"))
        assert isinstance(inc, m.IncidentCreated), inc
        ref = inc.incident_ref
        acc = await off.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(incident_ref=ref))
        )
        assert isinstance(acc, m.AlertAccepted), acc
        info = alert_info(incident_ref=ref, headline=HOSTILE, description=HOSTILE)
        upd = await off.request(
            m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=acc.alert.alert_id, info=info)
        )
        assert isinstance(upd, m.AlertAccepted), upd
        await off.close()
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
    return ref, acc.alert.alert_id


def test_a_hostile_headline_is_shown_literally_in_the_row_and_the_cap_xml(
    open_workspace,  # noqa: F811
    qtbot,
    tmp_path,
):
    from relay import cli as relay_cli

    data = tmp_path / "relay"
    ref, alert_id = asyncio.run(_hostile(data))
    out = tmp_path / "mark.lookout-evidence"
    argv = ["evidence", "export", "--data-dir", str(data), "--out", str(out), "--incident", ref]
    assert relay_cli.main([*argv, "--reason", "review"]) == 0
    w = open_workspace(out)
    view = w.alerts_view
    assert [r[4] for r in _rows(w)] == ["Burglaries tonight", HOSTILE]
    view.filter.search.setText("<script>")  # searched as the text it is
    assert [r[1] for r in _rows(w)] == ["2"]
    with qtbot.waitSignal(view.cap_shown, timeout=10_000) as shown:
        view.select_version(alert_id, 2)
    text = view.cap.toPlainText()
    assert text == _cap(out, shown.args[0])  # exactly the bytes sent, nothing rendered
    assert "<headline>&lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;" in text
    assert HOSTILE not in view.cap_label.text()


def test_the_items_csv_is_built_off_the_gui_thread_and_holds_the_hashes(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    package,  # noqa: F811
    qtbot,
    tmp_path,
    monkeypatch,
):
    w = open_workspace(package, _fp(case))
    threads: list[threading.Thread] = []
    real = report_content.items_csv

    def spied(content: report_content.Content) -> str:
        threads.append(threading.current_thread())
        return real(content)

    monkeypatch.setattr(report_content, "items_csv", spied)
    out = tmp_path / "items.csv"
    with qtbot.waitSignal(w.csv_written, timeout=60_000) as written:
        assert w.export_items_csv(out)
        assert "Writing the items" in w.statusBar().currentMessage()
    assert written.args == [out, 2]
    assert threads and threads[0] is not threading.main_thread()
    assert "Items written" in w.statusBar().currentMessage()
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8"))))
    assert {r[0] for r in rows[1:]} == set(case.reports)
    assert case.photo_sha in {r[9] for r in rows[1:]}


def test_a_csv_that_cannot_be_written_says_why(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    package,  # noqa: F811
    qtbot,
    tmp_path,
):
    w = open_workspace(package, _fp(case))
    with qtbot.waitSignal(w.csv_failed, timeout=60_000):
        assert w.export_items_csv(tmp_path / "no-such-dir" / "items.csv")
    assert "could not be written" in w.statusBar().currentMessage()


def test_the_workspace_chat_search_narrows_its_transcripts(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    package,  # noqa: F811
):
    w = open_workspace(package, _fp(case))
    w.chat.open_conversation(case.reports[1])  # a second conversation, with no messages
    assert {r[0] for r in w.chat.list_rows()} == set(case.reports)
    w.chat.search.setText("THEY RAN")
    assert [r[0] for r in w.chat.list_rows()] == [case.reports[0]]
    w.chat.search.setText("dana")  # the officer who replied
    assert [r[0] for r in w.chat.list_rows()] == [case.reports[0]]
    w.chat.search.setText("no such words")
    assert w.chat.list_rows() == []
