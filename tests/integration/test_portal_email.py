"""Email alerts from the portal, over a real relay (TLS on loopback) and a real SMTP
server (aiosmtpd, STARTTLS, AUTH): the email links' page and their POSTs (RFC 8058
one-click unsubscribe included) written by hand on a TLS socket, and the whole journey
in headless Chromium at 360x640: sign up on the page, the confirmation email arrives, its
link confirms (GET shows a page and changes nothing; its button POSTs), an alert over the
place is emailed, the one-click POST of its List-Unsubscribe URL ends the emails. Header
injection in the form is refused with the page saying so; with no SMTP server the sign-up
is not on the page and the links are the plain 404."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from backend_client import messages as m
from relay.db import models as db
from relay.portal import PORTAL_ROOT
from tests.conftest import RunningRelay, start_relay
from tests.integration.test_email_alerts import mail_config, parts, token_in
from tests.integration.test_portal_http import NOT_FOUND, Answer, _exchange, ask, assert_strict
from tests.support import flows
from tests.support.peer import next_id, wait_until
from tests.support.portal_browser import (
    BROWSER_MARKS,
    open_browser,
    portal_origin,
    put_phone_at,
    requested_urls,
    run,
    shooter,
    text_of,
    visible,
    wait,
)
from tests.support.smtp import Inbox, start_smtp

ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "Content-Type: application/x-www-form-urlencoded"


@dataclass
class Mailed:
    r: RunningRelay
    inbox: Inbox
    smtp: Controller


@pytest.fixture
async def mailed(tmp_path: Path) -> AsyncIterator[Mailed]:
    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    r = await start_relay(tmp_path / "relay", **mail_config(smtp.port, ca))
    try:
        yield Mailed(r, inbox, smtp)
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()


async def post(
    r: RunningRelay, path: str, body: str, *headers: str, method: str = "POST"
) -> Answer:
    """A request with exactly this body (and nothing after it), written by hand."""
    url = urlsplit(r.relay.url)  # type: ignore[attr-defined]
    host, port = url.hostname or "", url.port or 0
    data = body.encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *headers]
    head.append(f"Content-Length: {len(data)}")
    raw = "\r\n".join([*head, "", ""]).encode() + data
    return Answer(await asyncio.to_thread(_exchange, host, port, r.ssl, raw) or b"HTTP/1.1 0 -")


def local(url: str) -> str:
    """The path and query of a link in an email (its host is the configured public_url)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def signed_up(x: Mailed, address: str) -> EmailMessage:
    phone, _ = await flows.device(x.r)
    ack = await phone.request(
        m.EmailSubscribe(
            id=next_id(),
            email=address,
            lat=flows.PRESTON[0],
            lon=flows.PRESTON[1],
            radius_m=500.0,
            categories=["burglary"],
        )
    )
    assert isinstance(ack, m.Ack), ack
    await wait_until(lambda: len(x.inbox.to(address)) == 1)
    return x.inbox.to(address)[0]


def states(r: RunningRelay) -> list[str]:
    return list(
        r.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: list(s.scalars(select(db.EmailSubscription.state)))
        )
    )


async def test_the_links_page_changes_nothing_and_its_post_confirms(mailed: Mailed) -> None:
    r = mailed.r
    sent = await signed_up(mailed, "page@example.org")
    path = f"/email/confirm?token={token_in(sent, '/email/confirm')}"
    for _ in range(3):  # a mail scanner opening the link, more than once
        page = await ask(r, "GET", path)
        assert page.status == 200 and page.body == (PORTAL_ROOT / "email.html").read_bytes()
        assert page.header("Content-Type") == "text/html; charset=utf-8"
        assert_strict(page, r)
    head = await ask(r, "HEAD", path)
    assert head.status == 200 and head.body == b""
    assert states(r) == ["pending"]
    # only the form's POST does it, once
    wrong = await post(r, path, "confirm=yes", "Content-Type: text/plain")
    assert wrong.status == 415 and states(r) == ["pending"]
    assert_strict(wrong, r)
    bare = await post(r, path, "", FORM)
    assert bare.status == 400 and states(r) == ["pending"]
    done = await post(r, path, "confirm=yes", FORM)
    assert done.status == 200 and states(r) == ["confirmed"], done.body
    assert_strict(done, r)
    again = await post(r, path, "confirm=yes", FORM)
    assert again.status == 404  # one use
    unknown = await post(r, "/email/confirm?token=" + "A" * 43, "confirm=yes", FORM)
    assert unknown.status == 404
    no_token = await post(r, "/email/confirm", "confirm=yes", FORM)
    assert no_token.status == 400


