"""Live alerts and location sharing on the citizens' portal, in a real headless Chromium
against a real relay over TLS on loopback, at 360x640 (the browser and certificate set-up
of tests/integration/test_portal_browser.py, reused).

The page shares the browser's emulated position (device.location, throttled) after saying
what is kept and for how long; an officer's alert drawn around that position appears live,
its hostile headline literal, with a beep and a vibration, and the officer sees it
delivered, then read once the citizen opens it; an alert drawn elsewhere never shows; an
Exercise alert is marked as one and not dressed as a real alert; an Update replaces its
original and a Cancel removes it from "Active alerts", which survives a reload; "Stop
sharing" stops the location frames, and says so, whatever the browser's position does."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backend_client import messages as m
from backend_client.limits import LOCATION_TTL_S
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.integration.test_portal_browser import (
    CATALOGUES,
    HOSTILE,
    run,
    screenshots,
    text_of,
    visible,
    wait,
)
from tests.integration.test_portal_browser import pytestmark as browser_marks
from tests.support.flows import alert_info, officer, square
from tests.support.peer import Peer, next_id, wait_until_async
from tests.support.portal_browser import open_browser, portal_origin

pytestmark = browser_marks
__all__ = ["screenshots"]  # the fixture, used by name

with contextlib.suppress(ImportError):  # without selenium, browser_marks skip the test
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

WHERE = (53.7632, -2.7044)  # the phone, first
MOVED = (53.7660, -2.7044)  # about 310 m north: worth a new fix
LAST = (53.7700, -2.7100)  # after "Stop sharing": must never reach the relay
ELSEWHERE = (53.9632, -2.7044)  # 22 km north

#: Installed in every document before the page's own script (CDP, so not subject to the
#: CSP): counts the oscillators the page starts and records its vibrations.
PROBES = """
window.__beeps = 0; window.__buzz = [];
const osc = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__beeps++; return osc.call(this); };
Object.defineProperty(Navigator.prototype, "vibrate", {
  configurable: true, value(p) { window.__buzz.push(p); return true; } });
"""


class PerfLog:
    """Chromium's performance log, read once: `new_frames` gives the websocket frames of one
    type the page sent since the last look; `urls` every address it asked, all along."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.seen: list[dict[str, Any]] = []
        self.looked = 0

    def read(self) -> None:
        for entry in self.driver.get_log("performance"):
            self.seen.append(json.loads(entry["message"])["message"])

    def new_frames(self, kind: str) -> list[dict[str, Any]]:
        self.read()
        fresh, self.looked = self.seen[self.looked :], len(self.seen)
        out = []
        for msg in fresh:
            if msg["method"] == "Network.webSocketFrameSent":
                frame = json.loads(msg["params"]["response"]["payloadData"])
                if frame.get("type") == kind:
                    out.append(frame)
        return out

    def urls(self) -> list[str]:
        self.read()
        out = []
        for msg in self.seen:
            if msg["method"] == "Network.requestWillBeSent":
                out.append(msg["params"]["request"]["url"])
            elif msg["method"] == "Network.webSocketCreated":
                out.append(msg["params"]["url"])
        return out


def click(driver: Any, css: str) -> None:
    node = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
    node.click()


def js(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def browser_position(driver: Any) -> list[float]:
    """The position the page's geolocation gives now (so a watch would have seen it)."""
    return list(
        driver.execute_async_script(
            "const done = arguments[0];"
            "navigator.geolocation.getCurrentPosition("
            "  p => done([p.coords.latitude, p.coords.longitude]), e => done([e.code]),"
            "  {maximumAge: 0, timeout: 10000});"
        )
    )


async def fix_of(
    r: RunningRelay, device_id: str
) -> tuple[float | None, float | None, float | None]:
    row = await r.relay.db.read(  # type: ignore[attr-defined]
        lambda s: s.execute(
            select(db.Device.lat, db.Device.lon, db.Device.fix_expires_at).where(
                db.Device.public_id == device_id
            )
        ).one()
    )
    return row[0], row[1], row[2]


async def changed(off: Peer, alert_id: str, cond: Callable[[m.Alert], bool]) -> m.Alert:
    ev = await off.wait_for(
        lambda e: isinstance(e, m.AlertChanged) and e.alert.alert_id == alert_id and cond(e.alert),
        timeout=15,
    )
    assert isinstance(ev, m.AlertChanged)
    return ev.alert


#: the drill alert's Welsh translation (a hostile-looking angle bracket stays text)
WELSH_DRILL = "Ymarfer: ceisiwyd ceir ar Ffordd Elm <i>"


async def send(off: Peer, **info: Any) -> m.Alert:
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(**info)))
    assert isinstance(acc, m.AlertAccepted), acc
    return acc.alert


