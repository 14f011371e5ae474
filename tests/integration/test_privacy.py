"""A citizen's subject access and erasure, and the operator's privacy report, over the real
relay with TLS (docs/privacy.md is what these hold the relay to)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PIL import Image
from sqlalchemy import func, select
from websockets.exceptions import ConnectionClosed

from backend_client import codec
from backend_client import messages as m
from backend_client.cache import LocalCache
from backend_client.client import RelayClient
from relay import cli as relay_cli
from relay.db import models as db
from tests.conftest import RunningRelay
from tests.support.clients import make_client
from tests.support.flows import PRESTON, alert_info, device, officer, report
from tests.support.peer import Peer, next_id, wait_until


def _photo(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 24), (seed % 256, 90, 40)).save(buf, "JPEG")
    return buf.getvalue()


async def _report_with_photo(p: Peer, text: str, photo: bytes) -> m.ReportAccepted:
    sha = hashlib.sha256(photo).hexdigest()
    acc = await report(
        p, text=text, media=[m.MediaDecl(sha256=sha, mime="image/jpeg", size=len(photo))]
    )
    done = await p.request(
        m.MediaChunk(id=next_id(), report_id=acc.report_id, sha256=sha, offset=0, data=photo)
    )
    assert isinstance(done, m.MediaProgress) and done.complete, done
    return acc


async def _export_all(p: Peer) -> tuple[list[m.PrivacyData], str]:
    """Every page of an export, and all of them as one JSON text."""
    pages: list[m.PrivacyData] = []
    cursor = ""
    while True:
        page = await p.request(m.PrivacyExport(id=next_id(), cursor=cursor))
        assert isinstance(page, m.PrivacyData), page
        pages.append(page)
        if page.next_cursor is None:
            return pages, "".join(codec.encode_text(x) for x in pages)
        cursor = page.next_cursor


def _q(r: RunningRelay, fn: Any) -> Any:
    return r.relay.db.read_sync(fn)  # type: ignore[attr-defined]


def _cli(*args: str) -> int:
    return relay_cli.main(list(args))


async def test_export_holds_this_devices_data_and_nothing_of_anothers(relay):
    off = await officer(relay)
    me, my_reg = await device(relay, categories=("burglary", "vehicle"))
    other, other_reg = await device(relay, lat=PRESTON[0] + 0.001)
    mine = await _report_with_photo(me, "Blue van outside number 12", _photo(1))
    theirs = await report(other, text="Someone else's secret sighting", lat=53.7601)
    sent = await me.request(
        m.CitizenChatSend(id=next_id(), report_id=mine.report_id, text="It left", client_ref="c1")
    )
    assert isinstance(sent, m.ChatSent)
    reply = await off.request(
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=mine.report_id, text="Thanks")
    )
    assert isinstance(reply, m.ChatSent)
    await me.wait_for(lambda x: isinstance(x, m.ChatDeliver))
    got = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    assert isinstance(got, m.AlertAccepted)
    delivered = await me.wait_for(lambda x: isinstance(x, m.AlertDeliver))
    assert isinstance(delivered, m.AlertDeliver)
    assert isinstance(
        await me.request(
            m.AlertAck(id=next_id(), alert_id=delivered.alert.alert_id, status="read")
        ),
        m.Ack,
    )

    pages, text = await _export_all(me)
    dev = pages[0].device
    assert dev is not None and all(p.device is None for p in pages[1:])
    assert (dev.device_id, dev.pseudonym, dev.platform) == (
        my_reg.device_id,
        my_reg.pseudonym,
        "test",
    )
    assert dev.categories == ["burglary", "vehicle"]
    assert dev.location is not None and (dev.location.lat, dev.location.lon) == PRESTON
    assert dev.location.expires_at > dev.created_at
    reports = [x for p in pages for x in p.reports]
    assert [x.report_id for x in reports] == [mine.report_id]
    (r,) = reports
    assert (r.text, r.category, r.status, r.incident_ref) == (
        "Blue van outside number 12",
        "burglary",
        "new",
        None,
    )
    assert [(x.mime, x.size, x.stored) for x in r.media] == [("image/jpeg", len(_photo(1)), True)]
    chat = [x for p in pages for x in p.chat]
    assert [(c.sender, c.text) for c in chat] == [("citizen", "It left"), ("officer", "Thanks")]
    alerts = [x for p in pages for x in p.alerts]
    assert [(a.alert.alert_id, a.receipt) for a in alerts] == [(delivered.alert.alert_id, "read")]
    # nothing of the other device, and no officer's claim on anything
    for leak in (other_reg.device_id, other_reg.pseudonym, theirs.report_id, "secret sighting"):
        assert leak not in text
    assert "claimed_by" not in text
    for p in (off, me, other):
        await p.close()


async def test_export_pages_a_large_history_under_the_frame_limit(relay):
    me, _ = await device(relay)
    texts = [f"{i:03d} " + "é" * 7990 for i in range(40)]  # about 640 KB as UTF-8
    for t in texts:
        await report(me, text=t)
    pages, _ = await _export_all(me)
    assert len(pages) >= 3
    for p in pages:
        assert len(codec.encode(p)) <= m.PRIVACY_PAGE_BYTES + 4096
    assert [x.text for p in pages for x in p.reports] == texts  # each once, in order
    bad = await me.request(m.PrivacyExport(id=next_id(), cursor="reports:abc"))
    assert isinstance(bad, m.Error) and bad.code == "invalid"
    await me.close()


async def test_export_needs_an_authenticated_device(relay):
    p = await Peer.open(relay.citizen_url, relay.ssl, officer=False)
    refused = await p.request(m.PrivacyExport(id=next_id()))
    assert isinstance(refused, m.Error) and refused.code == "unauthenticated"
    await p.close()


async def test_erase_forgets_the_device_keeps_incident_reports_and_the_audit_verifies(relay):
    off = await officer(relay)
    me, reg = await device(relay)
    bystander, _ = await device(relay)
    photo, shared = _photo(7), _photo(8)
    gone = await _report_with_photo(me, "Erase me: my garden shed", photo)
    kept = await report(me, text="Keep me: the knife in the hedge")
    # the same bytes from another device: erasing mine must not delete theirs
    also_gone = await _report_with_photo(me, "Erase me too", shared)
    theirs = await _report_with_photo(bystander, "A bystander's photo", shared)
    for rid, text in ((gone.report_id, "gone chat"), (kept.report_id, "kept chat")):
        sent = await me.request(
            m.CitizenChatSend(id=next_id(), report_id=rid, text=text, client_ref=next_id())
        )
        assert isinstance(sent, m.ChatSent)
    assert isinstance(
        await off.request(
            m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=gone.report_id, text="ok?")
        ),
        m.ChatSent,
    )
    inc = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Hedge knife"))
    assert isinstance(inc, m.IncidentCreated)
    linked = await off.request(
        m.ReportLink(
            id=next_id(), idem=next_id(), report_id=kept.report_id, incident_ref=inc.incident_ref
        )
    )
    assert isinstance(linked, m.Ack)
    assert isinstance(
        await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info())),
        m.AlertAccepted,
    )
    await me.wait_for(lambda x: isinstance(x, m.AlertDeliver))

    unconfirmed = await me.request(m.PrivacyErase(id=next_id(), device_id=reg.device_id))
    assert isinstance(unconfirmed, m.Error) and unconfirmed.code == "invalid"
    assert "confirm" in unconfirmed.message
    wrong = await me.request(m.PrivacyErase(id=next_id(), device_id="D0000", confirm=True))
    assert isinstance(wrong, m.Error) and wrong.code == "forbidden"
    await me.send_raw(json.dumps({"type": "privacy.erase", "v": 1, "id": "e0", "confirm": True}))
    malformed = await me.wait_for(lambda x: isinstance(x, m.Error) and x.re == "e0")
    assert isinstance(malformed, m.Error) and malformed.code == "malformed"
    store = relay.relay.media  # type: ignore[attr-defined]
    photo_sha, shared_sha = (hashlib.sha256(x).hexdigest() for x in (photo, shared))
    assert store.has(photo_sha) and store.has(shared_sha)  # nothing erased by the refusals

    done = await me.request(m.PrivacyErase(id=next_id(), device_id=reg.device_id, confirm=True))
    assert isinstance(done, m.PrivacyErased), done
    assert (done.reports_erased, done.chat_erased, done.media_erased) == (2, 2, 2)
    assert (done.alert_deliveries_erased, done.location_erased) == (1, True)
    assert (done.categories_erased, done.reports_kept) == (1, 1)
    (k,) = done.kept
    assert (k.report_id, k.incident_ref, k.chat, k.media) == (
        kept.report_id,
        inc.incident_ref,
        1,
        0,
    )
    assert "17(3)(e)" in k.reason and "Kept: 1 report" in done.summary
    with pytest.raises(ConnectionClosed):
        await me.recv(timeout=5)
    # the old credentials are refused
    again = await Peer.open(relay.citizen_url, relay.ssl, officer=False)
    refused = await again.request(
        m.DeviceAuth(id=next_id(), device_id=reg.device_id, secret=reg.secret)
    )
    assert isinstance(refused, m.Error) and refused.code == "bad_credentials"
    await again.close()

    # the database: what the docs say is kept is kept, the rest is gone
    def state(s: Any) -> dict[str, Any]:
        reports = {r.public_id: r for r in s.scalars(select(db.Report))}
        frames = "".join(s.scalars(select(db.Event.frame)))
        dev = s.get(db.Device, reports[kept.report_id].device_id)
        return {
            "reports": set(reports),
            "kept_text": reports[kept.report_id].text,
            "chat": sorted(s.scalars(select(db.ChatMessage.text))),
            "media": sorted(s.scalars(select(db.ReportMedia.sha256))),
            "deliveries": s.scalar(
                select(func.count())
                .select_from(db.AlertRecipient)
                .where(db.AlertRecipient.device_id == dev.id)
            ),
            "device": (dev.public_id, dev.platform, dev.category_mask, dev.lat, dev.lon),
            "old_id": s.scalar(select(db.Device.id).where(db.Device.public_id == reg.device_id)),
            "frames": frames,
            "erased_frame": s.scalar(
                select(db.Event.frame).where(db.Event.frame.like('%"report.erased"%'))
            ),
            "audit": [
                (a.actor, a.subject, a.detail)
                for a in s.scalars(select(db.AuditLog).where(db.AuditLog.action == "privacy.erase"))
            ],
        }

    st = _q(relay, state)
    assert gone.report_id not in st["reports"] and kept.report_id in st["reports"]
    assert theirs.report_id in st["reports"]
    assert st["kept_text"] == "Keep me: the knife in the hedge"
    assert st["chat"] == ["kept chat"]
    assert st["media"] == [shared_sha]  # only the bystander's record of the shared photo
    assert st["deliveries"] == 0 and st["old_id"] is None
    assert st["device"][0].startswith("erased-") and st["device"][1:] == ("", 0, None, None)
    assert "Erase me" not in st["frames"] and "gone chat" not in st["frames"]
    # only the consoles' report.erased names the erased report (an id, nothing of it)
    assert gone.report_id not in st["frames"].replace(st["erased_frame"], "")
    erased = msgspec.json.decode(st["erased_frame"])
    assert (erased["report_ids"], erased["tombstoned"]) == (  # in the order they were sent
        [gone.report_id, also_gone.report_id],
        [kept.report_id],
    )
    assert set(erased) == {"type", "v", "seq", "at", "report_ids", "tombstoned"}
    assert "Keep me" in st["frames"]  # the kept report's events stay for the consoles
    assert not store.has(photo_sha) and store.has(shared_sha)
    ((actor, subject, detail),) = st["audit"]
    assert (actor, subject) == ("citizen", "device")
    assert json.loads(detail)["reports_kept"] == [kept.report_id]
    for personal in (reg.pseudonym, reg.device_id, "Erase me", "garden", str(PRESTON[0])):
        assert personal not in detail
    assert await asyncio.to_thread(_cli, "audit", "verify", "--data-dir", str(relay.data_dir)) == 0
    for p in (off, bystander):
        await p.close()


def _console(r: RunningRelay, home: Path, name: str) -> tuple[RelayClient, LocalCache]:
    """A real officer console's client, its local cache (a file in `home`) the event sink."""
    cache = LocalCache(home / f"{name}-cache.sqlite", _CACHE_KEY)
    plain = make_client(r, home, name)
    client = RelayClient(plain.config, plain.credentials, plain.outbox, sink=cache)
    return client, cache


