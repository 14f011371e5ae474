"""The public alert page `/alerts/{alert id}` (every CAP message's `<web>`) on the relay's
real TLS port, read by hand-written requests so nothing rewrites them on the way: status,
headers, ETag, path tricks, a forged Host, an Update. Exercise alerts are 404 unless the
relay sets `cap_feed_exercise`, and then they say so in the feed and on the page. The same
page in a real browser: tests/integration/test_portal_alert_page.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
from lxml import etree
from sqlalchemy import select

from backend_client import messages as m
from relay import cap
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.integration.test_cap_feed import get
from tests.support.flows import alert_info, device, officer, square
from tests.support.peer import Peer, next_id
from tests.support.raw_http import exchange as _exchange

BASE = "https://portal.example"


async def _send(dana: Peer, **kw: Any) -> str:
    ok = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(**kw)))
    assert isinstance(ok, m.AlertAccepted), ok
    return ok.alert.alert_id


async def _stored(r: RunningRelay, alert_id: str) -> list[db.AlertVersion]:
    def query(s: Any) -> list[db.AlertVersion]:
        a = s.scalar(select(db.Alert).where(db.Alert.public_id == alert_id))
        return list(
            s.scalars(
                select(db.AlertVersion)
                .where(db.AlertVersion.alert_id == a.id)
                .order_by(db.AlertVersion.n)
            )
        )

    return await r.relay.db.read(query)  # type: ignore[attr-defined,no-any-return]


async def test_the_page_over_http_refuses_tricks_and_follows_updates(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "r")  # no cap_web_base, no public_url: no <web> at all
    try:
        await device(r)
        dana = await officer(r)
        alert_id = await _send(dana, headline="First")
        page = f"/alerts/{alert_id}"
        status, headers, body = await get(r, page)
        assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-cache"
        assert b'data-state="current"' in body and b"First" in body

        # an ETag, and 304 while nothing changed; HEAD has no body
        again, _, empty = await get(r, page, f"If-None-Match: {headers['etag']}")
        assert again == 304 and empty == b""
        assert (await raw(r, "HEAD", page)).endswith(b"\r\n\r\n")  # headers only
        assert (await raw(r, "POST", page)).startswith(b"HTTP/1.1 405")
        # the page links relatively: no Host a request names ever reaches its body
        for host in ("evil.example", 'x" onload="y', "<b>h</b>"):
            code, got, text = await get(r, page, host_header=host)
            assert code == 200 and host.encode() not in text, host
            assert "onload" not in got["content-security-policy"], host

        upd = m.AlertUpdate(
            id=next_id(), idem=next_id(), alert_id=alert_id, info=alert_info(headline="Second")
        )
        assert isinstance(await dana.request(upd), m.AlertAccepted)
        status, headers2, body = await get(r, page)
        assert status == 200 and headers2["etag"] != headers["etag"]
        assert b'data-state="updated"' in body and b"Second" in body and b"First" not in body
        assert f'href="/cap/alerts/{alert_id}.1.xml"'.encode() in body

        test_alert = await _send(dana, headline="Rehearsal", status="Test")
        for path in (
            "/alerts/A-0000000000",  # unknown
            f"/alerts/{test_alert}",  # CAP Test: never public
            f"/alerts/{alert_id}.1",  # a message identifier is not an alert id
            f"/alerts/{alert_id}/",
            f"/alerts/{alert_id}.xml",
            f"/alerts/{alert_id}%00",
            "/alerts/%2e%2e/cap/feed.atom",
            "/alerts/../cap/feed.atom",
            "/alerts/..%2fcap%2ffeed.atom",
            "/alerts/",
            f"/alerts/{alert_id.lower()}",
            f"/alerts/{'A' * 41}",
        ):
            code, _, text = await get(r, path)
            assert code == 404 and text == b"no such alert\n", path
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


async def raw(r: RunningRelay, method: str, path: str) -> bytes:
    url = urlsplit(r.relay.url)  # type: ignore[attr-defined]
    host, port = url.hostname or "127.0.0.1", url.port or 443
    req = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\n\r\n"
    return await asyncio.to_thread(_exchange, host, port, r.ssl, req.encode())


async def test_web_defaults_to_the_public_url_and_its_path_is_the_page(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "r", public_url="https://lookout.example/")
    try:
        await device(r)
        alert_id = await _send(await officer(r))
        [version] = await _stored(r, alert_id)
        web = etree.fromstring((version.cap_xml or "").encode()).find(".//cap:web", cap._NS)
        assert web is not None and web.text == f"https://lookout.example/alerts/{alert_id}"
        path = web.text.removeprefix("https://lookout.example")
        assert (await get(r, path))[0] == 200
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


async def _exercise_alert(r: RunningRelay) -> str:
    sam = await officer(r, "sam")
    made = await sam.request(
        m.PilotCreate(
            id=next_id(),
            idem=next_id(),
            pilot_id="elm-road",
            title="Elm Road pilot",
            area=square(0.05),
            groups=[m.PilotGroupSpec("residents", 10)],
        )
    )
    assert isinstance(made, m.PilotAccepted), made
    return await _send(sam, headline="Drill: cars tried", status="Exercise", pilot_id="elm-road")


async def test_exercise_alerts_are_404_unless_configured(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "off")
    try:
        await device(r)
        drill = await _exercise_alert(r)
        assert (await get(r, f"/alerts/{drill}"))[0] == 404
        assert (await get(r, f"/cap/alerts/{drill}.xml"))[0] == 404
        feed = feedparser.parse((await get(r, "/cap/feed.atom"))[2])
        assert feed.bozo == 0 and feed.entries == []
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


async def test_with_cap_feed_exercise_exercise_alerts_are_public_and_say_so(
    tmp_path: Path,
) -> None:
    r = await start_relay(tmp_path / "on", cap_feed_exercise=True, cap_web_base=BASE)
    try:
        await device(r)
        dana = await officer(r)
        real = await _send(dana, headline="Real one")
        drill = await _exercise_alert(r)
        rehearsal = await _send(dana, headline="Rehearsal", status="Test")
        feed = feedparser.parse((await get(r, "/cap/feed.atom"))[2])
        assert feed.bozo == 0
        by_title = {e.title: e for e in feed.entries}
        assert set(by_title) == {"Real one", "Exercise: Drill: cars tried"}
        assert by_title["Exercise: Drill: cars tried"].summary.startswith(
            "Exercise, not a real alert."
        )
        assert not by_title["Real one"].summary.startswith("Exercise")
        code, _, xml = await get(r, f"/cap/alerts/{drill}.xml")
        assert code == 200 and b"<status>Exercise</status>" in xml
        code, _, body = await get(r, f"/alerts/{drill}")
        assert code == 200 and b"kind-exercise" in body and b"not a real alert" in body
        code, _, body = await get(r, f"/alerts/{real}")
        assert code == 200 and b"kind-actual" in body and b"not a real alert" not in body
        assert (await get(r, f"/alerts/{rehearsal}"))[0] == 404  # Test stays private
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
