"""Driving the citizens' portal in Debian's headless Chromium (Selenium + chromedriver) at a
phone's 360x640, for the browser tests of tests/integration/test_portal_*.py.

Chromium trusts the relay's own certificate by its public key only
(--ignore-certificate-errors-spki-list), not by turning certificate checks off.
Set LOOKOUT_PORTAL_SCREENSHOTS=DIR to keep each screen's screenshot (docs/images/)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    HAVE_SELENIUM = True
except ImportError:  # pragma: no cover - the test extra installs it
    HAVE_SELENIUM = False

#: pytestmark for a browser test module: skipped, saying why, without the browser.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not HAVE_SELENIUM, reason="selenium is not installed (pip install -e '.[test]')"
    ),
    pytest.mark.skipif(
        not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
        reason="Debian's chromium and chromium-driver are not installed (make sysdeps installs them)",
    ),
]


def spki_hash(cert_file: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def chromium(profile: Path, spki: str, downloads: Path | None = None) -> Any:
    """`downloads`: the folder a download (an a[download] click) is saved to, unasked."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={spki}",
        "--lang=en-GB",
        "--accept-lang=en-GB,en",  # a phone in Britain: en-GB dates (else en-US)
    ):
        opts.add_argument(flag)
    opts.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 360, "height": 640, "pixelRatio": 2}}
    )
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    if downloads is not None:
        opts.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
                "download.directory_upgrade": True,
                "safebrowsing.enabled": False,
            },
        )
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def shooter(tmp_path: Path) -> Callable[[Any, str], None]:
    """save_screenshot as portal-NAME.png, in LOOKOUT_PORTAL_SCREENSHOTS or under tmp_path."""
    keep = os.environ.get("LOOKOUT_PORTAL_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)

    def shoot(driver: Any, name: str) -> None:
        path = folder / f"portal-{name}.png"
        assert driver.save_screenshot(str(path)), path
        assert path.stat().st_size > 1000

    return shoot


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    """Selenium blocks: run it off the loop the relay and the officer live on."""
    return await asyncio.to_thread(fn, *args)


def wait(driver: Any, cond: Callable[[Any], Any], timeout: float = 15.0) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(cond)


def text_of(driver: Any, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def visible(driver: Any, css: str) -> bool:
    """Whether the first element `css` matches is shown (False while it is being replaced:
    a list the page re-renders makes the element found a moment ago stale)."""
    found = driver.find_elements(By.CSS_SELECTOR, css)
    try:
        return bool(found) and bool(found[0].is_displayed())
    except StaleElementReferenceException:
        return False


def network_events(driver: Any) -> list[dict[str, Any]]:
    """The DevTools `Network.*` events logged since the last call (reading empties the log)."""
    out = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if str(msg.get("method", "")).startswith("Network."):
            out.append(msg)
    return out


def urls_in(events: list[dict[str, Any]]) -> list[str]:
    """Every URL the page asked for (requests and WebSockets), in order."""
    urls = []
    for msg in events:
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
        elif msg["method"] == "Network.webSocketCreated":
            urls.append(msg["params"]["url"])
    return urls


def requested_urls(driver: Any) -> list[str]:
    return urls_in(network_events(driver))


def portal_origin(r: Any) -> tuple[str, str]:
    """The portal's https:// origin on a running test relay, and its host:port."""
    origin = str(r.relay.url).replace("wss://", "https://")
    return origin, urlsplit(origin).netloc


async def open_browser(r: Any, profile: Path, downloads: Path | None = None) -> Any:
    """Headless Chromium (a new profile) trusting this relay's certificate by its SPKI."""
    return await run(chromium, profile, spki_hash(r.relay.tls_files.server_cert), downloads)


def put_phone_at(
    driver: Any, origin: str, where: tuple[float, float], accuracy: float = 12
) -> None:
    """Let `origin` use geolocation and put the emulated phone at `where` (lat, lon)."""
    driver.execute_cdp_cmd(
        "Browser.grantPermissions", {"origin": origin, "permissions": ["geolocation"]}
    )
    driver.execute_cdp_cmd(
        "Emulation.setGeolocationOverride",
        {"latitude": where[0], "longitude": where[1], "accuracy": accuracy},
    )


def open_and_register(driver: Any, origin: str) -> dict[str, Any]:
    """Open the portal, press Start and wait until it is connected; the device's stored
    credentials (`device_id`, `secret`, ...)."""
    driver.get(origin + "/")
    wait(driver, lambda x: visible(x, "#register"))
    driver.find_element(By.ID, "register").click()
    wait(driver, lambda x: "Connected as" in text_of(x, "#link-state"))
    return dict(json.loads(driver.execute_script("return localStorage['lookout.device']")))


#: a position typed into the report form (the "typed coordinates" fold), as strings
TYPED_WHERE = ("53.76320", "-2.70440")


def noise_jpeg(seed: int, width: int = 1600, height: int = 1150) -> bytes:
    """A real JPEG of noise, so it barely compresses: about 0.92 bytes a pixel at quality 90
    (the default size is about 1.7 MB, four media chunks)."""
    from PIL import Image

    out = io.BytesIO()
    pixels = random.Random(seed).randbytes(width * height * 3)
    Image.frombytes("RGB", (width, height), pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def fill_report(d: Any, text: str, where: tuple[str, str] = TYPED_WHERE) -> None:
    """A vehicle report with typed coordinates (no geolocation needed)."""
    Select(d.find_element(By.ID, "report-category")).select_by_value("vehicle")
    d.find_element(By.ID, "report-text").send_keys(text)
    d.execute_script("document.getElementById('typed').open = true")
    d.find_element(By.ID, "report-lat").send_keys(where[0])
    d.find_element(By.ID, "report-lon").send_keys(where[1])


def attached(d: Any) -> list[str]:
    """The SHA-256 (the browser's WebCrypto) of each file attached to the report form."""
    return [
        li.get_attribute("data-sha") for li in d.find_elements(By.CSS_SELECTOR, "#upload-list li")
    ]
