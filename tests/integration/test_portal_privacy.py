"""The portal's "Your data" (issue 11, deliverable 3; docs/privacy.md) in a real headless
Chromium against a real relay over TLS on loopback, with a real officer on `/v1/officer`:
the page registers, shares its location, sends two reports and chats on one, receives an
alert; an officer links the other report to an incident. "Your data" shows what the relay
holds (counts from every page of `privacy.export`), hostile text in it literally; "Download
my data" saves one JSON file holding the report text and the messages; "Erase my data"
says what will be kept and why, then the relay erases the device (the linked report kept,
and the page says so), and the page's storage is empty and it is back at its first screen.
"Forget this device" asks the relay to erase first; with the relay gone, Erase erases
nothing and Forget asks before wiping the browser alone. A rate-limited export says so.

Set LOOKOUT_PORTAL_SCREENSHOTS=DIR to keep the screenshots (docs/images/portal-privacy.png)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backend_client import messages as m
from relay import citizen
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import PRESTON, alert_info, officer
from tests.support.peer import Peer, next_id, wait_until_async
from tests.support.portal_browser import (
    BROWSER_MARKS,
    open_browser,
    portal_origin,
    requested_urls,
    run,
    shooter,
    text_of,
    visible,
    wait,
)

with contextlib.suppress(ImportError):  # without selenium, BROWSER_MARKS skip the tests
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

pytestmark = BROWSER_MARKS

HOSTILE = '<img src=x onerror="window.__pwned=1"><b>bold</b> & \u202eevil'
GONE = "Erase me: a van by the garages " + HOSTILE
KEPT = "Keep me: the knife in the hedge"
MINE = "It went towards the park"
THEIRS = "Thanks. <script>window.__pwned=2</script> Are you safe?"


@pytest.fixture
def screenshots(tmp_path: Path) -> Callable[[Any, str], None]:
    return shooter(tmp_path)


def click(driver: Any, css: str) -> None:
    driver.find_element(By.CSS_SELECTOR, css).click()


def js(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def our_storage(driver: Any) -> list[str]:
    """This portal's keys in the page's localStorage (the chosen language is not the device's)."""
    return list(
        js(
            driver,
            "return Object.keys(localStorage).filter(k => k.startsWith('lookout.')"
            " && k !== 'lookout.lang')",
        )
    )


def dialog_text(driver: Any) -> str | None:
    """The text of the page's window.confirm, once it is up."""
    try:
        return str(driver.switch_to.alert.text)
    except NoAlertPresentException:
        return None


def device_id(driver: Any) -> str:
    return str(json.loads(js(driver, "return localStorage['lookout.device']"))["device_id"])


async def start(r: RunningRelay, tmp_path: Path, downloads: Path | None = None) -> Any:
    origin, _ = portal_origin(r)
    d = await open_browser(r, tmp_path / "profile", downloads)
    await run(
        lambda: d.execute_cdp_cmd(
            "Browser.grantPermissions", {"origin": origin, "permissions": ["geolocation"]}
        )
    )
    await run(
        lambda: d.execute_cdp_cmd(
            "Emulation.setGeolocationOverride",
            {"latitude": PRESTON[0], "longitude": PRESTON[1], "accuracy": 12},
        )
    )
    await run(d.get_log, "performance")  # Chromium's own new-tab page, not ours
    await run(d.get, origin + "/")
    return d


async def register(d: Any) -> str:
    await run(wait, d, lambda x: visible(x, "#register"))
    await run(click, d, "#register")
    await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
    return str(await run(device_id, d))


async def send_report(d: Any, off: Peer, text: str) -> str:
    await run(click, d, '[data-screen="report"]')
    await run(lambda: Select(d.find_element(By.ID, "report-category")).select_by_value("burglary"))
    await run(lambda: d.find_element(By.ID, "report-text").send_keys(text))
    await run(click, d, "#use-location")
    await run(wait, d, lambda x: x.find_element(By.ID, "report-lat").get_attribute("value"))
    await run(click, d, "#report-send")
    created = await off.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.text == text, timeout=10
    )
    assert isinstance(created, m.ReportCreated)
    await run(wait, d, lambda x: created.report.report_id in text_of(x, "#report-msg"))
    return created.report.report_id


async def open_your_data(d: Any) -> None:
    await run(click, d, '[data-screen="device"]')
    await run(wait, d, lambda x: visible(x, '#privacy-summary [data-count="reports"]'))


def count(d: Any, name: str) -> str:
    return text_of(d, f'#privacy-summary [data-count="{name}"]')


