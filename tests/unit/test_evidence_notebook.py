"""The workspace's Qt-free view of the sidecar: what is in force for a selection, and a
broken sidecar opened read-only with what still checks (console/evidence/notebook.py)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from console.evidence import notebook
from evidence import sidecar

MANIFEST = {"merkle_root": "ab" * 32}


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """Only what the sidecar reads of a package: its manifest."""
    path = tmp_path / "p.lookout-evidence"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(MANIFEST))
    return path


def test_what_is_in_force_follows_the_selection(package: Path) -> None:
    book = notebook.open_notebook(package, MANIFEST, "ana")
    assert book.writable
    report = notebook.report_target("R-1", 1000.0)
    book.add("note", report, "on the report")
    book.add("bookmark", notebook.range_target(900.0, 1100.0), "holds it")
    book.add("tag", notebook.range_target(2000.0, 3000.0), "later")
    book.add("tag", notebook.media_target("cd" * 32, "image/jpeg"), "photo")
    assert [r["kind"] for r in book.in_force(report)] == ["note", "bookmark"]
    overlap = notebook.range_target(1050.0, 2500.0)
    assert [r["body"] for r in book.in_force(overlap)] == [{"label": "holds it"}, {"tag": "later"}]
    assert [r["body"] for r in book.in_force(notebook.media_target("cd" * 32, "x"))] == [
        {"tag": "photo"}
    ]
    assert "Note: <b>x</b>" in notebook.describe(book.add("note", report, "<b>x</b>"))


def test_a_broken_sidecar_opens_read_only_with_what_still_checks(package: Path) -> None:
    book = notebook.open_notebook(package, MANIFEST, "ana")
    report = notebook.report_target("R-1", 1000.0)
    for text in ("one", "two", "three"):
        book.add("note", report, text)
    path = sidecar.path_for(package)
    path.write_text(path.read_text().replace('"two"', '"TWO"'))
    broken = path.read_bytes()
    again = notebook.open_notebook(package, MANIFEST, "ben")
    assert not again.writable and again.error is not None and "line 3" in again.error
    assert [r["body"] for r in again.in_force(report)] == [{"text": "one"}]
    with pytest.raises(sidecar.SidecarError, match="read-only"):
        again.add("note", report, "more")
    assert again.viewed("cd" * 32) is None
    assert path.read_bytes() == broken


def test_a_sidecar_of_another_package_is_refused(package: Path) -> None:
    notebook.open_notebook(package, MANIFEST, "ana")
    other = notebook.open_notebook(package, {"merkle_root": "ef" * 32}, "ana")
    assert other.error is not None and "another package" in other.error


def test_the_analyst_is_named() -> None:
    assert notebook.analyst_name("  Ana  ") == "Ana"
    assert notebook.analyst_name(None)
