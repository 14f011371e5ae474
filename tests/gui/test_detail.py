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


# ---------------------------------------------------------------------- media above the hash, viewer


def _live(session: ConsoleSession, monkeypatch: pytest.MonkeyPatch, reply: m.Msg) -> list[m.Msg]:
    """The session as if live, answering every request with `reply` (asked: the requests)."""
    from backend_client.state import ConnectionStatus, State

    asked: list[m.Msg] = []
    live = ConnectionStatus(state=State.LIVE, since=time.time())
    monkeypatch.setattr(type(session.client), "status", property(lambda _self: live))

    def run(request: m.Msg, on_reply: object, on_error: object = None) -> None:
        asked.append(request)
        on_reply(reply)  # type: ignore[operator]

    monkeypatch.setattr(session, "run", run)
    return asked


async def test_the_photo_sits_above_a_small_selectable_hash(
    qtbot: object, session: ConsoleSession, shelf: MediaShelf
) -> None:
    info = shelf.put("image/jpeg", jpeg_bytes((120, 90)))
    session.dispatch(created(report(media=[info])))
    w = make_detail(qtbot, session)
    w.show()
    w.show_report("r-1")
    item = w.media_items[info.sha256]
    preview = item.preview
    assert isinstance(preview, ImagePreview)
    await _until(lambda: preview.state == "shown")
    await _until(lambda: item.sha_label.y() > 0)
    # the photo first, the hash below it, smaller than the text around it
    assert preview.geometry().bottom() < item.sha_label.geometry().top()
    assert item.type_label.geometry().bottom() <= preview.geometry().top()
    assert item.sha_label.font().pointSizeF() < item.type_label.font().pointSizeF()
    assert item.sha_label.font().fixedPitch() or "mono" in item.sha_label.font().family().lower()
    assert item.sha_label.isReadOnly() and item.sha_label.toPlainText() == info.sha256


async def test_the_viewer_opens_zooms_steps_through_photos_and_closes(
    qtbot: object, session: ConsoleSession, shelf: MediaShelf
) -> None:
    from PySide6.QtCore import QPoint

    first = shelf.put("image/jpeg", jpeg_bytes((400, 300)))
    second = shelf.put("image/png", _png((90, 160)))
    video = m.MediaInfo(sha256="cd" * 32, mime="video/mp4", size=1000, stored=True)
    session.dispatch(created(report(media=[first, video, second])))
    w = make_detail(qtbot, session)
    w.show()
    w.show_report("r-1")
    pane = w.media_items[first.sha256].preview
    assert isinstance(pane, ImagePreview)
    await _until(lambda: pane.state == "shown")
    # a double-click on the photo opens it full size
    qtbot.mouseDClick(  # type: ignore[attr-defined]
        pane.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(20, 20)
    )
    viewer = w.viewer
    assert viewer is not None and viewer.isVisible()
    qtbot.addWidget(viewer)  # type: ignore[attr-defined]
    shown = viewer.preview
    await _until(lambda: shown.state == "shown")
    assert shown.image_size == (400, 300)
    assert viewer.position_label.text().startswith("Photo 1 of 2")  # the video is not a photo
    assert not viewer.prev_button.isEnabled() and viewer.next_button.isEnabled()
    # zoom: keys, buttons, 1:1 and fit
    view = shown.view
    fitted = view.scale_factor()
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)  # type: ignore[attr-defined]
    assert view.scale_factor() == pytest.approx(fitted * 1.25)
    qtbot.keyClick(viewer, Qt.Key.Key_Minus)  # type: ignore[attr-defined]
    qtbot.keyClick(viewer, Qt.Key.Key_Minus)  # type: ignore[attr-defined]
    assert view.scale_factor() == pytest.approx(fitted / 1.25)
    qtbot.keyClick(viewer, Qt.Key.Key_1)  # type: ignore[attr-defined]
    assert view.scale_factor() == pytest.approx(1.0)
    qtbot.keyClick(viewer, Qt.Key.Key_F)  # type: ignore[attr-defined]
    assert view.scale_factor() == pytest.approx(fitted)
    shown.zoom_in_button.click()
    assert view.scale_factor() == pytest.approx(fitted * 1.25)
    # next and previous: arrow keys and buttons
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # type: ignore[attr-defined]
    await _until(lambda: shown.state == "shown" and shown.image_size == (90, 160))
    assert viewer.position_label.text().startswith("Photo 2 of 2")
    assert viewer.prev_button.isEnabled() and not viewer.next_button.isEnabled()
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # already the last: stays
    assert viewer.index == 1
    viewer.prev_button.click()
    await _until(lambda: shown.state == "shown" and shown.image_size == (400, 300))
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)  # type: ignore[attr-defined]
    await _until(lambda: not viewer.isVisible())
    # Enter on the focused photo opens it too
    pane.view.setFocus()
    qtbot.keyClick(pane.view, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    assert w.viewer is not None and w.viewer is not viewer and w.viewer.isVisible()
    qtbot.addWidget(w.viewer)  # type: ignore[attr-defined]
    w.viewer.close()


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 30, 200)).save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------- video: last frame, scrubbing