async def test_alerts_reach_the_page_where_it_is_and_stop_sharing_stops(
    tmp_path: Path, screenshots: Callable[[Any, str], None]
) -> None:
    r = await start_relay(tmp_path / "relay", counts_interval_s=0.1)
    driver = None
    try:
        origin, host = portal_origin(r)
        off = await officer(r)
        driver = await open_browser(r, tmp_path / "profile")
        d = driver

        def cdp(cmd: str, args: dict[str, Any]) -> Any:
            return d.execute_cdp_cmd(cmd, args)

        def put(where: tuple[float, float]) -> Any:
            return cdp(
                "Emulation.setGeolocationOverride",
                {"latitude": where[0], "longitude": where[1], "accuracy": 15},
            )

        await run(
            cdp, "Browser.grantPermissions", {"origin": origin, "permissions": ["geolocation"]}
        )
        await run(put, WHERE)
        await run(cdp, "Page.addScriptToEvaluateOnNewDocument", {"source": PROBES})

        # -- register, ask for burglary alerts (the log so far is Chromium's new-tab page)
        await run(d.get_log, "performance")
        log = PerfLog(d)
        await run(d.get, origin + "/")
        await run(wait, d, lambda x: visible(x, "#register"))
        await run(click, d, "#register")
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        cred = json.loads(await run(js, d, "return localStorage['lookout.device']"))
        await run(click, d, '[data-screen="alerts"]')
        assert await run(text_of, d, "#live-summary") == "No alerts are active for this device."
        await run(click, d, 'input[value="burglary"]')
        await run(click, d, "#alerts-form button[type=submit]")
        await run(wait, d, lambda x: "Saved" in text_of(x, "#alerts-msg"))

        # -- share location: said first what is kept and for how long; nothing sent before
        hours = LOCATION_TTL_S // 3600
        why = await run(text_of, d, "#share-why")
        assert f"forgotten {hours} hours after" in why and "latest position" in why
        assert await run(text_of, d, "#share-toggle") == "Share my location"
        assert await run(log.new_frames, "device.location") == []
        assert await fix_of(r, cred["device_id"]) == (None, None, None)
        await run(click, d, "#share-toggle")
        await run(wait, d, lambda x: "Sharing" in text_of(x, "#share-state"))
        assert f"{hours} hours later" in await run(text_of, d, "#share-state")
        assert await run(text_of, d, "#share-toggle") == "Stop sharing"
        lat, lon, expires = await fix_of(r, cred["device_id"])
        assert (round(lat or 0, 4), round(lon or 0, 4)) == WHERE
        assert abs((expires or 0) - (time.time() + LOCATION_TTL_S)) < 60
        await run(d.execute_script, "window.scrollTo(0, 0)")
        await run(screenshots, d, "alerts-sharing")

        # -- the officer sees one phone there; an alert elsewhere reaches nobody
        count = await off.request(
            m.AlertPreview(id=next_id(), area=square(0.005, WHERE), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount) and count.recipients == 1, count
        far = await send(off, area=square(0.005, ELSEWHERE), headline="Far away: vans at the docks")
        assert far.state == "active" and far.recipients == 0

        # -- an alert around the phone: live on the page, literal, with sound and vibration
        near = await send(
            off,
            area=square(0.005, WHERE),
            headline=HOSTILE,
            description="Two houses on Elm Road <script>alert(1)</script> were broken into.",
            instruction="Lock doors and windows. Call 101 with information.",
            contact="Preston neighbourhood team, 101",
            incident_ref="INC-2026-000042",
            expires_at=time.time() + 7200,
        )
        assert near.state == "active" and near.recipients == 1  # below the approval threshold
        await run(wait, d, lambda x: visible(x, "#alert-banner"))
        banner = "#alert-banner"
        assert await run(text_of, d, banner + " .alert-headline") == HOSTILE
        assert (await run(text_of, d, banner + " .alert-kind")).lower() == "police alert"
        assert "kind-actual" in await run(
            lambda: d.find_element(By.ID, "alert-banner").get_attribute("class")
        )
        assert (
            await run(js, d, "return document.querySelectorAll('img, b, script:not([src])').length")
            == 0
        )
        assert await run(js, d, "return window.__pwned === undefined")
        assert await run(js, d, "return window.__beeps") == 3  # user gestures unlocked audio
        assert await run(js, d, "return window.__buzz.length") == 1
        assert (await changed(off, near.alert_id, lambda a: a.delivered == 1)).read == 0
        kept = json.loads(await run(js, d, "return localStorage['lookout.alerts']"))
        assert list(kept["active"]) == [near.alert_id]  # stored (before `delivered`)
        await run(d.execute_script, "window.scrollTo(0, 0)")
        await run(screenshots, d, "alerts")  # docs/images/portal-alerts.png

        # -- the citizen opens it: everything, literal; the officer sees it read
        await run(click, d, banner + " .alert-open")
        await run(
            wait,
            d,
            lambda x: x.find_element(By.ID, "alert-dialog").get_attribute("open") is not None,
        )
        dialog = await run(text_of, d, "#alert-dialog")
        for part in (
            "<script>alert(1)</script>",
            "Lock doors and windows",
            "INC-2026-000042",
            "Preston neighbourhood team, 101",
            "Until",
        ):
            assert part in dialog, (part, dialog)
        await run(screenshots, d, "alert-open")
        assert (await changed(off, near.alert_id, lambda a: a.read == 1)).delivered == 1
        await run(click, d, "#alert-dialog button.primary")
        assert not await run(visible, d, "#alert-banner")

        # -- the far alert never came: the page saw two alerts' worth of time and only one
        items = f'#live-list li[data-alert="{near.alert_id}"]'
        assert await run(js, d, "return document.querySelectorAll('#live-list li').length") == 1
        assert "INC-2026-000042" in await run(text_of, d, items)
        assert "Far away" not in await run(text_of, d, "body")

        # -- an exercise alert (a pilot's): marked, and not dressed as a real one. The
        # page's device joins the pilot on "This device" with its invite code
        sam = await officer(r, "sam")
        made = await sam.request(
            m.PilotCreate(
                id=next_id(),
                idem=next_id(),
                pilot_id="elm-road",
                title="Elm Road pilot",
                area=square(0.01, WHERE),
                groups=[m.PilotGroupSpec("residents", 10)],
            )
        )
        assert isinstance(made, m.PilotAccepted), made
        inv = await sam.request(
            m.PilotInvite(id=next_id(), pilot_id="elm-road", group="residents", count=1)
        )
        assert isinstance(inv, m.PilotInvites), inv
        await run(click, d, '[data-screen="device"]')
        await run(lambda: d.find_element(By.ID, "pilot-code").send_keys(inv.codes[0]))
        await run(click, d, "#pilot-join")
        await run(wait, d, lambda x: visible(x, "#pilot-joined"))
        await run(click, d, '[data-screen="alerts"]')
        drill = await send(
            off,
            area=square(0.005, WHERE),
            headline="Pilot: cars tried on Elm Road",
            status="Exercise",
            pilot_id="elm-road",
            incident_ref="EX-7",
            translations=[m.AlertTranslation(language="cy", headline=WELSH_DRILL)],
        )
        await run(wait, d, lambda x: visible(x, "#alert-banner.kind-exercise"))
        assert await run(text_of, d, banner + " .alert-kind") == "EXERCISE"
        assert "not a real alert" in await run(text_of, d, banner)
        colours = await run(
            js,
            d,
            "const b = document.getElementById('alert-banner');"
            "const probe = document.createElement('div'); probe.className = 'alert-banner kind-actual';"
            "document.body.append(probe); const real = getComputedStyle(probe).backgroundColor;"
            "probe.remove(); return [getComputedStyle(b).backgroundColor, getComputedStyle(b).backgroundImage, real];",
        )
        assert colours[0] != colours[2] and "gradient" in colours[1], colours
        assert await run(js, d, "return window.__beeps") == 5  # two lower beeps, not three
        drill_item = f'#live-list li[data-alert="{drill.alert_id}"]'
        assert "kind-exercise" in await run(
            lambda: d.find_element(By.CSS_SELECTOR, drill_item).get_attribute("class")
        )
        assert (await run(text_of, d, drill_item + " .alert-kind")) == "EXERCISE"
        # in English the officer's own words (the Welsh translation waits for Welsh)
        assert await run(text_of, d, drill_item + " .alert-headline") == (
            "Pilot: cars tried on Elm Road"
        )
        await changed(off, drill.alert_id, lambda a: a.delivered == 1)
        await run(d.execute_script, "window.scrollTo(0, 0)")
        await run(screenshots, d, "alert-exercise")
        await run(click, d, banner + " .alert-dismiss")
        await run(d.execute_script, "document.getElementById('live-h').scrollIntoView()")
        await run(screenshots, d, "alerts-active")

        # -- an update replaces its original; a cancel removes it
        upd = await off.request(
            m.AlertUpdate(
                id=next_id(),
                idem=next_id(),
                alert_id=near.alert_id,
                info=alert_info(
                    area=square(0.005, WHERE),
                    headline="Elm Road: two arrests",
                    contact="Preston neighbourhood team, 101",
                    incident_ref="INC-2026-000042",
                ),
            )
        )
        assert isinstance(upd, m.AlertAccepted) and upd.alert.state == "active", upd
        await run(wait, d, lambda x: "two arrests" in text_of(x, items))
        assert HOSTILE not in await run(text_of, d, "#live-list")
        assert await run(js, d, "return document.querySelectorAll('#live-list li').length") == 2
        assert "updated" in (await run(text_of, d, banner + " .alert-kind")).lower()
        cancel = await off.request(
            m.AlertCancel(id=next_id(), idem=next_id(), alert_id=near.alert_id)
        )
        assert isinstance(cancel, m.AlertAccepted)
        await run(wait, d, lambda x: not x.find_elements(By.CSS_SELECTOR, items))
        assert "withdrawn" in (await run(text_of, d, banner)).lower()
        assert await run(js, d, "return document.querySelectorAll('#live-list li').length") == 1
        assert (await run(text_of, d, "#live-summary")).startswith("1 alert is active")

        # -- moving is seen (watchPosition) and sent once, throttled
        await run(log.new_frames, "device.location")  # drain
        await run(put, MOVED)

        async def moved() -> bool:
            lat, _lon, _ = await fix_of(r, cred["device_id"])
            return round(lat or 0, 4) == MOVED[0]

        await wait_until_async(moved, timeout=15)
        assert 1 <= len(await run(log.new_frames, "device.location")) <= 2

        # -- a reload keeps the active list and the choice to share, and repeats nothing
        await run(d.refresh)
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        await run(click, d, '[data-screen="alerts"]')
        await run(wait, d, lambda x: x.find_elements(By.CSS_SELECTOR, drill_item))
        assert await run(js, d, "return document.querySelectorAll('#live-list li').length") == 1
        assert await run(text_of, d, "#share-toggle") == "Stop sharing"
        await run(wait, d, lambda x: "Sharing" in text_of(x, "#share-state"))
        assert await run(js, d, "return window.__beeps") == 0  # nothing announced again
        assert not await run(visible, d, "#alert-banner")

        # -- stop sharing: said what happens to the last fix; then nothing more is sent
        await run(click, d, "#share-toggle")
        stopped = await run(text_of, d, "#share-state")
        assert "Stopped" in stopped and f"within {hours} hours" in stopped, stopped
        assert await run(text_of, d, "#share-toggle") == "Share my location"
        assert await run(js, d, "return localStorage['lookout.location-sharing']") is None
        await run(log.new_frames, "device.location")  # drain
        await run(put, LAST)
        assert [round(v, 4) for v in await run(browser_position, d)] == list(LAST)
        await run(click, d, "#alerts-form button[type=submit]")  # a round trip after it
        await run(wait, d, lambda x: "Saved" in text_of(x, "#alerts-msg"))
        assert await run(log.new_frames, "device.location") == []
        lat, _lon, _ = await fix_of(r, cred["device_id"])
        assert round(lat or 0, 4) == MOVED[0]

        # -- and after a reload it stays off
        await run(d.refresh)
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        await run(click, d, '[data-screen="alerts"]')
        await run(click, d, "#alerts-form button[type=submit]")
        await run(wait, d, lambda x: "Saved" in text_of(x, "#alerts-msg"))
        assert await run(log.new_frames, "device.location") == []

        # -- in Welsh, the list and the sharing control follow the language
        cy = json.loads((CATALOGUES / "cy.json").read_text(encoding="utf-8"))
        await run(lambda: Select(d.find_element(By.ID, "lang")).select_by_value("cy"))
        await run(wait, d, lambda x: text_of(x, "#live-h") == cy["live.heading"])
        assert await run(text_of, d, drill_item + " .alert-kind") == cy["live.kind_exercise"]
        # an alert sent with a Welsh translation shows it, marked as Welsh
        headline = drill_item + " .alert-headline"
        await run(wait, d, lambda x: text_of(x, headline) == WELSH_DRILL)
        got = await run(lambda: d.find_element(By.CSS_SELECTOR, headline).get_attribute("lang"))
        assert got == "cy"
        assert await run(text_of, d, "#share-toggle") == cy["share.start"]
        assert "6 awr" in await run(text_of, d, "#share-why")

        # -- nothing but the relay was asked; the console stayed clean
        urls = await run(log.urls)
        assert any(u.startswith(f"wss://{host}/v1/citizen") for u in urls), urls
        strangers = [u for u in urls if not u.startswith((f"https://{host}/", f"wss://{host}/"))]
        assert strangers == [], strangers
        console = await run(d.get_log, "browser")
        assert [e for e in console if e["level"] == "SEVERE"] == [], console
    finally:
        if driver is not None:
            await run(driver.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
