"""The CAP feed over the relay's real TLS port on loopback: `/cap/feed.atom` read by an
independent Atom parser (feedparser), each entry's `/cap/alerts/{identifier}.xml` valid
against the OASIS CAP 1.2 schema, ETag + If-None-Match -> 304, exercise and unpublished
alerts left out. Requests are written by hand so nothing rewrites them on the way."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import feedparser
import msgspec
import pytest
from sqlalchemy import select
from websockets.datastructures import Headers
from websockets.http11 import Request

from backend_client import messages as m
from relay import cap, cap_feed
from relay.db import models as db
from relay.db.uow import Tx
from tests.conftest import TEST_CAP_SENDER, RunningRelay, start_relay
from tests.support.flows import alert_info, device, officer, square
from tests.support.peer import next_id
from tests.support.raw_http import exchange as _exchange

BASE = "https://portal.example"


async def get(
    r: RunningRelay, path: str, *headers: str, host_header: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    url = urlsplit(r.relay.url)  # type: ignore[attr-defined]
    host, port = url.hostname or "127.0.0.1", url.port or 443
    extra = "".join(f"{h}\r\n" for h in headers)
    named = host_header or f"{host}:{port}"
    req = f"GET {path} HTTP/1.1\r\nHost: {named}\r\n{extra}\r\n".encode()
    raw = await asyncio.to_thread(_exchange, host, port, r.ssl, req)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    got = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), got, body


async def test_the_atom_feed_lists_each_current_public_alert_message(tmp_path) -> None:
    running = await start_relay(tmp_path / "r", cap_web_base=BASE)
    try:
        await device(running)
        dana = await officer(running)

        async def send(headline: str) -> str:
            info = alert_info(headline=headline)
            ok = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=info))
            assert isinstance(ok, m.AlertAccepted)
            return ok.alert.alert_id

        plain, updated, cancelled = await send("Plain"), await send("First"), await send("Gone")
        later = alert_info(headline="Second <b>&</b>")
        upd = m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=updated, info=later)
        assert isinstance(await dana.request(upd), m.AlertAccepted)
        cancel = m.AlertCancel(id=next_id(), idem=next_id(), alert_id=cancelled)
        assert isinstance(await dana.request(cancel), m.AlertAccepted)

        status, headers, body = await get(running, "/cap/feed.atom")
        assert status == 200 and headers["content-type"].startswith("application/atom+xml")
        feed = feedparser.parse(body)
        assert feed.bozo == 0, feed.get("bozo_exception")
        assert feed.version == "atom10"
        assert feed.feed.author == TEST_CAP_SENDER
        by_title = {e.title: e for e in feed.entries}
        assert set(by_title) == {"Plain", "Second <b>&</b>", "Cancelled: Gone"}
        want = {
            "Plain": (plain, "Alert"),
            "Second <b>&</b>": (f"{updated}.1", "Update"),
            "Cancelled: Gone": (f"{cancelled}.1", "Cancel"),
        }
        for title, (identifier, kind) in want.items():
            link = next(x.href for x in by_title[title].links if x.rel == "alternate")
            assert link == f"{BASE}/cap/alerts/{identifier}.xml"
            code, head, xml = await get(running, urlsplit(link).path)
            assert code == 200 and head["content-type"].startswith("application/cap+xml")
            assert cap.validate_cap(xml.decode("utf-8")) == []
            assert cap.message_identifier(xml.decode("utf-8")) == identifier
            assert f"<msgType>{kind}</msgType>".encode() in xml

        # the original Alert of an updated alert stays there, by its own identifier
        code, _, first = await get(running, f"/cap/alerts/{updated}.xml")
        assert code == 200 and b"<msgType>Alert</msgType>" in first and b"First" in first
        assert cap.validate_cap(first.decode("utf-8")) == []

        again, h304, empty = await get(
            running, "/cap/feed.atom", f"If-None-Match: {headers['etag']}"
        )
        assert again == 304 and empty == b"" and h304["etag"] == headers["etag"]
        star, hstar, _ = await get(running, "/cap/feed.atom", "If-None-Match: *")
        assert star == 304 and hstar["etag"] == headers["etag"]  # the feed exists
        assert (await get(running, "/cap/alerts/A-NOPE.xml", "If-None-Match: *"))[0] == 404
        await send("Newer")  # a new message: a new ETag, the whole feed again
        fresh, h200, _ = await get(running, "/cap/feed.atom", f"If-None-Match: {headers['etag']}")
        assert fresh == 200 and h200["etag"] != headers["etag"]

        for missing in ("/cap/alerts/A-NOPE.xml", f"/cap/alerts/{plain}.9.xml", "/cap/alerts/x"):
            assert (await get(running, missing))[0] == 404, missing
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_feed_links_never_follow_a_forged_host(tmp_path) -> None:
    running = await start_relay(tmp_path / "r")  # no cap_web_base: links use the Host
    try:
        await device(running)
        dana = await officer(running)
        ok = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(ok, m.AlertAccepted)
        url = urlsplit(running.relay.url)  # type: ignore[attr-defined]
        own = f"{url.hostname}:{url.port}"
        _, _, honest = await get(running, "/cap/feed.atom")
        _, _, forged = await get(running, "/cap/feed.atom", host_header="evil.example")
        [entry] = feedparser.parse(honest).entries
        links = [x.href for x in entry.links if x.rel == "alternate"]
        assert links == [f"https://{own}/cap/alerts/{ok.alert.alert_id}.xml"]
        assert b"evil.example" not in forged and b"https://localhost/cap/alerts/" in forged
        for host in (
            f"{url.hostname}:@evil.example",  # a name it knows, then userinfo of another
            f"{url.hostname}:{url.port}@evil.example",
            f"{url.hostname}@evil.example",
            f"{url.hostname}:{url.port}/evil.example",
            f"{url.hostname}:\u0668\u0660",  # digits, but not ASCII ones
            "evil.example\u3002localhost",  # an ideographic full stop
        ):
            _, _, body = await get(running, "/cap/feed.atom", host_header=host)
            assert b"evil.example" not in body, host
            [entry] = feedparser.parse(body).entries
            [link] = [x.href for x in entry.links if x.rel == "alternate"]
            assert link == f"https://localhost/cap/alerts/{ok.alert.alert_id}.xml", host
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_an_update_cannot_change_the_cap_status(tmp_path) -> None:
    running = await start_relay(tmp_path / "r")
    try:
        await device(running)
        dana = await officer(running)

        async def send(status: str) -> str:
            info = alert_info(headline=f"{status} alert", status=status)
            ok = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=info))
            assert isinstance(ok, m.AlertAccepted), ok
            return ok.alert.alert_id

        real, rehearsal = await send("Actual"), await send("Test")
        for alert_id, status in ((real, "Test"), (real, "Draft"), (rehearsal, "Actual")):
            info = alert_info(headline="Changed", status=status)
            upd = m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=alert_id, info=info)
            refused = await dana.request(upd)
            assert isinstance(refused, m.Error) and refused.code == "invalid", refused
            assert "CAP status" in refused.message and "cancel it" in refused.message

        _, _, body = await get(running, "/cap/feed.atom")
        assert [e.title for e in feedparser.parse(body).entries] == ["Actual alert"]
        assert (await get(running, f"/cap/alerts/{real}.xml"))[0] == 200
        assert (await get(running, f"/cap/alerts/{rehearsal}.xml"))[0] == 404
        assert (await get(running, f"/cap/alerts/{rehearsal}.1.xml"))[0] == 404
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_a_stored_proposal_that_changes_the_status_is_not_approved(tmp_path) -> None:
    """A proposed update stored before updates were refused a status change (made here by
    editing the stored proposal) cannot be approved either."""
    running = await start_relay(tmp_path / "r", approval_threshold=1)
    try:
        await device(running)
        await device(running, lat=53.8, lon=-2.7)  # outside square(): a wider area reaches it
        dana, sam = await officer(running, "dana"), await officer(running, "sam")
        ok = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(ok, m.AlertAccepted) and ok.alert.state == "active"
        wide = alert_info(area=square(0.1), headline="Wider")
        upd = m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=ok.alert.alert_id, info=wide)
        proposed = await dana.request(upd)
        assert isinstance(proposed, m.AlertAccepted)
        assert proposed.alert.state == "pending_approval", proposed.alert

        def make_test(tx: Tx) -> None:
            p = tx.s.scalar(select(db.Alert).where(db.Alert.public_id == proposed.alert.alert_id))
            assert p is not None
            p.info_json = json.dumps(json.loads(p.info_json) | {"status": "Test"})

        await running.relay.db.write(make_test)  # type: ignore[attr-defined]
        approve = m.AlertApprove(id=next_id(), idem=next_id(), alert_id=proposed.alert.alert_id)
        refused = await sam.request(approve)
        assert isinstance(refused, m.Error) and refused.code == "invalid", refused
        _, _, body = await get(running, "/cap/feed.atom")
        [entry] = feedparser.parse(body).entries
        assert entry.title == "Burglaries tonight"  # unchanged, still public
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("host", "authority"),
    [
        ("relay.example", "relay.example"),
        ("Relay.Example:8443", "relay.example:8443"),  # the configured spelling
        ("[::1]:8765", "[::1]:8765"),
        ("[::1]", "[::1]"),
        ("relay.example:@evil.example", "relay.example"),
        ("relay.example:8443@evil.example", "relay.example"),
        ("relay.example@evil", "relay.example"),
        ("relay.example:80/x", "relay.example"),
        ("relay.example:", "relay.example"),
        ("relay.example:99999", "relay.example"),
        ("relay.example:\u0668\u0660", "relay.example"),  # Arabic-Indic digits
        ("relay.examp\u0142e", "relay.example"),
        ("relay.example\u2024evil", "relay.example"),  # one dot leader, not a dot
        ("relay.exampl\u00c3\u00a9", "relay.example"),  # raw UTF-8 é, read as ISO-8859-1
        ("\u212aent.example", "relay.example"),  # a Kelvin sign lower-cases to "k"
        ("[::1", "relay.example"),
        ("[::1]x", "relay.example"),
        ("::1", "relay.example"),
        ("", "relay.example"),
        ("evil.example", "relay.example"),
    ],
)
def test_the_feed_authority_is_a_configured_name_never_the_header(
    host: str, authority: str
) -> None:
    names = ("relay.example", "::1", "kent.example")
    feed = cap_feed.CapFeed(None, "lk", "", names)  # type: ignore[arg-type]  # no database read
    headers = Headers()
    headers.set_insecure("Host", host)  # as websockets' parser does: no check of the value
    request = Request("/cap/feed.atom", headers)
    assert feed._host(request) == authority


def test_exercise_test_and_unpublished_alerts_are_never_public() -> None:
    xml = cap.alert_to_cap(
        m.Alert(
            alert_id="A-1",
            sender="dana",
            sent_at=1.0,
            msg_type="Alert",
            state="active",
            info=alert_info(),
            recipients=0,
            delivered=0,
            read=0,
        ),
        sender="lk",
    )
    info = msgspec.json.encode(alert_info()).decode()

    def alert(pilot: str | None = None, status: str = "Actual") -> db.Alert:
        data = json.loads(info) | {"status": status}
        return db.Alert(public_id="A-1", pilot_id=pilot, info_json=json.dumps(data))

    def version(
        state: str, kind: str = "Alert", status: str = "Actual", n: int = 1
    ) -> db.AlertVersion:
        data = json.dumps(json.loads(info) | {"status": status})
        return db.AlertVersion(n=n, state=state, msg_type=kind, cap_xml=xml, info_json=data)

    sent = [version("active")]
    assert cap_feed._published(alert(), sent) == sent
    assert cap_feed._published(alert(pilot="P-1"), sent) == []  # an exercise
    assert cap_feed._published(alert(status="Test"), [version("active", status="Test")]) == []
    assert cap_feed._published(alert(), [version("pending_approval")]) == []
    assert cap_feed._published(alert(), [version("rejected")]) == []
    never_sent = [version("pending_approval"), version("cancelled", "Cancel")]
    assert cap_feed._published(alert(), never_sent) == []


def test_each_message_is_public_by_its_own_status() -> None:
    """Messages stored before updates were refused a status change: the alert's current
    status never decides for its earlier messages."""
    info = json.loads(msgspec.json.encode(alert_info()).decode())
    xml = "<alert/>"

    def version(n: int, status: str, kind: str) -> db.AlertVersion:
        data = json.dumps(info | {"status": status})
        return db.AlertVersion(n=n, state="active", msg_type=kind, cap_xml=xml, info_json=data)

    def alert(status: str) -> db.Alert:  # as it now stands: its latest version's status
        return db.Alert(public_id="A-1", info_json=json.dumps(info | {"status": status}))

    for hidden in ("Test", "Draft", "System"):
        first, update = version(1, hidden, "Alert"), version(2, "Actual", "Update")
        # the Test message stays private though the alert is now Actual
        assert cap_feed._published(alert("Actual"), [first, update]) == [update], hidden
        real, made_test = version(1, "Actual", "Alert"), version(2, hidden, "Update")
        # the public Alert stays public though the alert is now Test
        assert cap_feed._published(alert(hidden), [real, made_test]) == [real], hidden
