"""Hostile packages (a reviewer's cases): each fails with a line naming the entry and
never raises; the zip bombs are refused in bounded memory and little time."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from evidence import cli as evidence_cli
from evidence import format as fmt
from evidence.verify import Result, verify
from relay import checkpoints
from relay import cli as relay_cli
from tests.support.evidence_case import Case, make_case, signer

Entries = dict[str, bytes]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return make_case(tmp_path_factory.mktemp("evidence") / "relay")


@pytest.fixture(scope="module")
def package(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pkg") / "elm.lookout-evidence"
    args = ["evidence", "export", "--data-dir", str(case.data_dir), "--out", str(out)]
    assert relay_cli.main([*args, "--reason", "review", "--incident", case.incident_ref]) == 0
    return out


def _entries(package: Path) -> Entries:
    with zipfile.ZipFile(package) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _write(out: Path, entries: Entries, method: Callable[[str], int] | None = None) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries.items():
            stored = name.startswith("media/")
            kind = method(name) if method else (zipfile.ZIP_STORED if stored else 8)
            zf.writestr(zipfile.ZipInfo(name, (2026, 12, 1, 0, 0, 0)), data, compress_type=kind)
    return out


def _resign(case: Case, entries: Entries, manifest: dict[str, object] | None = None) -> None:
    """Re-list every entry in the manifest and sign it with the relay's own key."""
    m = manifest or json.loads(entries[fmt.MANIFEST])
    files = [
        {"path": n, "sha256": fmt.sha256_hex(d), "size": len(d)}
        for n, d in sorted(entries.items())
        if n not in (fmt.MANIFEST, fmt.SIGNATURE)
    ]
    m["files"] = files
    m["merkle_root"] = fmt.merkle_root(
        [fmt.leaf_data(f["path"], f["sha256"], f["size"]) for f in files]
    )
    body = (json.dumps(m, indent=2, sort_keys=True) + "\n").encode()
    key = checkpoints.relay_key(case.data_dir)
    entries[fmt.MANIFEST] = body
    entries[fmt.SIGNATURE] = base64.b64encode(key.sign(fmt.signed_manifest(body))) + b"\n"


def _patch_cd(path: Path, name: str, patch: Callable[[bytearray, int], None]) -> Path:
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        n = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + n] == name.encode():
            patch(data, at)
            path.write_bytes(bytes(data))
            return path
        at += 4
    raise AssertionError(name)


def _checked(result: Result, check: str, file: str, *, json_too: Path | None = None) -> None:
    assert not result.ok
    assert any(c.check == check and c.file == file for c in result.failures), [
        c.line() for c in result.failures
    ]


