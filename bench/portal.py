"""Benchmark the portal's email alerts: 10,000 confirmed subscribers inside one alert's
area, the alert sent by an officer over the wire, every email handed to a local SMTP
server (aiosmtpd in its own process, STARTTLS and AUTH as a real one) by the relay's
sender. Issue 11's target: >= 200 emails/s, each subscriber once.

    python bench/portal.py --subscribers 10000

`emails_per_s` counts from the officer's `alert.send` to the server's acceptance of the
last email (the relay's transaction, queueing, leases, message building, SMTP and the
marks), `unique_recipients` and `duplicates` are the server's own count by Message-ID
and recipient. Subscribers are inserted directly in the relay's database (sealed as
sign-up seals them, confirmed), since the sign-up path is not what is measured.
The portal's first-load bytes and the browser report time (issue 11's other figures)
are not measured here yet. The last line printed is one JSON object.
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
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import BENCH_LIMITS, HARD_DEADLINE_S, PRESTON, make_log

from backend_client import codec
from backend_client import messages as m

log = make_log("portal")
OFFICER, PASSWORD = "bench", "vivid lantern harbour 7"
SMTP_USER, SMTP_PASSWORD = "lookout", "bench-pass"
TARGET_EMAILS_PER_S = 200.0
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
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
        "bench": "portal",
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
        "cpus": os.cpu_count(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=10_000)
    p.add_argument("--connections", type=int, default=4, help="smtp_connections (default 4)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--timeout", type=float, default=HARD_DEADLINE_S - 60)
    args = p.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
