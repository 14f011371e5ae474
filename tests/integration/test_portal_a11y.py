"""The portal is usable with a screen reader and a keyboard: axe-core, the accessibility
rules engine (from the npm registry, pinned in tests/a11y/package-lock.json, installed by
`make`), checks every screen in real headless Chromium against WCAG 2.1 A and AA (names
and labels, contrast, landmarks, ARIA, language), at a phone's 360x640 and on a desktop,
in English and in Welsh, with real content on each screen: a report with its status and a
conversation, an active alert, the email sign-up, the pin map. And the page works from the
keyboard alone: Tab reaches the screens' buttons, Enter opens one, and focus is always
visible.

axe runs through WebDriver (the DevTools protocol), which the page's Content-Security-Policy
does not govern: nothing is loosened for the test.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from backend_client import messages as m
from tests.conftest import RunningRelay, start_relay
from tests.integration.test_email_alerts import mail_config
from tests.support.flows import alert_info, officer, square
from tests.support.peer import Peer, next_id
from tests.support.portal_browser import (
    BROWSER_MARKS,
    open_and_register,
    open_browser,
    portal_origin,
    put_phone_at,
    run,
    text_of,
    visible,
    wait,
)
from tests.support.smtp import Inbox, start_smtp

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
except ImportError:  # pragma: no cover - the test extra installs it (BROWSER_MARKS skips)
    pass

AXE = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(
        not AXE.is_file(),
        reason="axe-core is not installed (make installs it: npm ci in tests/a11y)",
    ),
]

WHERE = (53.7632, -2.7044)
#: WCAG 2.0 and 2.1, levels A and AA: what public-sector sites in the UK must meet
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe(driver: Any, what: str) -> list[str]:
    """Run axe on the page as it is now; one line per violation and node."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(60)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
        TAGS,
    )
    return [
        f"{what}: {v['id']} ({v['impact']}): {v['help']} at {node}"
        for v in result
        for node in (v["nodes"] or ["(page)"])
    ]


def screen(driver: Any, name: str) -> None:
    driver.execute_script("window.scrollTo(0, 0)")  # the sticky alert banner covers the nav
    driver.find_element(By.CSS_SELECTOR, f'[data-screen="{name}"]').click()
    wait(driver, lambda x: visible(x, f"#screen-{name}"))


async def join_pilot(r: RunningRelay, d: Any) -> None:
    """The page's device joins a pilot with its invite code, so the screens show the
    joined state and the exercise marking."""
    sam = await officer(r, "sam")
    made = await sam.request(
        m.PilotCreate(
            id=next_id(),
            idem=next_id(),
            pilot_id="church-street",
            title="Church Street pilot",
            area=square(0.01, WHERE),
            groups=[m.PilotGroupSpec("residents", 10)],
            ends_at=time.time() + 86400,
        )
    )
    assert isinstance(made, m.PilotAccepted), made
    inv = await sam.request(
        m.PilotInvite(id=next_id(), pilot_id="church-street", group="residents", count=1)
    )
    assert isinstance(inv, m.PilotInvites), inv
    await run(screen, d, "device")
    await run(lambda: d.find_element(By.ID, "pilot-code").send_keys(inv.codes[0]))
    await run(lambda: d.find_element(By.ID, "pilot-join").click())
    await run(wait, d, lambda x: visible(x, "#pilot-joined"))
    await run(screen, d, "report")


async def content(r: RunningRelay, off: Peer, d: Any) -> None:
    """A report the officer answered and linked, and an alert around the phone."""
    await run(lambda: Select(d.find_element(By.ID, "report-category")).select_by_value("vehicle"))
    await run(lambda: d.find_element(By.ID, "report-text").send_keys("Someone trying car doors"))
    await run(lambda: d.find_element(By.ID, "use-location").click())
    await run(wait, d, lambda x: x.find_element(By.ID, "report-lat").get_attribute("value"))
    await run(lambda: d.find_element(By.ID, "report-send").click())
    created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated), timeout=15)
    assert isinstance(created, m.ReportCreated)
    rid = created.report.report_id
    for msg in (
        m.ReportClaim(id=next_id(), idem=next_id(), report_id=rid),
        m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=rid, status="in_progress"),
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=rid, text="Are you safe?"),
    ):
        assert not isinstance(await off.request(msg), m.Error)
    await run(screen, d, "alerts")
    await run(lambda: d.find_element(By.CSS_SELECTOR, 'input[value="vehicle"]').click())
    await run(lambda: d.find_element(By.CSS_SELECTOR, "#alerts-form button[type=submit]").click())
    await run(wait, d, lambda x: "Saved" in text_of(x, "#alerts-msg"))
    await run(lambda: d.find_element(By.ID, "share-toggle").click())
    await run(wait, d, lambda x: "Sharing" in text_of(x, "#share-state"))
    sent = await off.request(
        m.AlertSend(
            id=next_id(),
            idem=next_id(),
            info=alert_info(
                area=square(0.005, WHERE),
                categories=["vehicle"],
                headline="Car break-ins around Church Street",
                incident_ref="INC-2026-000042",
                expires_at=time.time() + 3600,
            ),
        )
    )
    assert isinstance(sent, m.AlertAccepted), sent
    await run(wait, d, lambda x: visible(x, "#alert-banner"))