async def test_one_click_unsubscribe_and_what_the_relay_refuses(mailed: Mailed) -> None:
    r = mailed.r
    sent = await signed_up(mailed, "click@example.org")
    confirm = f"/email/confirm?token={token_in(sent, '/email/confirm')}"
    assert (await post(r, confirm, "confirm=yes", FORM)).status == 200
    dana = await flows.officer(r)
    ok = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info()))
    assert isinstance(ok, m.AlertAccepted), ok
    await wait_until(lambda: len(mailed.inbox.to("click@example.org")) == 2)
    alert = mailed.inbox.to("click@example.org")[1]
    assert alert["List-Unsubscribe-Post"] == ONE_CLICK
    path = local(alert["List-Unsubscribe"].strip("<>"))
    # refused without unsubscribing: another method, another body, a body too large (the
    # relay reads at most 2 KiB and closes the connection without an answer), chunked
    put = await ask(r, "PUT", path)
    assert put.status == 405 and "POST" in put.header("Allow")
    assert (await post(r, path, "List-Unsubscribe=Yes", FORM)).status == 400
    big = await post(r, path, ONE_CLICK + "&" + "x" * 4096, FORM)
    assert big.status == 0  # closed unanswered, as websockets does with any request body
    chunked = await post(r, path, ONE_CLICK, FORM, "Transfer-Encoding: chunked")
    assert chunked.status == 0
    assert states(r) == ["confirmed"]
    # RFC 8058: the mail provider's POST unsubscribes at once, nothing else asked
    done = await post(r, path, ONE_CLICK, FORM)
    assert done.status == 200 and states(r) == ["unsubscribed"]
    assert_strict(done, r)
    assert (await post(r, path, ONE_CLICK, FORM)).status == 200  # idempotent
    multipart = (
        "--b\r\nContent-Disposition: form-data; "
        'name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b--\r\n'
    )
    as_multipart = await post(r, path, multipart, "Content-Type: multipart/form-data; boundary=b")
    assert as_multipart.status == 200
    # and no more emails
    before = mailed.inbox.count()
    ok = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info()))
    assert isinstance(ok, m.AlertAccepted)
    changed = await dana.wait_for(
        lambda e: isinstance(e, m.AlertChanged) and e.alert.alert_id == ok.alert.alert_id
    )
    assert isinstance(changed, m.AlertChanged) and changed.alert.emails == 0
    assert mailed.inbox.count() == before


async def test_portal_config_says_email_is_on(mailed: Mailed) -> None:
    a = await ask(mailed.r, "GET", "/portal-config.json")
    assert a.status == 200 and a.header("Content-Type") == "application/json"
    config = json.loads(a.body)
    assert {k: config[k] for k in ("email", "email_radius_m")} == {
        "email": True,
        "email_radius_m": [100, 10000],
    }
    assert_strict(a, mailed.r)


async def test_with_no_smtp_server_the_links_are_not_served(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "relay")
    try:
        a = await ask(r, "GET", "/portal-config.json")
        config = json.loads(a.body)
        assert {k: config[k] for k in ("email", "email_radius_m")} == {
            "email": False,
            "email_radius_m": None,
        }
        for method, body in (("GET", ""), ("POST", ONE_CLICK)):
            page = await post(r, "/email/unsubscribe?token=" + "A" * 43, body, FORM, method=method)
            assert page.status == 404 and page.body.decode() == NOT_FOUND, (method, page.body)
            assert_strict(page, r)
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


