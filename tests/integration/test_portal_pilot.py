"""Joining a pilot from the citizens' portal (issue 12, deliverables 3 and 4), in a real
headless Chromium against a real relay over TLS on loopback, at 360x640.

A supervisor creates a pilot and issues invite codes over the officer protocol. The page
opened as a QR code would open it (`/?pilot=code`, lower case) shows the code in the field,
forgets it from the address bar, and joins only when the citizen presses Join; joined, it
shows the pilot's title, group and dates, and the report form carries the striped
"EXERCISE — pilot ..." marking in words; the report sent reaches the officer marked
exercise with the pilot's id, and "Your reports" and its conversation are marked too. The
same code on a second phone (`#pilot=`) is refused as used, in the citizen's words; a
malformed code is refused before anything is sent. Leaving makes the next report live
traffic again, and "Forget this device" drops the membership with the rest."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from backend_client import messages as m
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.integration.test_portal_browser import pytestmark as browser_marks
from tests.integration.test_portal_browser import run, screenshots, text_of, visible, wait
from tests.support.flows import officer, square
from tests.support.peer import Peer, next_id
from tests.support.portal_browser import fill_report, open_browser, portal_origin

pytestmark = browser_marks
__all__ = ["screenshots"]  # the fixture, used by name

with contextlib.suppress(ImportError):  # without selenium, browser_marks skip the test
    from selenium.webdriver.common.by import By

WHERE = (53.7632, -2.7044)
TITLE = "Elm Road pilot"


async def make_pilot(sam: Peer) -> m.PilotInvites:
    made = await sam.request(
        m.PilotCreate(
            id=next_id(),
            idem=next_id(),
            pilot_id="elm-road",
            title=TITLE,
            area=square(0.01, WHERE),
            groups=[m.PilotGroupSpec("residents", 10)],
            ends_at=time.time() + 3 * 86400,
        )
    )
    assert isinstance(made, m.PilotAccepted), made
    inv = await sam.request(
        m.PilotInvite(id=next_id(), pilot_id="elm-road", group="residents", count=2)
    )
    assert isinstance(inv, m.PilotInvites), inv
    return inv


async def participants(r: RunningRelay) -> int:
    """Devices in the pilot now (joined and not left)."""
    return int(
        await r.relay.db.read(  # type: ignore[attr-defined]
            lambda s: s.scalar(
                select(func.count())
                .select_from(db.PilotParticipant)
                .where(db.PilotParticipant.left_at.is_(None))
            )
        )
    )


def click(driver: Any, css: str) -> None:
    node = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
    node.click()


def js(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def start(driver: Any) -> None:
    """Press Start on the welcome screen and wait until connected."""
    wait(driver, lambda x: visible(x, "#register"))
    click(driver, "#register")
    wait(driver, lambda x: "Connected as" in text_of(x, "#link-state"))


def sent_frames(driver: Any, kind: str) -> list[dict[str, Any]]:
    """The websocket frames of one type the page sent since the last look."""
    out = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.webSocketFrameSent":
            frame = json.loads(msg["params"]["response"]["payloadData"])
            if frame.get("type") == kind:
                out.append(frame)
    return out


async def report_seen(off: Peer, text: str) -> m.Report:
    ev = await off.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.text.startswith(text), timeout=15
    )
    assert isinstance(ev, m.ReportCreated)
    return ev.report


async def test_a_citizen_joins_a_pilot_from_its_invitation_and_reports_as_exercise(
    tmp_path: Path, screenshots: Callable[[Any, str], None]
) -> None:
    r = await start_relay(tmp_path / "relay")
    first = second = None
    try:
        origin, _host = portal_origin(r)
        off = await officer(r)
        sam = await officer(r, "sam")
        inv = await make_pilot(sam)
        code, spare = inv.codes
        assert code.count("-") == 2  # printed ABCD-EFGH-JKMN

        # -- the invitation opened (a QR code): prefilled, out of the address bar, not joined
        first = await open_browser(r, tmp_path / "one")
        d = first
        await run(d.get, f"{origin}/?pilot={code.lower()}")
        await run(wait, d, lambda x: visible(x, "#pilot-welcome"))
        assert "pilot=" not in await run(lambda: d.current_url)
        assert await run(js, d, "return location.search + location.hash") == ""
        await run(d.get_log, "performance")  # drain
        await run(start, d)
        await run(wait, d, lambda x: visible(x, "#screen-device"))
        assert await run(lambda: d.find_element(By.ID, "pilot-code").get_attribute("value")) == (
            code.lower()
        )
        assert "Join the pilot" in await run(text_of, d, "#pilot-msg")
        explain = await run(text_of, d, "#pilot-form")
        for words in (
            "exercise with your neighbourhood police team",
            "pseudonym",
            "marked as exercise",
            "Leave the pilot",
        ):
            assert words in explain, (words, explain)
        assert await participants(r) == 0  # nothing joined silently
        assert await run(sent_frames, d, "pilot.join") == []
        assert not await run(visible, d, "#pilot-mark-report")

        # -- Join: normalised before sending; the pilot, its group and dates shown
        await run(click, d, "#pilot-join")
        await run(wait, d, lambda x: visible(x, "#pilot-joined"))
        assert [f["code"] for f in await run(sent_frames, d, "pilot.join")] == [
            code.replace("-", "")
        ]
        assert await participants(r) == 1
        assert await run(text_of, d, "#pilot-title") == TITLE
        assert await run(text_of, d, "#pilot-group") == "residents"
        assert " to " in await run(text_of, d, "#pilot-dates")
        assert "You have joined" in await run(text_of, d, "#pilot-msg")
        assert not await run(visible, d, "#pilot-form")
        kept = json.loads(await run(js, d, "return localStorage['lookout.pilot']"))
        assert (kept["pilot_id"], kept["group"]) == ("elm-road", "residents")
        await run(js, d, "window.scrollTo(0, 0)")
        await run(screenshots, d, "pilot")  # docs/images/portal-pilot.png

        # -- the report form is marked, in words and striped; the report is exercise traffic
        await run(click, d, '[data-screen="report"]')
        await run(wait, d, lambda x: visible(x, "#pilot-mark-report"))
        mark = await run(text_of, d, "#pilot-mark-report")
        assert mark.startswith(f"EXERCISE — pilot {TITLE}") and "exercise traffic" in mark, mark
        look = await run(
            js,
            d,
            "const s = getComputedStyle(document.getElementById('pilot-mark-report'));"
            "return [s.backgroundImage, s.borderTopStyle];",
        )
        assert "gradient" in look[0] and look[1] == "dashed", look
        await run(fill_report, d, "Exercise: a man trying car doors")
        await run(js, d, "window.scrollTo(0, 0)")
        await run(screenshots, d, "pilot-report")
        await run(click, d, "#report-send")
        rep = await report_seen(off, "Exercise: a man")
        assert rep.exercise and rep.pilot_id == "elm-road", rep
        await run(wait, d, lambda x: "sent" in text_of(x, "#report-msg").lower())

        # -- "Your reports" marks it; so does its conversation
        await run(click, d, '[data-screen="mine"]')
        item = f'#mine-list li[data-report="{rep.report_id}"]'
        await run(wait, d, lambda x: x.find_elements(By.CSS_SELECTOR, item + " .pilot-tag"))
        assert await run(text_of, d, item + " .pilot-tag") == f"EXERCISE — pilot {TITLE}"
        await run(click, d, item + " .chat-open")
        await run(wait, d, lambda x: visible(x, "#pilot-mark-chat"))
        assert (await run(text_of, d, "#pilot-mark-chat")).startswith("EXERCISE")

        # -- the same code on another phone (#pilot=): refused as used, in its words
        second = await open_browser(r, tmp_path / "two")
        e = second
        await run(e.get, f"{origin}/#pilot={code}")
        await run(start, e)
        assert "pilot=" not in await run(lambda: e.current_url)
        await run(wait, e, lambda x: visible(x, "#screen-device"))
        await run(click, e, "#pilot-join")
        await run(wait, e, lambda x: "used already" in text_of(x, "#pilot-msg"))
        assert "ask the pilot's organisers" in await run(text_of, e, "#pilot-msg")
        assert (
            await run(lambda: e.find_element(By.ID, "pilot-code").get_attribute("aria-invalid"))
            == "true"
        )
        assert not await run(visible, e, "#pilot-joined")
        assert await participants(r) == 1
        # a code that cannot be one is refused here, and never sent
        await run(e.get_log, "performance")  # drain
        field = await run(e.find_element, By.ID, "pilot-code")
        await run(field.clear)
        await run(field.send_keys, "ABCD-EFGH-JKM0")
        await run(click, e, "#pilot-join")
        await run(wait, e, lambda x: "not an invite code" in text_of(x, "#pilot-msg"))
        assert await run(sent_frames, e, "pilot.join") == []
        # the spare code, typed with spaces and in lower case, works
        await run(field.clear)
        await run(field.send_keys, " " + spare.lower().replace("-", " ") + " ")
        await run(click, e, "#pilot-join")
        await run(wait, e, lambda x: visible(x, "#pilot-joined"))
        assert await participants(r) == 2

        # -- a reload keeps the membership; leaving ends it, and the next report is live
        await run(d.refresh)
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        assert await run(visible, d, "#pilot-mark-report")
        await run(click, d, '[data-screen="device"]')
        await run(click, d, "#pilot-leave")
        await run(wait, d, lambda x: visible(x, "#pilot-form"))
        assert "You have left" in await run(text_of, d, "#pilot-msg")
        assert await run(js, d, "return localStorage['lookout.pilot']") is None
        assert await participants(r) == 1
        await run(click, d, '[data-screen="report"]')
        assert not await run(visible, d, "#pilot-mark-report")
        await run(fill_report, d, "Real now: a van on the pavement")
        await run(click, d, "#report-send")
        live = await report_seen(off, "Real now")
        assert not live.exercise and live.pilot_id is None, live

        # -- "Forget this device" drops the membership with the rest
        await run(click, e, '[data-screen="device"]')
        await run(click, e, "#forget")
        await run(lambda: e.switch_to.alert.accept())
        await run(wait, e, lambda x: visible(x, "#register"))
        assert await run(js, e, "return localStorage['lookout.pilot']") is None
        assert not await run(visible, e, "#pilot-welcome")

        for driver in (d, e):
            console = await run(driver.get_log, "browser")
            assert [x for x in console if x["level"] == "SEVERE"] == [], console
    finally:
        for driver in (first, second):
            if driver is not None:
                await run(driver.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
