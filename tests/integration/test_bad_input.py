"""Hostile and broken input: a clear error code, the handler survives, nothing stored is lost."""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zlib

import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed

from backend_client import messages as m
from backend_client.limits import MAX_FRAME_BYTES
from tests.conftest import start_relay
from tests.support.flows import PRESTON, device, officer, report
from tests.support.peer import Peer, next_id, wait_until


async def _still_serving(p: Peer) -> None:
    pong = await p.request(m.Ping(id=next_id()))
    assert isinstance(pong, m.Pong)


async def _error(p: Peer, frame: str | bytes) -> m.Error:
    await p.send_raw(frame)
    err = await p.wait_for(lambda x: isinstance(x, m.Error))
    assert isinstance(err, m.Error)
    return err


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed"),
        ("[1,2,3]", "malformed"),
        ('{"id":"1"}', "malformed"),
        ('{"type":"launch.missiles","id":"1"}', "unknown_type"),
        ('{"type":"ping","id":"1","v":99}', "unsupported_version"),
        ('{"type":"device.location","id":"x","lat":"north","lon":0}', "malformed"),
        ('{"type":"device.location","id":"x","lat":91,"lon":0}', "malformed"),
        ('{"type":"subscribe","id":"x"}', "unknown_type"),  # officer message on citizen endpoint
    ],
)
async def test_malformed_citizen_frames_get_error_and_connection_lives(relay, frame, code):
    cit, _ = await device(relay)
    err = await _error(cit, frame)
    assert err.code == code, err
    await _still_serving(cit)


async def test_error_reply_names_the_request(relay):
    cit, _ = await device(relay)
    err = await _error(cit, '{"type":"device.location","id":"req-7","lat":"x","lon":0}')
    assert err.re == "req-7"


async def test_oversized_frame_closes_only_that_connection_and_loses_nothing(relay):
    off = await officer(relay)
    cit, _ = await device(relay)
    acc = await report(cit, text="kept safe")
    await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
    with pytest.raises(ConnectionClosed) as info:
        await cit.send_raw("x" * (MAX_FRAME_BYTES + 10))
        await cit.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009  # message too big
    # the relay and the officer are fine, and the report is still there on replay
    await _still_serving(off)
    fresh = await officer(relay, name="dev", subscribe=None)
    await fresh.send(m.Subscribe(id=next_id(), since=0))
    replayed = await fresh.wait_for(lambda e: isinstance(e, m.ReportCreated))
    assert replayed.report.report_id == acc.report_id and replayed.report.text == "kept safe"


async def test_messages_before_auth_are_refused(relay):
    cit = await Peer.open(relay.citizen_url, relay.ssl, officer=False)
    err = await cit.request(m.LocationUpdate(id=next_id(), lat=1.0, lon=1.0))
    assert isinstance(err, m.Error) and err.code == "unauthenticated"
    off = await Peer.open(relay.officer_url, relay.ssl, officer=True)
    err = await off.request(m.Subscribe(id=next_id(), since=0))
    assert isinstance(err, m.Error) and err.code == "unauthenticated"
    bad = await off.request(
        m.Login(id=next_id(), username="dana", password="wrong password", totp="123456")
    )
    assert isinstance(bad, m.Error) and bad.code == "bad_credentials"
    bad = await cit.request(m.DeviceAuth(id=next_id(), device_id="Dnope", secret="nope"))
    assert isinstance(bad, m.Error) and bad.code == "bad_credentials"


async def test_wrong_role_is_forbidden_by_the_relay(relay):
    cit, _ = await device(relay)
    acc = await report(cit)
    analyst = await officer(relay, name="ann")
    err = await analyst.request(
        m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id)
    )
    assert isinstance(err, m.Error) and err.code == "forbidden"
    dispatcher = await officer(relay, name="dana")
    err = await dispatcher.request(m.AlertApprove(id=next_id(), idem=next_id(), alert_id="A-1"))
    assert isinstance(err, m.Error) and err.code == "forbidden"


async def test_expired_token_is_refused(tmp_path):
    running = await start_relay(tmp_path / "r", token_ttl_s=0.5)
    try:
        off = await officer(running, subscribe=None)
        ok_token = [x for x in off.seen if isinstance(x, m.AuthOk)][0]
        await _still_serving(off)  # valid now
        await wait_until(lambda: time.time() > ok_token.expires_at, timeout=5)
        err = await off.request(m.Ping(id=next_id()))
        assert isinstance(err, m.Error) and err.code == "token_expired"
        again = await Peer.open(running.officer_url, running.ssl, officer=True)
        err = await again.request(m.Resume(id=next_id(), token=ok_token.token))
        assert isinstance(err, m.Error) and err.code == "token_expired"
    finally:
        await running.relay.stop()


