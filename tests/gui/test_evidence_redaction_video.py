"""Video frame-range redaction in the workspace (issue 10, item 5): a range and a box set on
the video dialog are saved in the sidecar, the disclosure export carries a re-encoded MP4
(black inside the box over the range, the rest close to the original, the sound silent
over the range, same size, frame times and duration, no metadata) and verifies pinned to
both keys; a video beyond the limits is refused in words; the package is never changed.
And `--parent-fingerprint` pins a disclosure's parent key, the banner saying so."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PySide6.QtWidgets import QDialogButtonBox

from backend_client import messages as m
from backend_client.limits import MAX_MEDIA_BYTES
from console import app as console_app
from console.evidence import redaction_video
from console.workspace_window import WorkspaceWindow
from evidence import disclosure
from evidence.verify import verify
from tests.conftest import start_relay
from tests.support.evidence_case import HTML_TEXT, signer
from tests.support.flows import device, report
from tests.support.peer import next_id
from tests.support.workspace import workspaces

pytestmark = pytest.mark.gui

W, H, FPS, SECONDS, RATE = 192, 144, 12, 2.0, 16_000
BOX = (40, 30, 64, 48)  # x, y, w, h
START, END = 0.5, 1.0


def _clip() -> bytes:
    """A colourful 2 s H.264 MP4 with a 440 Hz tone, tagged with a place and a time."""
    yy, xx = np.mgrid[0:H, 0:W]
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/clip.mp4"
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            out.metadata["location"] = "+53.7632-002.7031/"
            out.metadata["creation_time"] = "2024-05-01T10:00:00Z"
            v = out.add_stream("libx264", rate=FPS)
            v.width, v.height, v.pix_fmt = W, H, "yuv420p"
            v.options = {"preset": "ultrafast", "crf": "16"}
            a = out.add_stream("aac", rate=RATE)
            a.codec_context.layout = "mono"
            n = int(SECONDS * FPS)
            for i in range(n):
                img = np.zeros((H, W, 3), np.uint8)
                img[..., 0] = 60 + xx * 180 // W
                img[..., 1] = 60 + yy * 180 // H
                img[..., 2] = 60 + i * 180 // n
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = i
                for p in v.encode(frame):
                    out.mux(p)
            total = int(SECONDS * RATE)
            tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(total) / RATE)).astype(np.float32)
            for s0 in range(0, total, 1024):
                chunk = np.pad(tone[s0 : s0 + 1024], (0, max(0, s0 + 1024 - total)))
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = RATE, s0, Fraction(1, RATE)
                for p in a.encode(af):
                    out.mux(p)
            for s in (a, v):
                for p in s.encode(None):
                    out.mux(p)
        return Path(path).read_bytes()


@dataclass(frozen=True)
class VideoCase:
    data_dir: Path
    video: bytes
    sha: str
    report_id: str


async def _make(data_dir: Path, video: bytes) -> VideoCase:
    r = await start_relay(data_dir)
    try:
        cit, _ = await device(r)
        sha = hashlib.sha256(video).hexdigest()
        decl = m.MediaDecl(sha256=sha, mime="video/mp4", size=len(video))
        one = await report(cit, "Car driven at people on Elm Road", media=[decl])
        done = await cit.request(
            m.MediaChunk(id=next_id(), report_id=one.report_id, sha256=sha, offset=0, data=video)
        )
        assert isinstance(done, m.MediaProgress) and done.complete, done
        await cit.close()
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
    return VideoCase(data_dir, video, sha, one.report_id)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> VideoCase:
    video = _clip()
    assert len(video) < 512 * 1024  # one media chunk
    return asyncio.run(_make(tmp_path_factory.mktemp("evidence") / "relay", video))


@pytest.fixture(scope="module")
def exported(case: VideoCase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from relay import cli as relay_cli

    out = tmp_path_factory.mktemp("pkg") / "elm-video.lookout-evidence"
    argv = ["evidence", "export", "--data-dir", str(case.data_dir), "--out", str(out)]
    assert relay_cli.main([*argv, "--reason", "review", "--report", case.report_id]) == 0
    return out


@pytest.fixture
def package(exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(disclosure.KEY_ENV, raising=False)
    return Path(shutil.copy(exported, tmp_path / exported.name))


@pytest.fixture
def open_workspace(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    with workspaces(qtbot, tmp_path, "ana") as go:
        yield go


def _frames(data: bytes) -> list[tuple[float, np.ndarray]]:
    with av.open(io.BytesIO(data)) as c:
        return [
            (float(f.time), f.to_ndarray(format="rgb24").astype(float)) for f in c.decode(video=0)
        ]


def _sound(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Every decoded sample (mono) and its time."""
    times, samples = [], []
    with av.open(io.BytesIO(data)) as c:
        for f in c.decode(audio=0):
            x = f.to_ndarray()[0]
            times.append(float(f.time) + np.arange(len(x)) / f.sample_rate)
            samples.append(x)
    return np.concatenate(times), np.concatenate(samples)


