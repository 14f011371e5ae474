"""The public alert page `/alerts/{alert id}` (every CAP message's `<web>`) in Debian's
headless Chromium at a phone's 360x640 (tests/support/portal_browser.py), against a real
relay over TLS on loopback: a hostile headline and description stay text and run nothing,
each `<info>` block of an alert sent with a Welsh translation (as the composer sends it)
shows in its own language (`lang`), its Cancel too, the portal's style sheet applies under
its CSP with no violation, the CAP link opens the message, a Cancel shows as cancelled and
an unknown id is "no such alert"."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from lxml import etree

from backend_client import messages as m
from relay import cap
from tests.conftest import start_relay
from tests.integration.test_alert_page import BASE, _send, _stored
from tests.support.flows import device, officer
from tests.support.peer import next_id
from tests.support.portal_browser import (
    BROWSER_MARKS,
    open_browser,
    portal_origin,
    run,
    shooter,
    wait,
)

pytestmark = BROWSER_MARKS

with contextlib.suppress(ImportError):  # without selenium, BROWSER_MARKS skip the test
    from selenium.webdriver.common.by import By

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>& \u202eevil'
WELSH = "Byrgleriaethau heno <b>"


def _page_facts(d: Any) -> dict[str, Any]:
    return dict(
        d.execute_script(
            "const q = s => Array.from(document.querySelectorAll(s));"
            "return {lang: document.documentElement.lang,"
            " langs: q('article.alert-info').map(a => a.lang),"
            " headlines: q('h1.alert-headline').map(h => h.textContent),"
            " state: document.querySelector('.alert-page').dataset.state,"
            " stateText: document.getElementById('alert-state').textContent,"
            " injected: q('main img, main script, main b').length,"
            " scripts: document.scripts.length,"
            " pwned: window.__pwned === undefined ? null : window.__pwned,"
            " link: document.querySelector('a.cap-link').getAttribute('href'),"
            " styled: getComputedStyle(document.querySelector('.alert-facts')).display};"
        )
    )


async def test_the_page_in_chromium_shows_every_language_and_hostile_text_as_text(
    tmp_path: Path,
) -> None:
    shoot = shooter(tmp_path)  # LOOKOUT_PORTAL_SCREENSHOTS=DIR keeps portal-alert-page.png
    r = await start_relay(tmp_path / "r", cap_web_base=BASE)
    driver = None
    try:
        await device(r)
        dana = await officer(r)
        welsh = m.AlertTranslation(
            language="cy", headline=WELSH, description="Cloi drysau", instruction="Ffoniwch 999"
        )
        alert_id = await _send(
            dana,
            headline=HOSTILE,
            description="Lock doors\n</p><p>x",
            instruction="Call 999",
            translations=[welsh],
        )
        [version] = await _stored(r, alert_id)
        web = etree.fromstring((version.cap_xml or "").encode()).find(".//cap:web", cap._NS)
        assert web is not None and web.text == f"{BASE}/alerts/{alert_id}"  # the path matches

        origin, _ = portal_origin(r)
        driver = await open_browser(r, tmp_path / "profile")
        d = driver
        await run(d.get, f"{origin}/alerts/{alert_id}")
        await run(wait, d, lambda x: x.find_elements(By.CSS_SELECTOR, "h1.alert-headline"))
        await run(shoot, d, "alert-page")
        facts = await run(_page_facts, d)
        assert facts["lang"] == "en-GB" and facts["langs"] == ["en-GB", "cy"]
        assert facts["headlines"] == [HOSTILE, WELSH]
        assert facts["injected"] == 0 and facts["scripts"] == 0 and facts["pwned"] is None
        assert facts["state"] == "current" and facts["stateText"] == "Current alert"
        assert facts["link"] == f"/cap/alerts/{alert_id}.xml"
        assert facts["styled"] == "grid"  # the portal's /app.css applied under its CSP
        description = await run(
            lambda: d.find_element(By.CSS_SELECTOR, "article .alert-description").text
        )
        assert description == "Lock doors\n</p><p>x"
        csp = [e for e in await run(d.get_log, "browser") if "Content Security" in e["message"]]
        assert csp == []  # nothing the page itself loads breaks the policy

        # the link resolves from the page to the stored message (application/cap+xml is
        # a download for a browser, so it is fetched the way the page's origin allows)
        got = await run(
            d.execute_async_script,
            "const done = arguments[0];"
            "fetch(document.querySelector('a.cap-link').href)"
            ".then(async r => done([r.status, r.headers.get('content-type'), await r.text()]));",
        )
        assert got[0] == 200 and got[1].startswith("application/cap+xml")
        assert cap.message_identifier(got[2]) == alert_id and "<language>cy</language>" in got[2]

        cancel = m.AlertCancel(id=next_id(), idem=next_id(), alert_id=alert_id)
        assert isinstance(await dana.request(cancel), m.AlertAccepted)
        await run(d.get, f"{origin}/alerts/{alert_id}")
        await run(wait, d, lambda x: x.find_elements(By.CSS_SELECTOR, ".alert-page"))
        facts = await run(_page_facts, d)
        assert facts["state"] == "cancelled" and facts["stateText"].startswith("Cancelled")
        assert facts["link"] == f"/cap/alerts/{alert_id}.1.xml"  # the Cancel message
        assert facts["headlines"] == [HOSTILE, WELSH] and facts["pwned"] is None

        await run(d.get, f"{origin}/alerts/A-0000000000")
        body = await run(lambda: d.find_element(By.TAG_NAME, "body").text)
        assert body == "no such alert"
    finally:
        if driver is not None:
            await run(driver.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
