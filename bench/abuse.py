"""Benchmark abuse: an honest phone's report latency alone and during each flood.

    python bench/abuse.py                          # the target run (about 3 minutes)
    python bench/abuse.py --seconds 3 --rounds 1   # quick check

A relay runs in this process (temporary data dir, its own TLS CA, loopback only) with the
default limits of relay/config.py, except nothing: loopback is not exempt, so every flood
meets the limits an internet address would. The honest phone is `--phones` registered
devices taking turns (by default enough that none meets its own reports-per-hour limit
over the whole run, 37 for the defaults), on their own connections in this process, from
127.0.0.2 and up (12 devices an address, under the registrations-per-address limit),
submitting one report at a time at `--rate` reports/s; its latency runs from just before
the frame is sent to `report.accepted`. (Linux: every 127/8 address is loopback.)

A round is a baseline phase and then one phase per flood, each `--seconds` long; the run
repeats `--rounds` rounds (3), because a phase holds only `seconds * rate` honest samples
(80 for 10 s at 8/s), so its p99 is close to its slowest report and one stall of the
(shared, 2-core) machine decides it. Each flood runs in a child process for the phase,
from a fresh address (127.0.<10+round>.<1..3>), so every round repeats the same attack on
a relay that has not met that address yet, and no flood inherits another's penalty:

- `reports`: one device submits as fast as its socket allows (16 in flight); a connection
  the relay closes for ignoring `rate_limited` is opened again at once, retried on every
  refusal, and re-authenticated.
- `connections`: one address opens sockets as fast as they are refused (20 at a time) and
  holds every one it gets, never authenticating.
- `logins`: 16 sockets send `auth.login` with a wrong password for a real officer, one
  outstanding each; a socket the relay closes is opened again at once, as in `reports`.
  `accepted_per_s` counts the attempts that got a password check (`refused`); the rest
  were answered `rate_limited` before any hashing.

`ratio_p99` per flood = the median over rounds of (that round's flood p99 / that round's
baseline p99), target <= 2; `ratios_by_round` lists them and `pooled_ratio_p99` compares
all rounds' samples at once. `accepted_per_s` is what the flood got through (reports
stored, sockets upgraded, logins answered), beside the configured limit;
`reconnects_refused` and `reset` count connections the relay refused (at accept, before
TLS, or with a 429). Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing as mp
import os
import ssl
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import HARD_DEADLINE_S, PRESTON, citizen_request, make_log, pct, raise_nofile

from backend_client import CITIZEN_PATH, OFFICER_PATH, codec
from backend_client import messages as m

log = make_log("abuse")
OFFICER = "bench"
PASSWORD = "vivid lantern harbour 7"
LOGIN_SOCKETS = 16
_ids = itertools.count(1)


def _rid() -> str:
    return f"b{next(_ids)}"


#: what a connection the relay refuses raises: reset at accept (an OSError, an SSL EOF),
#: a 429 at the upgrade, a handshake that times out
REFUSED = (OSError, InvalidHandshake, TimeoutError)


async def _open(url: str, ctx: ssl.SSLContext, source: str) -> ClientConnection:
    return await connect(
        url,
        ssl=ctx,
        compression=None,
        max_size=2**20,
        open_timeout=30,
        local_addr=(source, 0),
    )


async def _reopen(
    url: str, ctx: ssl.SSLContext, source: str, deadline: float, counts: dict[str, int]
) -> ClientConnection | None:
    """Connect again at once, and again on every refusal, until the deadline (None)."""
    while time.monotonic() < deadline:
        try:
            return await _open(url, ctx, source)
        except REFUSED:
            counts["reconnects_refused"] += 1
    return None


async def _register(
    url: str, ctx: ssl.SSLContext, source: str
) -> tuple[ClientConnection, m.DeviceRegistered]:
    ws = await _open(url, ctx, source)
    reg = await citizen_request(ws, m.DeviceRegister(id=_rid(), platform="bench"))
    if not isinstance(reg, m.DeviceRegistered):
        raise RuntimeError(f"register refused: {reg}")
    return ws, reg


def _report(ref: str) -> m.ReportSubmit:
    return m.ReportSubmit(
        id=_rid(),
        client_ref=ref,
        category="burglary",
        text="Two men trying car door handles on Fishergate.",
        lat=PRESTON[0],
        lon=PRESTON[1],
    )


# ====================================================================== flood processes


def flood_main(
    conn: Connection, kind: str, base: str, ca: str, seconds: float, source: str
) -> None:
    raise_nofile()
    try:
        flood = _flood(conn, kind, base, ca, seconds, source)
        out = asyncio.run(asyncio.wait_for(flood, seconds + 120))
        conn.send(("done", out))
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send(("error", repr(exc)))


async def _flood(
    conn: Connection, kind: str, base: str, ca: str, seconds: float, source: str
) -> dict[str, Any]:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    flood = {"reports": _report_flood, "connections": _connection_flood, "logins": _login_flood}
    return await flood[kind](conn, base, ctx, seconds, source)


async def _report_flood(
    conn: Connection, base: str, ctx: ssl.SSLContext, seconds: float, source: str
) -> dict[str, Any]:
    url = base + CITIZEN_PATH
    ws, reg = await _register(url, ctx, source)
    conn.send(("ready",))
    counts = {
        "sent": 0,
        "accepted": 0,
        "rate_limited": 0,
        "closed_by_relay": 0,
        "reconnects_refused": 0,
    }
    refs = itertools.count()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        window = asyncio.Semaphore(16)

        async def receive(sock: ClientConnection, window: asyncio.Semaphore = window) -> None:
            while True:
                reply = codec.citizen_outbound.decode(await sock.recv())
                if isinstance(reply, m.ReportAccepted):
                    counts["accepted"] += 1
                elif isinstance(reply, m.Error) and reply.code == "rate_limited":
                    counts["rate_limited"] += 1
                window.release()

        rx = asyncio.create_task(receive(ws))
        try:
            while time.monotonic() < deadline and not rx.done():
                try:  # a socket the relay closed answers nothing more: look again
                    await asyncio.wait_for(window.acquire(), 0.5)
                except TimeoutError:
                    continue
                await ws.send(codec.encode_text(_report(f"flood-{next(refs)}")))
                counts["sent"] += 1
        except ConnectionClosed:
            pass
        rx.cancel()
        with contextlib.suppress(BaseException):
            await rx
        if time.monotonic() < deadline:  # closed for flooding: come back as the same device
            counts["closed_by_relay"] += 1
            again = await _reopen(url, ctx, source, deadline, counts)
            if again is None:
                break
            ws = again
            auth = m.DeviceAuth(id=_rid(), device_id=reg.device_id, secret=reg.secret)
            with contextlib.suppress(ConnectionClosed):
                await citizen_request(ws, auth)
    await ws.close()
    return counts


async def _connection_flood(
    conn: Connection, base: str, ctx: ssl.SSLContext, seconds: float, source: str
) -> dict[str, Any]:
    url = base + CITIZEN_PATH
    conn.send(("ready",))
    counts = {"attempts": 0, "accepted": 0, "refused_429": 0, "reset": 0, "failed": 0}
    held: list[ClientConnection] = []
    deadline = time.monotonic() + seconds

    async def one() -> None:
        counts["attempts"] += 1
        try:
            held.append(
                await connect(
                    url, ssl=ctx, compression=None, open_timeout=10, local_addr=(source, 0)
                )
            )
            counts["accepted"] += 1
        except InvalidStatus as exc:
            key = "refused_429" if exc.response.status_code == 429 else "failed"
            counts[key] += 1
        except OSError:  # reset at accept, before TLS
            counts["reset"] += 1
        except Exception:
            counts["failed"] += 1

    while time.monotonic() < deadline:  # as fast as refusals come back, all the phase long
        await asyncio.gather(*(one() for _ in range(20)))
    counts["closed_by_relay"] = sum(1 for ws in held if ws.close_code is not None)
    await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
    return counts


async def _login_flood(
    conn: Connection, base: str, ctx: ssl.SSLContext, seconds: float, source: str
) -> dict[str, Any]:
    url = base + OFFICER_PATH
    sockets = [await _open(url, ctx, source) for _ in range(LOGIN_SOCKETS)]
    conn.send(("ready",))
    counts = {
        "attempts": 0,
        "refused": 0,
        "rate_limited": 0,
        "closed_by_relay": 0,
        "reconnects_refused": 0,
    }
    deadline = time.monotonic() + seconds

    async def guess(ws: ClientConnection | None) -> None:
        while ws is not None and time.monotonic() < deadline:
            rid = _rid()
            login = m.Login(id=rid, username=OFFICER, password="wrong guess", totp="000000")
            try:
                await ws.send(codec.encode_text(login))
                counts["attempts"] += 1
                while True:
                    reply = codec.officer_outbound.decode(await ws.recv())
                    if getattr(reply, "re", None) == rid:
                        break
            except ConnectionClosed:  # closed for guessing while locked out: come back
                counts["closed_by_relay"] += 1
                ws = await _reopen(url, ctx, source, deadline, counts)
                continue
            code = getattr(reply, "code", "")
            counts["rate_limited" if code == "rate_limited" else "refused"] += 1
        if ws is not None:
            await ws.close()

    await asyncio.gather(*(guess(ws) for ws in sockets), return_exceptions=True)
    return counts


# ====================================================================== the honest phone


class Phone:
    """`n` devices taking turns, one report at a time."""

    def __init__(self, devices: list[ClientConnection]) -> None:
        self.devices = devices
        self.refs = itertools.count()
        self.turn = itertools.cycle(range(len(devices)))
        self.errors: list[str] = []

    async def measure(self, seconds: float, rate: float) -> list[float]:
        lat: list[float] = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        while loop.time() - start < seconds:
            due = start + k / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            k += 1
            ws = self.devices[next(self.turn)]
            t0 = time.perf_counter()
            reply = await citizen_request(ws, _report(f"honest-{next(self.refs)}"), timeout=30)
            if isinstance(reply, m.ReportAccepted):
                lat.append((time.perf_counter() - t0) * 1000)
            else:
                self.errors.append(repr(reply)[:200])
        return lat


def _summary(lat: list[float]) -> dict[str, Any]:
    return {
        "reports": len(lat),
        "p50_ms": round(pct(lat, 50), 2) if lat else None,
        "p99_ms": round(pct(lat, 99), 2) if lat else None,
    }


async def _recv_from(conn: Connection, timeout: float) -> Any:
    if not await asyncio.to_thread(conn.poll, timeout):
        raise TimeoutError(f"no word from the flood process within {timeout}s")
    msg = conn.recv()
    if msg[0] == "error":
        raise RuntimeError(f"flood process failed: {msg[1]}")
    return msg


KINDS = ("reports", "connections", "logins")
#: honest devices per source address: under registrations_per_address_per_hour (20)
DEVICES_PER_ADDRESS = 12


def honest_source(i: int) -> str:
    """The honest phones' addresses (127.0.0.2 ...), apart from every attacker's."""
    return f"127.0.0.{2 + i // DEVICES_PER_ADDRESS}"


def attacker_source(round_no: int, kind: str) -> str:
    """A fresh address for each flood of each round: a round repeats the attack on a relay
    that has not met this address yet (login lockouts and penalties start from nothing),
    and no flood inherits another's penalty."""
    return f"127.0.{10 + round_no}.{1 + KINDS.index(kind)}"


