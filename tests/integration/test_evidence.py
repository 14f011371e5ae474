"""Evidence packages end to end: a real relay makes a case over TLS, `lookout-relay
evidence export` packs it, `lookout-evidence verify` checks it, and every kind of
tampering is caught and named."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import cli as evidence_cli
from evidence import format as fmt
from evidence.verify import Result, load_public_key, verify
from relay import admin, checkpoints
from relay import cli as relay_cli
from relay.db import models as db
from relay.exports import os_user
from tests.support.evidence_case import HTML_TEXT, Case, make_case, signer


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return make_case(tmp_path_factory.mktemp("evidence") / "relay")


@pytest.fixture(scope="module")
def package(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pkg") / "elm.lookout-evidence"
    code = relay_cli.main(
        [
            "evidence",
            "export",
            "--data-dir",
            str(case.data_dir),
            "--out",
            str(out),
            "--reason",
            "CPS file request 42",
            "--incident",
            case.incident_ref,
        ]
    )
    assert code == 0
    return out


def _fp(case: Case) -> str:
    return signer(case.data_dir)


def _failed(result: Result) -> set[tuple[str, str]]:
    return {(c.check, c.file) for c in result.failures}


def test_the_exported_case_verifies_with_the_pinned_key(case, package, capsys):
    result = verify(package, fingerprint=_fp(case))
    assert result.ok, [c.line() for c in result.failures]
    assert result.pinned and result.fingerprint == _fp(case)
    assert evidence_cli.main(["verify", str(package), "--fingerprint", _fp(case)]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED: all" in out and f"signer pinned: {_fp(case)}" in out
    assert "FAIL" not in out


def test_the_package_holds_the_case(case, package):
    with zipfile.ZipFile(package) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        reports = json.loads(zf.read("reports.json"))
        chat = json.loads(zf.read("chat.json"))
        incidents = json.loads(zf.read("incidents.json"))
        alerts = json.loads(zf.read("alerts.json"))
        photo = zf.read(f"media/{case.photo_sha}")
        caps = [zf.read(v["cap"]).decode() for v in alerts[0]["versions"]]
        audit = [json.loads(x) for x in zf.read("audit.jsonl").splitlines()]
        cp = json.loads(zf.read("checkpoint.json"))
    assert photo == case.photo  # the original bytes, exactly
    assert sorted(r["report_id"] for r in reports) == sorted(case.reports)
    assert case.far_report not in {r["report_id"] for r in reports}
    assert [c["text"] for c in chat] == ["They ran off", "Officers on the way"]
    assert [i["incident_ref"] for i in incidents] == [case.incident_ref]
    assert [a["alert"]["alert_id"] for a in alerts] == [case.alert_id]
    versions = alerts[0]["versions"]
    assert [v["msg_type"] for v in versions] == ["Alert", "Update", "Cancel"]
    assert [v["n"] for v in versions] == [1, 2, 3]
    assert versions[1]["info"]["headline"] == "Burglaries: update"
    assert not any(v["cap_rendered_at_export"] for v in versions)
    assert [
        c.count("<msgType>" + t) for c, t in zip(caps, ("Alert", "Update", "Cancel"), strict=True)
    ] == [1, 1, 1]
    assert "Burglaries: update" in caps[1]
    assert manifest["reason"] == "CPS file request 42"
    assert manifest["selectors"]["incidents"] == [case.incident_ref]
    assert manifest["signer"]["fingerprint"] == _fp(case)
    assert [f["path"] for f in manifest["files"]] == sorted(f["path"] for f in manifest["files"])
    # the audit extract: contiguous, ends at the checkpoint, marks what concerns the case
    seqs = [r["seq"] for r in audit]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert (audit[-1]["seq"], audit[-1]["hash"]) == (cp["seq"], cp["head"])
    mine = {r["action"] for r in audit if r["concerns"]}
    assert {"report.link", "incident.create", "chat.reply", "alert.send", "alert.cancel"} <= mine
    assert not any(r["concerns"] for r in audit if r["action"] == "login")


def test_the_export_is_audited_with_its_reason_and_merkle_root(case, package):
    with zipfile.ZipFile(package) as zf:
        root = json.loads(zf.read("manifest.json"))["merkle_root"]
    engine = admin.open_engine(case.data_dir)
    try:
        with Session(engine) as s:
            rows = list(
                s.scalars(select(db.AuditLog).where(db.AuditLog.action == "evidence.export"))
            )
    finally:
        engine.dispose()
    assert len(rows) == 1 and rows[0].actor == os_user()  # who ran the CLI
    detail = json.loads(rows[0].detail)
    assert detail["merkle_root"] == root and detail["reason"] == "CPS file request 42"
    assert detail["selectors"]["incidents"] == [case.incident_ref]


def test_citizen_html_stays_a_literal_string(package):
    with zipfile.ZipFile(package) as zf:
        reports = json.loads(zf.read("reports.json"))
        geo = json.loads(zf.read("geometry.geojson"))
    assert HTML_TEXT in [r["text"] for r in reports]
    points = [f for f in geo["features"] if f["properties"]["kind"] == "report"]
    assert HTML_TEXT in [f["properties"]["text"] for f in points]
    alerts = [f for f in geo["features"] if f["properties"]["kind"] == "alert"]
    assert len(alerts) == 3 and all(f["geometry"]["type"] == "Polygon" for f in alerts)


def test_without_a_pin_it_checks_everything_and_says_so(case, package, capsys):
    assert evidence_cli.main(["verify", str(package)]) == 0
    out = capsys.readouterr().out
    assert f"SIGNER NOT PINNED: signed by key {_fp(case)}" in out
    assert evidence_cli.main(["verify", str(package), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["pinned"] is False and doc["fingerprint"] == _fp(case)
    assert {c["check"] for c in doc["checks"]} >= {
        "signature",
        "file",
        "merkle",
        "audit-chain",
        "audit-head",
        "checkpoint-signature",
    }


# ------------------------------------------------------------------ tampering


def _rewrite(
    src: Path,
    dst: Path,
    change: dict[str, bytes | None] | None = None,
    add: dict[str, bytes] | None = None,
    resign: Ed25519PrivateKey | None = None,
) -> Path:
    """Copy `src` with entries changed (None drops one) or added; with `resign`, also
    rewrite the manifest for the new entries and sign it (an insider holding a key)."""
    change = change or {}
    with zipfile.ZipFile(src) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    for name, data in change.items():
        if data is None:
            entries.pop(name)
        else:
            entries[name] = data
    entries.update(add or {})
    if resign is not None:
        manifest = json.loads(entries["manifest.json"])
        files = [
            {"path": p, "sha256": fmt.sha256_hex(d), "size": len(d)}
            for p, d in sorted(entries.items())
            if p not in (fmt.MANIFEST, fmt.SIGNATURE)
        ]
        manifest["files"] = files
        manifest["merkle_root"] = fmt.merkle_root(
            [fmt.leaf_data(f["path"], f["sha256"], f["size"]) for f in files]
        )
        raw = resign.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        manifest["signer"] = {
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(raw).decode(),
            "fingerprint": fmt.fingerprint_of(raw),
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
        entries["manifest.json"] = body
        entries["manifest.sig"] = base64.b64encode(resign.sign(fmt.signed_manifest(body)))
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return dst


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _entry(package: Path, name: str) -> bytes:
    with zipfile.ZipFile(package) as zf:
        return zf.read(name)


def _audit_lines(package: Path) -> list[bytes]:
    return _entry(package, "audit.jsonl").splitlines(keepends=True)


def test_one_byte_of_a_media_file(case, package, tmp_path):
    name = f"media/{case.photo_sha}"
    bad = _rewrite(package, tmp_path / "x", {name: _flip(_entry(package, name), 100)})
    result = verify(bad, fingerprint=_fp(case))
    assert ("file", name) in _failed(result)
    assert evidence_cli.main(["verify", str(bad)]) == 1


def test_a_report_field(case, package, tmp_path):
    text = _entry(package, "reports.json").replace(b"door handles", b"door knobs!!")
    result = verify(_rewrite(package, tmp_path / "x", {"reports.json": text}))
    assert _failed(result) == {("file", "reports.json")}
    line = next(c for c in result.failures)
    assert line.expected != line.actual and "reports.json" in line.line()


def test_a_manifest_line(case, package, tmp_path):
    body = _entry(package, "manifest.json").replace(b"CPS file request 42", b"CPS file request 43")
    result = verify(_rewrite(package, tmp_path / "x", {"manifest.json": body}))
    assert _failed(result) == {("signature", "manifest.sig")}


def test_the_signature(case, package, tmp_path):
    sig = base64.b64decode(_entry(package, "manifest.sig"))
    forged = base64.b64encode(_flip(sig, 5))
    result = verify(_rewrite(package, tmp_path / "x", {"manifest.sig": forged}))
    assert _failed(result) == {("signature", "manifest.sig")}


def test_a_missing_file(case, package, tmp_path):
    result = verify(_rewrite(package, tmp_path / "x", {"chat.json": None}))
    assert _failed(result) == {("missing", "chat.json")}


def test_an_extra_file(case, package, tmp_path):
    result = verify(_rewrite(package, tmp_path / "x", add={"media/notes.txt": b"planted"}))
    assert _failed(result) == {("extra", "media/notes.txt")}


@pytest.mark.parametrize("resigned", [False, True])
def test_reordered_audit_records(case, package, tmp_path, resigned):
    lines = _audit_lines(package)
    lines[1], lines[2] = lines[2], lines[1]
    key = checkpoints.relay_key(case.data_dir) if resigned else None
    result = verify(
        _rewrite(package, tmp_path / "x", {"audit.jsonl": b"".join(lines)}, resign=key),
        fingerprint=_fp(case),
    )
    # even re-signed with the relay's own key, the chain itself gives the reordering away
    assert ("audit-chain", "audit.jsonl") in _failed(result)
    assert (("file", "audit.jsonl") in _failed(result)) is not resigned
    chain = next(c for c in result.failures if c.check == "audit-chain")
    assert "reordered" in chain.note


@pytest.mark.parametrize("resigned", [False, True])
def test_truncated_audit_records(case, package, tmp_path, resigned):
    lines = _audit_lines(package)
    key = checkpoints.relay_key(case.data_dir) if resigned else None
    result = verify(
        _rewrite(package, tmp_path / "x", {"audit.jsonl": b"".join(lines[:-2])}, resign=key),
        fingerprint=_fp(case),
    )
    assert ("audit-head", "audit.jsonl") in _failed(result)
    assert ("audit-range", "audit.jsonl") in _failed(result)


def test_a_different_pinned_key(case, package, tmp_path):
    other = Ed25519PrivateKey.generate().public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "other.pem").write_bytes(pem)
    result = verify(package, key=load_public_key((tmp_path / "other.pem").read_bytes()))
    assert {("pinned-key", "manifest.json"), ("signature", "manifest.sig")} <= _failed(result)
    assert evidence_cli.main(["verify", str(package), "--key", str(tmp_path / "other.pem")]) == 1
    result = verify(package, fingerprint=checkpoints.fingerprint(other))
    assert _failed(result) == {("pinned-key", "manifest.json")}


def test_a_package_re_signed_by_a_forger_fails_at_the_relays_checkpoint(case, package, tmp_path):
    text = _entry(package, "reports.json").replace(b"door handles", b"door knobs!!")
    forger = Ed25519PrivateKey.generate()
    result = verify(
        _rewrite(package, tmp_path / "x", {"reports.json": text}, resign=forger)
    )  # not pinned: the manifest and its signature agree, but the checkpoint is the relay's
    assert {("checkpoint-key", "checkpoint.json"), ("checkpoint-signature", "checkpoint.json")} <= (
        _failed(result)
    )


# ------------------------------------------------------------------ selectors


def test_export_refuses_without_a_selector(case, tmp_path, capsys):
    out = tmp_path / "none.lookout-evidence"
    code = relay_cli.main(
        ["evidence", "export", "--data-dir", str(case.data_dir), "--out", str(out), "--reason", "x"]
    )
    assert code == 2 and not out.exists()
    assert "no selector given" in capsys.readouterr().err


def test_a_time_without_a_zone_is_refused(case, tmp_path, capsys):
    args = ["evidence", "export", "--data-dir", str(case.data_dir), "--out", str(tmp_path / "p")]
    assert relay_cli.main([*args, "--reason", "x", "--since", "2026-12-01T08:00"]) == 2
    assert "no time zone" in capsys.readouterr().err


def test_area_and_report_selectors(case, tmp_path):
    lat, lon = 53.7590, -2.6990
    area = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [lon - 0.05, lat - 0.05],
                    [lon + 0.05, lat - 0.05],
                    [lon + 0.05, lat + 0.05],
                    [lon - 0.05, lat - 0.05],
                ]
            ],
        },
    }
    (tmp_path / "area.geojson").write_text(json.dumps(area))
    base = ["evidence", "export", "--data-dir", str(case.data_dir), "--reason", "area review"]
    out = tmp_path / "area.lookout-evidence"
    assert relay_cli.main([*base, "--out", str(out), "--area", str(tmp_path / "area.geojson")]) == 0
    assert verify(out, fingerprint=_fp(case)).ok
    ids = {r["report_id"] for r in json.loads(_entry(out, "reports.json"))}
    assert ids <= set(case.reports) and case.far_report not in ids
    assert [a["alert"]["alert_id"] for a in json.loads(_entry(out, "alerts.json"))] == [
        case.alert_id
    ]
    one = tmp_path / "one.lookout-evidence"
    assert relay_cli.main([*base, "--out", str(one), "--report", case.far_report]) == 0
    assert [r["report_id"] for r in json.loads(_entry(one, "reports.json"))] == [case.far_report]
    assert json.loads(_entry(one, "alerts.json")) == []
    assert verify(one, fingerprint=_fp(case)).ok


def test_an_unknown_report_is_refused(case, tmp_path, capsys):
    args = ["evidence", "export", "--data-dir", str(case.data_dir), "--out", str(tmp_path / "p")]
    assert relay_cli.main([*args, "--reason", "x", "--report", "R-nope"]) == 1
    assert "no report 'R-nope'" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_an_analysts_sidecar_is_checked_beside_the_package_but_apart(case, package, tmp_path):
    """Notes live beside the package (never in it); the verifier checks their chain and
    reports it apart from the package's own verdict."""
    from evidence.sidecar import Sidecar, path_for

    copy = tmp_path / package.name
    copy.write_bytes(package.read_bytes())
    before = copy.read_bytes()
    manifest_bytes = _entry(copy, fmt.MANIFEST)
    root = json.loads(manifest_bytes)["merkle_root"]
    side = Sidecar.open(copy, root, fmt.sha256_hex(manifest_bytes), "ann")
    side.note({"type": "report", "id": case.reports[0]}, "Seen on the bus camera too")
    side.viewed(case.photo_sha)
    result = verify(copy, fingerprint=_fp(case))
    assert result.ok and result.sidecar is not None and result.sidecar.ok, result.sidecar
    assert "3 records" in result.sidecar.note
    assert copy.read_bytes() == before  # the package is untouched

    lines = path_for(copy).read_text().splitlines()
    path_for(copy).write_text("\n".join([lines[0], lines[1].replace("bus", "tram"), lines[2]]))
    result = verify(copy, fingerprint=_fp(case))
    assert result.ok  # the package is as exported
    assert result.sidecar is not None and not result.sidecar.ok
    assert "line 2 (seq 2)" in result.sidecar.note


def test_stats_of_a_package_with_csv_tables(case, package, tmp_path, capsys):
    code = evidence_cli.main(
        ["stats", str(package), "--tz", "Europe/London", "--csv", str(tmp_path / "t")]
    )
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("package verified")
    assert "reports: 2" in out and "burglary" in out
    assert (
        "first response:" in out and '"answered": 2' in out
    )  # a reply on one, the incident link on both
    by_category = (tmp_path / "t" / "by_category.csv").read_text().splitlines()
    assert by_category[0] == "category,reports"
    assert {p.name for p in (tmp_path / "t").iterdir()} == {
        "by_category.csv",
        "by_hour.csv",
        "by_weekday.csv",
        "by_cell.csv",
        "response_times.csv",
    }
    assert evidence_cli.main(["stats", str(package), "--tz", "Mars/Olympus"]) == 2
