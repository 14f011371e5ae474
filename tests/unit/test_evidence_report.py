"""The analyst's report content (console/evidence/report.py), without Qt: which fields it
takes from a package, the sidecar it reads, and its CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from backend_client import messages as m
from console.evidence.model import Package
from console.evidence.report import build, iso, items_csv
from evidence.sidecar import Sidecar, path_for

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC).timestamp()
SHA = "ab" * 32


def _report(rid: str, text: str, at: float = AT, media: bool = False) -> m.Report:
    info = [m.MediaInfo(sha256=SHA, mime="image/jpeg", size=10, stored=True)] if media else []
    return m.Report(
        report_id=rid,
        reporter="Citizen-1",
        category="burglary",
        text=text,
        lat=53.759,
        lon=-2.699,
        created_at=at,
        status="new",
        priority="normal",
        claimed_by=None,
        incident_ref=None,
        media=info,
    )


def _package(tmp_path: Path, *reports: m.Report) -> Package:
    path = tmp_path / "p.lookout-evidence"
    manifest = json.dumps({"format": "lookout-evidence/1", "merkle_root": "cd" * 32}).encode()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", manifest)
    pkg = Package(path, manifest=json.loads(manifest), reports=list(reports))
    pkg.chat = [
        m.ChatMessage(
            message_id="C-1",
            report_id=reports[0].report_id,
            sender="citizen",
            author="Citizen-1",
            text="=HYPERLINK(1)",
            sent_at=AT + 5,
            status="sent",
        )
    ]
    return pkg


def test_iso_is_utc_with_milliseconds() -> None:
    assert iso(AT) == "2026-12-01T08:00:00.000Z"


def test_items_are_in_time_order_with_their_media_and_chat(tmp_path: Path) -> None:
    late, early = _report("R-2", "later", AT + 60), _report("R-1", "first", media=True)
    pkg = _package(tmp_path, early, late)
    content = build(pkg, None, [late, early], "both")
    assert [i.report_id for i in content.items] == ["R-1", "R-2"]
    assert content.items[0].media == ((SHA, "image/jpeg", 10),)
    assert content.items[0].chat == ("2026-12-01T08:00:05.000Z citizen Citizen-1: =HYPERLINK(1)",)
    assert content.package_sha256 == hashlib.sha256(pkg.path.read_bytes()).hexdigest()
    assert content.merkle_root == "cd" * 32
    assert content.verdict_level == "not verified" and content.sidecar_status == "none"


def test_the_csv_is_one_row_per_item_and_formula_safe(tmp_path: Path) -> None:
    hostile = _report("R-1", "=cmd|' /C calc'!A0", media=True)
    plus = _report("R-2", "+1+1", AT + 1)
    content = build(_package(tmp_path, hostile, plus), None, [hostile, plus], "all")
    rows = list(csv.reader(io.StringIO(items_csv(content))))
    assert rows[0][:3] == ["report_id", "created_at_utc", "category"]
    assert [r[0] for r in rows[1:]] == ["R-1", "R-2"]
    assert [r[8] for r in rows[1:]] == ["'=cmd|' /C calc'!A0", "'+1+1"]
    assert rows[1][9] == SHA and rows[1][10] == "1"


def test_the_sidecar_gives_annotations_in_force_and_its_last_hash(tmp_path: Path) -> None:
    r = _report("R-1", "x", media=True)
    pkg = _package(tmp_path, r)
    with zipfile.ZipFile(pkg.path) as zf:
        manifest_sha = hashlib.sha256(zf.read("manifest.json")).hexdigest()
    side = Sidecar.open(pkg.path, "cd" * 32, manifest_sha, "ana")
    kept = side.note({"type": "report", "id": "R-1"}, "kept")
    gone = side.tag({"type": "media", "id": SHA}, "withdrawn")
    side.retract(int(gone["seq"]))
    last = side.bookmark({"type": "time_range", "from": AT, "to": AT + 60}, "the fight")
    before = path_for(pkg.path).read_bytes()

    content = build(pkg, None, [r], "all")
    assert [(a.kind, a.text) for a in content.items[0].annotations] == [("note", "kept")]
    assert [a.seq for a in content.annotations] == [kept["seq"], last["seq"]]
    assert content.annotations[1].target.startswith("time_range 2026-12-01T08:00:00.000Z")
    assert content.sidecar_last_hash == last["hash"]
    assert "5 records, chain intact" in content.sidecar_status
    assert path_for(pkg.path).read_bytes() == before  # reading it appended nothing


def test_a_broken_sidecar_is_reported_and_not_used(tmp_path: Path) -> None:
    r = _report("R-1", "x")
    pkg = _package(tmp_path, r)
    path_for(pkg.path).write_text('{"not": "a record"}\n', encoding="ascii")
    content = build(pkg, None, [r], "all")
    assert content.sidecar_status.startswith("BROKEN")
    assert content.annotations == () and content.sidecar_last_hash == ""
