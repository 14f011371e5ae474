"""Make the citizens' guide's screenshots (docs/images/portal-*.png) from the real portal.

    python docs/make_portal_screenshots.py [--out DIR]

It starts a relay over TLS on loopback with a local SMTP server (so the email sign-up
shows), opens the portal in Debian's headless Chromium at a phone's 360x640, and walks
through docs/guide-citizen.md as a resident in Preston would, while a control-room officer
answers from a real RelayClient: a report with a photo, the pin map (over a small
made-up street tile pack), the report's status, a conversation, an alert arriving, the
email sign-up and its confirmation page, and what the relay holds about the device. The browser tests take their
own screenshots too, but with hostile text in them (what they prove renders literally);
the guide shows what a resident would really see. Needs `make sysdeps` (chromium,
chromium-driver) and the test extra (selenium, aiosmtpd).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OUT = Path(__file__).resolve().parent / "images"
#: a screenshot bigger than this is stored with a 256-colour palette (UI: no visible loss)
MAX_BYTES = 250_000
#: the resident's phone: Church Street, Preston
WHERE = (53.75915, -2.69610)
REPORT = (
    "A man is trying car door handles along Church Street, by the bus station. "
    "Grey hoodie, black rucksack, on foot."
)
OFFICER_SAYS = "Thank you. Is he still there? Which way did he go?"
REPLY = "He walked off towards Fishergate a minute ago."


def _save(png: bytes, out: Path, name: str) -> None:
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    if buf.tell() > MAX_BYTES:
        buf = io.BytesIO()
        im.quantize(256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
    (out / f"portal-{name}.png").write_bytes(buf.getvalue())
    print(f"wrote portal-{name}.png ({buf.tell() // 1024} KiB)", flush=True)


def _photo(path: Path) -> Path:
    """A street photo like a resident's (the demo's generator), as a JPEG."""
    from demo.evidence_photos import plate, street_photo

    rng = random.Random(7)
    street_photo(rng, plate(rng), night=False, broken=False).save(path, "JPEG", quality=88)
    return path


async def journey(out: Path, work: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from backend_client import messages as m
    from tests.conftest import start_relay
    from tests.integration.test_email_alerts import mail_config
    from tests.support.flows import alert_info, officer, square
    from tests.support.peer import next_id
    from tests.support.portal_browser import (
        open_browser,
        portal_origin,
        put_phone_at,
        run,
        text_of,
        visible,
        wait,
    )
    from tests.support.smtp import Inbox, start_smtp
    from tests.support.tilepacks import street_pack

    inbox = Inbox()
    smtp, ca = start_smtp(work / "smtp", inbox)
    pack, _tiles = street_pack(
        work / "streets.mbtiles",
        WHERE,
        16,
        4,
        name="example streets",
        attribution="Example base map (made-up streets)",
    )
    r = await start_relay(work / "relay", portal_tiles=pack, **mail_config(smtp.port, ca))
    d: Any = None
    try:
        origin, _host = portal_origin(r)
        off = await officer(r)
        d = await open_browser(r, work / "profile")

        def shot(name: str) -> Callable[[], None]:
            return lambda: _save(d.get_screenshot_as_png(), out, name)

        def click(css: str) -> None:
            d.find_element(By.CSS_SELECTOR, css).click()

        def scroll(element_id: str, top: bool = True) -> None:
            d.execute_script(
                f"document.getElementById('{element_id}').scrollIntoView({str(top).lower()})"
            )

        # -- 1. start
        await run(put_phone_at, d, origin, WHERE)
        await run(d.get, origin + "/")
        await run(wait, d, lambda x: visible(x, "#register"))
        await run(shot("welcome"))
        await run(click, "#register")
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))

        # -- 2. a report, with a photo and the phone's position
        await run(
            lambda: Select(d.find_element(By.ID, "report-category")).select_by_value("vehicle")
        )
        await run(lambda: d.find_element(By.ID, "report-text").send_keys(REPORT))
        photo = _photo(work / "church-street.jpg")
        await run(lambda: d.find_element(By.ID, "upload-gallery").send_keys(str(photo)))
        await run(wait, d, lambda x: x.find_elements(By.CSS_SELECTOR, "#upload-list li"))
        await run(click, "#use-location")
        await run(wait, d, lambda x: x.find_element(By.ID, "report-lat").get_attribute("value"))
        await run(scroll, "upload-list", False)
        await run(shot("upload"))
        await run(
            d.execute_script,
            "document.getElementById('use-location').closest('fieldset').scrollIntoView()",
        )
        await run(shot("report-where"))
        # the other way to give the place: a pin on a small map (Cancel keeps "Where I am")
        await run(click, "#pick-on-map")
        await run(wait, d, lambda x: visible(x, "dialog.pin-dialog .pin-marker"))
        await run(
            wait,
            d,
            lambda x: x.execute_script(  # loaded, and faded in
                "const t = [...document.querySelectorAll('.leaflet-tile-loaded')];"
                "return t.length > 0 && t.every(e => getComputedStyle(e).opacity === '1')"
            ),
        )
        await run(shot("pin"))
        await run(click, "dialog.pin-dialog .pin-cancel")
        await run(wait, d, lambda x: not x.find_elements(By.CSS_SELECTOR, "dialog.pin-dialog"))
        await run(click, "#report-send")
        await run(wait, d, lambda x: "Reference" in text_of(x, "#report-msg"))
        created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated), timeout=15)
        assert isinstance(created, m.ReportCreated)
        rid = created.report.report_id
        await off.wait_for(
            lambda e: isinstance(e, m.ReportUpdated) and all(x.stored for x in e.report.media),
            timeout=30,
        )

        # -- 3. the officer takes it on; the resident sees where it stands
        for msg in (
            m.ReportClaim(id=next_id(), idem=next_id(), report_id=rid),
            m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=rid, status="in_progress"),
        ):
            assert isinstance(await off.request(msg), m.Ack)
        inc = await off.request(
            m.IncidentCreate(id=next_id(), idem=next_id(), title="Vehicle crime, Church Street")
        )
        assert isinstance(inc, m.IncidentCreated)
        await off.request(
            m.ReportLink(id=next_id(), idem=next_id(), report_id=rid, incident_ref=inc.incident_ref)
        )
        await off.request(
            m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=rid, text=OFFICER_SAYS)
        )
        await run(click, '[data-screen="mine"]')
        item = f'#mine-list li[data-report="{rid}"]'
        await run(wait, d, lambda x: "Being dealt with" in text_of(x, "#mine-list"))
        await run(wait, d, lambda x: visible(x, item + " .chat-badge"))
        await run(d.execute_script, "window.scrollTo(0, 0)")
        await run(shot("mine"))

        # -- chat: the officer's question, the resident's answer, read by the officer
        await run(click, item + " .chat-open")
        await run(wait, d, lambda x: visible(x, "#screen-chat .bubble-officer"))
        await run(lambda: d.find_element(By.ID, "chat-text").send_keys(REPLY + "\n"))
        posted = await off.wait_for(
            lambda e: isinstance(e, m.ChatPosted) and e.message.sender == "citizen", timeout=15
        )
        assert isinstance(posted, m.ChatPosted)
        await off.request(m.OfficerChatRead(id=next_id(), message_ids=[posted.message.message_id]))
        me = f'#chat-log .bubble-me[data-message="{posted.message.message_id}"]'
        await run(wait, d, lambda x: visible(x, me + " .mark-read"))
        await run(scroll, "chat-h")
        await run(shot("chat"))

        # -- alerts: ask for vehicle crime alerts, share location, an alert arrives
        await run(click, '[data-screen="alerts"]')
        await run(click, 'input[value="vehicle"]')
        await run(click, "#alerts-form button[type=submit]")
        await run(wait, d, lambda x: "Saved" in text_of(x, "#alerts-msg"))
        await run(click, "#share-toggle")
        await run(wait, d, lambda x: "Sharing" in text_of(x, "#share-state"))
        sent = await off.request(
            m.AlertSend(
                id=next_id(),
                idem=next_id(),
                info=alert_info(
                    area=square(0.006, WHERE),
                    categories=["vehicle"],
                    area_desc="Church Street and Fishergate, Preston city centre",
                    headline="Car break-ins around Church Street this evening",
                    description=(
                        "Several cars have been tried or broken into between the bus station "
                        "and Fishergate since 6 pm."
                    ),
                    instruction=(
                        "Lock your car and leave nothing on show. If you see someone trying "
                        "door handles, report it here or call 101."
                    ),
                    contact="Preston city centre neighbourhood team, 101",
                    incident_ref=inc.incident_ref,
                    expires_at=time.time() + 4 * 3600,
                ),
            )
        )
        assert isinstance(sent, m.AlertAccepted), sent
        await run(wait, d, lambda x: visible(x, "#alert-banner"))
        await run(d.execute_script, "window.scrollTo(0, 0)")
        await run(shot("alerts"))

        # -- email alerts (the banner hidden, as a resident who has read it would), and the
        # page the confirmation link opens
        await run(click, "#alert-banner .alert-actions button:last-child")
        await run(wait, d, lambda x: not visible(x, "#alert-banner"))
        await run(lambda: d.find_element(By.ID, "email-address").send_keys("j.patel@example.org"))
        await run(click, "#email-use-location")
        await run(wait, d, lambda x: x.find_element(By.ID, "email-lat").get_attribute("value"))
        await run(lambda: Select(d.find_element(By.ID, "email-radius")).select_by_value("1000"))
        await run(click, '#email-choices input[value="burglary"]')
        await run(click, '#email-choices input[value="vehicle"]')
        await run(scroll, "email-h")
        await run(shot("email"))
        await run(click, "#email-send")
        await run(wait, d, lambda x: "Check your inbox" in text_of(x, "#email-msg"))
        deadline = time.monotonic() + 30
        while not inbox.to("j.patel@example.org"):
            if time.monotonic() > deadline:
                raise TimeoutError("no confirmation email arrived")
            await asyncio.sleep(0.1)
        body = inbox.to("j.patel@example.org")[0].get_body(("plain",))
        assert body is not None
        link = re.search(r"https://\S+(/email/confirm\?token=\S+)", body.get_content())
        assert link is not None
        await run(d.get, origin + link.group(1))
        await run(wait, d, lambda x: text_of(x, "#emaillink-go") == "Confirm")
        await run(shot("email-confirm"))

        # -- your data: what the control room holds about this device
        await run(d.get, origin + "/")
        await run(wait, d, lambda x: "Connected as" in text_of(x, "#link-state"))
        await run(click, '[data-screen="device"]')
        await run(wait, d, lambda x: "Reports" in text_of(x, "#privacy-summary"))
        await run(scroll, "privacy-now-h")
        await run(shot("privacy"))
    finally:
        if d is not None:
            await run(d.quit)
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help="where the PNGs go (docs/images)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lookout-portal-shots-") as work:
        asyncio.run(journey(args.out, Path(work)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