async def test_your_data_shows_downloads_and_erases_keeping_a_linked_report(
    tmp_path: Path, screenshots: Callable[[Any, str], None]
) -> None:
    r: RunningRelay = await start_relay(tmp_path / "relay")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = None
    try:
        _, host = portal_origin(r)
        off = await officer(r)
        driver = d = await start(r, tmp_path, downloads)
        me = await register(d)

        # -- location shared and burglary alerts chosen, so an alert reaches the page
        await run(click, d, '[data-screen="alerts"]')
        await run(click, d, 'input[value="burglary"]')
        await run(click, d, "#alerts-form button[type=submit]")
        await run(wait, d, lambda x: "Saved" in text_of(x, "#alerts-msg"))
        await run(click, d, "#share-toggle")
        await run(wait, d, lambda x: text_of(x, "#share-toggle") == "Stop sharing")

        async def has_fix() -> bool:
            lat = await r.relay.db.read(  # type: ignore[attr-defined]
                lambda s: s.scalar(select(db.Device.lat).where(db.Device.public_id == me))
            )
            return lat is not None

        await wait_until_async(has_fix)
        sent = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(sent, m.AlertAccepted), sent
        await run(wait, d, lambda x: visible(x, "#alert-banner"))
        await run(click, d, "#alert-banner .alert-dismiss")

        # -- two reports: chat on the first, the second linked to an incident
        gone = await send_report(d, off, GONE)
        kept = await send_report(d, off, KEPT)
        said = await off.request(
            m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=gone, text=THEIRS)
        )
        assert isinstance(said, m.ChatSent)
        await run(click, d, '[data-screen="mine"]')
        conversation = f'#mine-list li[data-report="{gone}"] .chat-open'
        await run(wait, d, lambda x: visible(x, conversation))
        await run(click, d, conversation)
        await run(wait, d, lambda x: visible(x, "#screen-chat .bubble-officer"))
        await run(lambda: d.find_element(By.ID, "chat-text").send_keys(MINE, Keys.ENTER))
        await off.wait_for(lambda e: isinstance(e, m.ChatPosted) and e.message.sender == "citizen")
        inc = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Hedge"))
        assert isinstance(inc, m.IncidentCreated)
        linked = await off.request(
            m.ReportLink(
                id=next_id(), idem=next_id(), report_id=kept, incident_ref=inc.incident_ref
            )
        )
        assert isinstance(linked, m.Ack)

        # -- "Your data": what the relay holds now, counted from every export page
        await open_your_data(d)
        assert await run(count, d, "reports") == "2 reports (1 linked to an incident)"
        assert await run(count, d, "messages") == "2 messages (1 from you, 1 from the control room)"
        assert await run(count, d, "alerts") == "1 alert"
        assert await run(count, d, "files") == "0 files"
        assert (await run(count, d, "location")).startswith("held: sent just now, forgotten at")
        await run(js, d, "window.scrollTo(0, 0)")
        await run(screenshots, d, "privacy-top")
        await run(js, d, "document.getElementById('privacy-now-h').scrollIntoView()")
        await run(screenshots, d, "privacy")

        # hostile text as the relay holds it: literal, no element made from it
        await run(click, d, "#privacy-held summary")
        held = f'#privacy-held li[data-report="{gone}"] .report-summary'
        await run(wait, d, lambda x: visible(x, held))
        assert await run(text_of, d, held) == GONE
        messages = await run(
            js,
            d,
            "return [...document.querySelectorAll('#privacy-held li[data-message]"
            " .report-summary')].map(p => p.textContent)",
        )
        assert sorted(messages) == sorted([MINE, THEIRS])
        assert (
            await run(
                js,
                d,
                "return document.querySelectorAll('#privacy img, #privacy b, #privacy script').length",
            )
            == 0
        )
        assert await run(js, d, "return window.__pwned === undefined")

        # -- "Download my data": one JSON file with everything
        await run(click, d, "#privacy-download")
        await run(wait, d, lambda x: "Downloaded" in text_of(x, "#privacy-msg"))

        def saved(_: Any) -> list[Path]:
            done = [p for p in downloads.iterdir() if p.suffix == ".json"]
            return done if done and not list(downloads.glob("*.crdownload")) else []

        (file,) = await run(wait, d, saved)
        assert file.name.startswith("lookout-my-data-") and file.name in await run(
            text_of, d, "#privacy-msg"
        )
        export = json.loads(file.read_text(encoding="utf-8"))
        assert export["format"] == "lookout-subject-access-export" and export["relay"] == host
        assert export["device"]["device_id"] == me
        assert export["device"]["location"] is not None
        assert [x["text"] for x in export["reports"]] == [GONE, KEPT]
        assert sorted((x["sender"], x["text"]) for x in export["chat"]) == [
            ("citizen", MINE),
            ("officer", THEIRS),
        ]
        assert [a["alert"]["alert_id"] for a in export["alerts"]] == [sent.alert.alert_id]
        # the download needed no other host, and the CSP blocked nothing
        urls = await run(requested_urls, d)
        strangers = [
            u for u in urls if not u.startswith((f"https://{host}/", f"wss://{host}/", "blob:"))
        ]
        assert strangers == [], strangers
        console = await run(d.get_log, "browser")
        assert [e for e in console if e["level"] == "SEVERE"] == [], console

        # -- "Erase my data": what goes, what stays and why, then the relay erases
        await run(click, d, "#privacy-erase")
        await run(wait, d, lambda x: visible(x, "#privacy-dialog"))
        warning = await run(text_of, d, "#privacy-dialog-kept")
        assert "Kept: 1 report" in warning and inc.incident_ref in warning
        assert await run(js, d, "return document.activeElement.id") == "privacy-dialog-cancel"
        await run(screenshots, d, "privacy-erase")
        await run(click, d, "#privacy-dialog-erase")
        await run(wait, d, lambda x: visible(x, "#register") and visible(x, "#privacy-result"))
        assert "erased" in await run(text_of, d, "#welcome-msg")
        shown = await run(text_of, d, "#privacy-result")
        assert "Erased: 1 report, 2 messages, 0 files, 1 alert" in shown
        assert "Kept: 1 report" in shown and inc.incident_ref in shown and kept in shown
        assert "17(3)(e)" in shown  # the relay's reason, as it gave it
        assert await run(our_storage, d) == []
        assert not await run(visible, d, "#tabs")
        assert await run(js, d, "return window.__pwned === undefined")

        def relay_state(s: Any) -> dict[str, Any]:
            return {
                "reports": set(s.scalars(select(db.Report.public_id))),
                "chat": list(s.scalars(select(db.ChatMessage.text))),
                "device": s.scalar(select(db.Device.id).where(db.Device.public_id == me)),
            }

        st = await r.relay.db.read(relay_state)  # type: ignore[attr-defined]
        assert st == {"reports": {kept}, "chat": [], "device": None}
        await off.close()
    finally:
        if driver is not None:
            await run(driver.quit)
        await r.relay.stop()  # type: ignore[attr-defined]


