"""Disclosure packages (issue 10, item 5) from a real exported case: a selection of the
relay's package with its photo redacted, signed by the analyst's own key, verifies pinned
to both keys; every way of passing off something else is caught and named; the parent
package is never changed."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from evidence import cli as evidence_cli
from evidence import disclosure
from evidence import format as fmt
from evidence.disclosure import Derived, DisclosureError, write_disclosure
from evidence.sidecar import Sidecar, SidecarError
from evidence.verify import Result, verify
from tests.support.evidence_case import HTML_TEXT, Case, export, make_case, signer

BOX = {"type": "redact", "regions": [{"x": 2, "y": 3, "w": 10, "h": 8, "mode": "box"}]}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return make_case(tmp_path_factory.mktemp("evidence") / "relay")


@pytest.fixture(scope="module")
def parent(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(case, tmp_path_factory.mktemp("pkg"))


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Ed25519PrivateKey:
    return disclosure.analyst_key(tmp_path_factory.mktemp("analyst") / "k" / "analyst.pem")


def _redacted(case: Case) -> bytes:
    """The photo with a black box, as PNG (the workspace renders with Qt; any PNG will do)."""
    im = Image.open(io.BytesIO(case.photo)).convert("RGB")
    im.paste((0, 0, 0), (2, 3, 12, 11))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _derived(case: Case) -> Derived:
    return Derived(_redacted(case), case.photo_sha, BOX, "faces of bystanders")


def _write(
    case: Case, parent: Path, key: Ed25519PrivateKey, out: Path, **kw: Any
) -> disclosure.Written:
    args: dict[str, Any] = {
        "report_ids": list(case.reports),
        "derived": [_derived(case)],
        "reason": "CPS disclosure, schedule 2",
        "analyst": "ana",
        "key": key,
    }
    args.update(kw)
    return write_disclosure(parent, out, **args)


@pytest.fixture(scope="module")
def made(
    case: Case, parent: Path, key: Ed25519PrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("disc") / "elm-disclosure.lookout-evidence"
    _write(case, parent, key, out)
    return out


def _failed(result: Result) -> set[tuple[str, str]]:
    return {(c.check, c.file) for c in result.failures}


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    """A copy of a package with entries replaced (bytes), removed (None) or added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in change:
                data = change.pop(info.filename)
                if data is not None:
                    zout.writestr(info, data)
            else:
                zout.writestr(info, zin.read(info.filename))
        for name, data in change.items():
            if data is not None:
                zout.writestr(name, data)
    return dst


def _resigned(src: Path, dst: Path, key: Ed25519PrivateKey, edit: Any, **extra: bytes) -> Path:
    """A copy whose manifest `edit` changed, signed again by `key` (so the signature holds
    and only what the edit broke fails)."""
    with zipfile.ZipFile(src) as zf:
        manifest = json.loads(zf.read(fmt.MANIFEST))
    edit(manifest)
    body = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    sig = base64.b64encode(key.sign(fmt.signed_manifest(body))) + b"\n"
    return _rewrite(src, dst, {fmt.MANIFEST: body, fmt.SIGNATURE: sig, **extra})


def _files_entry(path: str, data: bytes, **more: Any) -> dict[str, Any]:
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), **more}


def _relist(manifest: dict[str, Any], entry: dict[str, Any]) -> None:
    manifest["files"] = sorted([*manifest["files"], entry], key=lambda e: e["path"])
    manifest["merkle_root"] = fmt.merkle_root(
        [fmt.leaf_data(e["path"], e["sha256"], e["size"]) for e in manifest["files"]]
    )