async def test_hostile_text_is_stored_literally_and_over_long_text_refused(relay):
    off = await officer(relay)
    cit, _ = await device(relay)
    hostile = "<img src=x onerror=alert(1)><b>bold</b>\u202etxet lanretni\u202c ' OR 1=1; --"
    acc = await report(cit, text=hostile)
    ev = await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
    assert ev.report.text == hostile and ev.report.report_id == acc.report_id
    err = await cit.request(
        m.ReportSubmit(
            id=next_id(),
            client_ref="big",
            category="other",
            text="A" * 100_000,
            lat=PRESTON[0],
            lon=PRESTON[1],
        )
    )
    assert isinstance(err, m.Error) and err.code == "too_large"


async def test_invalid_geometry_gets_a_clear_error(relay):
    off = await officer(relay)
    bowtie = m.Polygon(coordinates=[(-2.70, 53.75), (-2.69, 53.76), (-2.70, 53.76), (-2.69, 53.75)])
    err = await off.request(m.AlertPreview(id=next_id(), area=bowtie, categories=["burglary"]))
    assert isinstance(err, m.Error) and err.code == "invalid_geometry", err
    assert "intersect" in err.message.lower()
    frame = (
        '{"type":"alert.preview","id":"g2","categories":["burglary"],'
        '"area":{"type":"circle","lat":53.7,"lon":-2.7,"radius_m":0}}'
    )
    err = await _error(off, frame)
    assert err.code == "invalid_geometry" and err.re == "g2"
    await _still_serving(off)


def _png_header_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("payload", "declared", "code"),
    [
        (b"<html><script>alert(1)</script></html>" * 10, "image/jpeg", "media_type_mismatch"),
        (_jpeg(), "video/mp4", "media_type_mismatch"),
        (_png_header_claiming(100_000, 100_000), "image/png", "image_too_many_pixels"),
        (_jpeg()[:200], "image/jpeg", "media_corrupt"),
    ],
)
async def test_bad_media_is_refused_and_the_report_survives(relay, payload, declared, code):
    off = await officer(relay)
    cit, _ = await device(relay)
    sha = hashlib.sha256(payload).hexdigest()
    acc = await report(cit, media=[m.MediaDecl(sha256=sha, mime=declared, size=len(payload))])
    assert acc.missing == [sha]
    err = await cit.request(
        m.MediaChunk(id=next_id(), report_id=acc.report_id, sha256=sha, offset=0, data=payload)
    )
    assert isinstance(err, m.Error) and err.code == code, err
    await _still_serving(cit)
    created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
    assert created.report.report_id == acc.report_id
    assert [x.stored for x in created.report.media] == [False]


async def test_media_whose_bytes_do_not_match_the_hash_is_refused(relay):
    cit, _ = await device(relay)
    good = _jpeg()
    claimed = hashlib.sha256(b"something else").hexdigest()
    acc = await report(cit, media=[m.MediaDecl(sha256=claimed, mime="image/jpeg", size=len(good))])
    err = await cit.request(
        m.MediaChunk(id=next_id(), report_id=acc.report_id, sha256=claimed, offset=0, data=good)
    )
    assert isinstance(err, m.Error) and err.code == "media_hash_mismatch"


async def test_good_media_in_chunks_is_stored_and_fetchable(relay):
    off = await officer(relay)
    cit, _ = await device(relay)
    photo = _jpeg()
    sha = hashlib.sha256(photo).hexdigest()
    acc = await report(cit, media=[m.MediaDecl(sha256=sha, mime="image/jpeg", size=len(photo))])
    half = len(photo) // 2
    p1 = await cit.request(
        m.MediaChunk(id=next_id(), report_id=acc.report_id, sha256=sha, offset=0, data=photo[:half])
    )
    assert isinstance(p1, m.MediaProgress) and not p1.complete and p1.received == half
    again = await cit.request(
        m.MediaChunk(id=next_id(), report_id=acc.report_id, sha256=sha, offset=0, data=photo[:half])
    )
    assert isinstance(again, m.MediaProgress) and again.received == half  # a resend is harmless
    p2 = await cit.request(
        m.MediaChunk(
            id=next_id(), report_id=acc.report_id, sha256=sha, offset=half, data=photo[half:]
        )
    )
    assert isinstance(p2, m.MediaProgress) and p2.complete
    upd = await off.wait_for(lambda e: isinstance(e, m.ReportUpdated) and e.report.media[0].stored)
    assert upd.report.media[0].sha256 == sha
    data = await off.request(m.MediaGet(id=next_id(), sha256=sha))
    assert isinstance(data, m.MediaData) and data.data == photo and data.mime == "image/jpeg"