async def test_forget_erases_at_the_relay_and_offline_only_when_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(citizen, "PRIVACY_EXPORTS_PER_HOUR", 1.0)
    r: RunningRelay = await start_relay(tmp_path / "relay")
    driver = None
    stopped = False
    try:
        off = await officer(r)
        driver = d = await start(r, tmp_path)

        # -- forget, online: the relay erases the device and its report first
        first = await register(d)
        rid = await send_report(d, off, "Forget me: a bike by the canal")
        await open_your_data(d)
        # -- one export an hour here: asking again says when to try
        await run(click, d, "#privacy-refresh")
        await run(wait, d, lambda x: "Try again in" in text_of(x, "#privacy-msg"))
        assert "many times in the last hour" in await run(text_of, d, "#privacy-msg")
        await run(click, d, "#forget")
        prompt = await run(lambda: d.switch_to.alert.text)
        assert "erases your data" in prompt
        await run(lambda: d.switch_to.alert.accept())
        await run(wait, d, lambda x: visible(x, "#register"))
        assert "erased your data" in await run(text_of, d, "#welcome-msg")
        assert await run(our_storage, d) == []

        def left(s: Any) -> tuple[Any, Any]:
            return (
                s.scalar(select(db.Device.id).where(db.Device.public_id == first)),
                s.scalar(select(db.Report.id).where(db.Report.public_id == rid)),
            )

        assert await r.relay.db.read(left) == (None, None)  # type: ignore[attr-defined]

        # -- a new device; then the relay goes away
        second = await register(d)
        assert second != first
        await off.close()
        await r.relay.stop()  # type: ignore[attr-defined]
        stopped = True
        await run(wait, d, lambda x: "Connected as" not in text_of(x, "#link-state"))

        # Erase, offline: nothing erased, nothing wiped
        await run(click, d, '[data-screen="device"]')
        await run(click, d, "#privacy-erase")
        await run(wait, d, lambda x: visible(x, "#privacy-dialog"))
        await run(click, d, "#privacy-dialog-erase")
        await run(wait, d, lambda x: "nothing was erased" in text_of(x, "#privacy-msg"))
        assert await run(device_id, d) == second

        # Forget, offline: asked first, and "no" keeps everything
        await run(click, d, "#forget")
        await run(lambda: d.switch_to.alert.accept())
        question = await run(wait, d, dialog_text)
        assert "cannot be reached" in question and "6 hours" in question
        await run(lambda: d.switch_to.alert.dismiss())
        await run(wait, d, lambda x: "Nothing was forgotten" in text_of(x, "#device-msg"))
        assert await run(device_id, d) == second
        # "yes": this browser alone forgets, and says the relay still holds the data
        await run(click, d, "#forget")
        await run(lambda: d.switch_to.alert.accept())
        await run(wait, d, dialog_text)
        await run(lambda: d.switch_to.alert.accept())
        await run(wait, d, lambda x: visible(x, "#register"))
        assert "still holds your data" in await run(text_of, d, "#welcome-msg")
        assert await run(our_storage, d) == []
    finally:
        if driver is not None:
            await run(driver.quit)
        if not stopped:
            await r.relay.stop()  # type: ignore[attr-defined]