def test_a_disclosure_verifies_pinned_to_both_keys_and_leaves_the_parent_alone(
    case, parent, key, tmp_path, capsys
):
    before = hashlib.sha256(parent.read_bytes()).hexdigest()
    out = tmp_path / "d.lookout-evidence"
    written = _write(case, parent, key, out)
    assert hashlib.sha256(parent.read_bytes()).hexdigest() == before  # byte-identical
    result = verify(
        out, fingerprint=disclosure.fingerprint(key), parent_fingerprint=signer(case.data_dir)
    )
    assert result.ok, [c.line() for c in result.failures]
    assert result.kind == "disclosure" and result.pinned and result.parent_pinned
    assert result.parent_fingerprint == signer(case.data_dir)
    assert written.fingerprint == disclosure.fingerprint(key) != signer(case.data_dir)
    checks = {c.check for c in result.checks}
    assert {
        "parent-signature",
        "parent-pinned-key",
        "carried",
        "derived",
        "original-withheld",
    } <= checks
    argv = ["verify", str(out), "--fingerprint", written.fingerprint]
    assert evidence_cli.main([*argv, "--parent-fingerprint", signer(case.data_dir)]) == 0
    said = capsys.readouterr().out
    assert f"parent signer pinned: {signer(case.data_dir)}" in said and "FAIL" not in said
    assert evidence_cli.main(argv) == 0  # unpinned parent: passes, and says so plainly
    assert "PARENT SIGNER NOT PINNED" in capsys.readouterr().out
    assert (
        evidence_cli.main(["verify", str(out)]) == 0
    )  # the analyst unpinned: whose key to ask for
    said = capsys.readouterr().out
    assert f"SIGNER NOT PINNED: signed by key {written.fingerprint}" in said
    assert "the analyst's key fingerprint" in said and "`lookout-relay serve`" not in said

    with zipfile.ZipFile(out) as zf, zipfile.ZipFile(parent) as pz:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        reports = json.loads(zf.read("reports.json"))
        assert zf.read("parent/manifest.json") == pz.read("manifest.json")
        assert zf.read("parent/manifest.sig") == pz.read("manifest.sig")
    new_sha = _derived(case).sha256
    assert f"media/{case.photo_sha}" not in names  # the original of a redacted photo
    assert f"media/{new_sha}" in names
    entry = next(e for e in manifest["files"] if e["path"] == f"media/{new_sha}")
    assert entry["derived_from"] == case.photo_sha
    assert entry["operation"] == BOX and entry["reason"] == "faces of bystanders"
    assert manifest["parent"]["fingerprint"] == signer(case.data_dir)
    assert {r["report_id"] for r in reports} == set(case.reports)  # not the far report
    photo = next(r for r in reports if r["report_id"] == case.reports[0])
    assert photo["media"] == [
        {"sha256": new_sha, "mime": "image/png", "size": entry["size"], "stored": True}
    ]
    assert any(r["text"] == HTML_TEXT for r in reports)  # a plain JSON string, as sent
    assert manifest["audit"] is None and "audit.jsonl" not in names


def test_the_parents_audit_extract_can_be_carried_unchanged(case, parent, key, tmp_path):
    out = tmp_path / "d.lookout-evidence"
    _write(case, parent, key, out, include_audit=True)
    result = verify(out, parent_fingerprint=signer(case.data_dir))
    assert result.ok, [c.line() for c in result.failures]
    assert {("carried", "audit.jsonl"), ("checkpoint-signature", "checkpoint.json")} <= {
        (c.check, c.file) for c in result.checks
    }


def test_a_withheld_video_or_photo_is_left_out_and_named(case, parent, key, tmp_path):
    out = tmp_path / "d.lookout-evidence"
    _write(case, parent, key, out, derived=[], withheld=[case.photo_sha])
    result = verify(out)
    assert result.ok, [c.line() for c in result.failures]
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert f"media/{case.photo_sha}" not in zf.namelist()
    assert manifest["withheld"] == [{"report_id": case.reports[0], "sha256": case.photo_sha}]


def test_unredacted_originals_are_carried_byte_for_byte(case, parent, key, tmp_path):
    out = tmp_path / "d.lookout-evidence"
    _write(case, parent, key, out, derived=[])
    with zipfile.ZipFile(out) as zf:
        assert zf.read(f"media/{case.photo_sha}") == case.photo
    assert verify(out).ok


def test_one_byte_of_a_redacted_file_changed_fails_naming_it(case, made, tmp_path):
    name = f"media/{_derived(case).sha256}"
    with zipfile.ZipFile(made) as zf:
        data = bytearray(zf.read(name))
    data[-20] ^= 1
    bad = _rewrite(made, tmp_path / "bad.lookout-evidence", {name: bytes(data)})
    assert ("file", name) in _failed(verify(bad))


def test_a_derived_file_not_from_the_parent_fails(case, made, key, tmp_path):
    name = f"media/{_derived(case).sha256}"

    def edit(m: dict[str, Any]) -> None:
        next(e for e in m["files"] if e["path"] == name)["derived_from"] = "ab" * 32

    bad = _resigned(made, tmp_path / "bad.lookout-evidence", key, edit)
    result = verify(bad, fingerprint=disclosure.fingerprint(key))
    assert _failed(result) == {("derived", name)}
    assert "not a media file of the parent" in next(c.actual for c in result.failures)


