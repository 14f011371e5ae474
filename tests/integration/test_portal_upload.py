"""Photos with a report from the citizens' portal, in Debian's headless Chromium at 360x640
against a real relay over TLS: a disguised file (text named .jpg) is refused on the page
and nothing of it is sent; a real ~1.7 MB JPEG is hashed in the browser (WebCrypto), declared
with the report and sent in media.chunk pieces; the page is reloaded mid-file and carries on
from where the relay says it stopped, each byte range sent once; a second photo and an MP4
survive a dropped connection the same way; an officer fetches each and gets the exact bytes.

The interruptions come from a test hook injected through the DevTools protocol
(Page.addScriptToEvaluateOnNewDocument), not from the portal's code: it wraps
WebSocket.send, logs every media.chunk the page sends, and after N chunks with data either
holds the next one back (the page then waits on it, as on a stalled link, until the test
reloads) or closes the socket instead of sending it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import struct
from pathlib import Path
from typing import Any

from backend_client import limits
from backend_client import messages as m
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import officer
from tests.support.peer import Peer, next_id
from tests.support.portal_browser import (
    BROWSER_MARKS,
    attached,
    fill_report,
    noise_jpeg,
    open_browser,
    portal_origin,
    requested_urls,
    run,
    shooter,
    text_of,
    visible,
    wait,
)

with contextlib.suppress(ImportError):  # the test extra installs it (BROWSER_MARKS skips)
    from selenium.webdriver.common.by import By

pytestmark = BROWSER_MARKS

CHUNK = limits.MEDIA_CHUNK_BYTES

# The test's hook (never part of the portal): every media.chunk the page sends is logged in
# localStorage "test.chunks" as {sha, offset, bytes}; with "test.stop" = {after, how} set,
# the chunk after `after` chunks with data is not sent: "hold" drops it (the page waits for
# its answer), "close" closes the socket instead (once).
HOOK = """
(() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    let msg = null;
    try { msg = JSON.parse(data); } catch (e) { msg = null; }
    if (msg && msg.type === "media.chunk") {
      const log = JSON.parse(localStorage.getItem("test.chunks") || "[]");
      const stop = JSON.parse(localStorage.getItem("test.stop") || "null");
      const withData = log.filter((c) => c.bytes > 0).length;
      if (stop && msg.data.length > 0 && withData >= stop.after) {
        if (stop.how === "close") {
          localStorage.removeItem("test.stop");
          this.close();
        }
        return undefined;
      }
      log.push({ sha: msg.sha256, offset: msg.offset, bytes: atob(msg.data).length });
      localStorage.setItem("test.chunks", JSON.stringify(log));
    }
    return send.call(this, data);
  };
})();
"""


def photo(seed: int) -> bytes:
    """A real JPEG of noise (so it barely compresses): about 1.7 MB, four chunks."""
    return noise_jpeg(seed)


def clip() -> bytes:
    """A tiny MP4 the relay takes: ISO BMFF boxes ftyp, moov, mdat tiling the file."""

    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), kind) + body

    return (
        box(b"ftyp", b"isom" + bytes(4) + b"isommp41")
        + box(b"moov", bytes(64))
        + box(b"mdat", random.Random(3).randbytes(4000))
    )


def chunks_sent(driver: Any, sha: str) -> list[tuple[int, int]]:
    log = json.loads(driver.execute_script("return localStorage['test.chunks'] || '[]'"))
    return [(c["offset"], c["bytes"]) for c in log if c["sha"] == sha]


def whole_file(size: int) -> list[tuple[int, int]]:
    return [(o, min(CHUNK, size - o)) for o in range(0, size, CHUNK)]


async def fetched(off: Peer, sha: str) -> bytes:
    """The stored file as an officer gets it: media.get, a chunk at a time."""
    got = b""
    while True:
        data = await off.request(m.MediaGet(id=next_id(), sha256=sha, offset=len(got)))
        assert isinstance(data, m.MediaData), data
        got += data.data
        if len(got) >= data.total:
            return got


async def stored(off: Peer, report_id: str, sha: str) -> m.MediaInfo:
    upd = await off.wait_for(
        lambda e: (
            isinstance(e, m.ReportUpdated)
            and e.report.report_id == report_id
            and any(x.sha256 == sha and x.stored for x in e.report.media)
        ),
        timeout=30,
    )
    assert isinstance(upd, m.ReportUpdated)
    return next(x for x in upd.report.media if x.sha256 == sha)


async def test_photos_upload_resume_after_a_reload_and_a_drop(tmp_path: Path) -> None:
    r: RunningRelay = await start_relay(tmp_path / "relay")
    shoot = shooter(tmp_path)
    driver = None
    try:
        origin, host = portal_origin(r)
        off = await officer(r)
        driver = await open_browser(r, tmp_path / "profile")
        d = driver
        await run(
            lambda: d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
        )
        await run(d.get_log, "performance")
        await run(d.get, origin + "/")
        await run(wait, d, lambda x: visible(x, "#register"))
        await run(lambda: d.find_element(By.ID, "register").click())
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))

        # -- a text file named .jpg: refused on the page, with the reason
        fake = tmp_path / "notes.jpg"
        fake.write_text("not a photo at all, just some text\n" * 50, encoding="utf-8")
        await run(lambda: d.find_element(By.ID, "upload-gallery").send_keys(str(fake)))
        await run(wait, d, lambda x: "notes.jpg" in text_of(x, "#upload-msg"))
        refusal = await run(text_of, d, "#upload-msg")
        assert "is not a photo or video this page can send" in refusal, refusal
        assert await run(attached, d) == []

        # -- a real JPEG, hashed in the browser; the page stalls after its first chunk
        first = photo(1)
        sha1 = hashlib.sha256(first).hexdigest()
        assert 1_500_000 < len(first) < 2_000_000 and len(whole_file(len(first))) == 4
        (tmp_path / "photo.jpg").write_bytes(first)
        await run(
            d.execute_script,
            "localStorage['test.stop'] = JSON.stringify({after: 1, how: 'hold'})",
        )
        await run(
            lambda: d.find_element(By.ID, "upload-gallery").send_keys(str(tmp_path / "photo.jpg"))
        )
        await run(wait, d, lambda x: attached(x) != [])
        assert await run(attached, d) == [sha1]  # WebCrypto's SHA-256 is the file's
        await run(fill_report, d, "Someone trying car doors; photo attached.")
        await run(d.execute_script, "document.getElementById('upload-list').scrollIntoView(false)")
        await run(shoot, d, "upload-attached")
        await run(lambda: d.find_element(By.ID, "report-send").click())
        await run(wait, d, lambda x: "Reference" in text_of(x, "#report-msg"))

        created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated), timeout=10)
        assert isinstance(created, m.ReportCreated)
        rep1 = created.report
        assert [(x.sha256, x.mime, x.size, x.stored) for x in rep1.media] == [
            (sha1, "image/jpeg", len(first), False)
        ]  # the disguised file was never declared

        # the bar shows the first chunk, labelled, and the live line says how far
        await run(
            wait,
            d,
            lambda x: x.find_element(By.ID, "upload-bar").get_attribute("value") == str(CHUNK),
        )
        assert await run(
            lambda: d.find_element(By.ID, "upload-bar").get_attribute("max") == str(len(first))
        )
        label = await run(text_of, d, "label[for=upload-bar]")
        assert label == f"Sending file 1 of 1 for report {rep1.report_id}", label
        pct = CHUNK * 100 // len(first) // 10 * 10
        assert await run(text_of, d, "#upload-state") == f"{pct}% of “photo.jpg” sent."
        assert await run(
            lambda: d.find_element(By.ID, "upload-state").get_attribute("aria-live") == "polite"
        )
        await run(
            d.execute_script, "document.getElementById('upload-progress').scrollIntoView(false)"
        )
        await run(shoot, d, "upload")
        assert await run(chunks_sent, d, sha1) == [(0, 0), (0, CHUNK)]  # asked, then one chunk

        # -- reload mid-file: the file waits in IndexedDB and carries on from the relay's offset
        await run(d.execute_script, "localStorage.removeItem('test.stop')")
        await run(d.refresh)
        info1 = await stored(off, rep1.report_id, sha1)
        assert info1.size == len(first)
        sent = await run(chunks_sent, d, sha1)
        assert sent == [(0, 0), (0, CHUNK), (0, 0), *whole_file(len(first))[1:]], sent
        got = await fetched(off, sha1)
        assert hashlib.sha256(got).hexdigest() == sha1 and got == first
        await run(wait, d, lambda x: "were sent" in text_of(x, "#upload-state"))

        # -- a photo and a video; the connection drops after two chunks and comes back
        second, video = photo(2), clip()
        sha2, sha3 = hashlib.sha256(second).hexdigest(), hashlib.sha256(video).hexdigest()
        (tmp_path / "second.jpg").write_bytes(second)
        (tmp_path / "clip.mp4").write_bytes(video)
        await run(
            d.execute_script,
            "localStorage['test.chunks'] = '[]';"
            "localStorage['test.stop'] = JSON.stringify({after: 2, how: 'close'})",
        )
        both = f"{tmp_path / 'second.jpg'}\n{tmp_path / 'clip.mp4'}"  # two files at once
        await run(lambda: d.find_element(By.ID, "upload-gallery").send_keys(both))
        await run(wait, d, lambda x: len(attached(x)) == 2)
        assert await run(attached, d) == [sha2, sha3]
        await run(fill_report, d, "They came back.")
        await run(lambda: d.find_element(By.ID, "report-send").click())
        created2 = await off.wait_for(lambda e: isinstance(e, m.ReportCreated), timeout=10)
        assert isinstance(created2, m.ReportCreated)
        rep2 = created2.report
        assert [(x.sha256, x.mime) for x in rep2.media] == [
            (sha2, "image/jpeg"),
            (sha3, "video/mp4"),
        ]
        await stored(off, rep2.report_id, sha2)
        await stored(off, rep2.report_id, sha3)
        sent = await run(chunks_sent, d, sha2)
        assert sent == [(0, 0), *whole_file(len(second))[:2], (0, 0), *whole_file(len(second))[2:]]
        assert await run(chunks_sent, d, sha3) == [(0, 0), (0, len(video))]  # after the photo
        assert await run(d.execute_script, "return localStorage['test.stop']") is None  # it fired
        assert await fetched(off, sha2) == second
        assert await fetched(off, sha3) == video

        # -- "Your reports" says the files went
        await run(lambda: d.find_element(By.CSS_SELECTOR, '[data-screen="mine"]').click())
        for rep, says in ((rep1, "Photo or video sent."), (rep2, "2 photos or videos sent.")):
            item = f'#mine-list li[data-report="{rep.report_id}"] .report-media'
            await run(wait, d, lambda x, item=item: visible(x, item))
            assert await run(text_of, d, item) == says
        await run(shoot, d, "upload-mine")

        # -- nothing but the relay was asked for anything (blob: is the page's own photo
        # preview, in the browser's memory); nothing went wrong on the page
        urls = await run(requested_urls, d)
        ours = (f"https://{host}/", f"wss://{host}/", f"blob:https://{host}/")  # blob: previews
        strangers = [u for u in urls if not u.startswith(ours)]
        assert strangers == [], strangers
        console = await run(d.get_log, "browser")
        assert [e for e in console if e["level"] == "SEVERE"] == [], console
    finally:
        if driver is not None:
            await run(driver.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
