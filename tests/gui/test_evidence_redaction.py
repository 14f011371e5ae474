"""Redaction for disclosure in the workspace (issue 10, item 5): regions set on the dialog
over the package's photo are saved in the sidecar (and survive reopening), the disclosure
export carries the redacted PNG (black inside the box, uniform blocks where pixelated,
unchanged elsewhere) and verifies pinned to both keys; the package is never changed."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QDialogButtonBox

from console.evidence import notebook, redaction
from evidence import cli as evidence_cli
from evidence import disclosure
from evidence.verify import verify
from tests.support.evidence_case import HTML_TEXT, Case, export, make_case, signer
from tests.support.workspace import workspaces

pytestmark = pytest.mark.gui

BOX = (2, 3, 10, 8)
PIXELATED = (14, 0, 10, 24)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return make_case(tmp_path_factory.mktemp("evidence") / "relay")


@pytest.fixture(scope="module")
def exported(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(case, tmp_path_factory.mktemp("pkg"))


@pytest.fixture
def package(exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy, and a private analyst key (never the tester's own)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(disclosure.KEY_ENV, raising=False)
    return Path(shutil.copy(exported, tmp_path / exported.name))


@pytest.fixture
def open_workspace(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    with workspaces(qtbot, tmp_path, "ana") as go:
        yield go


def _inside(x: int, y: int, r: tuple[int, int, int, int]) -> bool:
    return r[0] <= x < r[0] + r[2] and r[1] <= y < r[1] + r[3]


def test_redact_export_verify_and_reopen(open_workspace, case, package, qtbot, tmp_path):
    before = hashlib.sha256(package.read_bytes()).hexdigest()
    w = open_workspace(package)
    w._select(case.reports[0])
    w.redact_selected_photo()
    qtbot.waitUntil(lambda: w.redaction_dialog is not None, timeout=10_000)
    d = w.redaction_dialog
    assert d is not None
    save = d.buttons.button(QDialogButtonBox.StandardButton.Save)
    d.add_region(*BOX, mode="box")
    d.add_region(*PIXELATED, mode="pixelate")
    d.add_region(0, 20, 3, 3, mode="box")
    d.remove_region(2)  # a region can be taken off again
    assert d.listing.count() == 2
    assert not save.isEnabled()  # the reason is required
    d.reason.setText(HTML_TEXT)  # kept and shown as typed, never as markup
    assert save.isEnabled()
    save.click()
    side = w.notebook.sidecar  # type: ignore[union-attr]
    saved = side.state().redaction_of(case.photo_sha)
    assert saved is not None and saved["body"]["reason"] == HTML_TEXT
    w.notes.choose(next(t for t in w.notes.targets if t.type == "media"))
    listed = [w.notes.listing.item(i).text() for i in range(w.notes.listing.count())]
    assert any(
        "Redaction for disclosure: 2 region(s)" in t and t.endswith(HTML_TEXT) for t in listed
    )

    out = tmp_path / "out" / "elm-disclosure.lookout-evidence"
    w.export_disclosure(out, "CPS disclosure, schedule 2")
    qtbot.waitUntil(lambda: w.last_disclosure is not None, timeout=30_000)
    written = w.last_disclosure
    assert isinstance(written, disclosure.Written), written
    fp = disclosure.fingerprint(disclosure.analyst_key())
    assert written.fingerprint == fp
    result = verify(out, fingerprint=fp, parent_fingerprint=signer(case.data_dir))
    assert result.ok, [c.line() for c in result.failures]
    argv = ["verify", str(out), "--fingerprint", fp, "--parent-fingerprint", signer(case.data_dir)]
    assert evidence_cli.main(argv) == 0
    assert hashlib.sha256(package.read_bytes()).hexdigest() == before

    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        entry = next(e for e in manifest["files"] if e.get("derived_from") == case.photo_sha)
        png = zf.read(entry["path"])
        names = zf.namelist()
        reports = json.loads(zf.read("reports.json"))
    assert f"media/{case.photo_sha}" not in names
    assert entry["reason"] == HTML_TEXT and entry["operation"] == saved["body"]["operation"]
    assert any(r["text"] == HTML_TEXT for r in reports)
    got = Image.open(io.BytesIO(png))
    assert got.format == "PNG" and not got.info.get("exif")
    got = got.convert("RGB")
    original = Image.open(io.BytesIO(case.photo)).convert("RGB")
    block = entry["operation"]["regions"][1]["block"]
    assert block >= redaction.MIN_BLOCK
    blocks: dict[tuple[int, int], set[tuple[int, int, int]]] = {}
    for y in range(original.height):
        for x in range(original.width):
            if _inside(x, y, BOX):
                assert got.getpixel((x, y)) == (0, 0, 0), (x, y)
            elif _inside(x, y, PIXELATED):
                key = ((x - PIXELATED[0]) // block, (y - PIXELATED[1]) // block)
                blocks.setdefault(key, set()).add(got.getpixel((x, y)))
            else:
                assert got.getpixel((x, y)) == original.getpixel((x, y)), (x, y)
    assert len(blocks) == 2 and all(len(colours) == 1 for colours in blocks.values())
    noted = w.notebook.sidecar.state().disclosures  # type: ignore[union-attr]
    assert [r["body"]["merkle_root"] for r in noted] == [written.merkle_root]
    w.close()

    again = open_workspace(package, analyst="ben")
    assert again._redaction_of(case.photo_sha) == saved["body"]
    media = notebook.media_target(case.photo_sha, "image/jpeg")
    assert [r["seq"] for r in again.notebook.in_force(media)] == [saved["seq"]]  # type: ignore[union-attr]
    again._select(case.reports[0])
    again.redact_selected_photo()  # the dialog opens with the saved regions
    qtbot.waitUntil(lambda: again.redaction_dialog is not None, timeout=10_000)
    assert again.redaction_dialog.operation() == saved["body"]["operation"]  # type: ignore[union-attr]
    assert again.redaction_dialog.reason_text() == HTML_TEXT  # type: ignore[union-attr]
    again.redaction_dialog.reject()  # type: ignore[union-attr]

    # the disclosure opens in the workspace too, its photo the redacted one
    shown = open_workspace(out, fp, parent_fingerprint=signer(case.data_dir))
    assert shown.result is not None and shown.result.ok and shown.result.kind == "disclosure"
    # pinned both ways, no audit extract carried (the default): green, nothing missing
    assert shown.banner.verdict is not None and shown.banner.verdict.level == "verified"
    assert shown.package is not None and shown.package.problems == []
    shown._select(case.reports[0])
    qtbot.waitUntil(lambda: entry["path"][6:] in shown.detail.media_items, timeout=10_000)


def test_pixelation_fills_each_block_with_its_average(qtbot):
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    for y in range(30):
        for x in range(40):
            image.setPixelColor(x, y, QColor(x * 6, y * 8, (x * y) % 256))
    op = redaction.operation([redaction.region(4, 2, 33, 20, "pixelate")])
    block = op["regions"][0]["block"]
    assert block == redaction.MIN_BLOCK
    out = redaction.render(image, op)
    for by in range(2, 22, block):
        for bx in range(4, 37, block):
            cells = [
                (x, y)
                for y in range(by, min(by + block, 22))
                for x in range(bx, min(bx + block, 37))
            ]
            colours = {out.pixelColor(x, y).getRgb()[:3] for x, y in cells}
            assert len(colours) == 1
            mean = [
                round(sum(image.pixelColor(x, y).getRgb()[c] for x, y in cells) / len(cells))
                for c in range(3)
            ]
            assert list(colours.pop()) == mean
    assert out.pixelColor(0, 0) == image.pixelColor(0, 0)
    assert out.pixelColor(39, 29) == image.pixelColor(39, 29)
    with pytest.raises(ValueError, match="region"):
        redaction.render(image, redaction.operation([]))