def test_a_derived_file_without_a_reason_or_operation_fails(case, made, key, tmp_path):
    name = f"media/{_derived(case).sha256}"

    def edit(m: dict[str, Any]) -> None:
        e = next(e for e in m["files"] if e["path"] == name)
        e["reason"], e["operation"] = " ", {"type": "blur"}

    bad = _resigned(made, tmp_path / "bad.lookout-evidence", key, edit)
    assert _failed(verify(bad)) == {("derived", name)}


def test_an_altered_parent_manifest_or_signature_fails(made, tmp_path):
    with zipfile.ZipFile(made) as zf:
        pm = zf.read("parent/manifest.json")
        psig = zf.read("parent/manifest.sig")
    edited = pm.replace(b'"reason": "review"', b'"reason": "revieW"')
    assert edited != pm
    bad = _rewrite(made, tmp_path / "a.lookout-evidence", {"parent/manifest.json": edited})
    failed = _failed(verify(bad))
    assert ("parent-signature", "parent/manifest.sig") in failed
    assert ("file", "parent/manifest.json") in failed  # and the analyst's manifest says so
    sig = bytearray(base64.b64decode(psig))
    sig[0] ^= 1
    bad = _rewrite(
        made,
        tmp_path / "b.lookout-evidence",
        {"parent/manifest.sig": base64.b64encode(bytes(sig)) + b"\n"},
    )
    assert ("parent-signature", "parent/manifest.sig") in _failed(verify(bad))


def test_a_parent_manifest_swapped_and_re_signed_by_the_analyst_fails(case, made, key, tmp_path):
    """Even the analyst cannot point the disclosure at a parent the relay did not sign."""
    with zipfile.ZipFile(made) as zf:
        pm = json.loads(zf.read("parent/manifest.json"))
    pm["reason"] = "something else"
    forged = (json.dumps(pm, indent=2, sort_keys=True) + "\n").encode()

    def edit(m: dict[str, Any]) -> None:
        e = next(e for e in m["files"] if e["path"] == "parent/manifest.json")
        e.update(_files_entry("parent/manifest.json", forged))
        m["merkle_root"] = fmt.merkle_root(
            [fmt.leaf_data(x["path"], x["sha256"], x["size"]) for x in m["files"]]
        )
        m["parent"]["manifest_sha256"] = e["sha256"]

    bad = _resigned(
        made, tmp_path / "bad.lookout-evidence", key, edit, **{"parent/manifest.json": forged}
    )
    result = verify(bad, fingerprint=disclosure.fingerprint(key))
    assert _failed(result) == {("parent-signature", "parent/manifest.sig")}


def test_a_missing_parent_manifest_fails(made, tmp_path):
    bad = _rewrite(made, tmp_path / "bad.lookout-evidence", {"parent/manifest.json": None})
    failed = _failed(verify(bad))
    assert ("parent-manifest", "parent/manifest.json") in failed
    assert ("missing", "parent/manifest.json") in failed


def test_a_different_analyst_key_or_parent_key_fails_pinning(case, made, tmp_path):
    other = Ed25519PrivateKey.generate()
    result = verify(made, fingerprint=disclosure.fingerprint(other))
    assert _failed(result) == {("pinned-key", "manifest.json")}
    result = verify(made, parent_fingerprint=disclosure.fingerprint(other))
    assert _failed(result) == {("parent-pinned-key", "parent/manifest.json")}
    assert evidence_cli.main(["verify", str(made), "--fingerprint", "00" * 32]) == 1


def test_the_redacted_original_added_back_fails(case, made, key, tmp_path):
    name = f"media/{case.photo_sha}"

    def edit(m: dict[str, Any]) -> None:
        _relist(m, _files_entry(name, case.photo))

    bad = _resigned(made, tmp_path / "bad.lookout-evidence", key, edit, **{name: case.photo})
    result = verify(bad, fingerprint=disclosure.fingerprint(key))
    assert _failed(result) == {("original-withheld", name)}  # it IS the parent's file


