"""Each report's media is uploaded by its own device: a known hash is no shortcut and no
oracle, and an upload the store finished but the database missed is recorded again."""

from __future__ import annotations

import hashlib
import io

from PIL import Image
from sqlalchemy import select

from backend_client import messages as m
from relay import reports
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import device, officer, report
from tests.support.peer import Peer, next_id


def _photo(seed: int) -> bytes:
    im = Image.new("RGB", (32, 32), (seed % 256, 40, 90))
    buf = io.BytesIO()
    im.save(buf, "JPEG")
    return buf.getvalue()


def _decl(photo: bytes) -> m.MediaDecl:
    return m.MediaDecl(sha256=hashlib.sha256(photo).hexdigest(), mime="image/jpeg", size=len(photo))


async def _upload(cit: Peer, report_id: str, data: bytes, sha: str) -> m.Msg:
    return await cit.request(
        m.MediaChunk(id=next_id(), report_id=report_id, sha256=sha, offset=0, data=data)
    )


def _stored(r: RunningRelay, report_id: str) -> list[bool]:
    def q(s: object) -> list[bool]:
        return [
            bool(x)
            for x in s.scalars(  # type: ignore[attr-defined]
                select(db.ReportMedia.stored)
                .join(db.Report, db.Report.id == db.ReportMedia.report_id)
                .where(db.Report.public_id == report_id)
            )
        ]

    return r.relay.db.read_sync(q)  # type: ignore[attr-defined,no-any-return]


async def test_a_known_hash_neither_reveals_nor_attaches_someone_elses_photo(relay):
    off = await officer(relay)
    victim, _ = await device(relay)
    photo = _photo(1)
    sha = hashlib.sha256(photo).hexdigest()
    mine = await report(victim, media=[_decl(photo)])
    done = await _upload(victim, mine.report_id, photo, sha)
    assert isinstance(done, m.MediaProgress) and done.complete
    assert relay.relay.media.has(sha)

    snoop, _ = await device(relay)
    stolen = await report(snoop, media=[_decl(photo)])
    unknown = _photo(2)
    other = await report(snoop, media=[_decl(unknown)])
    # the same answer whether the hash is stored or not: it must be uploaded
    assert stolen.missing == [sha]
    assert other.missing == [hashlib.sha256(unknown).hexdigest()]
    # a resend after a lost reply still says missing
    again = await snoop.request(
        m.ReportSubmit(
            id=next_id(),
            client_ref=next_id(),
            category="burglary",
            text="x",
            lat=53.75,
            lon=-2.7,
            media=[_decl(photo)],
        )
    )
    assert isinstance(again, m.ReportAccepted) and again.missing == [sha]
    # a chunk past what this device sent is out of order, not "complete"
    late = await snoop.request(
        m.MediaChunk(id=next_id(), report_id=stolen.report_id, sha256=sha, offset=10, data=b"x")
    )
    assert isinstance(late, m.Error) and late.code == "invalid", late
    # bytes that are not the photo are refused, and the victim's file is untouched
    forged = bytearray(photo)
    forged[-10] ^= 0xFF
    bad = await _upload(snoop, stolen.report_id, bytes(forged), sha)
    assert isinstance(bad, m.Error) and bad.code == "media_hash_mismatch", bad
    assert _stored(relay, stolen.report_id) == [False]
    assert _stored(relay, mine.report_id) == [True]
    assert relay.relay.media.path(sha).read_bytes() == photo
    created = await off.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == stolen.report_id
    )
    assert [x.stored for x in created.report.media] == [False]


async def test_a_device_with_the_bytes_completes_its_own_report_only(relay):
    off = await officer(relay)
    first, _ = await device(relay)
    second, _ = await device(relay)
    photo = _photo(3)
    sha = hashlib.sha256(photo).hexdigest()
    a = await report(first, media=[_decl(photo)])
    b = await report(second, media=[_decl(photo)])
    assert isinstance(await _upload(first, a.report_id, photo, sha), m.MediaProgress)
    assert _stored(relay, a.report_id) == [True]
    assert _stored(relay, b.report_id) == [False], "another report waits for its own upload"
    done = await _upload(second, b.report_id, photo, sha)  # already stored: still sent
    assert isinstance(done, m.MediaProgress) and done.complete
    assert _stored(relay, b.report_id) == [True]
    upd = await off.wait_for(
        lambda e: isinstance(e, m.ReportUpdated) and e.report.report_id == b.report_id
    )
    assert upd.report.media[0].stored
    resend = await _upload(second, b.report_id, photo[:10], sha)  # a reply was lost
    assert isinstance(resend, m.MediaProgress) and resend.complete


def _crash_before_recording(monkeypatch: object) -> None:
    """The file reaches the store, the relay dies before the database records it."""

    def dies(report_key: int, sha256: str) -> object:
        def job(tx: object) -> None:
            raise RuntimeError("killed between storing the file and recording it")

        return job

    monkeypatch.setattr(reports, "media_stored", dies)  # type: ignore[attr-defined]


async def test_a_file_stored_but_not_recorded_is_reconciled_on_re_upload(relay, monkeypatch):
    off = await officer(relay)
    cit, _ = await device(relay)
    photo = _photo(4)
    sha = hashlib.sha256(photo).hexdigest()
    acc = await report(cit, media=[_decl(photo)])
    real = reports.media_stored
    _crash_before_recording(monkeypatch)
    failed = await _upload(cit, acc.report_id, photo, sha)
    assert isinstance(failed, m.Error) and failed.code == "internal"
    assert relay.relay.media.has(sha) and _stored(relay, acc.report_id) == [False]
    monkeypatch.setattr(reports, "media_stored", real)
    done = await _upload(cit, acc.report_id, photo, sha)
    assert isinstance(done, m.MediaProgress) and done.complete
    assert _stored(relay, acc.report_id) == [True]
    upd = await off.wait_for(lambda e: isinstance(e, m.ReportUpdated))
    assert upd.report.media[0].stored and upd.by is None


async def test_a_file_stored_but_not_recorded_is_reconciled_at_start_up(tmp_path, monkeypatch):
    data = tmp_path / "r"
    first = await start_relay(data)
    cit, _ = await device(first)
    photo = _photo(5)
    sha = hashlib.sha256(photo).hexdigest()
    acc = await report(cit, media=[_decl(photo)])
    snoop, _ = await device(first)
    other = await report(snoop, media=[_decl(photo)])  # declared only: must stay missing
    real = reports.media_stored
    _crash_before_recording(monkeypatch)
    failed = await _upload(cit, acc.report_id, photo, sha)
    assert isinstance(failed, m.Error)
    await first.relay.stop()  # type: ignore[attr-defined]
    monkeypatch.setattr(reports, "media_stored", real)
    second = await start_relay(data)
    second.totp.update(first.totp)
    try:
        assert _stored(second, acc.report_id) == [True]
        assert _stored(second, other.report_id) == [False]
        off = await officer(second)
        upd = await off.wait_for(
            lambda e: isinstance(e, m.ReportUpdated) and e.report.report_id == acc.report_id
        )
        assert upd.report.media[0].stored
        assert second.relay.media.receipts() == []  # type: ignore[attr-defined]
    finally:
        await second.relay.stop()  # type: ignore[attr-defined]
