"""The report detail pane over a real ConsoleSession fed with relay events (no network)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QApplication, QLabel

from backend_client import messages as m
from console.detail import media, video_view
from console.detail.image_view import ImagePreview
from console.detail.media import MediaRejected, PrivateMediaDir, sniff_mime
from console.detail.video_view import VideoPreview
from console.detail.widget import ReportDetailWidget
from console.session import ConsoleSession
from tests.support.console import offline_session

pytestmark = pytest.mark.gui

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<b>bold</b> and <a href='http://evil.example'>a link</a>",
    "\u202eevil\u202c \u2067rtl\u2069 override",
    "A" * 50_000 + "<i>" + "B " * 25_000,  # 100 kB, HTML in the middle
]


class MediaShelf:
    """Stands in for the local cache's media shelf: what `fetch_media` finds locally."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        self.asked: list[str] = []

    def put(self, mime: str, data: bytes) -> m.MediaInfo:
        sha = hashlib.sha256(data).hexdigest()
        self.files[sha] = (mime, data)
        return m.MediaInfo(sha256=sha, mime=mime, size=len(data), stored=True)  # type: ignore[arg-type]

    def get_media(self, sha256: str) -> tuple[str, bytes] | None:
        self.asked.append(sha256)
        return self.files.get(sha256)


@pytest.fixture
def shelf() -> MediaShelf:
    return MediaShelf()


@pytest.fixture
def session(qapp: object, tmp_path: Path, shelf: MediaShelf) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path, cache=shelf)
    yield session
    QThreadPool.globalInstance().waitForDone(5000)
    session.client.outbox.close()


def report(**changes: object) -> m.Report:
    fields: dict[str, object] = dict(
        report_id="r-1",
        reporter="quiet-heron-42",
        category="burglary",
        text="Two people forcing the back door of number 12.",
        lat=51.5007,
        lon=-0.1246,
        created_at=time.time() - 300,
        status="new",
        priority="high",
        claimed_by=None,
        incident_ref=None,
        media=[],
    )
    fields.update(changes)
    return m.Report(**fields)  # type: ignore[arg-type]


def created(r: m.Report, seq: int = 1) -> m.ReportCreated:
    return m.ReportCreated(seq=seq, at=time.time(), report=r)


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG signature and IHDR that claim a huge size, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 64)
    body += struct.pack(">I", len(idat)) + b"IDAT" + idat
    body += struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + body


def make_detail(qtbot: object, session: ConsoleSession) -> ReportDetailWidget:
    w = ReportDetailWidget(session)
    qtbot.addWidget(w)  # type: ignore[attr-defined]
    w.resize(420, 700)
    return w


# ---------------------------------------------------------------------- facts and text


def test_shows_every_fact_of_the_report(qtbot: object, session: ConsoleSession) -> None:
    info = m.MediaInfo(sha256="ab" * 32, mime="video/mp4", size=3_400_000, stored=False)
    session.dispatch(
        created(
            report(
                status="claimed",
                claimed_by="dana",
                incident_ref="INC-2024-0042",
                media=[info],
            )
        )
    )
    w = make_detail(qtbot, session)
    w.show_report("r-1")

    assert w.category_label.text() == "Burglary"
    assert w.text_view.toPlainText() == "Two people forcing the back door of number 12."
    assert w.text_view.isReadOnly()
    assert w.fields["status"].text() == "Claimed"
    assert w.fields["claimed_by"].text() == "dana"
    assert w.fields["priority"].text() == "High"
    assert w.fields["reporter"].text() == "quiet-heron-42"
    assert "51.50070" in w.fields["location"].text()
    assert "0.12460° W" in w.fields["location"].text()
    assert w.fields["incident"].text() == "INC-2024-0042"
    assert "(5 min ago)" in w.fields["time"].text()
    assert time.strftime("%Y-%m-%d") in w.fields["time"].text() or "ago" in w.fields["time"].text()
    item = w.media_items["ab" * 32]
    assert item.type_label.text() == "MP4 video · 3.2 MB"
    assert item.sha_label.text() == "ab" * 32
    assert item.sha_label.isReadOnly()
    assert "Still arriving" in item.status_label.text()
    assert w.media_title.text() == "Media (1 file)"