# ---------------------------------------------------------------- in headless Chromium

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError:  # pragma: no cover - the test extra installs it
    pass

browser = BROWSER_MARKS
WHERE = (53.7632, -2.7044)  # the emulated phone's position


async def open_registered(r: RunningRelay, tmp_path: Path) -> tuple[Any, str]:
    """Chromium at 360x640 on the portal, registered, on the Alerts screen."""
    origin, _host = portal_origin(r)
    d = await open_browser(r, tmp_path / "profile")
    try:
        await run(put_phone_at, d, origin, WHERE)
        await run(d.get_log, "performance")
        await run(d.get, origin + "/")
        await run(wait, d, lambda x: visible(x, "#register"))
        await run(lambda: d.find_element(By.ID, "register").click())
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        await run(lambda: d.find_element(By.CSS_SELECTOR, '[data-screen="alerts"]').click())
        await run(
            wait, d, lambda x: x.find_element(By.TAG_NAME, "body").get_attribute("data-email")
        )
    except BaseException:
        await run(d.quit)
        raise
    return d, origin


def field(d: Any, element_id: str, value: str) -> None:
    """Set an input's value as the page's script would see it (CR/LF included: typing a
    line break in a one-line field would submit the form instead)."""
    d.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('input'));",
        element_id,
        value,
    )


