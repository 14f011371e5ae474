"""Verification in two stages (`evidence.verify.Verification`): the first stage's result is
never a verdict, the final one is exactly `verify`'s whatever was tampered with, and the
media stage reports its progress up to the last byte."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from console.evidence.early import HOLD_BOUND_S, start_verification
from console.evidence.model import checking_media, verdict
from evidence.verify import Cancelled, Progress, Verification, verify
from tests.support.evidence_scale import export, make_case, signer

MEDIA_FILES = 4


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("staged")
    case = make_case(root / "relay", 12, media_files=MEDIA_FILES, media_mb=40)
    return export(case, root / "ok.lookout-evidence"), signer(case.data_dir)


def _media(package: Path) -> list[str]:
    with zipfile.ZipFile(package) as zf:
        return sorted(n for n in zf.namelist() if n.startswith("media/"))


def _changed(package: Path, out: Path, entry: str, change: object) -> Path:
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, change(data) if info.filename == entry else data)  # type: ignore[operator]
    return out


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize("tamper", ["none", "media", "reports", "media-and-reports"])
def test_two_stages_give_exactly_verifys_result(made, tmp_path, tamper):
    package, fp = made
    media = _media(package)
    target = package
    if "media" in tamper:
        target = _changed(target, tmp_path / "m.lookout-evidence", media[1], _flip_last)
    if "reports" in tamper:
        target = _changed(
            target,
            tmp_path / "r.lookout-evidence",
            "reports.json",
            lambda d: d.replace(b"rep_", b"reX_", 1),
        )
    checking = Verification(target, fingerprint=fp)
    first = checking.structure()
    assert first.pending == tuple(media)
    assert not first.ok and not first.complete  # never a verdict while media are pending
    assert first.holds_so_far == ("reports" not in tamper)
    with pytest.raises(ValueError, match="has not finished"):
        verdict(first)
    final = checking.media()
    assert final.complete and final.pending == ()
    assert final.to_json() == verify(target, fingerprint=fp).to_json()
    assert final.ok == (tamper == "none")
    failed = {(c.check, c.file) for c in final.failures}
    if "media" in tamper:
        assert ("file", media[1]) in failed
    assert checking.structure() is first  # the snapshot is not changed by the media stage


def test_the_media_stage_reports_progress_to_the_last_byte(made):
    package, fp = made
    with zipfile.ZipFile(package) as zf:
        total = sum(zf.getinfo(n).file_size for n in _media(package))
    seen: list[Progress] = []
    Verification(package, fingerprint=fp).media(seen.append)
    assert seen[0] == Progress(0, MEDIA_FILES, 0, total)
    assert seen[-1] == Progress(MEDIA_FILES, MEDIA_FILES, total, total)
    assert [p.files_done for p in seen] == sorted(p.files_done for p in seen)
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)
    # ~10 MiB files: progress within a file too, not only between them
    assert len(seen) > MEDIA_FILES + 1


def test_a_progress_callback_can_stop_the_media_stage(made):
    package, fp = made

    def stop(p: Progress) -> None:
        if p.files_done == 1:
            raise Cancelled("closed")

    checking = Verification(package, fingerprint=fp)
    with pytest.raises(Cancelled):
        checking.media(stop)
    assert checking._zf is None  # the package was closed


def test_the_banner_text_while_media_are_checked(made):
    package, fp = made
    first = Verification(package, fingerprint=fp).structure()
    text = checking_media(first, Progress(2, MEDIA_FILES, 41, 100)).headline
    assert text.startswith("Signature and records verified; checking media: 2 of 4 files (41%)…")
    unpinned = checking_media(Verification(package).structure(), None).headline
    assert "was not pinned" in unpinned and "0 of 4 files (0%)" in unpinned


def test_a_held_media_stage_waits_for_its_release(made, tmp_path):
    package, fp = made
    staged = start_verification(package, fp, hold_media=True)
    first = staged.structure.result(timeout=30)
    assert first.holds_so_far
    # held: no progress reported and no verdict, however long the structure took
    with pytest.raises(TimeoutError):
        staged.final.result(timeout=0.5)
    assert staged.progress is None
    staged.release_media()
    assert staged.final.result(timeout=30).to_json() == verify(package, fingerprint=fp).to_json()


def test_a_first_stage_failure_is_never_held(made, tmp_path):
    package, fp = made
    bad = _changed(
        package,
        tmp_path / "r.lookout-evidence",
        "chat.json",
        lambda d: d.replace(b"rep_", b"reX_", 1),
    )
    staged = start_verification(bad, fp, hold_media=True)  # nobody releases it
    final = staged.final.result(timeout=HOLD_BOUND_S / 2)  # a held stage would time out
    assert not final.ok and ("file", "chat.json") in {(c.check, c.file) for c in final.failures}


def test_cancelling_a_held_stage_ends_it(made):
    package, fp = made
    staged = start_verification(package, fp, hold_media=True)
    staged.structure.result(timeout=30)
    staged.cancel()
    with pytest.raises(Cancelled):
        staged.final.result(timeout=30)