@pytest.mark.parametrize("hostile", HOSTILE, ids=["img-onerror", "bold-link", "rtl", "100kB"])
def test_hostile_text_shows_literally_everywhere(
    qtbot: object, session: ConsoleSession, hostile: str
) -> None:
    session.dispatch(
        created(report(text=hostile, reporter=hostile, claimed_by=hostile, incident_ref=hostile))
    )
    w = make_detail(qtbot, session)
    w.show_report("r-1")
    w.show()

    assert w.text_view.toPlainText() == hostile
    for key in ("reporter", "claimed_by", "incident"):
        assert w.fields[key].text() == hostile
    labels = w.findChildren(QLabel)
    assert len(labels) > 10
    for label in labels:
        assert label.textFormat() == Qt.TextFormat.PlainText, label.text()[:40]
    # no rich text anywhere: the report body is a plain-text editor, not a rich one
    assert w.text_view.document().toPlainText() == hostile


def test_buttons_emit_for_the_shown_report(qtbot: object, session: ConsoleSession) -> None:
    session.dispatch(created(report(report_id="r-7")))
    w = make_detail(qtbot, session)
    w.show_report("r-7")
    with qtbot.waitSignal(w.show_on_map) as on_map:  # type: ignore[attr-defined]
        w.map_button.click()
    assert on_map.args == ["r-7"]
    with qtbot.waitSignal(w.open_chat) as chat:  # type: ignore[attr-defined]
        w.chat_button.click()
    assert chat.args == ["r-7"]


def test_updates_live_for_the_shown_report_only(qtbot: object, session: ConsoleSession) -> None:
    session.dispatch(created(report()))
    session.dispatch(created(report(report_id="r-2", reporter="other"), seq=2))
    w = make_detail(qtbot, session)
    w.show_report("r-1")
    assert w.fields["claimed_by"].text() == "Nobody yet"

    claimed = report(status="in_progress", claimed_by="sam", priority="normal")
    session.dispatch(m.ReportUpdated(seq=3, at=time.time(), report=claimed, by="sam"))
    assert w.fields["status"].text() == "In progress"
    assert w.fields["claimed_by"].text() == "sam"
    assert w.fields["priority"].text() == "Normal"

    other = report(report_id="r-2", reporter="other", status="closed")
    session.dispatch(m.ReportUpdated(seq=4, at=time.time(), report=other, by="sam"))
    assert w.fields["status"].text() == "In progress"
    assert w.fields["reporter"].text() == "quiet-heron-42"


def test_unknown_report_shows_a_placeholder(qtbot: object, session: ConsoleSession) -> None:
    w = make_detail(qtbot, session)
    w.show_report("nope")
    assert "not known" in w.placeholder.text()
    assert w._pages.currentIndex() == 0


# ---------------------------------------------------------------------- image checks