async def test_a_resident_signs_up_confirms_gets_an_alert_and_unsubscribes(
    mailed: Mailed, tmp_path: Path
) -> None:
    screenshots = shooter(tmp_path)  # LOOKOUT_PORTAL_SCREENSHOTS=DIR keeps the PNGs
    r, inbox = mailed.r, mailed.inbox
    d, origin = await open_registered(r, tmp_path)
    host = urlsplit(origin).netloc
    try:
        assert await run(d.execute_script, "return document.body.dataset.email") == "on"
        assert await run(visible, d, "#email-signup")
        radii = await run(
            lambda: [
                o.get_attribute("value")
                for o in Select(d.find_element(By.ID, "email-radius")).options
            ]
        )
        assert radii == ["250", "500", "1000", "2000", "5000", "10000"]  # within 100 m..10 km

        # -- header injection: refused, the page says so, nothing stored or sent
        hostile = "resident@example.org\r\nBcc: victim@evil.test"
        await run(field, d, "email-address", hostile)
        await run(field, d, "email-lat", "53.7632")
        await run(field, d, "email-lon", "-2.7044")
        await run(
            lambda: d.find_element(
                By.CSS_SELECTOR, '#email-choices input[value="burglary"]'
            ).click()
        )
        await run(lambda: d.find_element(By.ID, "email-send").click())
        await run(wait, d, lambda x: "not accepted" in text_of(x, "#email-msg"))  # the relay's no
        assert "Check your inbox" not in await run(text_of, d, "#email-msg")
        assert states(r) == [] and inbox.count() == 0

        # -- the sign-up, the place from the browser's location
        await run(field, d, "email-address", "")
        await run(field, d, "email-lat", "")
        await run(field, d, "email-lon", "")
        await run(lambda: d.find_element(By.ID, "email-address").send_keys("resident@example.org"))
        await run(lambda: d.find_element(By.ID, "email-use-location").click())
        await run(wait, d, lambda x: x.find_element(By.ID, "email-lat").get_attribute("value"))
        assert (
            await run(lambda: d.find_element(By.ID, "email-lon").get_attribute("value"))
            == "-2.7044"
        )
        await run(lambda: Select(d.find_element(By.ID, "email-radius")).select_by_value("1000"))
        await run(d.execute_script, "document.getElementById('email-h').scrollIntoView()")
        await run(screenshots, d, "email")
        await run(lambda: d.find_element(By.ID, "email-send").click())
        await run(wait, d, lambda x: "Check your inbox" in text_of(x, "#email-msg"))
        assert "resident@example.org" in await run(text_of, d, "#email-msg")
        await run(d.execute_script, "document.getElementById('email-msg').scrollIntoView(false)")
        await run(screenshots, d, "email-sent")
        await wait_until(lambda: len(inbox.to("resident@example.org")) == 1)
        rows = r.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: list(s.scalars(select(db.EmailSubscription)))
        )
        assert len(rows) == 1 and rows[0].radius_m == 1000.0
        assert (round(rows[0].lat, 4), round(rows[0].lon, 4)) == WHERE

        # -- the link in the email: opening it shows a button and changes nothing
        confirm = local(
            re.search(
                r"https://\S+/email/confirm\?token=\S+",
                parts(inbox.to("resident@example.org")[0])[0],
            ).group(0)  # type: ignore[union-attr]
        )
        await run(d.get, origin + confirm)
        await run(wait, d, lambda x: text_of(x, "#emaillink-go") == "Confirm")
        assert states(r) == ["pending"]
        await run(screenshots, d, "email-confirm")
        await run(lambda: d.find_element(By.ID, "emaillink-go").click())
        await run(wait, d, lambda x: "Confirmed" in text_of(x, "#emaillink-msg"))
        assert states(r) == ["confirmed"]

        # -- an alert over the place is emailed
        dana = await flows.officer(r)
        sent = await dana.request(
            m.AlertSend(
                id=next_id(), idem=next_id(), info=flows.alert_info(area=flows.square(centre=WHERE))
            )
        )
        assert isinstance(sent, m.AlertAccepted), sent
        await wait_until(lambda: len(inbox.to("resident@example.org")) == 2)
        alert = inbox.to("resident@example.org")[1]
        assert "Burglaries tonight" in str(alert["Subject"])
        # -- one click in the mail program: the provider POSTs the List-Unsubscribe URL
        assert alert["List-Unsubscribe-Post"] == ONE_CLICK
        done = await post(r, local(alert["List-Unsubscribe"].strip("<>")), ONE_CLICK, FORM)
        assert done.status == 200 and states(r) == ["unsubscribed"]
        again = await dana.request(
            m.AlertSend(
                id=next_id(), idem=next_id(), info=flows.alert_info(area=flows.square(centre=WHERE))
            )
        )
        assert isinstance(again, m.AlertAccepted)
        changed = await dana.wait_for(
            lambda e: isinstance(e, m.AlertChanged) and e.alert.alert_id == again.alert.alert_id
        )
        assert isinstance(changed, m.AlertChanged) and changed.alert.emails == 0
        assert len(inbox.to("resident@example.org")) == 2

        # -- the unsubscribe page itself (GET, then its button) for the link in the body
        await run(d.get, origin + local(alert["List-Unsubscribe"].strip("<>")))
        await run(wait, d, lambda x: text_of(x, "#emaillink-go") == "Unsubscribe")
        await run(lambda: d.find_element(By.ID, "emaillink-go").click())
        await run(wait, d, lambda x: "Unsubscribed" in text_of(x, "#emaillink-msg"))

        urls = await run(requested_urls, d)
        strangers = [u for u in urls if not u.startswith((f"https://{host}/", f"wss://{host}/"))]
        assert strangers == [], strangers
        console = await run(d.get_log, "browser")
        assert [e for e in console if e["level"] == "SEVERE"] == [], console
    finally:
        await run(d.quit)


async def test_with_no_smtp_server_the_sign_up_is_not_on_the_page(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "relay")
    d = None
    try:
        d, _ = await open_registered(r, tmp_path)
        assert await run(d.execute_script, "return document.body.dataset.email") == "off"
        assert await run(visible, d, "#alerts-form")
        assert not await run(visible, d, "#email-signup")
    finally:
        if d is not None:
            await run(d.quit)
        await r.relay.stop()  # type: ignore[attr-defined]


for _test in (
    test_a_resident_signs_up_confirms_gets_an_alert_and_unsubscribes,
    test_with_no_smtp_server_the_sign_up_is_not_on_the_page,
):
    for _mark in browser:
        _mark(_test)