_CACHE_KEY = bytes(range(32))


async def _live(client: RelayClient) -> asyncio.Queue[m.Msg]:
    q = client.subscribe_queue()
    await client.start()
    await client.wait_live(timeout=15)
    return q


def _cache_bytes(home: Path, name: str) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob(f"{name}-cache.sqlite*"))


async def test_erasure_reaches_live_and_offline_consoles_and_their_caches(relay, tmp_path):
    """report.erased over TLS to real RelayClients: the live console's cache purges the
    erased report, its chat and its photo; a console offline during the erasure purges
    them when it resumes, and they never come back after a restart; one that starts
    afterwards never sees them; the kept report is marked tombstoned everywhere."""
    home = tmp_path / "consoles"
    live, live_cache = _console(relay, home, "dana")
    away, away_cache = _console(relay, home, "dev")
    live_q = await _live(live)
    await _live(away)
    off = await officer(relay, "sam")
    me, reg = await device(relay)
    photo = _photo(11)
    sha = hashlib.sha256(photo).hexdigest()
    gone = await _report_with_photo(me, "Erase me: my neighbour's shed", photo)
    kept = await report(me, text="Keep me: the car on the verge")
    sent = await me.request(
        m.CitizenChatSend(id=next_id(), report_id=gone.report_id, text="gone chat", client_ref="g")
    )
    assert isinstance(sent, m.ChatSent)
    inc = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Verge car"))
    assert isinstance(inc, m.IncidentCreated)
    linked = await off.request(
        m.ReportLink(
            id=next_id(), idem=next_id(), report_id=kept.report_id, incident_ref=inc.incident_ref
        )
    )
    assert isinstance(linked, m.Ack)
    for client, cache in ((live, live_cache), (away, away_cache)):
        await wait_until(
            lambda c=cache: (
                c.report(kept.report_id) is not None
                and c.report(kept.report_id).incident_ref is not None  # type: ignore[union-attr]
                and bool(c.chat(gone.report_id))
            )
        )
        data = await client.request(m.MediaGet(id="", sha256=sha))  # a console viewed it
        assert isinstance(data, m.MediaData) and data.data == photo
        cache.put_media(sha, data.mime, data.data)
    await away.stop(logout=False)  # offline during the erasure (closed, cache kept)
    away.outbox.close()
    away_cache.close()
    assert b"Erase me" in _cache_bytes(home, "dev")  # what the purge must overwrite

    done = await me.request(m.PrivacyErase(id=next_id(), device_id=reg.device_id, confirm=True))
    assert isinstance(done, m.PrivacyErased) and done.reports_kept == 1

    # the live console: told at once, its cache purged
    erased = await asyncio.wait_for(_next(live_q, m.ReportErased), 10)
    assert isinstance(erased, m.ReportErased)
    assert (erased.report_ids, erased.tombstoned) == ([gone.report_id], [kept.report_id])
    _assert_purged(live_cache, gone.report_id, kept.report_id, sha)

    # the offline console restarts from its cache file and resumes from its last seq
    away_cache = LocalCache(home / "dev-cache.sqlite", _CACHE_KEY)
    assert away_cache.report(gone.report_id) is not None  # it missed the erasure so far
    plain = make_client(relay, home, "dev")
    away = RelayClient(plain.config, plain.credentials, plain.outbox, sink=away_cache)
    away_q = await _live(away)
    assert isinstance(await asyncio.wait_for(_next(away_q, m.ReportErased), 10), m.ReportErased)
    _assert_purged(away_cache, gone.report_id, kept.report_id, sha)
    await away.stop()
    away.outbox.close()
    away_cache.close()
    raw = _cache_bytes(home, "dev")  # the file itself: no copy left behind in free pages
    assert b"Erase me" not in raw and b"gone chat" not in raw
    assert b"Keep me" in raw
    away_cache = LocalCache(home / "dev-cache.sqlite", _CACHE_KEY)  # and after a restart
    _assert_purged(away_cache, gone.report_id, kept.report_id, sha)
    away_cache.close()

    # a console that starts after the erasure never receives the erased report at all
    late, late_cache = _console(relay, home, "sue")
    late_q = await _live(late)
    assert late_cache.report(gone.report_id) is None
    assert late_cache.report(kept.report_id) is not None
    assert late_cache.tombstoned() == {kept.report_id}
    seen = [late_q.get_nowait() for _ in range(late_q.qsize())]
    assert not any(
        isinstance(e, m.ReportCreated) and e.report.report_id == gone.report_id for e in seen
    )
    for client, cache in ((live, live_cache), (late, late_cache)):
        await client.stop()
        client.outbox.close()
        cache.close()
    await off.close()


