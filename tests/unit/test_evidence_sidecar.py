"""The analyst's sidecar: annotations and the access log survive reopening, the package
is never written, and any edit of the sidecar is found at the line touched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evidence.sidecar import Sidecar, SidecarError, check, path_for

ROOT = "ab" * 32
MANIFEST = "cd" * 32


@pytest.fixture
def package(tmp_path: Path) -> Path:
    p = tmp_path / "case.lookout-evidence"
    p.write_bytes(b"PK\x03\x04 stand-in package bytes")
    p.chmod(0o444)  # as an analyst would keep it: nothing may write to it
    return p


def open_side(package: Path, who: str = "ann") -> Sidecar:
    return Sidecar.open(package, ROOT, MANIFEST, who)


def test_annotations_and_the_access_log_survive_reopening(package: Path) -> None:
    before = hashlib.sha256(package.read_bytes()).hexdigest()
    side = open_side(package)
    report = {"type": "report", "id": "R-1"}
    note = side.note(report, "Matches the CCTV still <b>not</b> HTML")
    side.tag(report, "suspect vehicle")
    side.tag(report, "disclosed")
    side.bookmark({"type": "time_range", "from": 100.0, "to": 160.0}, "the two minutes")
    side.viewed("ef" * 32)
    dropped = side.tag(report, "typo")
    side.retract(int(dropped["seq"]))

    again = open_side(package, who="bob").state()
    assert again.tags_of("report", "R-1") == {"suspect vehicle", "disclosed"}
    texts = [r["body"].get("text") for r in again.about("report", "R-1")]
    assert texts[0] == "Matches the CCTV still <b>not</b> HTML"  # kept as typed
    assert [b["target"] for b in again.bookmarks] == [
        {"type": "time_range", "from": 100.0, "to": 160.0}
    ]
    assert [(a["who"], a["target"]["id"]) for a in again.access] == [("ann", "ef" * 32)]
    assert note["seq"] == 2  # the first record names the package
    lines = path_for(package).read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[-1])["kind"] == "retract"  # nothing erased
    assert hashlib.sha256(package.read_bytes()).hexdigest() == before


def _edit(package: Path, change) -> None:  # type: ignore[no-untyped-def]
    side_path = path_for(package)
    lines = side_path.read_text().splitlines()
    side_path.write_text("\n".join(change(lines)) + "\n")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda ls: [ls[0], ls[1].replace("first", "final"), *ls[2:]], "line 2 (seq 2): its hash"),
        (lambda ls: [ls[0], *ls[2:]], "line 2: seq 3, expected 2"),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "line 2: seq 3, expected 2"),
        (lambda ls: ls[:-1] + ["{not json"], "line 4 is not JSON"),
    ],
    ids=["edited", "deleted", "reordered", "garbage"],
)
def test_an_edited_sidecar_is_refused_at_the_line_touched(package: Path, change, says: str) -> None:  # type: ignore[no-untyped-def]
    side = open_side(package)
    for text in ("first", "second", "third"):
        side.note({"type": "report", "id": "R-1"}, text)
    _edit(package, change)
    with pytest.raises(SidecarError, match=says.replace("(", r"\(").replace(")", r"\)")):
        open_side(package)


def test_a_sidecar_belongs_to_one_package(package: Path) -> None:
    open_side(package).note({"type": "report", "id": "R-1"}, "x")
    with path_for(package).open() as f, pytest.raises(SidecarError, match="another package"):
        check(f, "00" * 32, MANIFEST)


@pytest.mark.parametrize(
    "target",
    [
        {"type": "time_range", "from": 5.0, "to": 1.0},
        {"type": "time_range", "from": float("nan"), "to": 1.0},
        {"type": "report"},
        {"type": "passport", "id": "x"},
    ],
)
def test_bad_targets_are_refused_and_nothing_is_written(package: Path, target: dict) -> None:  # type: ignore[type-arg]
    side = open_side(package)
    size = path_for(package).stat().st_size
    with pytest.raises(SidecarError):
        side.note(target, "text")
    assert path_for(package).stat().st_size == size


def test_only_annotations_in_force_can_be_retracted(package: Path) -> None:
    side = open_side(package)
    with pytest.raises(SidecarError, match="not a note"):
        side.retract(1)  # the "opened" record
    tag = side.tag({"type": "media", "id": "ef" * 32}, "face")
    side.retract(int(tag["seq"]))
    with pytest.raises(SidecarError):
        side.retract(int(tag["seq"]))