def devices_needed(args: argparse.Namespace, per_hour: float) -> int:
    """Enough devices that none meets its reports-per-hour limit (90% of it, at most)."""
    reports = args.rounds * (4 * args.seconds + 1.0) * args.rate
    return max(1, math.ceil(reports / (0.9 * per_hour)))


async def _flood_phase(
    phone: Phone, args: argparse.Namespace, kind: str, relay_url: str, ca: str, source: str
) -> tuple[list[float], dict[str, Any]]:
    a, b = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(
        target=flood_main,
        args=(b, kind, relay_url, ca, args.seconds + 1.0, source),
        daemon=True,
    )
    proc.start()
    b.close()
    try:
        await _recv_from(a, 60)
        lat = await phone.measure(args.seconds, args.rate)
        (_, counts) = await _recv_from(a, args.seconds + 120)
    finally:
        await asyncio.to_thread(proc.join, 20)
        if proc.is_alive():
            proc.terminate()
    return lat, counts


def _ratio(during: list[float], alone: list[float]) -> float | None:
    if not during or not alone:
        return None
    return round(pct(during, 99) / pct(alone, 99), 2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from relay import admin
    from relay.config import RelayConfig
    from relay.server import Relay
    from relay.signin import hash_workers

    raise_nofile()
    tmp = tempfile.TemporaryDirectory(prefix="lookout-abuse-")
    data_dir = Path(tmp.name) / "relay"
    engine = admin.open_engine(data_dir)
    admin.add_officer(engine, OFFICER, "dispatcher", PASSWORD)
    engine.dispose()
    cfg = RelayConfig(data_dir=data_dir, port=0)
    relay = Relay(cfg)
    await relay.start()
    assert relay.ca_path is not None
    ca = str(relay.ca_path)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    phones = args.phones or devices_needed(args, cfg.reports_per_device_per_hour)
    log(
        f"relay at {relay.url}; {phones} honest devices, {args.rate} reports/s, "
        f"{args.rounds} rounds of {args.seconds:g} s phases"
    )
    limits = {
        "reports": {
            "per_device_per_hour": cfg.reports_per_device_per_hour,
            "messages_per_s": cfg.citizen_messages_per_s,
            "message_burst": cfg.citizen_message_burst,
            "refusals_before_close": cfg.refusals_before_close,
            "abuse_penalty_s": getattr(cfg, "abuse_penalty_s", None),  # None: an older relay
        },
        "connections": {"per_address": cfg.connections_per_address},
        "logins": {
            "free_failures_per_user_and_address": cfg.login_free_failures,
            "free_failures_per_address": cfg.login_address_free_failures,
            "hash_workers": hash_workers(cfg.login_hash_workers),
            "refusals_before_close": getattr(cfg, "login_refusals_before_close", None),
            "abuse_penalty_s": getattr(cfg, "abuse_penalty_s", None),  # None: an older relay
        },
    }
    url = relay.url + CITIZEN_PATH
    alone: list[list[float]] = []
    during: dict[str, list[list[float]]] = {k: [] for k in KINDS}
    floods: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    try:
        devices = [(await _register(url, ctx, honest_source(i)))[0] for i in range(phones)]
        phone = Phone(devices)
        for round_no in range(args.rounds):
            await phone.measure(1.0, args.rate)  # warm-up, not counted
            alone.append(await phone.measure(args.seconds, args.rate))
            log(f"round {round_no + 1} baseline: {_summary(alone[-1])}")
            for kind in KINDS:
                source = attacker_source(round_no, kind)
                lat, counts = await _flood_phase(phone, args, kind, relay.url, ca, source)
                during[kind].append(lat)
                floods[kind].append(counts)
                ratio = _ratio(lat, alone[-1])
                log(f"round {round_no + 1} {kind} flood: {_summary(lat)} ratio {ratio} {counts}")
        errors = phone.errors[:5]
        for ws in devices:
            await ws.close()
    finally:
        await asyncio.wait_for(relay.stop(), 60)
        tmp.cleanup()
    pooled_alone = [x for lat in alone for x in lat]
    out: dict[str, Any] = {
        "baseline": _summary(pooled_alone) | {"p99_ms_by_round": [_p99(lat) for lat in alone]}
    }
    for kind in KINDS:
        ratios = [_ratio(lat, base) for lat, base in zip(during[kind], alone, strict=True)]
        pooled = [x for lat in during[kind] for x in lat]
        ok = sum(c.get("accepted", c.get("refused", 0)) for c in floods[kind])
        out[f"{kind}_flood"] = _summary(pooled) | {
            "ratio_p99": _median(ratios),
            "ratios_by_round": ratios,
            "pooled_ratio_p99": _ratio(pooled, pooled_alone),
            "flood": {key: sum(c[key] for c in floods[kind]) for key in floods[kind][0]},
            "accepted_per_s": round(ok / (args.rounds * (args.seconds + 1.0)), 1),
            "limit": limits[kind],
        }
    out["honest_errors"] = errors
    ratios = [out[f"{k}_flood"]["ratio_p99"] for k in KINDS]
    out["worst_ratio"] = max((r for r in ratios if r is not None), default=None)
    out["target_met"] = all(r is not None and r <= 2.0 for r in ratios)
    out |= {
        "rounds": args.rounds,
        "seconds_per_phase": args.seconds,
        "honest_devices": phones,
        "rate": args.rate,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    return out


def _p99(lat: list[float]) -> float | None:
    return round(pct(lat, 99), 2) if lat else None


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--rate", type=float, default=8.0, help="honest reports per second")
    ap.add_argument(
        "--phones",
        type=int,
        default=0,
        help="honest devices taking turns (default: enough to stay under reports per hour)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="baseline + the three floods, repeated")
    args = ap.parse_args()
    if args.seconds <= 0 or args.rate <= 0 or args.phones < 0 or args.rounds < 1:
        ap.error("--seconds, --rate and --rounds must be positive, --phones 0 or more")
    deadline = HARD_DEADLINE_S + args.rounds * 4 * (args.seconds + 20)
    result = asyncio.run(asyncio.wait_for(run(args), deadline))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