async def _next(q: asyncio.Queue[m.Msg], kind: type) -> m.Msg:
    while True:
        event = await q.get()
        if isinstance(event, kind):
            return event


def _assert_purged(cache: LocalCache, gone: str, kept: str, sha: str) -> None:
    assert cache.report(gone) is None and cache.chat(gone) == []
    assert cache.get_media(sha) is None
    assert all(r.report_id != gone for r in cache.reports(include_closed=True))
    still = cache.report(kept)
    assert still is not None and still.text == "Keep me: the car on the verge"
    assert cache.tombstoned() == {kept}


async def test_privacy_report_counts_what_is_held_and_no_personal_data(relay, capsys):
    off = await officer(relay)
    a, reg_a = await device(relay)
    b, reg_b = await device(relay, lat=53.7612, lon=-2.7034)
    photo = _photo(3)
    await _report_with_photo(a, "Private text one about number 9", photo)
    await report(b, text="Private text two", lat=53.7612, lon=-2.7034)
    await a.request(
        m.CitizenChatSend(
            id=next_id(),
            report_id=(await report(a, text="third")).report_id,
            text="hi there",
            client_ref="x1",
        )
    )
    capsys.readouterr()
    code = await asyncio.to_thread(
        _cli, "privacy", "report", "--data-dir", str(relay.data_dir), "--json"
    )
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    kinds = {k["name"]: k for k in doc["kinds"]}
    assert kinds["devices"]["count"] == 2 and kinds["location_fixes"]["count"] == 2
    assert kinds["reports"]["count"] == 3
    assert kinds["reports"]["bytes"] == sum(
        len(t) for t in ("Private text one about number 9", "Private text two", "third")
    )
    assert (kinds["media_records"]["count"], kinds["media_records"]["bytes"]) == (1, len(photo))
    assert (kinds["media_files"]["count"], kinds["media_files"]["bytes"]) == (1, len(photo))
    assert kinds["chat_citizen"]["count"] == 1 and kinds["chat_officer"]["count"] == 0
    assert kinds["reports"]["oldest"].endswith("Z")
    assert "never purged" in kinds["reports"]["retention"]
    assert "21600 s" in kinds["location_fixes"]["retention"]
    assert doc["retention_settings"]["location_ttl_s"] == 21600
    for personal in (
        reg_a.pseudonym,
        reg_b.pseudonym,
        reg_a.device_id,
        "Private text",
        "hi there",
        "53.7612",
        "-2.7034",
        str(PRESTON[0]),
    ):
        assert personal not in out
    code = await asyncio.to_thread(_cli, "privacy", "report", "--data-dir", str(relay.data_dir))
    text = capsys.readouterr().out
    assert code == 0 and "reports: 3" in text and reg_a.pseudonym not in text
    for p in (off, a, b):
        await p.close()


def test_privacy_messages_round_trip() -> None:
    erase = m.PrivacyErase(id="e1", device_id="D1", confirm=True)
    assert codec.citizen_inbound.decode(codec.encode(erase)) == erase
    assert msgspec.json.decode(b'{"type":"privacy.export","v":1,"id":"x"}', type=m.PrivacyExport)