def test_a_file_not_from_the_parent_passed_off_as_carried_fails(case, made, key, tmp_path):
    fake = b"not the parent's"
    name = f"media/{hashlib.sha256(fake).hexdigest()}"

    def edit(m: dict[str, Any]) -> None:
        _relist(m, _files_entry(name, fake))

    bad = _resigned(made, tmp_path / "bad.lookout-evidence", key, edit, **{name: fake})
    assert _failed(verify(bad)) == {("carried", name)}


def test_the_writer_refuses_what_it_should(case, parent, key, tmp_path):
    out = tmp_path / "d.lookout-evidence"
    with pytest.raises(DisclosureError, match="reason"):
        _write(case, parent, key, out, reason=" ")
    with pytest.raises(DisclosureError, match="no report"):
        _write(case, parent, key, out, report_ids=["nope"])
    with pytest.raises(DisclosureError, match="not a photo of a chosen report"):
        _write(case, parent, key, out, report_ids=[case.reports[1]])
    with pytest.raises(DisclosureError, match="over its parent"):
        _write(case, parent, key, parent)
    bad = Derived(_redacted(case), case.photo_sha, {"type": "redact", "regions": []}, "x")
    with pytest.raises(DisclosureError, match="at least one region"):
        _write(case, parent, key, out, derived=[bad])
    assert not out.exists()


def test_the_analyst_key_is_private_and_stable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(disclosure.KEY_ENV, raising=False)
    path = disclosure.key_path()
    assert path == tmp_path / "xdg" / "lookout" / "analyst-ed25519.pem"
    assert evidence_cli.main(["key"]) == 0
    first = capsys.readouterr()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    fp = disclosure.fingerprint(disclosure.analyst_key())
    assert f"fingerprint (Ed25519): {fp}" in first.err and "BEGIN PUBLIC KEY" in first.out
    assert evidence_cli.main(["key"]) == 0 and fp in capsys.readouterr().err  # the same key
    path.chmod(0o644)
    with pytest.raises(DisclosureError, match="chmod 600"):
        disclosure.analyst_key()


def test_redaction_records_in_the_sidecar(tmp_path):
    pkg = tmp_path / "p.lookout-evidence"
    pkg.write_bytes(b"stand-in")
    side = Sidecar.open(pkg, "ab" * 32, "cd" * 32, "ana")
    first = side.redaction("ef" * 32, BOX, "bystander")
    pix = {
        "type": "redact",
        "regions": [{"x": 0, "y": 0, "w": 4, "h": 4, "mode": "pixelate", "block": 2}],
    }
    second = side.redaction("ef" * 32, pix, "a plate")
    again = Sidecar.open(pkg, "ab" * 32, "cd" * 32, "ben").state()
    assert again.redaction_of("ef" * 32) == second
    assert [r["seq"] for r in again.about("media", "ef" * 32)] == [first["seq"], second["seq"]]
    side.retract(int(second["seq"]))
    assert side.state().redaction_of("ef" * 32) == first
    with pytest.raises(SidecarError, match="reason"):
        side.redaction("ef" * 32, BOX, "")
    with pytest.raises(SidecarError, match="block size"):
        side.redaction(
            "ef" * 32,
            {"type": "redact", "regions": [{**BOX["regions"][0], "mode": "pixelate"}]},
            "x",
        )  # type: ignore[dict-item]
    d = side.disclosed("d.lookout-evidence", "12" * 32, "34" * 32, "CPS", ["R-1"])
    assert Sidecar.open(pkg, "ab" * 32, "cd" * 32, "x").state().disclosures == [d]


def test_two_derived_files_of_one_original_fail(case, made, key, tmp_path):
    """The writer makes one derived file per original: a second (a milder redaction of the
    same photo slipped in beside the first) is refused by name."""
    first = f"media/{_derived(case).sha256}"
    extra = b"\x89PNG another rendering of the same photo"
    second = f"media/{hashlib.sha256(extra).hexdigest()}"

    def edit(m: dict[str, Any]) -> None:
        e = next(e for e in m["files"] if e["path"] == first)
        keep = {k: e[k] for k in ("derived_from", "operation", "reason")}
        _relist(m, _files_entry(second, extra, **keep))

    bad = _resigned(made, tmp_path / "bad.lookout-evidence", key, edit, **{second: extra})
    result = verify(bad, fingerprint=disclosure.fingerprint(key))
    assert ("derived", second) in _failed(result) or ("derived", first) in _failed(result)
    assert any("is already redacted as" in c.actual for c in result.failures)
