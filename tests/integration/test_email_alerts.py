"""Email alerts end to end: a real relay over TLS, a real SMTP server (aiosmtpd, STARTTLS,
AUTH), sign-up, double opt-in, alert, update, cancel, unsubscribe, restarts and retries."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from backend_client import messages as m
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.support import flows
from tests.support.peer import next_id, wait_until
from tests.support.pg_relay import start_pg_relay
from tests.support.smtp import SMTP_USERINFO, Inbox, free_port, start_smtp

StartRelay = Callable[..., Awaitable[RunningRelay]]


@pytest.fixture(params=["sqlite", "postgresql"])
def start(request: pytest.FixtureRequest) -> StartRelay:
    """Starts the test's relay (each start on the same database, so a restart resumes):
    on SQLite, and on a fresh PostgreSQL database when the server binaries are here
    (otherwise that run skips, saying why: tests/integration/conftest.py)."""
    if request.param == "sqlite":
        return start_relay
    pytest.importorskip("psycopg", reason="PostgreSQL runs need the psycopg[binary] driver (v3)")
    url = request.getfixturevalue("pg_cluster").create_database()

    async def on_postgres(data_dir: Path, **config: object) -> RunningRelay:
        return await start_pg_relay(data_dir, url, **config)

    return on_postgres


PLACE = flows.PRESTON
FAR = (51.5, -0.12)  # London: well outside any Preston alert


def mail_config(port: int, ca: Path, **kw: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "smtp_url": f"smtp://{SMTP_USERINFO}@127.0.0.1:{port}",
        "mail_from": "alerts@lookout.test",
        "public_url": "https://portal.lookout.test",
        "smtp_ca": ca,
        "email_retry_s": 0.2,
        "email_retry_max_s": 0.5,
        "counts_interval_s": 0.1,
    }
    cfg.update(kw)
    return cfg


def token_in(msg: EmailMessage, path: str) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    url = re.search(rf"https://portal\.lookout\.test{path}\?token=\S+", body.get_content())
    assert url is not None, body.get_content()
    return parse_qs(urlsplit(url.group(0)).query)["token"][0]


async def subscribe_confirmed(
    r: RunningRelay, inbox: Inbox, address: str, place: tuple[float, float] = PLACE, **kw: Any
) -> None:
    mail = r.relay.mail  # type: ignore[attr-defined]
    await mail.subscribe(
        address, place[0], place[1], kw.get("radius_m", 500.0), kw.get("categories", ["burglary"])
    )
    await wait_until(lambda: len(inbox.to(address)) == 1)
    assert await mail.confirm(token_in(inbox.to(address)[0], "/email/confirm"))


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


async def test_sign_up_confirm_alert_update_cancel_unsubscribe(
    tmp_path: Path, start: StartRelay
) -> None:
    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    r = await start(tmp_path / "relay", **mail_config(smtp.port, ca))
    try:
        # sign-up through the citizen protocol (what the portal sends)
        phone, _ = await flows.device(r)
        ack = await phone.request(
            m.EmailSubscribe(
                id=next_id(),
                email="Resident@Example.ORG",
                lat=PLACE[0],
                lon=PLACE[1],
                radius_m=300.0,
                categories=["burglary"],
            )
        )
        assert isinstance(ack, m.Ack), ack
        await wait_until(lambda: len(inbox.to("Resident@example.org")) == 1)
        confirmation = inbox.to("Resident@example.org")[0]
        token = token_in(confirmation, "/email/confirm")
        mail = r.relay.mail  # type: ignore[attr-defined]
        # nothing is sent before the link is opened: a preview counts no email yet
        dana = await flows.officer(r)
        count = await dana.request(
            m.AlertPreview(id=next_id(), area=flows.square(), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount) and count.emails == 0
        ok = await phone.request(m.EmailConfirm(id=next_id(), token=token))
        assert isinstance(ok, m.Ack), ok
        again = await phone.request(m.EmailConfirm(id=next_id(), token=token))
        assert isinstance(again, m.Error) and again.code == "not_found"  # one-time

        await subscribe_confirmed(r, inbox, "far@example.org", place=FAR)
        await subscribe_confirmed(r, inbox, "bikes@example.org", categories=["cycle"])
        count = await dana.request(
            m.AlertPreview(id=next_id(), area=flows.square(), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount)
        assert count.emails == 1 and count.recipients == 1  # one phone, one email apart

        hostile = '<script>alert("x")</script> & <b>bold</b>\r\nBcc: victim@evil.test'
        sent = await dana.request(
            m.AlertSend(
                id=next_id(),
                idem=next_id(),
                info=flows.alert_info(
                    headline=hostile,
                    incident_ref="LC-2027-0042",
                    contact="101",
                    instruction="Lock doors <now>",
                    status="Test",  # a rehearsal; an Exercise (a pilot's) is never emailed
                ),
            )
        )
        assert isinstance(sent, m.AlertAccepted), sent
        alert_id = sent.alert.alert_id
        await wait_until(lambda: len(inbox.to("Resident@example.org")) == 2)
        msg = inbox.to("Resident@example.org")[1]
        text, rich = parts(msg)
        assert msg["Bcc"] is None and "victim@evil.test" not in inbox.got[-1][0]
        assert str(msg["Subject"]).strip().startswith("TEST - ")
        assert "<script>" not in rich and "&lt;script&gt;" in rich and "&lt;now&gt;" in rich
        assert "<script>" in text  # plain text keeps the officer's words as written
        assert "LC-2027-0042" in text and "Expires" in text and "inside it" in text
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsub_url = msg["List-Unsubscribe"].strip("<>")
        assert unsub_url.startswith("https://portal.lookout.test/email/unsubscribe?token=")
        assert unsub_url in text
        assert msg["Message-ID"].startswith(f"<{alert_id}.")
        # the officer sees the email sent beside the phones
        progress = await dana.wait_for(
            lambda ev: (
                isinstance(ev, m.AlertChanged)
                and ev.alert.alert_id == alert_id
                and ev.alert.emails_sent == 1
            )
        )
        assert isinstance(progress, m.AlertChanged) and progress.alert.emails == 1

        upd = await dana.request(
            m.AlertUpdate(
                id=next_id(),
                idem=next_id(),
                alert_id=alert_id,
                # an Update keeps the alert's CAP status: still the rehearsal
                info=flows.alert_info(headline="Suspect seen on Fishergate", status="Test"),
            )
        )
        assert isinstance(upd, m.AlertAccepted), upd
        await wait_until(lambda: len(inbox.to("Resident@example.org")) == 3)
        assert (
            inbox.to("Resident@example.org")[2]["Subject"]
            == "TEST - Update: Suspect seen on Fishergate"
        )
        cancel = await dana.request(m.AlertCancel(id=next_id(), idem=next_id(), alert_id=alert_id))
        assert isinstance(cancel, m.AlertAccepted), cancel
        await wait_until(lambda: len(inbox.to("Resident@example.org")) == 4)
        assert (
            str(inbox.to("Resident@example.org")[3]["Subject"])
            .strip()
            .startswith("TEST - Cancelled: ")
        )
        # elsewhere and another category: only their confirmations
        assert len(inbox.to("far@example.org")) == 1 and len(inbox.to("bikes@example.org")) == 1

        unsub = parse_qs(urlsplit(unsub_url).query)["token"][0]
        assert await mail.unsubscribe(unsub) and await mail.unsubscribe(unsub)  # idempotent
        rows = r.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: list(s.scalars(select(db.EmailSubscription)))
        )
        gone = [x for x in rows if x.state == "unsubscribed"]
        assert len(gone) == 1 and gone[0].address_sealed is None and gone[0].lat is None
        assert all("example.org" not in (x.address_sealed or "") for x in rows)  # sealed
        before = inbox.count()
        again2 = await dana.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info())
        )
        assert isinstance(again2, m.AlertAccepted)
        await _wait_queue_empty(r)
        assert inbox.count() == before  # nobody left in that area
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()


async def _wait_queue_empty(r: RunningRelay, timeout: float = 10.0) -> None:
    def queued() -> int:
        return len(
            r.relay.db.read_sync(  # type: ignore[attr-defined]
                lambda s: list(
                    s.scalars(select(db.EmailOutbox.id).where(db.EmailOutbox.state == "queued"))
                )
            )
        )

    await wait_until(lambda: queued() == 0, timeout=timeout)


@pytest.mark.parametrize(
    ("address", "lat", "radius", "why"),
    [
        ("a@example.org\r\nBcc: x@evil.test", 53.7, 500.0, "line break"),
        ("a@example.org\nSubject: hi", 53.7, 500.0, "line break"),
        ("a\x00@example.org", 53.7, 500.0, "control character"),
        ("x" * 65 + "@example.org", 53.7, 500.0, "before @"),
        ("a@" + "b" * 250 + ".org", 53.7, 500.0, "longer than"),
        ("a@@example.org", 53.7, 500.0, "exactly one @"),
        ('"a b"@example.org', 53.7, 500.0, "before @"),
        ("a@localhost", 53.7, 500.0, "domain name"),
        ("a@exa_mple.org", 53.7, 500.0, "domain name"),
        ("a@example.org", float("nan"), 500.0, "not a number"),
        ("a@example.org", 91.0, 500.0, "between"),
        ("a@example.org", 53.7, 50.0, "radius"),
        ("a@example.org", 53.7, 50_000.0, "radius"),
    ],
)
def test_bad_sign_ups_are_refused_with_a_reason(
    address: str, lat: float, radius: float, why: str
) -> None:
    from backend_client.errors import ProtocolError
    from relay.mail.signup import check_signup

    with pytest.raises(ProtocolError) as err:
        check_signup(address, lat, -2.7, radius, ["burglary"])
    assert why in err.value.message
    assert "example.org" not in err.value.message and "evil" not in err.value.message


async def test_bad_sign_up_over_the_wire_and_email_off(tmp_path: Path) -> None:
    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    r = await start_relay(tmp_path / "relay", **mail_config(smtp.port, ca))
    try:
        phone, _ = await flows.device(r)
        bad = await phone.request(
            m.EmailSubscribe(
                id=next_id(),
                email="a@example.org\r\nBcc: b@evil.test",
                lat=53.7,
                lon=-2.7,
                radius_m=500.0,
                categories=["burglary"],
            )
        )
        assert isinstance(bad, m.Error) and bad.code == "invalid" and "line break" in bad.message
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()
    off = await start_relay(tmp_path / "plain")
    try:
        phone, _ = await flows.device(off)
        refused = await phone.request(
            m.EmailSubscribe(
                id=next_id(),
                email="a@example.org",
                lat=53.7,
                lon=-2.7,
                radius_m=500.0,
                categories=["burglary"],
            )
        )
        assert isinstance(refused, m.Error) and refused.code == "forbidden"
        dana = await flows.officer(off)
        count = await dana.request(
            m.AlertPreview(id=next_id(), area=flows.square(), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount) and count.emails is None  # "email is off"
    finally:
        await off.relay.stop()  # type: ignore[attr-defined]
    assert inbox.count() == 0


async def test_relay_stopped_before_sending_sends_each_email_once_after_restart(
    tmp_path: Path, start: StartRelay
) -> None:
    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    data = tmp_path / "relay"
    people = [f"p{i}@example.org" for i in range(5)]
    r = await start(data, **mail_config(smtp.port, ca))
    try:
        for p in people:
            await subscribe_confirmed(r, inbox, p)
        inbox.hold.set()  # the server will sit on DATA: nothing gets accepted
        dana = await flows.officer(r)
        sent = await dana.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info())
        )
        assert isinstance(sent, m.AlertAccepted)
        queued = r.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: list(s.scalars(select(db.EmailOutbox).where(db.EmailOutbox.kind == "alert")))
        )
        assert len(queued) == len(people)  # committed with the alert, before any send
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]  # mid-send: nothing marked
    inbox.release.set()  # the held DATA commands are refused, nothing was accepted
    inbox.hold.clear()
    confirmations = inbox.count()
    r2 = await start(data, **mail_config(smtp.port, ca))
    try:
        await _wait_queue_empty(r2)
        alert_mails = inbox.got[confirmations:]
        assert sorted(rcpt[0] for rcpt, _ in alert_mails) == people  # each once
        ids = {msg["Message-ID"] for _, msg in alert_mails}
        assert len(ids) == len(people)
        # the one window SMTP leaves (accepted, relay died before the mark): a resend
        # carries the same Message-ID, so it can be recognised
        first = r2.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: s.scalar(select(db.EmailOutbox).where(db.EmailOutbox.kind == "alert"))
        )
        await r2.relay.db.write(_requeue(first.id))  # type: ignore[attr-defined]
        r2.relay.mail.wake()  # type: ignore[attr-defined]
        await wait_until(lambda: inbox.count() == confirmations + len(people) + 1)
        assert inbox.got[-1][1]["Message-ID"] in ids
    finally:
        await r2.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()


def _requeue(outbox_id: int) -> Any:
    def job(tx: Any) -> None:
        row = tx.s.get(db.EmailOutbox, outbox_id)
        row.state = "queued"
        row.next_attempt_at = 0.0

    return job


async def test_smtp_down_then_up_delivers_after_retry(tmp_path: Path, start: StartRelay) -> None:
    port = free_port()
    inbox = Inbox()
    from relay import tls

    ca = tls.ensure_certificates(tmp_path / "smtp", ("127.0.0.1", "localhost")).ca_cert
    r = await start(tmp_path / "relay", **mail_config(port, ca))
    smtp = None
    try:
        await r.relay.mail.subscribe("late@example.org", PLACE[0], PLACE[1], 500.0, ["burglary"])  # type: ignore[attr-defined]
        metrics = r.relay.metrics  # type: ignore[attr-defined]
        await wait_until(lambda: metrics.emails_retried._value.get() >= 1)
        smtp, _ = start_smtp(tmp_path / "smtp", inbox, port=port)
        await wait_until(lambda: len(inbox.to("late@example.org")) == 1, timeout=15)
        await _wait_queue_empty(r)
        # counted once the mark is committed, a moment after the queue row left: wait on it
        await wait_until(lambda: metrics.emails_sent.labels("confirm")._value.get() >= 1)
        assert inbox.count() == 1
        assert metrics.emails_sent.labels("confirm")._value.get() == 1
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
        if smtp is not None:
            smtp.stop()


async def test_a_refused_recipient_is_a_bounce_and_stops_the_subscription(
    tmp_path: Path, start: StartRelay
) -> None:
    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    r = await start(tmp_path / "relay", **mail_config(smtp.port, ca))
    try:
        await subscribe_confirmed(r, inbox, "gone@example.org")
        inbox.reject_rcpt.add("gone@example.org")
        dana = await flows.officer(r)
        assert isinstance(
            await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info())),
            m.AlertAccepted,
        )
        metrics = r.relay.metrics  # type: ignore[attr-defined]
        await wait_until(lambda: metrics.emails_failed.labels("bounced")._value.get() == 1)
        state = r.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: s.scalar(
                select(db.EmailSubscription.state).where(
                    db.EmailSubscription.confirmed_at.is_not(None)
                )
            )
        )
        assert state == "bounced"
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()
    assert time.time() > 0


async def test_a_slow_server_outlasting_the_lease_gets_each_email_once(
    tmp_path: Path, start: StartRelay
) -> None:
    """Two senders on one database (as two relays of a cluster): one claims the batch and
    its server takes longer than a lease to accept it; renewing the lease keeps the other
    from claiming and resending. Each email is accepted exactly once."""
    from relay.mail.service import Mail
    from relay.secret_box import SecretBox, key_path

    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    people = [f"slow{i}@example.org" for i in range(6)]
    r = await start(tmp_path / "relay", **mail_config(smtp.port, ca, smtp_connections=1))
    relay: Any = r.relay
    box = SecretBox.load_or_create(key_path(relay.config.data_dir, relay.config.secrets_key))
    other = Mail(relay.config, relay.db, box, relay.metrics, lambda _pk: None)
    other.node = "the-other-relay"
    senders = [relay.mail, other]
    for mail in senders:
        mail.lease_s = 0.9  # the batch below takes 6 x 0.4 s: over twice as long
    second = asyncio.create_task(other.run())
    try:
        for p in people:
            await subscribe_confirmed(r, inbox, p)
        before = inbox.count()
        inbox.delay_s = 0.4
        dana = await flows.officer(r)
        sent = await dana.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info())
        )
        assert isinstance(sent, m.AlertAccepted)
        other.wake()  # both look at once: one claims all six, the other waits on the lease
        await _wait_queue_empty(r, timeout=30)
        alert_mails = inbox.got[before:]
        assert sorted(rcpt[0] for rcpt, _ in alert_mails) == people  # each exactly once
        assert len({msg["Message-ID"] for _, msg in alert_mails}) == len(people)
    finally:
        second.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second
        other.close()
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()
