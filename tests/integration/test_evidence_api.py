"""`evidence.export` / `evidence.get` over the officer API, with the real relay over TLS:
an analyst exports, reassembles the chunks, the bytes verify pinned to the relay's key,
the export is audited with the officer and the reason; other roles are forbidden, bad
requests are `invalid`, and a second concurrent export is `rate_limited`."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import threading
import zipfile
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client import codec
from backend_client import messages as m
from backend_client.limits import MAX_FRAME_BYTES, MEDIA_CHUNK_BYTES
from evidence.verify import verify
from relay import admin, evidence_api
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.support.clients import make_client
from tests.support.evidence_case import signer
from tests.support.flows import device, officer, report, square
from tests.support.peer import Peer, next_id, wait_until

REASON = "CPS file request 42"


def _fp(r: RunningRelay) -> str:
    return signer(r.data_dir)


def _noise_png() -> bytes:
    """A PNG that does not compress, so the package is bigger than one piece."""
    im = Image.frombytes("RGB", (480, 480), os.urandom(480 * 480 * 3))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


async def _a_report(r: RunningRelay, photo: bool = False) -> str:
    cit, _ = await device(r)
    if not photo:
        acc = await report(cit, "Two men trying door handles on Elm Road")
        await cit.close()
        return acc.report_id
    data = _noise_png()
    sha = hashlib.sha256(data).hexdigest()
    decl = m.MediaDecl(sha256=sha, mime="image/png", size=len(data))
    acc = await report(cit, "Two men trying door handles on Elm Road", media=[decl])
    for at in range(0, len(data), MEDIA_CHUNK_BYTES):
        done = await cit.request(
            m.MediaChunk(
                id=next_id(),
                report_id=acc.report_id,
                sha256=sha,
                offset=at,
                data=data[at : at + MEDIA_CHUNK_BYTES],
            )
        )
        assert isinstance(done, m.MediaProgress), done
    assert done.complete
    await cit.close()
    return acc.report_id


async def _fetch(p: Peer, ready: m.EvidenceReady, length: int = MEDIA_CHUNK_BYTES) -> bytes:
    buf = bytearray()
    while len(buf) < ready.total:
        got = await p.request(
            m.EvidenceGet(id=next_id(), package_id=ready.package_id, offset=len(buf), length=length)
        )
        assert isinstance(got, m.EvidenceData), got
        assert got.offset == len(buf) and got.total == ready.total and got.data
        assert len(codec.encode(got)) < MAX_FRAME_BYTES
        buf += got.data
    return bytes(buf)


def _registry(r: RunningRelay) -> evidence_api.Exports:
    return evidence_api.registry(r.relay.ctx)  # type: ignore[attr-defined]


def _exports(r: RunningRelay) -> list[db.AuditLog]:
    engine = admin.open_engine(r.data_dir)
    try:
        with Session(engine) as s:
            return list(
                s.scalars(select(db.AuditLog).where(db.AuditLog.action == "evidence.export"))
            )
    finally:
        engine.dispose()


async def test_an_analyst_exports_and_the_reassembled_bytes_verify(relay: RunningRelay) -> None:
    rid = await _a_report(relay, photo=True)
    ann = await officer(relay, "ann", subscribe=None)
    ready = await ann.request(m.EvidenceExport(id=next_id(), reason=REASON, reports=[rid]))
    assert isinstance(ready, m.EvidenceReady), ready
    assert ready.counts.reports == 1 and ready.counts.media == 1
    assert ready.fingerprint == _fp(relay)
    # the package spans more than one full-sized piece, each frame under MAX_FRAME_BYTES
    data = await _fetch(ann, ready)
    assert ready.total > MEDIA_CHUNK_BYTES and len(data) == ready.total
    assert hashlib.sha256(data).hexdigest() == ready.sha256
    assert await _fetch(ann, ready, length=100_000) == data  # any piece size reassembles
    result = verify(io.BytesIO(data), fingerprint=_fp(relay))
    assert result.ok, [(c.check, c.file, c.note) for c in result.failures]
    rows = _exports(relay)
    assert len(rows) == 1 and rows[0].actor == "ann"
    assert rows[0].subject == f"{ready.package_id}{evidence_api.SUFFIX}"
    detail = json.loads(rows[0].detail)
    assert detail["reason"] == REASON and detail["selectors"]["reports"] == [rid]
    assert detail["key"] == _fp(relay)
    # the package names the officer who asked for it
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["exported_by"] == "ann" and manifest["merkle_root"] == ready.merkle_root
    assert detail["merkle_root"] == ready.merkle_root
    # another officer cannot read it; a past-the-end offset is invalid
    sam = await officer(relay, "sam", subscribe=None)
    other = await sam.request(m.EvidenceGet(id=next_id(), package_id=ready.package_id))
    assert isinstance(other, m.Error) and other.code == "not_found", other
    past = await ann.request(
        m.EvidenceGet(id=next_id(), package_id=ready.package_id, offset=ready.total + 1)
    )
    assert isinstance(past, m.Error) and past.code == "invalid", past
    # a second export by the same officer replaces (and deletes) the first package
    first = _registry(relay).packages[ready.package_id].path
    again = await ann.request(
        m.EvidenceExport(id=next_id(), reason=REASON, area=square(), since=0.0)
    )
    assert isinstance(again, m.EvidenceReady), again
    assert not first.exists()
    gone = await ann.request(m.EvidenceGet(id=next_id(), package_id=ready.package_id))
    assert isinstance(gone, m.Error) and gone.code == "not_found", gone
    await ann.close()
    await sam.close()


@pytest.mark.parametrize("name", ["dana", "dev"])
async def test_dispatchers_are_forbidden(relay: RunningRelay, name: str) -> None:
    rid = await _a_report(relay)
    p = await officer(relay, name, subscribe=None)
    no = await p.request(m.EvidenceExport(id=next_id(), reason=REASON, reports=[rid]))
    assert isinstance(no, m.Error) and no.code == "forbidden", no
    no = await p.request(m.EvidenceGet(id=next_id(), package_id="evp_x"))
    assert isinstance(no, m.Error) and no.code == "forbidden", no
    assert _exports(relay) == []
    await p.close()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"reason": "", "reports": ["R"]}, "invalid"),
        ({"reason": "   ", "reports": ["R"]}, "invalid"),
        ({"reason": REASON}, "invalid"),
        ({"reason": REASON, "since": 20.0, "until": 10.0}, "invalid"),
        ({"reason": REASON, "reports": ["rep_nope"]}, "not_found"),
        ({"reason": "x" * 8001, "reports": ["R"]}, "too_large"),
    ],
)
async def test_bad_requests_are_refused(
    relay: RunningRelay, fields: dict[str, Any], code: str
) -> None:
    rid = await _a_report(relay)
    fields = {k: ([rid] if v == ["R"] else v) for k, v in fields.items()}
    sue = await officer(relay, "sue", subscribe=None)
    no = await sue.request(m.EvidenceExport(id=next_id(), **fields))
    assert isinstance(no, m.Error) and no.code == code, no
    assert _exports(relay) == []
    assert list(_registry(relay).dir.iterdir()) == []
    await sue.close()


async def test_one_export_at_a_time(relay: RunningRelay, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = await _a_report(relay)
    started, release = threading.Event(), threading.Event()
    real = evidence_api._build

    def slow(*args: Any) -> Any:
        started.set()
        assert release.wait(10)
        return real(*args)

    monkeypatch.setattr(evidence_api, "_build", slow)
    ann = await officer(relay, "ann", subscribe=None)
    sam = await officer(relay, "sam", subscribe=None)
    first = asyncio.create_task(
        ann.request(m.EvidenceExport(id=next_id(), reason=REASON, reports=[rid]))
    )
    await wait_until(started.is_set)
    busy = await sam.request(m.EvidenceExport(id=next_id(), reason=REASON, reports=[rid]))
    assert isinstance(busy, m.Error) and busy.code == "rate_limited", busy
    assert busy.retry_after_s is not None and busy.retry_after_s > 0
    release.set()
    ready = await first
    assert isinstance(ready, m.EvidenceReady), ready
    # the slot is free again
    ok = await sam.request(m.EvidenceExport(id=next_id(), reason=REASON, reports=[rid]))
    assert isinstance(ok, m.EvidenceReady), ok
    assert [r.actor for r in _exports(relay)] == ["ann", "sam"]
    await ann.close()
    await sam.close()


async def test_the_client_fetches_a_package_that_verifies(relay: RunningRelay, tmp_path) -> None:
    rid = await _a_report(relay, photo=True)
    client = make_client(relay, tmp_path, "ann")
    await client.start()
    try:
        await client.wait_live(10)
        out = tmp_path / "case.lookout-evidence"
        ready = await client.export_evidence(
            m.EvidenceExport(id="", reason=REASON, reports=[rid]), out
        )
    finally:
        await client.stop()
    assert out.stat().st_size == ready.total
    assert verify(out, fingerprint=_fp(relay)).ok


async def test_a_package_is_deleted_when_its_hold_ends(
    relay: RunningRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await _a_report(relay)
    monkeypatch.setattr(evidence_api, "HOLD_S", 0.2)
    sam = await officer(relay, "sam", subscribe=None)
    ready = await sam.request(m.EvidenceExport(id=next_id(), reason=REASON, reports=[rid]))
    assert isinstance(ready, m.EvidenceReady), ready
    path = _registry(relay).packages[ready.package_id].path
    assert path.exists()
    await wait_until(lambda: not path.exists(), timeout=5)
    gone = await sam.request(m.EvidenceGet(id=next_id(), package_id=ready.package_id))
    assert isinstance(gone, m.Error) and gone.code == "not_found", gone
    await sam.close()


async def test_damaged_media_is_unavailable_and_leaves_nothing(relay: RunningRelay) -> None:
    from relay import evidence

    rid = await _a_report(relay, photo=True)
    stored = [p for p in (relay.data_dir / "media").rglob("*") if p.is_file()]
    assert len(stored) == 1
    stored[0].write_bytes(b"\x89PNG altered")
    assert evidence.media_path(relay.data_dir, stored[0].name) == stored[0]
    ann = await officer(relay, "ann", subscribe=None)
    no = await ann.request(m.EvidenceExport(id=next_id(), reason=REASON, reports=[rid]))
    assert isinstance(no, m.Error) and no.code == "unavailable", no
    assert "no longer matches" in no.message
    assert _exports(relay) == []
    assert list(_registry(relay).dir.iterdir()) == []
    await ann.close()


async def test_no_package_outlives_the_relay(tmp_path) -> None:
    running = await start_relay(tmp_path / "relay", counts_interval_s=0.1)
    try:
        rid = await _a_report(running)
        sam = await officer(running, "sam", subscribe=None)
        ready = await sam.request(m.EvidenceExport(id=next_id(), reason=REASON, reports=[rid]))
        assert isinstance(ready, m.EvidenceReady), ready
        path = _registry(running).packages[ready.package_id].path
        assert path.exists()
        await sam.close()
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]
    assert not path.exists()
    assert not (running.data_dir / evidence_api.TMP_DIR).exists()
