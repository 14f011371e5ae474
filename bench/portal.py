"""Benchmark the citizens' portal (issue 11): its first load and a report with a 2 MB photo
in Debian's headless Chromium, and its email alerts.

    python bench/portal.py                       # both parts, one JSON object
    python bench/portal.py --only browser        # or --only email

The browser part: a relay over TLS on loopback, Chromium (Selenium + chromedriver, a new
profile, a phone's 360x640, trusting the relay's certificate by its key: the helpers of
tests/support/portal_browser.py) and an officer's `RelayClient` logged in with password and
TOTP. `first_load_bytes` sums the uncompressed body of every response of the page's first
load (DevTools `Network.dataReceived`, to the welcome screen shown and every request
finished; target <= 300 KB); `first_load_wire_bytes` is what came over the socket
(`Network.loadingFinished`, headers included). `hosts` lists every host:port the page asked
anything of during the whole run (first load and every report, WebSockets and the photo
previews' blob: URLs included): it must be the relay's alone. `report_s` is from pressing
Send on a report with a ~2 MB photo already attached (hashed by WebCrypto when attached)
to the officer's `RelayClient` holding the report with its photo stored (the relay has
verified and stored every byte: `report.updated` with the file `stored`), the median of
`--runs` runs (`report_runs_s`), each on a reloaded page of the same registered device.

The email part: 10,000 confirmed subscribers inside one alert's area, the alert sent by an
officer over the wire, every email handed to a local SMTP server (aiosmtpd in its own
process, STARTTLS and AUTH as a real one) by the relay's sender. Target: >= 200 emails/s,
each subscriber once. `emails_per_s` counts from the officer's `alert.send` to the
server's acceptance of the last email (the relay's transaction, queueing, leases, message
building, SMTP and the marks), `unique_recipients` and `duplicates` are the server's own
count by Message-ID and recipient; `meets_target` is this part's. Subscribers are inserted
directly in the relay's database (sealed as sign-up seals them, confirmed), since the
sign-up path is not what is measured.

Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import re
import ssl
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import BENCH_LIMITS, HARD_DEADLINE_S, PRESTON, make_log

from backend_client import codec
from backend_client import messages as m
from tests.support import portal_browser as pb

log = make_log("portal")
OFFICER, PASSWORD = "bench", "vivid lantern harbour 7"
SMTP_USER, SMTP_PASSWORD = "lookout", "bench-pass"
TARGET_EMAILS_PER_S = 200.0
TARGET_FIRST_LOAD_BYTES = 300 * 1000
PHOTO_BYTES = 2_000_000  # "a 2 MB photo": at least this many bytes
_MSGID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


# ====================================================================== the SMTP server


def smtp_main(conn: Connection, tls_dir: str) -> None:
    """aiosmtpd in this process (its own GIL): STARTTLS required, AUTH required; counts
    what DATA accepted, by Message-ID and recipient; answers "count" on the pipe."""
    import socket
    import threading

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from relay import tls

    files = tls.ensure_certificates(Path(tls_dir), ("127.0.0.1", "localhost"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.server_cert, files.server_key)
    lock = threading.Lock()
    accepted = [0]
    ids: set[bytes] = set()
    rcpts: set[str] = set()
    last = [0.0]

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            found = _MSGID.search(envelope.content)
            with lock:
                accepted[0] += 1
                ids.add(found.group(1) if found else b"")
                rcpts.update(envelope.rcpt_tos)
                last[0] = time.time()
            return "250 OK queued"

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        return AuthResult(success=ok)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        authenticator=auth,
        auth_required=True,
    )
    controller.start()
    conn.send((port, str(files.ca_cert)))
    while True:
        what = conn.recv()
        if what == "stop":
            break
        with lock:
            conn.send((accepted[0], len(ids), len(rcpts), last[0]))
    controller.stop()


# ====================================================================== the relay side


def subscribers(n: int, seed: int) -> list[tuple[str, float, float]]:
    """n addresses at places within ~1 km of Preston centre (all inside the alert)."""
    rnd = random.Random(seed)
    return [
        (
            f"resident{i}@bench.example.org",
            PRESTON[0] + rnd.uniform(-0.008, 0.008),
            PRESTON[1] + rnd.uniform(-0.012, 0.012),
        )
        for i in range(n)
    ]


def insert_confirmed(relay: Any, people: list[tuple[str, float, float]]) -> None:
    """Confirmed subscriptions sealed exactly as relay/mail/store.subscribe seals them."""
    from relay.db import models as db
    from relay.mail import keys as k
    from relay.mail.signup import check_signup

    mk = relay.mail.keys
    now = time.time()
    with relay.db.sessions() as s:
        for address, lat, lon in people:
            sign = check_signup(address, lat, lon, 500.0, ["burglary"])
            lookup = mk.lookup_hash(sign.normalised)
            salt = k.new_salt()
            s.add(
                db.EmailSubscription(
                    state="confirmed",
                    address_hmac=lookup,
                    address_sealed=mk.seal(sign.address, lookup),
                    lat=sign.lat,
                    lon=sign.lon,
                    radius_m=sign.radius_m,
                    category_mask=sign.mask,
                    unsub_salt=salt,
                    unsub_hash=k.token_hash(mk.unsubscribe_token(salt)),
                    created_at=now,
                    confirmed_at=now,
                )
            )
        s.commit()


async def officer_request(ws: ClientConnection, msg: Any, timeout: float = 60.0) -> m.Msg:
    await ws.send(codec.encode_text(msg))
    async with asyncio.timeout(timeout):
        while True:
            reply = codec.officer_outbound.decode(await ws.recv())
            if getattr(reply, "re", None) == msg.id:
                return reply


async def email_part(args: argparse.Namespace) -> dict[str, Any]:
    from relay import accounts, admin, tls
    from relay.config import RelayConfig
    from relay.server import Relay

    tmp = tempfile.TemporaryDirectory(prefix="lookout-portal-")
    here = Path(tmp.name)
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(
        target=smtp_main, args=(child, str(here / "smtp")), daemon=True
    )
    proc.start()
    port, ca = parent.recv()
    log(f"SMTP server (pid {proc.pid}) on 127.0.0.1:{port}")
    data_dir = here / "relay"
    engine = admin.open_engine(data_dir)
    totp_secret = admin.add_officer(engine, OFFICER, "dispatcher", PASSWORD).totp_secret
    engine.dispose()
    relay = Relay(
        RelayConfig(
            data_dir=data_dir,
            port=0,
            approval_threshold=10**9,
            cap_sender="lookout@bench.lookout.example",
            smtp_url=f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}",
            smtp_ca=Path(ca),
            mail_from="alerts@bench.example.org",
            public_url="https://lookout.bench.example.org",
            smtp_connections=args.connections,
            **BENCH_LIMITS,
        )
    )
    await relay.start()
    try:
        people = subscribers(args.subscribers, args.seed)
        t0 = time.perf_counter()
        await asyncio.to_thread(insert_confirmed, relay, people)
        log(f"{len(people)} confirmed subscribers in {time.perf_counter() - t0:.1f} s")
        assert relay.ca_path is not None
        ctx = tls.client_ssl_context(relay.ca_path)
        ws = await connect(
            f"{relay.url}/v1/officer", ssl=ctx, compression=None, max_size=2**22, open_timeout=30
        )
        ok = await officer_request(
            ws,
            m.Login(
                id="o1", username=OFFICER, password=PASSWORD, totp=accounts.totp_now(totp_secret)
            ),
        )
        if not isinstance(ok, m.AuthOk):
            raise RuntimeError(f"officer login failed: {ok}")
        d = 0.02
        lat, lon = PRESTON
        area = m.Polygon(
            coordinates=[
                (lon - d, lat - d),
                (lon + d, lat - d),
                (lon + d, lat + d),
                (lon - d, lat + d),
            ]
        )
        info = m.AlertInfo(
            categories=["burglary"],
            area=area,
            area_desc="Preston centre",
            headline="Burglaries tonight",
            description="Several houses on the estate were broken into.",
            instruction="Lock doors and windows; report anything suspicious.",
            contact="Call 101",
            incident_ref="LC-2027-0042",
            expires_at=time.time() + 3600,
        )
        t_send = time.time()
        accepted = await officer_request(ws, m.AlertSend(id="o2", idem="bench-email", info=info))
        t_accepted = time.time()
        if not isinstance(accepted, m.AlertAccepted):
            raise RuntimeError(f"alert.send refused: {accepted}")
        n = len(people)
        deadline = time.monotonic() + args.timeout
        got = (0, 0, 0, 0.0)
        while time.monotonic() < deadline:
            parent.send("count")
            got = parent.recv()
            if got[0] >= n:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # anything sent twice would arrive now
        parent.send("count")
        got = parent.recv()
        total, unique_ids, unique_rcpts, last_at = got
        await ws.close()
    finally:
        await relay.stop()
        parent.send("stop")
        proc.join(10)
        tmp.cleanup()
    elapsed = max(1e-9, last_at - t_send)
    rate = unique_ids / elapsed if total else 0.0
    return {
        "subscribers": n,
        "smtp_connections": args.connections,
        "emails_accepted": total,
        "unique_message_ids": unique_ids,
        "unique_recipients": unique_rcpts,
        "duplicates": total - unique_ids,
        "each_once": total == n == unique_ids == unique_rcpts,
        "alert_send_ms": round((t_accepted - t_send) * 1000, 1),
        "seconds_to_last_email": round(elapsed, 2),
        "emails_per_s": round(rate, 1),
        "target_emails_per_s": TARGET_EMAILS_PER_S,
        "meets_target": rate >= TARGET_EMAILS_PER_S and total == n == unique_ids,
    }


# ====================================================================== the browser side


def browsers_own(events: list[dict[str, Any]]) -> set[str]:
    """Request ids of Chromium's own pages (its new-tab page, still loading as the browser
    starts: chrome:// documents), which no portal page can ask for."""
    return {
        e["params"]["requestId"]
        for e in events
        if e["method"] == "Network.requestWillBeSent"
        and (
            e["params"].get("documentURL", "").startswith("chrome://")
            or e["params"]["request"]["url"].startswith("chrome://")
        )
    }


