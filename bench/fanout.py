"""Benchmark alert fan-out: the relay's alert.send path against a bare websockets.broadcast.

    python bench/fanout.py --devices 5000          # the target run (about a minute)
    python bench/fanout.py --devices 200 --rounds 1  # quick check

A relay runs in this process (temporary data dir, its own TLS CA, loopback only). Citizen
devices are real TLS websocket clients spread over `--procs` child processes
(bench/_phones.py): each child opens its share of connections (`--batch` handshakes in
flight at a time), registers every device, sends its categories ("burglary") and a
location inside a fence around Preston, then reports ready. A child stamps `time.time()`
on every `alert.deliver` frame it receives and keys it by the `alert_id` inside the frame.
The machine has one clock, so arrival time minus a send time taken in the relay process is
the one-way latency (these phones do not acknowledge alerts). With two or more
cores the relay is pinned to the first and the clients to the rest (`--no-pin` to switch
off), so the clients' TLS work does not preempt the relay mid-broadcast; the children
freeze and disable their garbage collector after set-up (they are the instrument).

Each round measures, on the same connections:

(a) the relay: an officer logged in over the wire sends `alert.send` covering the fence
    (approval threshold set above the device count, so it goes out at once). Latency runs
    from just before the request leaves the officer to arrival at each device, so it
    includes targeting, the commit of the alert and its recipient rows, and the send.
    `relay.delivery.deliver_alert` is wrapped to time the send itself (`send_cost_ms`).
(b) the baseline: in the relay process, `websockets.broadcast(list(hub.citizens.values()),
    frame)` of the same frame (same length; only the alert_id differs), latency measured
    from just before that call (`baseline_send_cost_ms` is the call's duration).

`ratio` = median relay send cost / median baseline send cost over the rounds (the order of
(a) and (b) alternates between rounds). `p50_ms`/`p99_ms` pool the relay's deliveries over
all rounds; `delivered` is the fewest devices any relay alert reached. `relay_p*_ms`
measure the relay's deliveries from `deliver_alert` entry, comparable with the baseline.
Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _phones
from _common import (
    BENCH_LIMITS,
    HARD_DEADLINE_S,
    Officer,
    fence_ring,
    make_log,
    pct,
    raise_nofile,
    round_info,
)

from backend_client import codec
from backend_client import messages as m

log = make_log("fanout")

PASSWORD = "vivid lantern harbour 7"
OFFICER = "bench"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from relay import accounts, admin, tls
    from relay.config import RelayConfig
    from relay.server import Relay

    nofile = raise_nofile()
    log(f"RLIMIT_NOFILE={nofile}, pid {os.getpid()}, {os.cpu_count()} cpus")
    tmp = tempfile.TemporaryDirectory(prefix="lookout-fanout-")
    data_dir = Path(tmp.name) / "relay"
    engine = admin.open_engine(data_dir)
    totp_secret = admin.add_officer(engine, OFFICER, "dispatcher", PASSWORD).totp_secret
    engine.dispose()
    relay = Relay(
        RelayConfig(
            data_dir=data_dir,
            port=0,
            approval_threshold=10**9,
            cap_sender="lookout@bench.lookout.example",
            **BENCH_LIMITS,
        )
    )
    await relay.start()
    assert relay.ca_path is not None
    log(f"relay at {relay.url}")

    # Time the relay's own send: wrap deliver_alert (officer.py looks it up at call time).
    sends: dict[
        str, tuple[float, float, float, str]
    ] = {}  # alert_id -> (wall, cost s, cpu s, frame)
    original = relay.delivery.deliver_alert

    def timed_deliver(alert: m.Alert, keys: Any, started: float | None = None) -> None:
        wall = time.time()
        c0 = time.thread_time()
        t0 = time.perf_counter()
        original(alert, keys, started)
        cost = time.perf_counter() - t0
        cpu = time.thread_time() - c0
        from relay import wire  # the frame the relay just sent, rebuilt outside the timing

        frame = codec.encode_text(m.AlertDeliver(alert=wire.citizen_alert(alert)))
        sends[alert.alert_id] = (wall, cost, cpu, frame)

    relay.delivery.deliver_alert = timed_deliver  # type: ignore[method-assign]

    # The relay gets a core of its own; the clients share the others (without this, the
    # clients' TLS work preempts the relay mid-broadcast and the send timings are noise).
    cpus = sorted(os.sched_getaffinity(0))
    client_cpus: list[int] | None = None
    pinned = False
    if args.pin and len(cpus) >= 2:
        os.sched_setaffinity(0, cpus[:1])
        pinned = True
        client_cpus = cpus[1:] if args.client_cpus == "rest" else None
        log(f"relay pinned to cpu {cpus[0]}, clients to {client_cpus}")
    children: list[_phones.Child] = []
    officer: Officer | None = None
    try:
        t_setup = time.perf_counter()
        children = _phones.start(
            _phones.Plan(
                urls=(f"{relay.url}/v1/citizen",),
                ca_path=str(relay.ca_path),
                n=n,
                seed=1000 + i,
                batch=args.batch,
                deadline=HARD_DEADLINE_S,
                cpus=tuple(client_cpus) if client_cpus else None,
                nice=args.client_nice,
            )
            for i, n in enumerate(_phones.shares(args.devices, args.procs))
        )
        connected = await _phones.ready(children, args.setup_timeout, log)
        log(
            f"{connected}/{args.devices} devices connected and registered over {len(children)} processes "
            f"in {time.perf_counter() - t_setup:.1f}s; relay holds {len(relay.hub.citizens)}"
        )
        # let the last registrations' writes and any stragglers settle
        await asyncio.sleep(1.0)

        officer = await Officer.login(
            f"{relay.url}/v1/officer",
            tls.client_ssl_context(relay.ca_path),
            OFFICER,
            PASSWORD,
            accounts.totp_now(totp_secret),
        )
        ring = fence_ring()
        area = m.Polygon(coordinates=ring)
        preview = await officer.request(
            m.AlertPreview(id=officer.next_id(), area=area, categories=["burglary"])
        )
        assert isinstance(preview, m.AlertCount), preview
        log(
            f"alert.preview: {preview.recipients} recipients, approval_required={preview.approval_required}"
        )

        rounds: list[dict[str, Any]] = []
        for r in range(args.rounds):
            order = ("relay", "baseline") if r % 2 == 0 else ("baseline", "relay")
            rec: dict[str, Any] = {}
            for kind in order:
                gc.collect()
                await asyncio.sleep(0.3)
                if kind == "relay":
                    info = round_info(area, r)
                    msg = m.AlertSend(
                        id=officer.next_id(), idem=f"bench-{os.getpid()}-{r}", info=info
                    )
                    t_officer = time.time()
                    await officer.send(msg)
                    reply = await officer.reply_to(msg.id)
                    if not isinstance(reply, m.AlertAccepted):
                        raise RuntimeError(f"alert.send refused: {reply}")
                    alert_id = reply.alert.alert_id
                    rec["relay_id"], rec["t_officer"], rec["recipients"] = (
                        alert_id,
                        t_officer,
                        reply.alert.recipients,
                    )
                    rec["accepted_ms"] = (time.time() - t_officer) * 1000
                else:
                    if (
                        not sends
                    ):  # baseline first: need the relay's frame shape; build it the same way
                        from relay import wire

                        fake = m.Alert(
                            alert_id="A-0000000000",
                            sender=OFFICER,
                            sent_at=time.time(),
                            msg_type="Alert",
                            state="active",
                            info=round_info(area, r),
                            recipients=0,
                            delivered=0,
                            read=0,
                        )
                        template_id, template = (
                            fake.alert_id,
                            codec.encode_text(m.AlertDeliver(alert=wire.citizen_alert(fake))),
                        )
                    else:
                        template_id, (_, _, _, template) = next(iter(sends.items()))
                    alert_id = f"B-{r:010d}"
                    assert len(alert_id) == len(template_id)
                    frame = template.replace(template_id, alert_id)
                    t_wall = time.time()
                    c0 = time.thread_time()
                    t0 = time.perf_counter()
                    websockets.broadcast(list(relay.hub.citizens.values()), frame)
                    cost = time.perf_counter() - t0
                    cpu = time.thread_time() - c0
                    rec["baseline_id"], rec["t_baseline"], rec["baseline_cost"] = (
                        alert_id,
                        t_wall,
                        cost,
                    )
                    rec["baseline_cpu"] = cpu
                ok = True
                for c in children:
                    ok = await c.wait_got(alert_id, args.delivery_timeout) and ok
                if not ok:
                    log(
                        f"round {r + 1} {kind}: not every device got {alert_id} within {args.delivery_timeout}s"
                    )
            rec["relay_wall"], rec["relay_cost"], rec["relay_cpu"], _ = sends[rec["relay_id"]]
            got_relay: list[float] = []
            got_base: list[float] = []
            for c in children:
                msg = await c.ask(
                    ("collect", [rec["relay_id"], rec["baseline_id"]]), "collected", 60
                )
                got_relay += [t for t, _node in msg[1][rec["relay_id"]]]
                got_base += [t for t, _node in msg[1][rec["baseline_id"]]]
            rec["relay_arrivals"], rec["baseline_arrivals"] = got_relay, got_base
            log(
                f"round {r + 1}: relay send {rec['relay_cost'] * 1000:.1f} ms "
                f"(CPU {rec['relay_cpu'] * 1000:.1f} ms; alert.accepted after "
                f"{rec['accepted_ms']:.0f} ms, {rec['recipients']} recipients), "
                f"bare broadcast {rec['baseline_cost'] * 1000:.1f} ms (CPU {rec['baseline_cpu'] * 1000:.1f} ms); "
                f"p99 latency relay {pct([(t - rec['t_officer']) * 1000 for t in got_relay] or [0], 99):.0f} ms "
                f"from officer, {pct([(t - rec['relay_wall']) * 1000 for t in got_relay] or [0], 99):.0f} ms "
                f"from send, bare {pct([(t - rec['t_baseline']) * 1000 for t in got_base] or [0], 99):.0f} ms"
            )
            rounds.append(rec)

        lat_officer: list[float] = []
        lat_relay: list[float] = []
        lat_base: list[float] = []
        delivered: list[int] = []
        for rec in rounds:
            got = rec["relay_arrivals"]
            delivered.append(len(got))
            lat_officer += [(t - rec["t_officer"]) * 1000 for t in got]
            lat_relay += [(t - rec["relay_wall"]) * 1000 for t in got]
            lat_base += [(t - rec["t_baseline"]) * 1000 for t in rec["baseline_arrivals"]]
        send_cost = statistics.median(r["relay_cost"] for r in rounds) * 1000
        base_cost = statistics.median(r["baseline_cost"] for r in rounds) * 1000
        send_cpu = statistics.median(r["relay_cpu"] for r in rounds) * 1000
        base_cpu = statistics.median(r["baseline_cpu"] for r in rounds) * 1000

        def r2(x: float) -> float:
            return round(x, 2)

        return {
            "devices": args.devices,
            "connected": connected,
            "delivered": min(delivered),
            "rounds": len(rounds),
            "processes": len(children),
            "p50_ms": r2(pct(lat_officer, 50)) if lat_officer else None,
            "p99_ms": r2(pct(lat_officer, 99)) if lat_officer else None,
            "max_ms": r2(max(lat_officer)) if lat_officer else None,
            "relay_p50_ms": r2(pct(lat_relay, 50)) if lat_relay else None,
            "relay_p99_ms": r2(pct(lat_relay, 99)) if lat_relay else None,
            "baseline_p50_ms": r2(pct(lat_base, 50)) if lat_base else None,
            "baseline_p99_ms": r2(pct(lat_base, 99)) if lat_base else None,
            "send_cost_ms": r2(send_cost),
            "baseline_send_cost_ms": r2(base_cost),
            "ratio": round(send_cost / base_cost, 3) if base_cost > 0 else None,
            "send_cpu_ms": r2(send_cpu),
            "baseline_send_cpu_ms": r2(base_cpu),
            "cpu_ratio": round(send_cpu / base_cpu, 3) if base_cpu > 0 else None,
            "relay_pinned": pinned,
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "send_costs_ms": [r2(r["relay_cost"] * 1000) for r in rounds],
            "baseline_send_costs_ms": [r2(r["baseline_cost"] * 1000) for r in rounds],
        }
    finally:
        if officer is not None:
            await officer.close()
        await _phones.stop(children)
        await asyncio.wait_for(relay.stop(), 60)
        tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--procs", type=int, default=2, help="client processes (at least 2)")
    ap.add_argument(
        "--batch", type=int, default=200, help="connection handshakes in flight per process"
    )
    ap.add_argument("--rounds", type=int, default=5, help="relay + baseline sends per run")
    ap.add_argument(
        "--no-pin", dest="pin", action="store_false", help="don't give the relay a core of its own"
    )
    ap.add_argument(
        "--client-cpus",
        choices=("rest", "all"),
        default="rest",
        help="with pinning: clients on the other cores only (default), or on all cores",
    )
    ap.add_argument("--client-nice", type=int, default=0, help="niceness of the client processes")
    ap.add_argument("--setup-timeout", type=float, default=150.0)
    ap.add_argument("--delivery-timeout", type=float, default=20.0)
    args = ap.parse_args()
    if args.devices < 1 or args.procs < 1 or args.rounds < 1:
        ap.error("--devices, --procs and --rounds must be positive")
    result = asyncio.run(asyncio.wait_for(run(args), HARD_DEADLINE_S))
    target = (
        result["delivered"] == args.devices
        and result["p99_ms"] is not None
        and result["p99_ms"] <= 500
        and result["ratio"] is not None
        and result["ratio"] <= 1.3
    )
    result["target_met"] = bool(target)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
