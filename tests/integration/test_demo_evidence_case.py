"""The demo case (`python -m demo.evidence_case`): what the analyst's guide and its
screenshots promise is in it, and it verifies pinned to the relay key that made it."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from demo import evidence_case
from evidence.verify import verify
from relay import checkpoints


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> evidence_case.Case:
    return evidence_case.build(tmp_path_factory.mktemp("demo-case"))


def _entry(case: evidence_case.Case, name: str) -> bytes:
    with zipfile.ZipFile(case.package) as z:
        return z.read(name)


def test_it_verifies_pinned_to_the_relay_key_that_signed_it(case):
    fp = checkpoints.fingerprint(checkpoints.relay_key(case.data_dir).public_key())
    assert case.fingerprint == fp
    result = verify(case.package, fingerprint=fp)
    assert result.ok and result.pinned, [c.line() for c in result.failures]


def test_it_spans_three_weeks_with_many_reporters_at_realistic_hours(case):
    reports = json.loads(_entry(case, "reports.json"))
    assert 60 <= len(reports) <= 120
    times = sorted(r["created_at"] for r in reports)
    assert times[-1] - times[0] > 14 * 86400
    assert len({r["reporter"] for r in reports}) >= 20
    assert len({r["category"] for r in reports}) >= 5
    evening = sum(1 for t in times if 17 <= (t % 86400) // 3600 <= 23)
    small_hours = sum(1 for t in times if 3 <= (t % 86400) // 3600 <= 5)
    assert evening > 3 * max(small_hours, 1)


def test_it_has_photos_with_a_gps_position_and_a_png(case):
    reports = json.loads(_entry(case, "reports.json"))
    media = [x for r in reports for x in r["media"]]
    assert len(media) >= 8 and all(x["stored"] for x in media)
    assert {"image/jpeg", "image/png"} <= {x["mime"] for x in media}
    photo = next(r for r in reports if r["report_id"] == case.photo_report)
    jpeg = next(x for x in photo["media"] if x["mime"] == "image/jpeg")
    with Image.open(io.BytesIO(_entry(case, f"media/{jpeg['sha256']}"))) as im:
        gps = im.getexif().get_ifd(0x8825)
    assert gps[1] == "N" and gps[3] == "W" and int(gps[2][0]) == 53


def test_it_has_chat_both_ways_with_the_hostile_text_kept_verbatim(case):
    chat = json.loads(_entry(case, "chat.json"))
    assert {"citizen", "officer"} == {c["sender"] for c in chat}
    assert len(chat) >= 30
    hostile = [c for c in chat if evidence_case.HOSTILE in c["text"]]
    assert [c["report_id"] for c in hostile] == [case.hostile_report]


def test_the_burglary_alert_went_through_two_cap_versions_the_update_wider(case):
    alerts = {a["alert"]["alert_id"]: a for a in json.loads(_entry(case, "alerts.json"))}
    burglary = alerts[case.updated_alert]
    assert [v["msg_type"] for v in burglary["versions"]] == ["Alert", "Update"]
    first, second = (v["info"]["area"]["coordinates"] for v in burglary["versions"])

    def span(ring: list[list[float]]) -> float:
        lons, lats = zip(*ring, strict=True)
        return (max(lons) - min(lons)) * (max(lats) - min(lats))

    assert span(second) > 2 * span(first)
    for v in burglary["versions"]:
        assert b"<msgType>" + v["msg_type"].encode() in _entry(case, v["cap"])
    assert burglary["alert"]["delivered"] > 0


def test_incidents_have_reports_linked_and_officers_acted_in_the_audit(case):
    reports = json.loads(_entry(case, "reports.json"))
    for ref in case.incidents:
        assert sum(1 for r in reports if r["incident_ref"] == ref) >= 5
    records = [json.loads(line) for line in _entry(case, "audit.jsonl").splitlines()]
    actions = {r["action"] for r in records}
    assert {"report.claim", "report.link", "report.status", "chat.reply"} <= actions
    closed = [r for r in records if r["action"] == "report.status" and "closed" in r["detail"]]
    assert closed
    # first responses take minutes to hours, not the same second
    at = {r["report_id"]: r["created_at"] for r in reports}
    claims = [r["at"] - at[r["subject"]] for r in records if r["action"] == "report.claim"]
    assert min(claims) > 60 and max(claims) > 3600


def test_a_second_build_into_the_same_directory_is_refused(case):
    with pytest.raises(SystemExit, match="not empty"):
        evidence_case.build(case.data_dir.parent)


def test_the_same_seed_makes_the_same_case(case, tmp_path: Path):
    again = evidence_case.build(tmp_path)

    def content(c: evidence_case.Case) -> list[tuple[object, ...]]:
        rows = json.loads(_entry(c, "reports.json"))
        return [(r["text"], r["lat"], r["created_at"], r["category"]) for r in rows]

    assert content(again) == content(case)


def test_lookout_demo_evidence_builds_the_case_and_opens_it_pinned(tmp_path: Path, capsys):
    """`lookout --demo-evidence DIR`: what an installed bundle (no `python -m`) runs."""
    from console.app import parse_args
    from demo.cli import DemoExtension

    args, source = parse_args(["--demo-evidence", str(tmp_path / "case")], DemoExtension())
    assert source is None and args.evidence is not None and args.evidence.is_file()
    result = verify(args.evidence, fingerprint=args.fingerprint)
    assert result.ok and result.pinned
    assert f"evidence key fingerprint (pinned): {args.fingerprint}" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # the same directory again: refused, not overwritten
        parse_args(["--demo-evidence", str(tmp_path / "case")], DemoExtension())
    with pytest.raises(SystemExit):
        parse_args(["--demo-evidence", str(tmp_path / "b"), "--demo"], DemoExtension())