def _clip(frames: int = 10) -> bytes:
    """A real 1 s MPEG-4 clip, 10 frames, each redder than the one before."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            rgb = np.zeros((48, 64, 3), np.uint8)
            rgb[:, :, 0], rgb[:, :, 1] = 25 * i, 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def _red(pane: VideoPreview) -> int | None:
    image = pane.shown_image()
    return None if image.isNull() else image.pixelColor(32, 24).red()


async def test_video_holds_its_last_frame_and_shows_frames_while_scrubbing(qtbot: object) -> None:
    pytest.importorskip("PySide6.QtMultimedia", reason="QtMultimedia needs libpulse0")
    data = _clip()
    media_dir = PrivateMediaDir()
    pane = VideoPreview(media_dir)
    qtbot.addWidget(pane)  # type: ignore[attr-defined]
    try:
        if not pane.available:
            pytest.skip(f"no video backend here: {pane.error_text()}")
        pane.resize(320, 300)
        pane.show()
        pane.show_bytes(hashlib.sha256(data).hexdigest(), "video/mp4", data)
        # the first frame shows before Play
        await _until(lambda: _red(pane) is not None, 15)
        assert (_red(pane) or 0) < 40
        pane.play_button.click()
        await _until(lambda: pane.player.mediaStatus() == pane._end_status, 15)
        for _ in range(20):  # the end's empty frame has been delivered by now
            QApplication.processEvents()
        assert (_red(pane) or 0) > 200, "the end of the clip went black"
        assert pane.slider.value() == pane.slider.maximum()
        # scrubbing after the end, and while paused, shows the frame under the slider
        pane.slider.sliderMoved.emit(200)
        await _until(lambda: (_red(pane) or 255) < 90, 10)
        pane.slider.sliderMoved.emit(600)
        await _until(lambda: (_red(pane) or 0) > 120, 10)
        assert pane.player.playbackState() != pane._playing_state
    finally:
        pane.stop()
        media_dir.cleanup()


# ---------------------------------------------------------------------- history and notes


def _history(**changes: object) -> m.ReportHistory:
    fields: dict[str, object] = dict(
        re="h",
        report_id="r-1",
        entries=[
            m.HistoryEntry(time.time() - 300, "citizen", "report.created", "reported"),
            m.HistoryEntry(time.time() - 200, "dana", "report.claim", "claimed it"),
            m.HistoryEntry(time.time() - 100, "sam", "media.view", "opened a photo or video"),
        ],
        notes=[m.Note("N-1", "r-1", "dana", "<b>CCTV</b> at no. 14", time.time() - 150)],
    )
    fields.update(changes)
    return m.ReportHistory(**fields)  # type: ignore[arg-type]


async def test_history_and_notes_tabs_show_the_relays_answer(
    qtbot: object, session: ConsoleSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _live(session, monkeypatch, _history())
    session.dispatch(created(report()))
    w = make_detail(qtbot, session)
    w.show()
    w.show_report("r-1")
    await _until(lambda: w.history.rows() != [])
    assert [type(a) for a in asked] == [m.ReportHistoryGet]
    assert [(who, what) for _when, who, what in w.history.rows()] == [
        ("citizen", "reported"),
        ("dana", "claimed it"),
        ("sam", "opened a photo or video"),
    ]
    assert [w.tabs.tabText(i) for i in range(3)] == ["Report", "History", "Notes (1)"]
    # notes are plain text, and say loudly that the reporter never sees them
    assert w.notes.texts() == ["<b>CCTV</b> at no. 14"]
    item = w.notes.list.item(0)
    assert item is not None and "<b>CCTV</b>" in item.text()
    assert "never shown to the reporter" in w.notes.banner.text()
    assert w.notes.banner.textFormat() == Qt.TextFormat.PlainText
    # another officer's note arrives as an event: shown once, in the history too
    note = m.Note("N-2", "r-1", "sam", "Called back: no answer", time.time())
    session.dispatch(m.ReportNoted(seq=5, at=time.time(), note=note))
    session.dispatch(m.ReportNoted(seq=5, at=time.time(), note=note))
    assert w.notes.texts() == ["<b>CCTV</b> at no. 14", "Called back: no answer"]
    assert w.history.rows()[-1][1:] == ("sam", "added an internal note (22 characters)")
    # a note on another report is not this pane's
    other = m.Note("N-3", "r-2", "sam", "elsewhere", time.time())
    session.dispatch(m.ReportNoted(seq=6, at=time.time(), note=other))
    assert len(w.notes.texts()) == 2


def test_a_note_is_saved_with_ctrl_enter_through_the_outbox(
    qtbot: object, session: ConsoleSession
) -> None:
    session.dispatch(created(report()))
    w = make_detail(qtbot, session)
    w.show()
    w.show_report("r-1")
    w.tabs.setCurrentIndex(2)
    editor = w.notes.editor
    assert not w.notes.save_button.isEnabled()  # nothing written yet
    editor.setFocus()
    qtbot.keyClicks(editor, "  Dog in the garden: take care  ")  # type: ignore[attr-defined]
    assert w.notes.save_button.isEnabled()
    qtbot.keyClick(  # type: ignore[attr-defined]
        editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
    )
    queued = session.client.outbox.pending()
    assert [e.message for e in queued if isinstance(e.message, m.ReportNoteAdd)] == [
        m.ReportNoteAdd(
            id="outbox", idem=queued[-1].idem, report_id="r-1", text="Dog in the garden: take care"
        )
    ]
    assert editor.toPlainText() == ""
    assert "Saving the note" in w.notes.message.text()
    # too long: refused before it is sent, and the counter says so
    editor.setPlainText("x" * (m.NOTE_MAX_CHARS + 1))
    assert not w.notes.save_button.isEnabled()
    assert w.notes.counter.text() == f"{m.NOTE_MAX_CHARS + 1} / {m.NOTE_MAX_CHARS}"
    w.notes.save()
    assert len(session.client.outbox.pending()) == 1


def test_offline_the_tabs_say_why_they_are_empty(qtbot: object, session: ConsoleSession) -> None:
    session.dispatch(created(report()))
    w = make_detail(qtbot, session)
    w.show_report("r-1")
    w._load_history()
    assert "once the console is connected" in w.history.message.text()
    assert w.history.rows() == [] and w.notes.texts() == []