def without(events: list[dict[str, Any]], ids: set[str]) -> list[dict[str, Any]]:
    return [e for e in events if e["params"].get("requestId") not in ids]


def first_load(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Bytes of every response in a DevTools Network log: decoded bodies and wire bytes."""
    body: dict[str, int] = {}
    wire: dict[str, int] = {}
    kinds: dict[str, str] = {}
    for msg in events:
        params, method = msg["params"], msg["method"]
        rid = params.get("requestId", "")
        if method == "Network.dataReceived":
            body[rid] = body.get(rid, 0) + int(params["dataLength"])
        elif method == "Network.loadingFinished":
            wire[rid] = int(params["encodedDataLength"])
        elif method == "Network.responseReceived":
            kinds[rid] = str(params.get("type", "Other"))
    by_type: dict[str, int] = {}
    for rid, n in body.items():
        by_type[kinds.get(rid, "Other")] = by_type.get(kinds.get(rid, "Other"), 0) + n
    return {
        "first_load_bytes": sum(body.values()),
        "first_load_wire_bytes": sum(wire.values()),
        "first_load_responses": len(kinds),
        "first_load_bytes_by_type": dict(sorted(by_type.items())),
    }


def settled(events: list[dict[str, Any]]) -> bool:
    """Every request asked for has finished (or failed)."""
    asked = {
        e["params"]["requestId"]
        for e in events
        if e["method"] == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith("data:")
    }
    done = {
        e["params"]["requestId"]
        for e in events
        if e["method"] in ("Network.loadingFinished", "Network.loadingFailed")
    }
    return bool(asked) and asked <= done


def hosts_of(urls: list[str]) -> list[str]:
    """host:port of each URL (a blob: URL's is its creator's; data: URLs have none)."""
    out = set()
    for u in urls:
        if u.startswith("data:"):
            continue
        out.add(urlsplit(u.removeprefix("blob:")).netloc)
    return sorted(out)


def bench_photo(seed: int) -> bytes:
    """A noise JPEG of at least PHOTO_BYTES (1,700 x 1,300 pixels is about 2.0 MB)."""
    width = 1700
    while True:
        data = pb.noise_jpeg(seed, width, 1300)
        if len(data) >= PHOTO_BYTES:
            return data
        width += 50


async def browser_part(args: argparse.Namespace) -> dict[str, Any]:
    from backend_client.client import ClientConfig, Credentials, RelayClient
    from backend_client.outbox import Outbox
    from relay import accounts, admin
    from relay.config import RelayConfig
    from relay.server import Relay

    if not pb.HAVE_SELENIUM:
        raise SystemExit("the browser part needs selenium (pip install -e '.[test]')")
    from selenium.webdriver.common.by import By

    tmp = tempfile.TemporaryDirectory(prefix="lookout-portal-browser-")
    here = Path(tmp.name)
    engine = admin.open_engine(here / "relay")
    secret = admin.add_officer(engine, OFFICER, "dispatcher", PASSWORD).totp_secret
    engine.dispose()
    relay = Relay(
        RelayConfig(
            data_dir=here / "relay",
            port=0,
            cap_sender="lookout@bench.lookout.example",
            **BENCH_LIMITS,
        )
    )
    await relay.start()
    assert relay.ca_path is not None and relay.tls_files is not None
    client = RelayClient(
        ClientConfig(url=relay.url, ca_file=relay.ca_path),
        Credentials(OFFICER, PASSWORD, lambda: accounts.totp_now(secret)),
        Outbox(here / "outbox.sqlite"),
    )
    events = client.subscribe_queue()
    await client.start()
    await client.wait_live(30)
    origin = relay.url.replace("wss://", "https://")
    host = urlsplit(origin).netloc
    spki = pb.spki_hash(relay.tls_files.server_cert)
    driver = await pb.run(pb.chromium, here / "profile", spki)
    d = driver
    seen: list[dict[str, Any]] = []
    try:
        # -- the first load, on a new profile (the log so far is Chromium's new-tab page)
        await pb.run(d.get, "about:blank")
        ignored = browsers_own(await pb.run(pb.network_events, d))
        await pb.run(d.get, origin + "/")

        def loaded(x: Any) -> bool:
            seen.extend(pb.network_events(x))
            ready = x.execute_script("return document.readyState") == "complete"
            return (
                ready and pb.visible(x, "#register") and settled(without(seen, browsers_own(seen)))
            )

        await pb.run(pb.wait, d, loaded, 30.0)
        ignored |= browsers_own(seen)
        load = first_load(without(seen, ignored))
        log(f"first load: {load['first_load_bytes']} bytes in {load['first_load_responses']}")
        await pb.run(lambda: d.find_element(By.ID, "register").click())
        await pb.run(pb.wait, d, lambda x: "Connected as" in pb.text_of(x, "#link-state"))

        samples: list[float] = []
        photo_bytes = 0
        for i in range(args.runs):
            data = await asyncio.to_thread(bench_photo, args.seed + i)
            photo_bytes = len(data)
            path = here / f"photo-{i}.jpg"
            path.write_bytes(data)
            text = f"Bench report {i}: someone trying car doors; photo attached."
            await pb.run(d.get, origin + "/")
            await pb.run(pb.wait, d, lambda x: "Connected as" in pb.text_of(x, "#link-state"))
            await pb.run(lambda f=str(path): d.find_element(By.ID, "upload-gallery").send_keys(f))
            await pb.run(pb.wait, d, lambda x: pb.attached(x) != [], 30.0)
            await pb.run(pb.fill_report, d, text)

            def press_send() -> float:
                t = time.perf_counter()
                d.find_element(By.ID, "report-send").click()
                return t

            pressed = asyncio.create_task(pb.run(press_send))
            report_id = None
            async with asyncio.timeout(60):
                while True:
                    e = await events.get()
                    if isinstance(e, m.ReportCreated) and e.report.text == text:
                        report_id = e.report.report_id
                    if (
                        isinstance(e, m.ReportUpdated | m.ReportCreated)
                        and e.report.report_id == report_id
                        and e.report.media
                        and all(x.stored for x in e.report.media)
                    ):
                        done = time.perf_counter()
                        break
            samples.append(done - await pressed)
            await pb.run(pb.wait, d, lambda x: "were sent" in pb.text_of(x, "#upload-state"))
            log(f"report {i + 1}/{args.runs}: {samples[-1]:.3f} s")
            seen.extend(await pb.run(pb.network_events, d))
        ignored |= browsers_own(seen)
        hosts = hosts_of(pb.urls_in(without(seen, ignored)))
    finally:
        await pb.run(driver.quit)
        await client.stop()
        await relay.stop()
        tmp.cleanup()
    return {
        **load,
        "target_first_load_bytes": TARGET_FIRST_LOAD_BYTES,
        "first_load_meets_target": load["first_load_bytes"] <= TARGET_FIRST_LOAD_BYTES,
        "hosts": hosts,
        "hosts_count": len(hosts),
        "only_relay_host": hosts == [host],
        "browser_own_requests_ignored": len(ignored),
        "photo_bytes": photo_bytes,
        "report_s": round(statistics.median(samples), 3),
        "report_runs_s": [round(x, 3) for x in samples],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("email", "browser"), help="run one part (default: both)")
    p.add_argument("--subscribers", type=int, default=10_000)
    p.add_argument("--connections", type=int, default=4, help="smtp_connections (default 4)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--timeout", type=float, default=HARD_DEADLINE_S - 60)
    p.add_argument("--runs", type=int, default=5, help="browser reports timed (default 5)")
    args = p.parse_args()
    result: dict[str, Any] = {"bench": "portal"}
    if args.only in (None, "browser"):
        result |= asyncio.run(browser_part(args))
    if args.only in (None, "email"):
        result |= asyncio.run(email_part(args))
    result["cpus"] = os.cpu_count()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
