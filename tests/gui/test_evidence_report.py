"""The analyst's report (PDF and CSV) from the workspace over a real exported package,
read back with poppler's `pdftotext`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from console.evidence import report_pdf
from evidence.sidecar import Sidecar, path_for
from tests.gui.test_evidence_workspace import (  # noqa: F401 - pytest fixtures
    _fp,
    _tampered,
    case,
    open_workspace,
    package,
)
from tests.support.evidence_case import HTML_TEXT

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils"),
]

NOTE = "<i>not italic</i> & <script>x()</script> seen on CCTV"


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def _export_pdf(qtbot, w, pdf: Path) -> int:
    """Export the PDF (written off the GUI thread) and wait for it; its page count."""
    with qtbot.waitSignal(w.pdf_written, timeout=60_000) as written:
        assert w.export_report_pdf(pdf)
    assert written.args[0] == pdf and pdf.is_file()
    assert "Report written" in w.statusBar().currentMessage()
    return int(written.args[1])


def _export_csv(qtbot, w, out: Path) -> list[list[str]]:
    """Export the items CSV (built and written off the GUI thread), wait for it; its rows."""
    with qtbot.waitSignal(w.csv_written, timeout=60_000) as written:
        assert w.export_items_csv(out)
    assert written.args[0] == out
    assert "Items written" in w.statusBar().currentMessage()
    return list(csv.reader(io.StringIO(out.read_text("utf-8"))))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def annotated(package: Path, tmp_path: Path, case) -> tuple[Path, str]:  # noqa: F811
    """A copy of the package with a sidecar: a note (hostile text) and a tag on the first
    report, a bookmark on its photo. Returns it and the sidecar's last hash."""
    copy = tmp_path / package.name
    shutil.copyfile(package, copy)
    with zipfile.ZipFile(copy) as zf:
        manifest = zf.read("manifest.json")
    root = json.loads(manifest)["merkle_root"]
    side = Sidecar.open(copy, root, hashlib.sha256(manifest).hexdigest(), "ana")
    side.note({"type": "report", "id": case.reports[0]}, NOTE)
    side.tag({"type": "report", "id": case.reports[0]}, "door-handles")
    last = side.bookmark({"type": "media", "id": case.photo_sha}, "the face")
    return copy, last["hash"]


def test_the_pdf_holds_the_items_hashes_verdict_and_annotations(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    annotated,
    tmp_path,
    qtbot,
):
    pkg, _annotated_hash = annotated
    before = (_sha(pkg), pkg.stat().st_mtime_ns, path_for(pkg).read_bytes())
    w = open_workspace(pkg, _fp(case))
    qtbot.waitUntil(lambda: w.map.settled, timeout=30_000)  # drawn, so it can be grabbed
    pdf = tmp_path / "report.pdf"
    pages = _export_pdf(qtbot, w, pdf)
    assert pages >= 2
    text = _text(pdf)
    flat = " ".join(text.split())
    for rid in case.reports:  # the package holds the incident's two reports
        assert rid in text
    assert case.far_report not in text
    assert case.photo_sha in text
    assert w.package is not None
    assert w.package.manifest["merkle_root"] in text
    assert "Verification: VERIFIED" in text and _fp(case) in text
    # citizen and analyst text is printed as typed, never read as markup
    assert HTML_TEXT in text
    assert " ".join(NOTE.split()) in flat
    # the map's own image when the offscreen grab drew it (it sometimes draws nothing
    # under a loaded suite even once settled), else the plot, said so: never a blank box
    assert ("The workspace's map as the analyst left it." in text) != (
        "The map view could not be captured here" in text
    )
    assert "door-handles" in text and "the face" in text
    # the sidecar's head at export (the workspace appended the photo's view to it)
    after = path_for(pkg).read_bytes()
    last_hash = json.loads(after.splitlines()[-1])["hash"]
    assert last_hash in text
    # every page carries the package hash and its number
    assert text.count(f"package SHA-256 {before[0]}") == pages
    assert f"page {pages} of {pages}" in text
    # nothing was written to the package; the sidecar only grew by access records
    assert (_sha(pkg), pkg.stat().st_mtime_ns) == before[:2]
    assert after.startswith(before[2])
    added = [json.loads(x)["kind"] for x in after[len(before[2]) :].splitlines()]
    assert set(added) <= {"access"}


