"""Benchmark: report to console, end to end.

    python bench/e2e_latency.py --rate 200 --seconds 20

A relay runs in a child process (its own core, as in a deployment). In this process,
`--devices` simulated citizen devices submit reports at `--rate` reports/s in total, and a
real `RelayClient` (logged in with password and TOTP, with the local cache as its sink, so
each event is made durable before it is yielded) consumes the event stream. Latency is from
just before a device sends `report.submit` to the moment `RelayClient` yields the matching
`report.created` event. `lost` counts reports acknowledged by the relay that never reached
the client; `duplicates` counts events yielded more than once.

Target: p99 <= 100 ms, lost 0, duplicates 0. Progress to stderr; the last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import BENCH_LIMITS
from websockets.asyncio.client import connect

from backend_client import CITIZEN_PATH, codec
from backend_client import messages as m
from backend_client.cache import LocalCache
from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.outbox import Outbox

PRESTON = (53.7590, -2.6990)
PASSWORD = "vivid lantern harbour 7"
NO_SINK = "--no-sink" in sys.argv


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _relay_main(data_dir: str, conn: Any) -> None:
    from relay import admin
    from relay.config import RelayConfig
    from relay.server import Relay

    async def serve() -> None:
        engine = admin.open_engine(Path(data_dir))
        secret = admin.add_officer(engine, "bench", "dispatcher", PASSWORD).totp_secret
        engine.dispose()
        relay = Relay(RelayConfig(data_dir=Path(data_dir), port=0, **BENCH_LIMITS))
        await relay.start()
        conn.send((relay.url, str(relay.ca_path), secret))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # wait for "stop"
        await relay.stop()

    asyncio.run(serve())


async def _device(url: str, ctx: ssl.SSLContext) -> Any:
    ws = await connect(url + CITIZEN_PATH, ssl=ctx, compression=None, proxy=None)
    await ws.send(codec.encode_text(m.DeviceRegister(id="r", platform="bench")))
    reply = codec.citizen_outbound.decode(await ws.recv())
    assert isinstance(reply, m.DeviceRegistered), reply
    return ws


async def run(rate: float, seconds: float, devices: int) -> dict[str, Any]:
    from relay.accounts import totp_now

    tmp = Path(tempfile.mkdtemp(prefix="lookout-e2e-"))
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_relay_main, args=(str(tmp / "relay"), child))
    proc.start()
    url, ca, secret = parent.recv()
    log(f"relay at {url}")
    cache = LocalCache(tmp / "cache.sqlite", b"k" * 32)
    client = RelayClient(
        ClientConfig(url=url, ca_file=Path(ca)),
        Credentials("bench", PASSWORD, lambda: totp_now(secret)),
        Outbox(tmp / "outbox.sqlite"),
        sink=None if NO_SINK else cache,
    )
    events = client.subscribe_queue()
    await client.start()
    await client.wait_live(30)
    ctx = ssl.create_default_context(cafile=ca)
    socks = [await _device(url, ctx) for _ in range(devices)]
    log(f"{devices} devices registered; sending {rate:.0f} reports/s for {seconds:.0f} s")

    sent_at: dict[str, float] = {}  # client_ref -> send time
    acked: dict[str, str] = {}  # report_id -> client_ref
    by_text: dict[str, float] = {}
    latencies: list[float] = []
    seen: dict[str, int] = {}

    async def reader(ws: Any) -> None:
        async for frame in ws:
            msg = codec.citizen_outbound.decode(frame)
            if isinstance(msg, m.ReportAccepted):
                acked[msg.report_id] = msg.re

    readers = [asyncio.create_task(reader(ws)) for ws in socks]

    async def consume() -> None:
        while True:
            e = await events.get()
            if isinstance(e, m.ReportCreated):
                now = time.perf_counter()
                rid = e.report.report_id
                seen[rid] = seen.get(rid, 0) + 1
                t0 = by_text.get(e.report.text)
                if t0 is not None and seen[rid] == 1:
                    latencies.append((now - t0) * 1000)

    consumer = asyncio.create_task(consume())
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        ref = f"e2e-{i}"
        text = f"bench report {i}"
        msg = m.ReportSubmit(
            id=ref, client_ref=ref, category="burglary", text=text, lat=PRESTON[0], lon=PRESTON[1]
        )
        by_text[text] = time.perf_counter()
        sent_at[ref] = by_text[text]
        await socks[i % devices].send(codec.encode_text(msg))
    deadline = time.perf_counter() + 15
    while time.perf_counter() < deadline and (len(acked) < total or len(seen) < len(acked)):
        await asyncio.sleep(0.05)
    consumer.cancel()
    for t in readers:
        t.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.gather(consumer, *readers, return_exceptions=True)
    for ws in socks:
        await ws.close()
    await client.stop()
    cache.close()
    parent.send("stop")
    proc.join(30)
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else float("nan")

    return {
        "rate": rate,
        "sent": total,
        "received": sum(1 for r in acked if r in seen),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "lost": sum(1 for r in acked if r not in seen),
        "duplicates": sum(c - 1 for c in seen.values() if c > 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--devices", type=int, default=20)
    p.add_argument("--no-sink", action="store_true", help="skip the local cache (diagnosis)")
    a = p.parse_args()
    result = asyncio.run(run(a.rate, a.seconds, a.devices))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
