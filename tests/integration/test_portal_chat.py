"""The portal's chat in a real headless Chromium against a real relay over TLS, with a
real officer on `/v1/officer`: the page sends a report; the officer writes to it with
hostile text (markup that would run script, a right-to-left override) and the page shows
it literally and bidi-isolated; the officer sees "delivered" at once and "read" only when
the conversation is on screen and the page is visible; the page's reply (Enter sends,
Shift+Enter is a new line) reaches the officer and the officer's read shows as "Read";
a reload keeps the conversation, once. Nothing but the relay is asked for anything.

Set LOOKOUT_PORTAL_SCREENSHOTS=DIR to keep the conversation's screenshot (docs/images/)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from backend_client import messages as m
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import officer
from tests.support.peer import Peer, next_id
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

try:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
except ImportError:  # pragma: no cover - the marks below skip the test, saying why
    pass

pytestmark = BROWSER_MARKS

WHERE = (53.7632, -2.7044)  # the emulated phone's position

HOSTILE = "<img src=x onerror=alert(1)> Are you safe? \u202eevah ew"
REPLY = ("Yes, they are still here", "by the blue van")


def no_alert(driver: Any) -> bool:
    try:
        driver.switch_to.alert  # noqa: B018 - the property raises when there is none
    except NoAlertPresentException:
        return True
    return False


def stored(driver: Any, report_id: str) -> list[dict[str, Any]]:
    raw = driver.execute_script(f"return localStorage['lookout.chat.{report_id}'] ?? null")
    return [] if raw is None else list(json.loads(raw)["messages"])


def statuses(off: Peer, message_id: str) -> list[str]:
    return [
        e.status
        for e in off.seen
        if isinstance(e, m.ChatStatusChanged) and e.message_id == message_id
    ]


async def relay_status(r: RunningRelay, message_id: str) -> str:
    return str(
        await r.relay.db.read(  # type: ignore[attr-defined]
            lambda s: s.scalar(
                select(db.ChatMessage.status).where(db.ChatMessage.public_id == message_id)
            )
        )
    )


async def officer_says(off: Peer, report_id: str, text: str) -> m.ChatMessage:
    sent = await off.request(
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=report_id, text=text)
    )
    assert isinstance(sent, m.ChatSent), sent
    return sent.message


async def wait_status(off: Peer, message_id: str, status: str) -> None:
    await off.wait_for(
        lambda e: (
            isinstance(e, m.ChatStatusChanged) and e.message_id == message_id and e.status == status
        )
    )


def hide_page(driver: Any, hidden: bool) -> None:
    """The Page Visibility API as when the tab goes to the background and comes back
    (headless Chromium's only tab is always visible): the property and its event."""
    driver.execute_script(
        "if (arguments[0]) Object.defineProperty(document, 'visibilityState',"
        " {configurable: true, get: () => 'hidden'});"
        " else delete document.visibilityState;"
        " document.dispatchEvent(new Event('visibilitychange'));",
        hidden,
    )


async def register_and_report(d: Any, origin: str, off: Peer) -> str:
    """Open the portal, register, send a report from the emulated position; its id, as the
    officer received it."""
    await run(put_phone_at, d, origin, WHERE)
    await run(d.get_log, "performance")  # Chromium's own new-tab page, not ours

    # -- register and send a report
    await run(d.get, origin + "/")
    await run(wait, d, lambda x: visible(x, "#register"))
    await run(lambda: d.find_element(By.ID, "register").click())
    await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
    await run(lambda: Select(d.find_element(By.ID, "report-category")).select_by_value("vehicle"))
    await run(lambda: d.find_element(By.ID, "report-text").send_keys("Two people at cars"))
    await run(lambda: d.find_element(By.ID, "use-location").click())
    await run(wait, d, lambda x: x.find_element(By.ID, "report-lat").get_attribute("value"))
    await run(lambda: d.find_element(By.ID, "report-send").click())
    created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
    assert isinstance(created, m.ReportCreated)
    return created.report.report_id


async def test_a_citizen_chats_with_the_officer_on_their_report(tmp_path: Path) -> None:
    r: RunningRelay = await start_relay(tmp_path / "relay")
    driver = None
    try:
        origin, host = portal_origin(r)
        off = await officer(r)
        driver = await open_browser(r, tmp_path / "profile")
        d = driver
        rid = await register_and_report(d, origin, off)

        # -- the officer writes while the page shows another screen: delivered, not read
        first = await officer_says(off, rid, HOSTILE)
        await wait_status(off, first.message_id, "delivered")
        await run(wait, d, lambda x: stored(x, rid) and stored(x, rid)[0].get("receipt"))
        (kept,) = await run(stored, d, rid)
        assert kept["text"] == HOSTILE and kept["receipt"] == "delivered" and not kept["seen"]
        assert await relay_status(r, first.message_id) == "delivered"
        await run(lambda: d.find_element(By.CSS_SELECTOR, '[data-screen="mine"]').click())
        item = f'#mine-list li[data-report="{rid}"]'
        await run(wait, d, lambda x: visible(x, item + " .chat-badge"))
        assert await run(text_of, d, item + " .chat-badge") == "1 new"
        await run(shooter(tmp_path), d, "chat-badge")

        # -- the conversation opens: the text literally, isolated; read goes back
        await run(lambda: d.find_element(By.CSS_SELECTOR, item + " .chat-open").click())
        await run(wait, d, lambda x: visible(x, "#screen-chat .bubble-officer"))
        await wait_status(off, first.message_id, "read")
        assert statuses(off, first.message_id) == ["delivered", "read"]
        shown = await run(
            d.execute_script,
            "const b = document.querySelector('#chat-log .bubble-officer');"
            "const t = b.querySelector('.bubble-text'), who = b.querySelector('.bidi');"
            "return [t.textContent, getComputedStyle(t).unicodeBidi, who.textContent,"
            " getComputedStyle(who).unicodeBidi, document.querySelectorAll('img').length,"
            " b.querySelector('.bubble-meta').textContent]",
        )
        assert shown[0] == HOSTILE
        assert shown[1] in ("isolate", "plaintext") and shown[3] == "isolate"
        assert shown[2] == "dana"
        assert shown[4] == 0  # no element was made from the officer's markup
        assert "\u202e" not in shown[5]  # the override stays inside its own element
        assert await run(no_alert, d)
        assert not await run(visible, d, "#chat-empty")

        # -- the page replies: Shift+Enter a new line, Enter sends
        box = await run(d.find_element, By.ID, "chat-text")
        await run(
            lambda: box.send_keys(
                REPLY[0], Keys.SHIFT, Keys.ENTER, Keys.SHIFT, REPLY[1], Keys.ENTER
            )
        )
        posted = await off.wait_for(
            lambda e: isinstance(e, m.ChatPosted) and e.message.sender == "citizen"
        )
        assert isinstance(posted, m.ChatPosted)
        mine = posted.message
        assert mine.text == "\n".join(REPLY) and mine.report_id == rid
        assert await run(lambda: box.get_attribute("value")) == ""
        me = f'#chat-log .bubble-me[data-message="{mine.message_id}"]'
        await run(wait, d, lambda x: visible(x, me + " .mark-delivered"))
        assert await run(text_of, d, me + " .bubble-text") == "\n".join(REPLY)
        ack = await off.request(m.OfficerChatRead(id=next_id(), message_ids=[mine.message_id]))
        assert isinstance(ack, m.Ack)
        await run(wait, d, lambda x: visible(x, me + " .mark-read"))
        read_mark = await run(d.find_element, By.CSS_SELECTOR, me + " .mark-read")
        assert "Read" in await run(lambda: read_mark.text)
        assert await run(lambda: read_mark.get_attribute("aria-label")) == "Read by an officer"
        await run(d.execute_script, "document.getElementById('chat-h').scrollIntoView()")
        await run(shooter(tmp_path), d, "chat")

        # -- in the background, a new message is delivered but not read until it is back
        await run(hide_page, d, True)
        second = await officer_says(off, rid, "Thanks. Officers are two minutes away.")
        await wait_status(off, second.message_id, "delivered")
        await run(wait, d, lambda x: len(stored(x, rid)) == 3 and stored(x, rid)[2].get("receipt"))
        assert not (await run(stored, d, rid))[2]["seen"]
        assert await relay_status(r, second.message_id) == "delivered"
        await run(hide_page, d, False)
        await wait_status(off, second.message_id, "read")
        assert statuses(off, second.message_id) == ["delivered", "read"]

        # -- a reload keeps the conversation, once, with its marks
        await run(d.refresh)
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        await run(lambda: d.find_element(By.CSS_SELECTOR, '[data-screen="mine"]').click())
        await run(wait, d, lambda x: visible(x, item + " .chat-open"))
        assert not await run(visible, d, item + " .chat-badge")
        await run(lambda: d.find_element(By.CSS_SELECTOR, item + " .chat-open").click())
        await run(wait, d, lambda x: visible(x, me + " .mark-read"))
        texts = await run(
            d.execute_script,
            "return [...document.querySelectorAll('#chat-log .bubble-text')]"
            ".map((n) => n.textContent)",
        )
        assert texts == [HOSTILE, "\n".join(REPLY), "Thanks. Officers are two minutes away."]
        assert await run(d.execute_script, "return document.querySelectorAll('img').length") == 0

        # -- nothing but the relay was asked; the CSP blocked nothing; no receipt twice
        urls = await run(requested_urls, d)
        strangers = [u for u in urls if not u.startswith((f"https://{host}/", f"wss://{host}/"))]
        assert strangers == [], strangers
        console = await run(d.get_log, "browser")
        assert [e for e in console if e["level"] == "SEVERE"] == [], console
        assert statuses(off, first.message_id) == ["delivered", "read"]
    finally:
        if driver is not None:
            await run(driver.quit)
        await r.relay.stop()  # type: ignore[attr-defined]


async def test_a_message_written_offline_goes_once_when_the_relay_is_back(
    tmp_path: Path,
) -> None:
    r: RunningRelay = await start_relay(tmp_path / "relay")
    driver = None
    try:
        origin, _host = portal_origin(r)
        port = int(r.relay.port)  # type: ignore[attr-defined]
        off = await officer(r)
        driver = await open_browser(r, tmp_path / "profile")
        d = driver
        rid = await register_and_report(d, origin, off)
        await off.close()
        await run(lambda: d.find_element(By.CSS_SELECTOR, '[data-screen="mine"]').click())
        item = f'#mine-list li[data-report="{rid}"]'
        await run(wait, d, lambda x: visible(x, item + " .chat-open"))
        await run(lambda: d.find_element(By.CSS_SELECTOR, item + " .chat-open").click())
        await run(wait, d, lambda x: visible(x, "#chat-empty"))

        # -- the relay goes away; the message waits on the device
        await r.relay.stop()  # type: ignore[attr-defined]
        await run(wait, d, lambda x: "No connection" in text_of(x, "#link-state"))
        box = await run(d.find_element, By.ID, "chat-text")
        await run(lambda: box.send_keys("Written with no signal", Keys.ENTER))
        await run(wait, d, lambda x: visible(x, "#chat-log .bubble-me .mark-pending"))
        assert "kept on this device" in await run(text_of, d, "#chat-msg")
        (kept,) = await run(stored, d, rid)
        assert kept["status"] == "pending" and kept["client_ref"] and "message_id" not in kept

        # -- it comes back on the same port: the page reconnects and sends it, once
        again = await start_relay(r.data_dir, port=port)
        r = dataclasses.replace(again, totp=r.totp)  # the accounts were made the first time
        off = await officer(r)
        posted = await off.wait_for(
            lambda e: isinstance(e, m.ChatPosted) and e.message.sender == "citizen", timeout=40
        )
        assert isinstance(posted, m.ChatPosted)
        assert posted.message.text == "Written with no signal"
        me = f'#chat-log .bubble-me[data-message="{posted.message.message_id}"]'
        await run(wait, d, lambda x: visible(x, me + " .mark-delivered"), 20.0)
        assert (
            await run(d.execute_script, "return document.querySelectorAll('.bubble-me').length")
            == 1
        )
        (kept,) = await run(stored, d, rid)
        assert kept["message_id"] == posted.message.message_id
        count = await r.relay.db.read(  # type: ignore[attr-defined]
            lambda s: s.scalar(
                select(func.count())
                .select_from(db.ChatMessage)
                .join(db.Report, db.Report.id == db.ChatMessage.report_id)
                .where(db.Report.public_id == rid)
            )
        )
        assert count == 1
    finally:
        if driver is not None:
            await run(driver.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
