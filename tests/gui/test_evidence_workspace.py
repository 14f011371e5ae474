"""The analyst's workspace over a real package: made by the real relay over TLS, exported
by `lookout-relay evidence export`, opened headless with no relay."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.evidence.model import MediaUnavailable, load, read_media, timeline
from console.workspace_window import WorkspaceWindow
from tests.support.console import js
from tests.support.evidence_case import HTML_TEXT, Case, export, make_case, signer
from tests.support.workspace import workspaces

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return make_case(tmp_path_factory.mktemp("evidence") / "relay")


@pytest.fixture(scope="module")
def package(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(case, tmp_path_factory.mktemp("pkg"))


def _fp(case: Case) -> str:
    return signer(case.data_dir)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tampered(package: Path, out: Path, entry: str, old: bytes, new: bytes) -> Path:
    """A copy of `package` with `old` changed to `new` in `entry` (nothing re-signed)."""
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == entry:
                assert old in data
                data = data.replace(old, new, 1)
            dst.writestr(info, data)
    return out


@pytest.fixture
def open_workspace(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    with workspaces(qtbot, tmp_path) as go:
        yield go


def test_a_pinned_package_says_verified_and_lists_its_reports(open_workspace, case, package):
    w = open_workspace(package, _fp(case))
    assert w.banner.verdict is not None and w.banner.verdict.level == "verified"
    assert _fp(case) in w.banner.headline.text()
    assert w.banner.failures.isHidden()
    ids = {w.feed.model.report_at(row).report_id for row in range(w.feed.model.rowCount())}
    assert ids == set(case.reports)
    # the hostile text is shown as the citizen typed it, through the live feed's own model
    assert any(HTML_TEXT in w.feed.model.report_at(r).text for r in range(2))
    lanes = {e.lane for e in w.timeline.events}
    assert lanes == {"report", "chat", "alert", "audit"}
    assert w.chat.model is not None and "They ran off" in {
        c.text for c in w.session.chats[case.reports[0]]
    }


def test_a_report_that_no_longer_parses_is_listed_and_its_neighbours_still_shown(
    open_workspace, package, tmp_path
):
    bad = _tampered(
        package, tmp_path / "bad.lookout-evidence", "reports.json", b'"burglary"', b'"burglarx"'
    )
    w = open_workspace(bad)
    listed = [w.banner.failures.item(i).text() for i in range(w.banner.failures.count())]
    assert any("reports.json item" in line for line in listed), listed
    assert w.feed.model.rowCount() == 1


def test_an_unpinned_package_says_so(open_workspace, case, package):
    w = open_workspace(package)
    assert w.banner.verdict.level == "unpinned"
    assert "not pinned" in w.banner.headline.text() and _fp(case) in w.banner.headline.text()


def test_a_tampered_package_opens_read_only_with_the_failure_listed(
    open_workspace, package, tmp_path
):
    bad = _tampered(
        package, tmp_path / "bad.lookout-evidence", "reports.json", b"Elm Road", b"Elm Roae"
    )
    w = open_workspace(bad)
    assert w.banner.verdict.level == "failed"
    assert "FAILED" in w.banner.headline.text()
    listed = [w.banner.failures.item(i).text() for i in range(w.banner.failures.count())]
    assert any(line.startswith("FAIL file reports.json") for line in listed), listed
    assert w.banner.failures.isVisible()
    assert w.feed.model.rowCount() == 2  # still open for review, failures marked above
    titles = {d.widget(): d.windowTitle() for d in w._dock_entries}
    assert "FAILED VERIFICATION: reports.json" in titles[w.feed]
    assert "FAILED" not in titles[w.chat]
    assert w.feed.action_bar.isHidden() and w.chat.compose_row.isHidden()


def test_the_package_bytes_are_unchanged_after_a_session(open_workspace, case, package, qtbot):
    before, mtime = _sha(package), package.stat().st_mtime_ns
    w = open_workspace(package, _fp(case))
    got: list[bytes] = []
    w.session.fetch_media(case.photo_sha, lambda _mime, data: got.append(data), pytest.fail)
    qtbot.waitUntil(lambda: bool(got), timeout=10_000)
    assert got == [case.photo]
    w._select(case.reports[1])
    w.timeline.plot.getViewBox().scaleBy((0.5, 1))  # zoom in
    w.close()
    assert (_sha(package), package.stat().st_mtime_ns) == (before, mtime)


def test_the_timeline_zooms(open_workspace, case, package):
    w = open_workspace(package, _fp(case))
    low, high = w.timeline.x_range()
    w.timeline.plot.getViewBox().scaleBy((0.25, 1))
    zlow, zhigh = w.timeline.x_range()
    assert zhigh - zlow == pytest.approx((high - low) * 0.25, rel=0.01)
    w.timeline.show_all()
    assert w.timeline.x_range() == pytest.approx((low, high))


def test_the_model_reads_the_package_into_wire_structs(case, package):
    p = load(package)
    assert p.problems == []
    assert sorted(r.report_id for r in p.reports) == sorted(case.reports)
    assert [v["msg_type"] for v in p.alerts[0].versions] == ["Alert", "Update", "Cancel"]
    assert [i.incident_ref for i in p.incidents] == [case.incident_ref]
    assert any(a.concerns for a in p.audit)
    events = timeline(p)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert read_media(package, case.photo_sha) == case.photo


def test_altered_media_is_refused_not_shown(package, case, tmp_path):
    bad = tmp_path / "bad.lookout-evidence"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == f"media/{case.photo_sha}":
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.writestr(info, data)
    with pytest.raises(MediaUnavailable, match="altered"):
        read_media(bad, case.photo_sha)


@pytest.mark.slow
def test_lookout_evidence_renders_a_screenshot_offline_and_leaves_the_package_alone(
    case, package, tmp_path
):
    from PIL import Image

    from tests.gui.test_app_live import _lookout

    before = _sha(package)
    shot = tmp_path / "ws.png"
    done = _lookout(
        tmp_path,
        *("--evidence", str(package), "--fingerprint", _fp(case)),
        *("--screenshot", str(shot), "--quit-after", "2"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"screenshot written to {shot}" in done.stdout
    with Image.open(shot) as image:
        assert image.width >= 1500 and image.height >= 900, image.size
    assert _sha(package) == before
    assert not list((tmp_path / "tmp").glob("lookout-evidence-*")), "the private outbox was left"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--fingerprint", "ab"], "--fingerprint only applies with --evidence"),
        (["--evidence", "x.lookout-evidence", "--demo"], "it takes no relay, login or demo"),
        (["--evidence", "/nonexistent/x.lookout-evidence"], "--evidence: no such file"),
    ],
)
def test_lookout_evidence_refuses_bad_arguments(args, error, capsys, tmp_path, monkeypatch):
    from demo.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.lookout-evidence").write_bytes(b"")
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err


def test_clicking_a_timeline_point_opens_its_report(open_workspace, case, package, qtbot):
    w = open_workspace(package, _fp(case))
    reports = w.timeline._scatters[0]  # the first lane that has points: reports
    point = next(p for p in reports.points() if p.data().report_id == case.reports[1])
    with qtbot.waitSignal(w.timeline.report_selected, timeout=5_000) as got:
        reports.sigClicked.emit(reports, [point], None)
    assert got.args == [case.reports[1]]
    assert w.detail.report_id == case.reports[1]
    assert w.chat.current == case.reports[1]


def test_brushing_the_timeline_narrows_the_reports_list(open_workspace, case, package):
    w = open_workspace(package, _fp(case))
    one = next(r for r in w.package.reports if r.report_id == case.reports[1])
    w.timeline.set_brush(one.created_at, one.created_at)
    assert w.feed.model.rowCount() == 1
    assert w.feed.model.report_at(0).report_id == case.reports[1]
    w.feed.show_closed.setChecked(False)  # the filter bar keeps the brush
    assert w.feed.model.rowCount() == 1
    w.timeline.brush_button.setChecked(False)
    assert w.feed.model.rowCount() == 2


def test_the_audit_trail_follows_the_selected_report(open_workspace, case, package):
    w = open_workspace(package, _fp(case))
    w._select(case.reports[0])
    actions = {w.audit.item(row, 3).text() for row in range(w.audit.rowCount())}
    assert "report.link" in actions, actions
    assert "login" not in actions
    w._select(case.far_report)  # not in the package: nothing about it
    assert w.audit.rowCount() == 0


def test_the_incidents_pane_narrows_the_reports_list(open_workspace, case, package):
    w = open_workspace(package, _fp(case))
    assert w.incidents.table.rowCount() == 1
    cells = [w.incidents.table.item(0, c).text() for c in range(4)]
    assert cells[0] == case.incident_ref and cells[3] == "2", cells
    w.incidents.select_incident(case.incident_ref)
    ids = {w.feed.model.report_at(r).report_id for r in range(w.feed.model.rowCount())}
    assert ids == set(case.reports)
    one = next(r for r in w.package.reports if r.report_id == case.reports[1])
    w.timeline.set_brush(one.created_at, one.created_at)  # the brush narrows it further
    assert w.feed.model.rowCount() == 1
    w.timeline.brush_button.setChecked(False)
    w.incidents.select_incident(None)
    assert w.feed.model.rowCount() == 2


def test_the_audit_trail_filters_by_actor_or_action(open_workspace, case, package):
    w = open_workspace(package, _fp(case))
    w._select(case.reports[0])
    actions = [w.audit.item(row, 3).text() for row in range(w.audit.rowCount())]
    assert "report.link" in actions and len(set(actions)) > 1, actions
    w.audit_filter.search.setText("REPORT.LINK")
    shown = {w.audit.item(row, 3).text() for row in w.audit_filter.shown_rows()}
    assert shown == {"report.link"}
    w.audit_filter.search.setText("nobody-did-this")
    assert w.audit_filter.shown_rows() == []
    w.audit_filter.search.clear()
    assert len(w.audit_filter.shown_rows()) == w.audit.rowCount()


def _map_stats(qtbot: Any, w: WorkspaceWindow) -> dict[str, Any]:
    qtbot.waitUntil(lambda: w.map.ready, timeout=30_000)  # the panes fill before the page loads
    return json.loads(js(qtbot, w.map, "JSON.stringify(LookoutMap.stats())"))


def test_every_superseded_version_of_an_alert_is_on_the_map(open_workspace, case, package, qtbot):
    w = open_workspace(package, _fp(case))
    (record,) = w.package.alerts
    assert (
        record.alert.alert_id == case.alert_id and len(record.versions) == 3
    )  # sent, updated, cancelled
    qtbot.waitUntil(lambda: _map_stats(qtbot, w)["superseded"] == len(record.versions) - 1)
    script = f"JSON.stringify(LookoutMap.supersededLabels({json.dumps(case.alert_id)}))"
    labels = json.loads(js(qtbot, w.map, script))
    assert [label.split(" · ")[0] for label in labels] == ["v1 Alert", "v2 Update"], labels
    assert _map_stats(qtbot, w)["alerts"] == 1  # the current area, cancelled: shown as before


def test_the_brush_narrows_the_map_and_the_chat_list_as_the_reports_list(
    open_workspace, case, package, qtbot
):
    w = open_workspace(package, _fp(case))
    qtbot.waitUntil(lambda: _map_stats(qtbot, w)["clustered"] == 2)
    assert w.chat.list.count() == 1  # the chat on the first report
    one = next(r for r in w.package.reports if r.report_id == case.reports[1])
    w.timeline.set_brush(one.created_at, one.created_at)  # before any chat message
    assert w.feed.model.rowCount() == 1
    qtbot.waitUntil(lambda: _map_stats(qtbot, w)["clustered"] == w.feed.model.rowCount())
    assert w.chat.list.count() == 0
    w.timeline.clear_brush()
    qtbot.waitUntil(lambda: _map_stats(qtbot, w)["clustered"] == 2)
    assert w.chat.list.count() == 1
    # the Incidents pane narrows the list, and so the map, the same way
    w.incidents.select_incident(case.incident_ref)
    w.feed.search.setText(case.reports[0])  # the filter bar too
    qtbot.waitUntil(lambda: w.feed.model.rowCount() == 1)
    qtbot.waitUntil(lambda: _map_stats(qtbot, w)["clustered"] == 1)


def test_the_photo_pane_says_it_loads_from_the_package(open_workspace, case, package):
    w = open_workspace(package, _fp(case))
    w.detail.show_report(case.reports[1])  # another report, so the photo is fetched anew
    w.detail.show_report(case.reports[0])
    item = w.detail.media_items[case.photo_sha]
    assert item.status_label.text() == "Loading from the package…"
    assert "relay" not in item.status_label.text()


def test_selecting_a_report_outside_the_brush_clears_it_and_shows_the_report(
    open_workspace, case, package, qtbot
):
    w = open_workspace(package, _fp(case))
    one = next(r for r in w.package.reports if r.report_id == case.reports[1])
    w.timeline.set_brush(one.created_at, one.created_at)
    assert w.feed.model.row_of(case.reports[0]) is None
    w._select(case.reports[0])
    assert w.timeline.brush_range() is None
    assert w.feed.model.row_of(case.reports[0]) is not None
    assert w.feed.current_report().report_id == case.reports[0]
    assert "brush" in w.feed.note.text() and case.reports[0] in w.feed.note.text()
    qtbot.waitUntil(lambda: _map_stats(qtbot, w)["clustered"] == 2)


def test_a_report_without_chat_does_not_invite_a_reply(open_workspace, case, package):
    w = open_workspace(package, _fp(case))
    w.chat.open_conversation(case.far_report)
    text = w.chat.panes[case.far_report].empty_label.text()
    assert text == "No messages about this report." and "Write" not in text
