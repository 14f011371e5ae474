"""The citizens' portal in a real headless Chromium (Debian's, driven by its chromedriver
through Selenium) against a real relay over TLS on loopback, at a phone's 360x640: register,
send a report with the browser's (emulated) position, and a real officer receives it; the
officer works it and the page's "Your reports" shows where it stands, the relay's copy of
hostile text rendered literally; Welsh; forget this device. Throughout, the page asks
nothing of any host but the relay and the CSP blocks nothing it needs.

The browser and its helpers: tests/support/portal_browser.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backend_client import messages as m
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import officer
from tests.support.peer import next_id
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
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError:  # pragma: no cover - the test extra installs it (BROWSER_MARKS skips)
    pass

pytestmark = BROWSER_MARKS

HOSTILE = '<img src=x onerror="window.__pwned=1"><b>bold</b> & \u202eevil'
WHERE = (53.7632, -2.7044)  # the emulated phone's position
CATALOGUES = Path(__file__).resolve().parents[2] / "portal" / "i18n"


@pytest.fixture
def screenshots(tmp_path: Path) -> Callable[[Any, str], None]:
    return shooter(tmp_path)


async def test_a_citizen_registers_reports_and_follows_it(
    tmp_path: Path, screenshots: Callable[[Any, str], None]
) -> None:
    r: RunningRelay = await start_relay(tmp_path / "relay")
    driver = None
    try:
        origin, host = portal_origin(r)
        off = await officer(r)
        driver = await open_browser(r, tmp_path / "profile")
        d = driver
        await run(put_phone_at, d, origin, WHERE)

        # -- welcome, then register (the log so far is Chromium's own new-tab page)
        await run(d.get_log, "performance")
        await run(d.get, origin + "/")
        await run(wait, d, lambda x: visible(x, "#register"))
        assert await run(d.execute_script, "return [innerWidth, innerHeight]") == [360, 640]
        await run(screenshots, d, "welcome")
        await run(lambda: d.find_element(By.ID, "register").click())
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        cred = json.loads(await run(d.execute_script, "return localStorage['lookout.device']"))
        assert cred["device_id"] and cred["secret"]
        assert await run(visible, d, "#screen-report")

        # -- a report with the browser's position
        await run(
            lambda: Select(d.find_element(By.ID, "report-category")).select_by_value("vehicle")
        )
        await run(lambda: d.find_element(By.ID, "report-text").send_keys(HOSTILE))
        await run(lambda: d.find_element(By.ID, "use-location").click())
        await run(wait, d, lambda x: x.find_element(By.ID, "report-lat").get_attribute("value"))
        await run(d.execute_script, "window.scrollTo(0, 0)")
        await run(screenshots, d, "report")
        await run(d.execute_script, "document.getElementById('report-send').scrollIntoView(false)")
        await run(screenshots, d, "report-where")
        await run(lambda: d.find_element(By.ID, "report-send").click())
        await run(wait, d, lambda x: "Reference" in text_of(x, "#report-msg"))

        created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated), timeout=10)
        assert isinstance(created, m.ReportCreated)
        rep = created.report
        assert rep.text == HOSTILE and rep.category == "vehicle"
        assert (round(rep.lat, 4), round(rep.lon, 4)) == WHERE
        assert rep.report_id in await run(text_of, d, "#report-msg")
        assert await run(d.execute_script, "return localStorage['lookout.pending-report']") is None

        # -- the officer works it; the page shows where it stands
        for msg in (
            m.ReportClaim(id=next_id(), idem=next_id(), report_id=rep.report_id),
            m.ReportSetStatus(
                id=next_id(), idem=next_id(), report_id=rep.report_id, status="in_progress"
            ),
        ):
            assert isinstance(await off.request(msg), m.Ack)
        inc = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="cars"))
        assert isinstance(inc, m.IncidentCreated)
        linked = await off.request(
            m.ReportLink(
                id=next_id(), idem=next_id(), report_id=rep.report_id, incident_ref=inc.incident_ref
            )
        )
        assert isinstance(linked, m.Ack)
        await run(lambda: d.find_element(By.CSS_SELECTOR, '[data-screen="mine"]').click())
        await run(wait, d, lambda x: "Being dealt with" in text_of(x, "#mine-list"))
        item = f'#mine-list li[data-report="{rep.report_id}"]'
        assert await run(text_of, d, item + " .report-summary") == HOSTILE
        assert (
            await run(
                d.execute_script,
                f"return document.querySelector('{item}').querySelectorAll('img,b').length",
            )
            == 0
        )
        assert await run(d.execute_script, "return window.__pwned === undefined")
        assert inc.incident_ref in await run(text_of, d, item + " .report-meta")
        await run(screenshots, d, "mine")

        # -- Welsh, chosen on the page and remembered
        cy = json.loads((CATALOGUES / "cy.json").read_text(encoding="utf-8"))
        await run(lambda: Select(d.find_element(By.ID, "lang")).select_by_value("cy"))
        await run(wait, d, lambda x: text_of(x, "#mine-h") == cy["mine.heading"])
        assert await run(d.execute_script, "return document.documentElement.lang") == "cy"
        assert cy["status.in_progress"] in await run(text_of, d, "#mine-list")
        await run(lambda: Select(d.find_element(By.ID, "lang")).select_by_value("en"))

        # -- alert categories reach the relay
        await run(lambda: d.find_element(By.CSS_SELECTOR, '[data-screen="alerts"]').click())
        await run(lambda: d.find_element(By.CSS_SELECTOR, 'input[value="cycle"]').click())
        await run(
            lambda: d.find_element(By.CSS_SELECTOR, "#alerts-form button[type=submit]").click()
        )
        await run(wait, d, lambda x: "Saved" in text_of(x, "#alerts-msg"))
        mask = await r.relay.db.read(
            lambda s: s.scalar(  # type: ignore[attr-defined]
                select(db.Device.category_mask).where(db.Device.public_id == cred["device_id"])
            )
        )
        assert mask == 1 << m.CATEGORIES.index("cycle")

        # -- nothing but the relay was asked for anything; the CSP blocked nothing
        urls = await run(requested_urls, d)
        assert any(u.startswith(f"wss://{host}/v1/citizen") for u in urls), urls
        assert sum(u.startswith(f"https://{host}/") for u in urls) >= 8, urls
        strangers = [u for u in urls if not u.startswith((f"https://{host}/", f"wss://{host}/"))]
        assert strangers == [], strangers
        console = await run(d.get_log, "browser")
        assert [e for e in console if e["level"] == "SEVERE"] == [], console

        # -- forget this device: the browser keeps nothing of it
        await run(lambda: d.find_element(By.CSS_SELECTOR, '[data-screen="device"]').click())
        assert await run(text_of, d, "#pseudonym") == rep.reporter
        await run(lambda: d.find_element(By.ID, "forget").click())
        await run(lambda: d.switch_to.alert.accept())
        await run(wait, d, lambda x: visible(x, "#register"))
        assert await run(d.execute_script, "return localStorage['lookout.device']") is None
    finally:
        if driver is not None:
            await run(driver.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