def test_the_report_and_csv_hold_only_what_the_reports_list_shows(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    package,  # noqa: F811
    tmp_path,
    qtbot,
):
    w = open_workspace(package, _fp(case))
    file_menu = w.menuBar().actions()[0].menu()
    assert [a.text() for a in file_menu.actions() if a.text()] == [
        "Export report (PDF)…",
        "Export items (CSV)…",
        "Redact photo…",  # issue 10 item 5 (tests/gui/test_evidence_redaction.py)
        "Redact video…",  # tests/gui/test_evidence_redaction_video.py
        "Export disclosure package…",
    ]
    first = w.feed.model.report(case.reports[0])
    assert first is not None
    w.timeline.set_brush(first.created_at - 0.01, first.created_at + 0.01)
    assert w.feed.model.rowCount() == 1
    _export_pdf(qtbot, w, tmp_path / "one.pdf")
    rows = _export_csv(qtbot, w, tmp_path / "one.csv")
    text = _text(tmp_path / "one.pdf")
    assert case.reports[0] in text and case.reports[1] not in text
    assert "The 1 of 2 reports" in text
    assert rows[0][0] == "report_id" and [r[0] for r in rows[1:]] == [case.reports[0]]
    assert rows[1][9] == case.photo_sha
    assert rows[1][1].endswith("Z") and rows[1][10] == "2"  # the chat both ways

    w.timeline.brush_button.setChecked(False)  # the brush taken away: every report again
    assert w.feed.model.rowCount() == 2
    rows = _export_csv(qtbot, w, tmp_path / "all.csv")
    assert {r[0] for r in rows[1:]} == set(case.reports)
    assert HTML_TEXT in {r[8] for r in rows[1:]}


def test_a_tampered_package_report_says_failed_with_each_failure(
    open_workspace,  # noqa: F811
    package,  # noqa: F811
    tmp_path,
    qtbot,
):
    bad = _tampered(
        package, tmp_path / "bad.lookout-evidence", "reports.json", b"Elm Road", b"Elm Roae"
    )
    w = open_workspace(bad)
    _export_pdf(qtbot, w, tmp_path / "bad.pdf")
    text = _text(tmp_path / "bad.pdf")
    if not w.map.settled:  # exported before the map was drawn: its positions are plotted
        assert "The map view could not be captured here" in " ".join(text.split())
    assert "Verification: FAILED" in text
    assert "FAIL file reports.json" in text


def test_without_a_map_grab_the_report_plots_the_positions_and_says_so(
    open_workspace,  # noqa: F811
    case,  # noqa: F811
    package,  # noqa: F811
    tmp_path,
):
    w = open_workspace(package, _fp(case))
    content = w.report()
    assert content is not None
    blank = QImage(400, 300, QImage.Format.Format_RGB32)
    blank.fill(QColor("black"))
    assert report_pdf.is_blank(blank)
    assert not report_pdf.is_blank(report_pdf.positions_plot(content.items))
    report_pdf.write_pdf(content, tmp_path / "plot.pdf", map_image=blank)
    text = " ".join(_text(tmp_path / "plot.pdf").split())
    assert "The map view could not be captured here" in text
    assert "The timeline could not be drawn." in text  # no timeline image was given


def test_the_pdf_ink_is_black_whatever_the_theme() -> None:
    """A document's default text colour is the application palette's, which the dark
    theme makes near-white: body text once printed #e0e0e0 on white, legible only to
    pdftotext. Every text format of the report names its ink. (Switching the whole
    application's theme inside the GUI suite crashed Qt later in the run, so the formats
    are checked rather than a page rendered under the dark theme.)"""
    from PySide6.QtGui import QTextDocument, QTextFormat

    builder = report_pdf._Builder(QTextDocument(), 500.0)
    for fmt in (builder.plain, builder.bold, builder.mono):
        # set, not the palette's default (an unset foreground also reads as black)
        assert fmt.hasProperty(QTextFormat.Property.ForegroundBrush)
        assert fmt.foreground().color() == QColor("#000000")


def test_bidirectional_controls_are_named_not_obeyed() -> None:
    """ "Normal \u202eTXT.EXE" would print as "Normal EXE.TXT": the report names the
    control instead, so what is printed is what was typed, in order."""
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    builder = report_pdf._Builder(doc, 500.0)
    builder.text("Normal \u202eTXT.EXE and \u2067isolate\u2069")
    assert doc.toPlainText() == "Normal [U+202E]TXT.EXE and [U+2067]isolate[U+2069]"
    assert report_pdf.as_typed("no controls: مرحبا") == "no controls: مرحبا"