def _disclose(w: WorkspaceWindow, out: Path, qtbot: Any) -> disclosure.Written:
    w.export_disclosure(out, "CPS disclosure, schedule 2")
    qtbot.waitUntil(lambda: w.last_disclosure is not None, timeout=30_000)
    assert isinstance(w.last_disclosure, disclosure.Written), w.last_disclosure
    return w.last_disclosure


def _redact(w: WorkspaceWindow, case: VideoCase, qtbot: Any) -> None:
    w._select(case.report_id)
    w.redact_selected_video()
    qtbot.waitUntil(lambda: w.video_redaction_dialog is not None, timeout=10_000)
    d = w.video_redaction_dialog
    assert d is not None and d.info.has_audio and (d.info.width, d.info.height) == (W, H)
    d.seek(0.75)  # the frame at the slider's position, decoded off the GUI thread
    qtbot.waitUntil(lambda: abs(d.shown_at - 0.75) < 1e-6, timeout=10_000)
    assert d.editor.canvas.image.width() == W
    save = d.buttons.button(QDialogButtonBox.StandardButton.Save)
    d.add_range(START, END)
    d.editor.add_region(*BOX, mode="box")
    d.mute.setChecked(True)
    assert not save.isEnabled()  # the reason is required
    d.reason.setText(HTML_TEXT)
    assert save.isEnabled()
    save.click()


def test_redact_a_video_range_export_and_verify(open_workspace, case, package, qtbot, tmp_path):
    before = hashlib.sha256(package.read_bytes()).hexdigest()
    w = open_workspace(package)
    _redact(w, case, qtbot)
    saved = w.notebook.sidecar.state().redaction_of(case.sha)  # type: ignore[union-attr]
    assert saved is not None and saved["body"]["reason"] == HTML_TEXT
    op = saved["body"]["operation"]
    assert op == {
        "type": "redact-video",
        "ranges": [{"start_s": START, "end_s": END}],
        "regions": [{"x": BOX[0], "y": BOX[1], "w": BOX[2], "h": BOX[3], "mode": "box"}],
        "audio": "muted",
    }
    w.notes.choose(next(t for t in w.notes.targets if t.type == "media"))
    listed = [w.notes.listing.item(i).text() for i in range(w.notes.listing.count())]
    assert any("Video redaction for disclosure: 0.50-1.00 s" in t for t in listed), listed

    out = tmp_path / "out" / "elm-video-disclosure.lookout-evidence"
    written = _disclose(w, out, qtbot)
    fp = disclosure.fingerprint(disclosure.analyst_key())
    result = verify(out, fingerprint=fp, parent_fingerprint=signer(case.data_dir))
    assert result.ok, [c.line() for c in result.failures]
    assert written.counts["derived"] == 1 and written.counts["withheld"] == 0
    assert hashlib.sha256(package.read_bytes()).hexdigest() == before

    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        entry = next(e for e in manifest["files"] if e.get("derived_from") == case.sha)
        derived = zf.read(entry["path"])
        names = zf.namelist()
        reports = json.loads(zf.read("reports.json"))
    assert f"media/{case.sha}" not in names
    assert entry["operation"] == op and entry["reason"] == HTML_TEXT
    assert reports[0]["media"] == [
        {"sha256": entry["sha256"], "mime": "video/mp4", "size": len(derived), "stored": True}
    ]

    with av.open(io.BytesIO(derived)) as c:
        tags = [c.metadata, *(s.metadata for s in c.streams)]
        v = c.streams.video[0]
        assert (v.codec_context.name, v.width, v.height, v.format.name) == (
            "h264",
            W,
            H,
            "yuv420p",
        )
        assert v.average_rate == FPS
        assert [s.codec_context.name for s in c.streams.audio] == ["aac"]
    assert not any(k.startswith(("location", "creation_time")) for t in tags for k in t), tags

    original, redacted = _frames(case.video), _frames(derived)
    assert [t for t, _ in redacted] == pytest.approx([t for t, _ in original])
    assert len(redacted) == int(SECONDS * FPS)
    x, y, bw, bh = BOX
    inside = (slice(y, y + bh), slice(x, x + bw))
    hit = 0
    for (t, a), (_, b) in zip(original, redacted, strict=True):
        outside = np.ones(a.shape[:2], bool)
        outside[y - 2 : y + bh + 2, x - 2 : x + bw + 2] = False  # chroma bleeds a pixel
        if START <= t <= END:
            hit += 1
            assert b[inside].mean() < 6, t  # black, up to codec noise
            assert a[inside].mean() > 100  # and it was not before
            assert np.abs(a[outside] - b[outside]).mean() < 4, t
        else:
            assert np.abs(a - b).mean() < 4, t
    assert hit == 7  # 0.5, 0.583, ... 1.0 at 12 fps

    t, s = _sound(derived)
    assert t[-1] == pytest.approx(_sound(case.video)[0][-1], abs=0.07)
    quiet = (t > START + 0.03) & (t < END - 0.03)  # AAC's 1,024-sample frames smear edges
    loud = (t > 0.1) & (t < START - 0.1) | (t > END + 0.1) & (t < SECONDS - 0.1)
    assert np.abs(s[quiet]).max() < 0.01
    assert np.sqrt(np.mean(s[loud] ** 2)) > 0.3  # the 0.5 tone's RMS is 0.35

    # the disclosure opens with its parent key pinned, and the banner says so
    pinned = open_workspace(out, fingerprint=fp, parent_fingerprint=signer(case.data_dir))
    assert pinned.result is not None and pinned.result.ok and pinned.result.parent_pinned
    assert pinned.banner.verdict.level == "verified"
    assert "parent package was signed by pinned key" in pinned.banner.verdict.headline
    unpinned = open_workspace(out, fingerprint=fp)
    assert unpinned.banner.verdict.level == "unpinned"
    assert "PARENT SIGNER NOT PINNED" in unpinned.banner.verdict.headline
    wrong = open_workspace(out, fingerprint=fp, parent_fingerprint="ab" * 32)
    assert wrong.banner.verdict.level == "failed"