def every_screen(d: Any, what: str) -> list[str]:
    found: list[str] = []
    for name in ("report", "mine", "alerts", "device"):
        screen(d, name)
        found += axe(d, f"{what} {name}")
    screen(d, "report")  # the pin map: Leaflet's controls and the pin, in their dialog
    d.execute_script("document.getElementById('pick-on-map').click()")
    wait(d, lambda x: visible(x, "dialog.pin-dialog .pin-marker"))
    found += axe(d, f"{what} pin map")
    d.execute_script("document.querySelector('dialog.pin-dialog').close()")
    wait(d, lambda x: not x.find_elements(By.CSS_SELECTOR, "dialog.pin-dialog"))
    screen(d, "mine")
    wait(d, lambda x: visible(x, "#mine-list li .chat-open"))
    d.execute_script("document.querySelector('#mine-list li .chat-open').click()")
    wait(d, lambda x: visible(x, "#screen-chat .bubble-officer"))
    found += axe(d, f"{what} chat")
    screen(d, "alerts")  # the alert, opened from the active list (the banner goes once read)
    d.execute_script("document.querySelector('#live-list li button').click()")
    wait(d, lambda x: x.execute_script("return !!document.querySelector('dialog[open]')"))
    found += axe(d, f"{what} alert dialog")
    d.find_element(By.CSS_SELECTOR, "dialog[open] button.primary").click()
    return found


async def test_every_screen_meets_wcag_21_aa_on_a_phone_and_a_desktop_in_both_languages(
    tmp_path: Path,
) -> None:
    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    r = await start_relay(tmp_path / "relay", **mail_config(smtp.port, ca))
    d: Any = None
    try:
        origin, _host = portal_origin(r)
        off = await officer(r)
        d = await open_browser(r, tmp_path / "profile")
        await run(put_phone_at, d, origin, WHERE)
        await run(d.get, origin + "/")
        await run(wait, d, lambda x: visible(x, "#register"))
        found = await run(axe, d, "phone welcome")
        await run(open_and_register, d, origin)
        await run(screen, d, "device")  # the pilot's join form, before joining
        found += await run(axe, d, "phone device, no pilot")
        await join_pilot(r, d)  # then every screen in a pilot: joined, exercise marking
        await content(r, off, d)
        found += await run(every_screen, d, "phone")
        await run(lambda: Select(d.find_element(By.ID, "lang")).select_by_value("cy"))
        await run(
            wait, d, lambda x: x.find_element(By.TAG_NAME, "html").get_attribute("lang") == "cy"
        )
        found += await run(every_screen, d, "phone cy")
        await run(lambda: Select(d.find_element(By.ID, "lang")).select_by_value("en"))
        await run(
            d.execute_cdp_cmd,
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
        )
        await run(wait, d, lambda x: x.execute_script("return innerWidth") >= 1200)
        found += await run(every_screen, d, "desktop")
        await run(d.get, origin + "/email/confirm?token=" + "a" * 43)
        await run(wait, d, lambda x: visible(x, "#emaillink-go"))
        found += await run(axe, d, "email confirm page")
        assert found == [], "\n".join(found)
    finally:
        if d is not None:
            await run(d.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()


def focus(d: Any) -> dict[str, Any]:
    return dict(
        d.execute_script(
            "const e = document.activeElement, s = getComputedStyle(e);"
            "return {id: e.id, screen: e.dataset.screen || null, tag: e.tagName,"
            " outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0"
            "   || s.boxShadow !== 'none'};"
        )
    )


async def test_the_page_works_from_the_keyboard_with_focus_always_visible(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "relay")
    d: Any = None
    try:
        origin, _host = portal_origin(r)
        d = await open_browser(r, tmp_path / "profile")
        await run(d.get, origin + "/")
        await run(wait, d, lambda x: visible(x, "#register"))
        body = await run(d.find_element, By.TAG_NAME, "body")
        # Tab to Start and press Enter: registered without a pointer
        seen: list[dict[str, Any]] = []
        for _ in range(12):
            await run(body.send_keys, Keys.TAB)
            seen.append(await run(focus, d))
            if seen[-1]["id"] == "register":
                break
        assert seen[-1]["id"] == "register", seen
        assert all(f["outline"] for f in seen), seen  # every stop shows where focus is
        await run(lambda: d.switch_to.active_element.send_keys(Keys.ENTER))
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        # Tab on to the screens' buttons; Enter on "Your reports" opens it
        stops: list[dict[str, Any]] = []
        for _ in range(40):
            await run(lambda: d.switch_to.active_element.send_keys(Keys.TAB))
            stops.append(await run(focus, d))
            if stops[-1]["screen"] == "mine":
                break
        assert stops[-1]["screen"] == "mine", stops
        assert all(f["outline"] for f in stops), [f for f in stops if not f["outline"]]
        await run(lambda: d.switch_to.active_element.send_keys(Keys.ENTER))
        await run(wait, d, lambda x: visible(x, "#screen-mine"))
        assert not await run(visible, d, "#screen-report")
    finally:
        if d is not None:
            await run(d.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
