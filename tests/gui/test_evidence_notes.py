"""The workspace's Notes and Statistics panes over a real package (issue 10, items 4 and 7):
notes, tags and bookmarks and the media access log go to the sidecar beside the package,
survive reopening, and never touch the package; a broken sidecar is said, not hidden; the
figures are `evidence.stats`'s own."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.evidence import notebook
from console.workspace_window import WorkspaceWindow
from evidence import sidecar, stats
from evidence.verify import verify
from tests.support.evidence_case import HTML_TEXT, Case, export, make_case
from tests.support.workspace import workspaces

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return make_case(tmp_path_factory.mktemp("evidence") / "relay")


@pytest.fixture(scope="module")
def exported(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(case, tmp_path_factory.mktemp("pkg"))


@pytest.fixture
def package(exported: Path, tmp_path: Path) -> Path:
    """A private copy: the sidecar goes beside it, and each test starts with none."""
    return Path(shutil.copy(exported, tmp_path / exported.name))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def open_workspace(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    with workspaces(qtbot, tmp_path, "ana") as go:
        yield go


def _listed(w: WorkspaceWindow) -> list[str]:
    return [w.notes.listing.item(i).text() for i in range(w.notes.listing.count())]


def _target(w: WorkspaceWindow, kind: str) -> notebook.Target:
    return next(t for t in w.notes.targets if t.type == kind)


def _annotate(w: WorkspaceWindow, kind: str, button: str, text: str) -> None:
    w.notes.choose(_target(w, kind))
    w.notes.text.setPlainText(text)
    w.notes.buttons[button].click()
    assert w.notes.error.isHidden(), w.notes.error.text()


def test_notes_tags_bookmarks_and_media_views_survive_reopening(
    open_workspace, case, package, qtbot
):
    before = _sha(package)
    w = open_workspace(package)
    w._select(case.reports[0])  # the report with the photo: the detail pane shows it

    def viewed() -> bool:
        assert w.notebook is not None and w.notebook.sidecar is not None
        access = w.notebook.sidecar.state().access
        return any(r["target"] == {"type": "media", "id": case.photo_sha} for r in access)

    qtbot.waitUntil(viewed, timeout=10_000)
    one = next(r for r in w.package.reports if r.report_id == case.reports[0])
    w.timeline.set_brush(one.created_at - 60, one.created_at + 60)
    assert {t.type for t in w.notes.targets} == {"report", "media", "time_range"}

    _annotate(w, "report", "note", HTML_TEXT)  # kept and shown as typed, never as markup
    _annotate(w, "report", "note", "a second thought")
    _annotate(w, "media", "tag", "door-handle")
    _annotate(w, "time_range", "bookmark", "the first minutes")
    w.timeline.set_brush(one.created_at - 90, one.created_at + 90)  # moving the brush
    assert w.notes.current_target() == notebook.range_target(
        one.created_at - 90, one.created_at + 90
    )
    assert any("Bookmark: the first minutes" in t for t in _listed(w))  # it overlaps
    # retract the second note: it leaves what is in force, and stays in the file
    w.notes.choose(_target(w, "report"))
    row = next(i for i, t in enumerate(_listed(w)) if "a second thought" in t)
    w.notes.listing.setCurrentRow(row)
    w.notes.retract_button.click()
    shown = _listed(w)
    assert not any("a second thought" in t for t in shown)
    assert any(t.endswith(f"Note: {HTML_TEXT}") for t in shown), shown
    assert any("Bookmark: the first minutes" in t for t in shown)  # its range holds the report
    w.close()

    again = open_workspace(package, analyst="ben")
    assert again.notebook is not None and again.notebook.writable
    again._select(case.reports[0])
    report = notebook.report_target(case.reports[0], one.created_at)
    media = notebook.media_target(case.photo_sha, "image/jpeg")
    texts = [r["body"] for r in again.notebook.in_force(report)]
    assert {"text": HTML_TEXT} in texts and {"text": "a second thought"} not in texts
    assert {"label": "the first minutes"} in texts
    assert [r["body"] for r in again.notebook.in_force(media)] == [{"tag": "door-handle"}]
    again.notes.choose(_target(again, "media"))
    assert any("Tag: door-handle" in t and " ana " in t for t in _listed(again))
    access = again.notebook.sidecar.state().access  # type: ignore[union-attr]
    assert any(r["who"] == "ana" and r["target"]["id"] == case.photo_sha for r in access)
    # the sidecar checks, as the standalone verifier reads it; the package is untouched
    assert verify(package).sidecar is not None and verify(package).sidecar.ok
    assert sidecar.path_for(package).exists()
    assert _sha(package) == before


def test_a_tampered_sidecar_is_reported_and_the_notes_open_read_only(
    open_workspace, case, package, qtbot
):
    w = open_workspace(package)
    _annotate(w, "report", "note", "original words")
    w.close()
    side = sidecar.path_for(package)
    side.write_text(side.read_text().replace("original words", "changed words"))
    tampered = side.read_bytes()

    again = open_workspace(package)
    listed = [again.banner.failures.item(i).text() for i in range(again.banner.failures.count())]
    assert any("Notes are read-only" in t and side.name in t for t in listed), listed
    assert again.notes.status.text().startswith("READ-ONLY")
    assert again.notes_dock.windowTitle() == "Notes — READ-ONLY"
    assert again.banner.verdict.level == "unpinned"  # the package itself is still sound
    assert not again.notes.buttons["note"].isEnabled()
    assert again.notebook is not None and not again.notebook.writable
    # what still checks: the lines before the edited note (the first report's photo may
    # have been shown, and its view logged, before or after the note was added)
    kinds = [r["kind"] for r in again.notebook.records()]
    assert kinds[0] == "opened" and "note" not in kinds and set(kinds) <= {"opened", "access"}
    again._select(case.reports[0])  # the photo is shown, but nothing is appended
    qtbot.waitUntil(lambda: case.photo_sha in again.detail.media_items, timeout=5_000)
    assert side.read_bytes() == tampered


def test_the_statistics_are_evidence_stats_and_export_as_csv(
    open_workspace, case, package, qtbot, tmp_path
):
    w = open_workspace(package)
    qtbot.waitUntil(lambda: w.statistics.figures is not None, timeout=10_000)
    want = stats.compute(stats.load(package))
    got = w.statistics.figures
    assert got is not None
    assert (got.reports, got.by_category, got.by_hour, got.by_weekday) == (
        want.reports,
        want.by_category,
        want.by_hour,
        want.by_weekday,
    )
    assert got.response_s == want.response_s
    assert w.statistics.bar_heights("hour") == want.by_hour
    assert w.statistics.bar_heights("category") == [n for _, n in sorted(want.by_category.items())]
    answered = sorted(s for s in want.response_s.values() if s is not None)
    per, _unit = w.statistics.response_unit
    assert w.statistics.bar_heights("response") == pytest.approx([s / per for s in answered])

    # the figures follow the reports in view: a brush over one report
    one = next(r for r in w.package.reports if r.report_id == case.reports[1])
    w.timeline.set_brush(one.created_at, one.created_at)
    qtbot.waitUntil(lambda: w.statistics.figures.reports == 1, timeout=5_000)
    assert set(w.statistics.figures.response_s) == {case.reports[1]}

    written = w.statistics.export_csv(tmp_path / "tables")
    assert sorted(p.name for p in written) == sorted(f"{n}.csv" for n in stats.tables(want))
    hour = (tmp_path / "tables" / "by_hour.csv").read_bytes().decode("utf-8")
    assert hour == stats.write_csv(stats.tables(w.statistics.figures)["by_hour"])
    assert hour.splitlines()[0] == "hour,reports"


def test_analyst_needs_evidence(capsys, monkeypatch, tmp_path):
    from demo.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["--analyst", "ana"])
    assert exit_.value.code == 2
    assert "--analyst only applies with --evidence" in capsys.readouterr().err