def test_a_video_beyond_the_limits_is_refused(
    open_workspace, case, package, qtbot, monkeypatch, tmp_path
):
    w = open_workspace(package)
    monkeypatch.setattr(redaction_video, "MAX_SECONDS", 1.0)
    w._select(case.report_id)
    w.redact_selected_video()
    qtbot.waitUntil(lambda: "cannot be redacted" in w.statusBar().currentMessage(), timeout=10_000)
    assert "more than the 1 s this workspace redacts" in w.statusBar().currentMessage()
    assert w.video_redaction_dialog is None
    # a redaction saved earlier is refused at export too, in words, and nothing is written
    side = w.notebook.sidecar  # type: ignore[union-attr]
    op = redaction_video.operation([(0.0, 0.5)], whole_frame=True, audio="kept")
    side.redaction(case.sha, op, "faces")
    out = tmp_path / "d.lookout-evidence"
    w.export_disclosure(out, "CPS")
    qtbot.waitUntil(lambda: w.last_disclosure is not None, timeout=30_000)
    assert isinstance(w.last_disclosure, redaction_video.VideoRejected)
    assert "more than the 1 s" in str(w.last_disclosure) and not out.exists()
    # within its limits the same operation renders: black frames over the range, sound kept
    black = redaction_video.redacted_mp4(case.video, op, max_seconds=10)
    for t, frame in _frames(black):
        assert (frame.mean() < 3) == (t <= 0.5), t
    t, s = _sound(black)
    assert np.sqrt(np.mean(s[(t > 0.1) & (t < 0.4)] ** 2)) > 0.3
    with pytest.raises(redaction_video.VideoRejected, match="more than the 1,000 the console"):
        redaction_video.probe(case.video, max_bytes=1000)
    with pytest.raises(redaction_video.VideoRejected, match=f"{MAX_MEDIA_BYTES:,} the console"):
        redaction_video.check(b"\0\0\0\x20ftypisom" + bytes(MAX_MEDIA_BYTES))


def test_parent_fingerprint_is_an_evidence_option(exported):
    argv = ["--evidence", str(exported), "--parent-fingerprint", "ab"]
    assert console_app.parse_args(argv)[0].parent_fingerprint == "ab"
    assert console_app.parse_args(argv[:2])[0].parent_fingerprint is None
    with pytest.raises(SystemExit):
        console_app.parse_args(["--parent-fingerprint", "ab"])