def _cli_fails(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evidence_cli.main(["verify", str(path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["checks"]
    assert evidence_cli.main(["stats", str(path)]) == 1
    capsys.readouterr()


# ------------------------------------------------------------------ ZIP-level tricks


def _flag(bit: int) -> Callable[[bytearray, int], None]:
    def patch(d: bytearray, at: int) -> None:
        d[at + 8] |= bit

    return patch


def _method(m: int) -> Callable[[bytearray, int], None]:
    def patch(d: bytearray, at: int) -> None:
        d[at + 10 : at + 12] = struct.pack("<H", m)

    return patch


@pytest.mark.parametrize(
    ("entry", "patch"),
    [
        ("reports.json", _flag(1)),
        ("manifest.json", _flag(1)),
        ("manifest.json", _method(99)),
        ("reports.json", _method(12)),
    ],
)
def test_encrypted_or_unknown_method_entries_fail(package, tmp_path, capsys, entry, patch):
    bad = _patch_cd(_write(tmp_path / "x.lookout-evidence", _entries(package)), entry, patch)
    result = verify(bad)
    _checked(result, "entry", entry)
    _cli_fails(bad, capsys)


def test_a_bad_crc_and_a_local_name_mismatch_fail(package, tmp_path, capsys):
    def crc(d: bytearray, at: int) -> None:
        d[at + 16] ^= 1

    bad = _patch_cd(
        _write(tmp_path / "c.lookout-evidence", _entries(package)), "manifest.json", crc
    )
    _checked(verify(bad), "manifest", "manifest.json")
    _cli_fails(bad, capsys)
    other = _write(tmp_path / "n.lookout-evidence", _entries(package))
    data = other.read_bytes()
    at = data.find(b"PK\x03\x04" + data[4:26][:0])
    while data[at + 30 : at + 43] != b"manifest.json":
        at = data.find(b"PK\x03\x04", at + 4)
    other.write_bytes(data[: at + 30] + b"manifest.jsoN" + data[at + 43 :])
    _checked(verify(other), "entry", "manifest.json")
    _cli_fails(other, capsys)


def test_a_truncated_stored_media_entry_fails(package, tmp_path):
    entries = _entries(package)
    media = next(n for n in entries if n.startswith("media/"))
    entries[media] = entries.pop(media)  # last before the central directory
    out = _write(tmp_path / "t.lookout-evidence", entries)
    data = out.read_bytes()
    cd = struct.unpack("<I", data[-6:-2])[0]
    cut = bytearray(data[: cd - 100] + data[cd:])
    cut[-6:-2] = struct.pack("<I", cd - 100)
    out.write_bytes(bytes(cut))
    _checked(verify(out), "entry", media)


@pytest.mark.parametrize("where", ["leading", "appended", "trailing", "comment"])
def test_data_around_the_archive_fails(package, tmp_path, where):
    genuine = package.read_bytes()
    out = tmp_path / "w.lookout-evidence"
    if where == "leading":
        out.write_bytes(b"#!/bin/sh\n" + genuine)
    elif where == "appended":
        entries = _entries(package)
        entries["reports.json"] = entries["reports.json"].replace(b"door", b"DOOR", 1)
        out.write_bytes(_write(tmp_path / "h.zip", entries).read_bytes() + genuine)
    elif where == "trailing":
        out.write_bytes(genuine + b"JUNK")
    else:
        out.write_bytes(genuine)
        with zipfile.ZipFile(out, "a") as zf:
            zf.comment = b"VERIFIED"
    _checked(verify(out), "container", "(the ZIP)")


@pytest.mark.parametrize(
    "names",
    [
        ["C:/Windows/evil.dll"],
        ["./reports.json"],
        ["media\\..\\evil"],
        ["Reports.json"],
        ["cap/caf\u00e9.xml", "cap/cafe\u0301.xml"],
    ],
)
def test_names_outside_the_allowed_form_fail_even_when_signed(case, package, tmp_path, names):
    entries = _entries(package)
    for name in names:
        entries[name] = b"<x/>"
    _resign(case, entries)
    result = verify(
        _write(tmp_path / "n.lookout-evidence", entries), fingerprint=signer(case.data_dir)
    )
    _checked(result, "entry", names[-1])


def test_deflated_media_fails(package, tmp_path):
    out = _write(tmp_path / "d.lookout-evidence", _entries(package), lambda n: zipfile.ZIP_DEFLATED)
    media = next(n for n in _entries(package) if n.startswith("media/"))
    _checked(verify(out), "entry", media)


def test_zip64_and_data_descriptors_still_verify(case, package, tmp_path):
    class Unseekable:
        def __init__(self, fh: object) -> None:
            self.fh = fh

        def write(self, b: bytes) -> int:
            return self.fh.write(b)  # type: ignore[attr-defined,no-any-return]

        def flush(self) -> None:
            self.fh.flush()  # type: ignore[attr-defined]

    out = tmp_path / "z.lookout-evidence"
    with out.open("wb") as fh, zipfile.ZipFile(Unseekable(fh), "w") as zf:  # type: ignore[arg-type]
        for name, data in _entries(package).items():
            with zf.open(zipfile.ZipInfo(name), "w", force_zip64=True) as w:
                w.write(data)
    result = verify(out, fingerprint=signer(case.data_dir))
    assert result.ok, [c.line() for c in result.failures]


# ------------------------------------------------------------------ manifest and JSON


def _manifest_edit(package: Path, tmp_path: Path, text: bytes) -> Path:
    entries = _entries(package)
    entries[fmt.MANIFEST] = text
    return _write(tmp_path / "m.lookout-evidence", entries)


@pytest.mark.parametrize(
    "text",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"files": [], "files": []}',
        b'{"created_at_unix": NaN}',
        b'{"size": 1e400}',
        b'{"files": 5}',
    ],
)
def test_a_hostile_manifest_fails(package, tmp_path, capsys, text):
    bad = _manifest_edit(package, tmp_path, text)
    _checked(verify(bad), "manifest", "manifest.json")
    _cli_fails(bad, capsys)


def test_duplicate_keys_fail_even_when_signed(case, package, tmp_path):
    entries = _entries(package)
    _resign(case, entries)
    body = entries[fmt.MANIFEST].replace(b'\n  "files":', b'\n  "files": [],\n  "files":', 1)
    key = checkpoints.relay_key(case.data_dir)
    entries[fmt.MANIFEST] = body
    entries[fmt.SIGNATURE] = base64.b64encode(key.sign(fmt.signed_manifest(body))) + b"\n"
    bad = _write(tmp_path / "dup.lookout-evidence", entries)
    result = verify(bad, fingerprint=signer(case.data_dir))
    assert any("appears twice" in c.note for c in result.failures)


@pytest.mark.parametrize("entry", ["audit.jsonl", "checkpoint.json"])
def test_a_time_too_large_for_a_double_fails(case, package, tmp_path, entry):
    entries = _entries(package)
    if entry == "audit.jsonl":
        lines = entries[entry].splitlines()
        record = json.loads(lines[0])
        record["at"] = 10**400
        entries[entry] = b"\n".join([json.dumps(record).encode(), *lines[1:]]) + b"\n"
        want = "audit-chain"
    else:
        cp = json.loads(entries[entry])
        cp["at"] = 10**400
        entries[entry] = json.dumps(cp).encode()
        want = "checkpoint"
    _resign(case, entries)
    result = verify(_write(tmp_path / "o.lookout-evidence", entries))
    _checked(result, want, entry)


def test_deep_reports_are_not_parsed_when_their_hash_fails(package, tmp_path):
    entries = _entries(package)
    entries["reports.json"] = b"[" * 100_000 + b"]" * 100_000
    result = verify(_write(tmp_path / "r.lookout-evidence", entries))
    _checked(result, "file", "reports.json")


# ------------------------------------------------------------------ bombs, in a subprocess

#: the peak resident memory of the process itself (VmHWM starts afresh at exec; the
#: getrusage maximum would include the forking pytest's)
_MEASURE = """
import sys, time
from evidence.verify import verify
t = time.monotonic()
result = verify(sys.argv[1])
secs = time.monotonic() - t
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(int(result.ok), int(hwm.split()[1]) // 1024, secs)
"""

MB = 1 << 20


def _big(zf: zipfile.ZipFile, name: str, size: int, method: int, fill: bytes = b" ") -> None:
    info = zipfile.ZipInfo(name, (2026, 12, 1, 0, 0, 0))
    info.compress_type = method
    chunk = fill * MB
    with zf.open(info, "w", force_zip64=True) as w:
        for _ in range(size // MB):
            w.write(chunk)


def _bomb(package: Path, tmp_path: Path, kind: str) -> Path:
    entries = _entries(package)
    out = tmp_path / f"{kind}.lookout-evidence"
    target = {"manifest": "manifest.json", "reports": "reports.json", "audit": "audit.jsonl"}
    with zipfile.ZipFile(out, "w") as zf:
        if kind in target:
            for name, data in entries.items():
                if name != target[kind]:
                    zf.writestr(name, data)
            _big(zf, target[kind], 200 * MB, zipfile.ZIP_DEFLATED, b"A")
        else:  # a bzip2 media entry listed in the manifest at its full size
            m = json.loads(entries[fmt.MANIFEST])
            m["files"].append({"path": "media/" + "0" * 64, "sha256": "0" * 64, "size": 200 * MB})
            m["files"].sort(key=lambda e: e["path"])
            entries[fmt.MANIFEST] = json.dumps(m).encode()
            for name, data in entries.items():
                zf.writestr(name, data)
            _big(zf, "media/" + "0" * 64, 200 * MB, zipfile.ZIP_BZIP2, b"\0")
    return out


@pytest.mark.parametrize("kind", ["manifest", "reports", "audit", "media_bz2"])
def test_zip_bombs_are_refused_in_bounded_memory_and_time(package, tmp_path, kind):
    bomb = _bomb(package, tmp_path, kind)
    assert bomb.stat().st_size < 3 * MB  # 200 MB of data inside
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(bomb)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
        check=True,
    )
    ok, rss_mb, secs = done.stdout.split()
    assert ok == "0"
    assert int(rss_mb) < 200, done.stdout  # without the caps: 400 MB and more
    assert float(secs) < 5.0, done.stdout