def test_sniffing_uses_bytes_not_declarations() -> None:
    assert sniff_mime(jpeg_bytes()) == "image/jpeg"
    assert sniff_mime(png_claiming(10, 10)) == "image/png"
    assert sniff_mime(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_mime(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom") == "video/mp4"
    assert sniff_mime(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") is None
    assert sniff_mime(b"<html><script>alert(1)</script>") is None


def test_a_real_jpeg_shows(qtbot: object) -> None:
    preview = ImagePreview()
    qtbot.addWidget(preview)  # type: ignore[attr-defined]
    with qtbot.waitSignal(preview.finished, timeout=5000) as done:  # type: ignore[attr-defined]
        preview.show_bytes("image/jpeg", jpeg_bytes((64, 48)))
    assert done.args == [True]
    assert preview.state == "shown"
    assert preview.image_size == (64, 48)
    assert preview.error_text() == ""


def test_wheel_and_buttons_zoom(qtbot: object) -> None:
    preview = ImagePreview()
    qtbot.addWidget(preview)  # type: ignore[attr-defined]
    preview.resize(300, 300)
    preview.show()
    with qtbot.waitSignal(preview.finished, timeout=5000):  # type: ignore[attr-defined]
        preview.show_bytes("image/jpeg", jpeg_bytes((1200, 900)))
    fitted = preview.view.scale_factor()
    assert fitted < 1.0
    preview.view.zoom_by(2.0)
    assert preview.view.scale_factor() == pytest.approx(fitted * 2)
    preview.actual_button.click()
    assert preview.view.scale_factor() == pytest.approx(1.0)
    preview.fit_button.click()
    assert preview.view.scale_factor() == pytest.approx(fitted)


# Pillow itself warns above its own global limit (which another module may lower to ours);
# the console refuses those images anyway, before decoding.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_pixel_bomb_is_refused_before_decoding(
    qtbot: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[int] = []
    monkeypatch.setattr(media, "_decode", lambda *a: decoded.append(1))
    preview = ImagePreview()
    qtbot.addWidget(preview)  # type: ignore[attr-defined]
    with qtbot.waitSignal(preview.finished, timeout=5000) as done:  # type: ignore[attr-defined]
        preview.show_bytes("image/png", png_claiming(100_000, 100_000))
    assert done.args == [False]
    assert preview.state == "error"
    assert "too large" in preview.error_text()
    assert decoded == []
    # and just over the console's own limit (below Pillow's): refused by our check
    with pytest.raises(MediaRejected, match="6400 x 6400"):
        media.check_image("image/png", png_claiming(6400, 6400))
    assert decoded == []


def test_html_declared_as_jpeg_is_a_type_mismatch(qtbot: object) -> None:
    preview = ImagePreview()
    qtbot.addWidget(preview)  # type: ignore[attr-defined]
    with qtbot.waitSignal(preview.finished, timeout=5000) as done:  # type: ignore[attr-defined]
        preview.show_bytes("image/jpeg", b"<html><img src=x onerror=alert(1)></html>")
    assert done.args == [False]
    assert "not a recognised image" in preview.error_text()
    with pytest.raises(MediaRejected, match="Type mismatch"):
        media.check_image("image/jpeg", png_claiming(10, 10))


def test_a_truncated_jpeg_shows_an_error(qtbot: object) -> None:
    data = jpeg_bytes((400, 300))
    preview = ImagePreview()
    qtbot.addWidget(preview)  # type: ignore[attr-defined]
    with qtbot.waitSignal(preview.finished, timeout=5000) as done:  # type: ignore[attr-defined]
        preview.show_bytes("image/jpeg", data[: len(data) // 2])
    assert done.args == [False]
    assert "damaged or incomplete" in preview.error_text()


def test_an_oversized_file_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "MAX_MEDIA_BYTES", 100)
    with pytest.raises(MediaRejected, match="more than the 100 allowed"):
        media.check_image("image/jpeg", jpeg_bytes())


def test_a_stale_result_does_not_replace_a_newer_one(qtbot: object) -> None:
    preview = ImagePreview()
    qtbot.addWidget(preview)  # type: ignore[attr-defined]
    preview.show_bytes("image/jpeg", jpeg_bytes((2000, 2000)))
    preview.show_error("replaced")
    QThreadPool.globalInstance().waitForDone(5000)
    qtbot.wait(50)  # type: ignore[attr-defined]
    assert preview.state == "error"
    assert preview.error_text() == "replaced"


# ---------------------------------------------------------------------- media in the pane


async def test_the_pane_previews_a_stored_image(
    qtbot: object, session: ConsoleSession, shelf: MediaShelf
) -> None:
    info = shelf.put("image/jpeg", jpeg_bytes((80, 60)))
    session.dispatch(created(report(media=[info])))
    w = make_detail(qtbot, session)
    w.show_report("r-1")
    preview = w.media_items[info.sha256].preview
    assert isinstance(preview, ImagePreview)
    await _until(lambda: preview.state == "shown")
    assert preview.image_size == (80, 60)

    # a live update that does not touch the media keeps the decoded preview
    session.dispatch(
        m.ReportUpdated(
            seq=2, at=time.time(), report=report(media=[info], status="claimed"), by="x"
        )
    )
    assert w.media_items[info.sha256].preview is preview
    assert preview.state == "shown"


async def test_a_photo_fills_the_pane_width_and_the_hash_is_whole(
    qtbot: object, session: ConsoleSession, shelf: MediaShelf
) -> None:
    info = shelf.put("image/jpeg", jpeg_bytes((1200, 900)))
    session.dispatch(created(report(media=[info])))
    w = make_detail(qtbot, session)
    w.resize(340, 700)  # the right dock's default width
    w.show()
    w.show_report("r-1")
    item = w.media_items[info.sha256]
    preview = item.preview
    assert isinstance(preview, ImagePreview)
    await _until(lambda: preview.state == "shown")
    await _until(lambda: preview.view.height() < 400)
    # 4:3 at the pane's width: the photo is as wide as the pane, not a strip in a box
    viewport = preview.view.viewport()
    assert viewport.height() == pytest.approx(viewport.width() * 3 / 4, abs=3)
    assert preview.view.scale_factor() * 1200 == pytest.approx(viewport.width(), abs=6)

    # the hash wraps inside the pane instead of running past its edge
    sha = item.sha_label
    assert sha.text() == info.sha256
    assert sha.width() <= item.width()
    lines = sha.document().documentLayout().documentSize().height()
    assert lines >= 2 and sha.height() >= lines * sha.fontMetrics().lineSpacing()
    assert info.sha256 in sha.toolTip()
    QApplication.clipboard().clear()
    item.copy_button.click()
    assert QApplication.clipboard().text() == info.sha256


async def test_a_hostile_file_fails_only_its_own_pane(
    qtbot: object, session: ConsoleSession, shelf: MediaShelf
) -> None:
    good = shelf.put("image/jpeg", jpeg_bytes())
    html = shelf.put("image/png", b"<html><script>alert(1)</script></html>")
    missing = m.MediaInfo(sha256="cd" * 32, mime="image/webp", size=10, stored=True)
    session.dispatch(created(report(media=[good, html, missing])))
    w = make_detail(qtbot, session)
    w.show_report("r-1")
    previews = [w.media_items[i.sha256].preview for i in (good, html, missing)]
    assert all(isinstance(p, ImagePreview) for p in previews)
    await _until(lambda: all(p.state in ("shown", "error") for p in previews), 10)  # type: ignore[union-attr]
    ok, bad, offline = previews
    assert ok.state == "shown"  # type: ignore[union-attr]
    assert "not a recognised image" in bad.error_text()  # type: ignore[union-attr]
    assert "Not connected to the relay" in offline.error_text()  # type: ignore[union-attr]
    assert w.fields["reporter"].text() == "quiet-heron-42"


async def _until(cond: object, seconds: float = 5.0) -> None:
    from PySide6.QtWidgets import QApplication

    from tests.support.peer import wait_until

    await wait_until(cond, seconds, poll=0.01, tick=QApplication.processEvents)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- video


def _no_multimedia() -> None:
    raise ImportError("libpulse.so.0: cannot open shared object file: No such file or directory")


def test_video_degrades_with_a_message_without_qtmultimedia(
    qtbot: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(video_view, "load_multimedia", _no_multimedia)
    media_dir = PrivateMediaDir()
    try:
        pane = VideoPreview(media_dir)
        qtbot.addWidget(pane)  # type: ignore[attr-defined]
        assert not pane.available
        assert pane.state == "unavailable"
        assert pane.message.text().startswith("Video preview unavailable: ")
        assert "libpulse" in pane.message.text()
        pane.show_bytes("ab" * 32, "video/mp4", b"\x00" * 32)  # ignored, no crash
        pane.toggle_play()
        pane.stop()
    finally:
        media_dir.cleanup()


def test_the_pane_degrades_video_and_does_not_fetch(
    qtbot: object, session: ConsoleSession, shelf: MediaShelf, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video_view, "load_multimedia", _no_multimedia)
    info = m.MediaInfo(sha256="ef" * 32, mime="video/mp4", size=1000, stored=True)
    session.dispatch(created(report(media=[info])))
    w = make_detail(qtbot, session)
    w.show_report("r-1")
    item = w.media_items[info.sha256]
    assert item.load_button is not None
    item.load_button.click()
    assert isinstance(item.preview, VideoPreview)
    assert item.preview.error_text().startswith("Video preview unavailable: ")
    assert shelf.asked == []


def test_video_bytes_are_checked_then_written_privately(qtbot: object) -> None:
    pytest.importorskip("PySide6.QtMultimedia", reason="QtMultimedia needs libpulse0")
    media_dir = PrivateMediaDir()
    try:
        pane = VideoPreview(media_dir)
        qtbot.addWidget(pane)  # type: ignore[attr-defined]
        if not pane.available:
            pytest.skip(f"QtMultimedia present but unusable here: {pane.error_text()}")
        pane.show_bytes("ab" * 32, "video/mp4", jpeg_bytes())
        assert pane.state == "error"
        assert "Type mismatch" in pane.error_text()

        mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
        sha = hashlib.sha256(mp4).hexdigest()
        with qtbot.waitSignal(pane.finished, timeout=5000) as done:  # type: ignore[attr-defined]
            pane.show_bytes(sha, "video/mp4", mp4)
        assert done.args == [True]
        path = media_dir.path / f"{sha}.mp4"
        assert path.read_bytes() == mp4
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(media_dir.path).st_mode) == 0o700
        pane.stop()
    finally:
        media_dir.cleanup()
    assert not media_dir.path.exists()


def test_private_dir_never_uses_a_citizen_name() -> None:
    media_dir = PrivateMediaDir()
    try:
        with pytest.raises(ValueError):
            media_dir.write("../../etc/passwd", b"x")
    finally:
        media_dir.cleanup()
