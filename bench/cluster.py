"""Benchmark several relays on one PostgreSQL behind HAProxy (issue 15): alert fan-out across
nodes, officer events through the shared log, and a relay killed during a send.

    python bench/cluster.py --relays 3 --devices 6000   # the target run (about 2 minutes)
    python bench/cluster.py --quick                     # 600 devices, short phases (~1 minute)

The cluster is tests/support/cluster.py's, the one the cluster tests run: a throwaway
PostgreSQL, `--relays` `lookout-relay serve --node-id relay-K` processes and HAProxy (TCP
mode, round robin, health checks as docs/scaling.md deploys them: every 2 s, down after 3
failures, 5 s to answer), all on loopback, with the load benches' limits
(bench/_common.py `BENCH_LIMITS`) and the approval threshold above the device count. The
phones are bench/_phones.py's (real TLS clients in `--procs` child processes) and behave as
the app does: each acknowledges an alert once, and a phone whose connection drops comes
back through HAProxy (full-jitter backoff, `device.auth`). Nothing is pinned: the relays,
PostgreSQL, HAProxy and the phones share the machine's cores.

1. Fan-out, single: every device registers on relay-1 (categories, a location inside the
   fence). The other nodes run, but no phone is on them: they read the alert's note and
   have nobody to push to. A console on relay-1 sends `alert.send` covering the fence:
   one unmeasured warm-up, then `--rounds` sends. Latency is a phone's arrival stamp minus
   the moment just before the request left the officer, so it includes targeting and the
   commit of the alert and its recipients.
2. Fan-out, cluster: phone i moves to relay-(1 + i mod N) (closes its connection, comes
   back there with `device.auth`). A console on relay-2 sends, so the recipients come
   from the device index relay-2 keeps from the other nodes' notes; relay-2 pushes to its
   own phones and every other node to its own when it reads the alert's note. Warm-up,
   then `--rounds` sends. After each send the bench waits for the phones' acknowledgements
   to be answered, so a round starts on quiet relays.
   Per layout: `delivered` (fewest devices any send reached), `duplicates` (most repeat
   frames of one send), and the medians over the sends of each send's p50/p99/max.
   Target: every send delivered to every device once, cluster p99 at most 1.5x single.
3. Events/s: one console per node (up to three) subscribes; `--filers` phones on every
   node file reports one after another, as fast as the relay answers, for `--seconds`.
   Each console counts `report.created`: its rate (from the first report filed to its last
   `report.created`), and whether it saw every accepted report, in the order every other
   console saw, with every event's seq one more than the last (no gap, no repeat).
4. Failover: the relay-2 console sends once more and the last node is `kill -9`ed
   `--kill-after-ms` after the request left the officer (by default the median arrival on
   that node in the cluster sends, so the kill falls inside its push). Its phones come
   back through HAProxy. Reported: seconds from the kill until every one of them is
   authenticated again, and from the send until every device has the alert; `lost`
   (devices without it at the end); `duplicates_on_wire` (repeat `alert.deliver` frames
   of that alert on one phone: a phone whose acknowledgement died with the node gets the
   alert again, held, at `device.auth`) and `duplicates_shown` (after dropping repeats by
   alert id, as a phone does: what a citizen would see twice).

Progress goes to stderr; the last line printed is one JSON object. Without PostgreSQL
server binaries or HAProxy the benchmark says so and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _phones
from _common import BENCH_LIMITS, Officer, fence_ring, make_log, pct, raise_nofile, round_info

from backend_client import messages as m
from tests.conftest import PASSWORD
from tests.support import cluster as cl
from tests.support.totp import fresh_code

log = make_log("cluster")

#: the whole run, set-up and tear-down included (the default run takes about 4 minutes)
DEADLINE_S = 420.0
P99_RATIO_TARGET = 1.5
#: HAProxy's health-check interval in docs/scaling.md's deployment (with fall 3 and
#: timeout check 5s), which the bench runs with
DEPLOYED_CHECK_INTER_MS = 2000.0
#: every phone of the killed node connected again within this many seconds of the kill
RECONNECT_TARGET_S = 10.0
#: the cluster's officers (tests/support/cluster.py ACCOUNTS): one login each
SENDER_SINGLE, SENDER_CLUSTER, WATCHERS = "dana", "dev", ("kim", "lee", "max")


def _ms(x: float) -> float:
    return round(x * 1000, 1)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


# ====================================================================== fan-out


async def send(officer: Officer, r: int) -> tuple[str, float, m.AlertAccepted]:
    """`alert.send` of round `r` over the fence: (alert id, wall time before it left, reply)."""
    msg = m.AlertSend(
        id=officer.next_id(),
        idem=f"bench-cluster-{os.getpid()}-{r}",
        info=round_info(m.Polygon(coordinates=fence_ring()), r),
    )
    t0 = time.time()
    await officer.send(msg)
    reply = await officer.reply_to(msg.id)
    if not isinstance(reply, m.AlertAccepted):
        raise RuntimeError(f"alert.send refused: {reply}")
    return reply.alert.alert_id, t0, reply


async def collect(children: list[_phones.Child], alert_id: str) -> tuple[list[Any], int]:
    """Every phone's first (arrival, node) of `alert_id`, and the repeat frames of it."""
    arrivals: list[Any] = []
    repeats = 0
    for c in children:
        msg = await c.ask(("collect", [alert_id]), "collected", 60)
        arrivals += msg[1][alert_id]
        repeats += msg[2][alert_id]
    return arrivals, repeats


async def quiet(children: list[_phones.Child]) -> None:
    """Wait until every phone's acknowledgement has its answer."""
    for c in children:
        _, out, failed = await c.ask(("quiet", 60.0), "quiet", 70)
        if out or failed:
            log(f"child {c.proc.pid}: {out} acknowledgements unanswered, {failed} failed")


async def fanout_round(
    officer: Officer, r: int, children: list[_phones.Child], args: argparse.Namespace
) -> dict[str, Any]:
    await asyncio.sleep(0.3)
    alert_id, t0, reply = await send(officer, r)
    accepted_s = time.time() - t0
    for c in children:
        if not await c.wait_got(alert_id, args.delivery_timeout):
            log(f"round {r + 1}: not every phone of child {c.proc.pid} got {alert_id}")
    await asyncio.sleep(0.5)  # time for a repeat to show
    arrivals, repeats = await collect(children, alert_id)
    await quiet(children)
    lat = [t - t0 for t, _node in arrivals] or [float("nan")]
    by_node: dict[int, list[float]] = {}
    for t, node in arrivals:
        by_node.setdefault(node, []).append(t - t0)
    rec = {
        "alert_id": alert_id,
        "recipients": reply.alert.recipients,
        "delivered": len(arrivals),
        "duplicates": repeats,
        "accepted_ms": _ms(accepted_s),
        "p50_ms": _ms(pct(lat, 50)),
        "p99_ms": _ms(pct(lat, 99)),
        "max_ms": _ms(max(lat)),
        "node_p50_ms": {f"relay-{k + 1}": _ms(pct(v, 50)) for k, v in sorted(by_node.items())},
        "node_p99_ms": {f"relay-{k + 1}": _ms(pct(v, 99)) for k, v in sorted(by_node.items())},
    }
    log(
        f"send {r + 1}: {rec['delivered']} delivered of {rec['recipients']} recipients, "
        f"{repeats} repeats; accepted after {rec['accepted_ms']} ms; p50 {rec['p50_ms']} ms, "
        f"p99 {rec['p99_ms']} ms, max {rec['max_ms']} ms; p99 by node {rec['node_p99_ms']}"
    )
    return rec


def fanout_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "sends": len(rounds),
        "recipients": min(r["recipients"] for r in rounds),
        "delivered": min(r["delivered"] for r in rounds),
        "duplicates": max(r["duplicates"] for r in rounds),
        "p50_ms": _median([r["p50_ms"] for r in rounds]),
        "p99_ms": _median([r["p99_ms"] for r in rounds]),
        "max_ms": _median([r["max_ms"] for r in rounds]),
        "accepted_ms": _median([r["accepted_ms"] for r in rounds]),
        "p99s_ms": [r["p99_ms"] for r in rounds],
        "node_p99_ms": rounds[len(rounds) // 2]["node_p99_ms"],  # of the middle send
    }


# ====================================================================== events


class _Event(msgspec.Struct):
    type: str
    seq: int = -1


class Feed:
    """A subscribed console that only counts: every event's (seq, type, arrival)."""

    _decoder = msgspec.json.Decoder(_Event)

    def __init__(self, officer: Officer, node: str) -> None:
        self.officer, self.node = officer, node
        self.events: list[tuple[int, str, float]] = []
        self.head = 0
        self._task: asyncio.Task[None] | None = None

    async def subscribe(self) -> None:
        sub = await self.officer.request(m.Subscribe(id=self.officer.next_id(), since=0))
        if not isinstance(sub, m.Subscribed):
            raise RuntimeError(f"subscribe refused: {sub}")
        self.head = sub.head
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.officer.ws:
            t = time.time()
            ev = self._decoder.decode(raw)
            if ev.seq >= 0:
                self.events.append((ev.seq, ev.type, t))

    def reports(self) -> list[tuple[int, float]]:
        return [(seq, t) for seq, kind, t in self.events if kind == "report.created"]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.officer.close()


async def events_phase(
    cluster: cl.Cluster, children: list[_phones.Child], args: argparse.Namespace
) -> dict[str, Any]:
    feeds: list[Feed] = []
    try:
        for name, node in zip(WATCHERS, cluster.nodes, strict=False):
            officer = await Officer.login(
                f"{node.url}/v1/officer",
                cluster.client_ssl,
                name,
                PASSWORD,
                fresh_code(cluster.totp[name]),
            )
            feeds.append(Feed(officer, node.node_id))
            await feeds[-1].subscribe()
        per_node = max(1, args.filers // (len(children) * len(cluster.nodes)))
        t0 = time.time()
        for c in children:
            c.conn.send(("file", args.seconds, per_node))
        accepted = errors = filers = 0
        for c in children:
            _, n_ok, n_err, samples, n_filers = await c.expect("filed", args.seconds + 60)
            accepted, errors, filers = accepted + n_ok, errors + n_err, filers + n_filers
            if n_err:
                log(f"child {c.proc.pid}: {n_err} reports failed, e.g. {samples}")
        filed_s = time.time() - t0
        end = asyncio.get_running_loop().time() + 30
        while any(len(f.reports()) < accepted for f in feeds):
            if asyncio.get_running_loop().time() > end:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a repeat would arrive now
        first = [seq for seq, _t in feeds[0].reports()]
        consoles = []
        for f in feeds:
            reports = f.reports()
            seqs = [seq for seq, _k, _t in f.events]
            span = (reports[-1][1] - t0) if reports else float("nan")
            consoles.append(
                {
                    "node": f.node,
                    "report_events": len(reports),
                    "events_per_s": round(len(reports) / span, 1) if reports else 0.0,
                    "saw_all": len(reports) == accepted,
                    "same_order": [seq for seq, _t in reports] == first,
                    "no_gaps": seqs == list(range(f.head + 1, f.head + 1 + len(seqs))),
                }
            )
        out = {
            "seconds": args.seconds,
            "filers": filers,
            "reports_accepted": accepted,
            "report_errors": errors,
            "accepted_per_s": round(accepted / filed_s, 1),
            "consoles": consoles,
            "all_saw_all_in_order": all(
                c["saw_all"] and c["same_order"] and c["no_gaps"] for c in consoles
            ),
        }
        log(f"events: {json.dumps(out)}")
        return out
    finally:
        for f in feeds:
            await f.close()


# ====================================================================== failover


def _add_attempts(into: dict[str, list[float]], stats: dict[str, Any], sign: int = 1) -> float:
    """Add one child's failed come-back attempts (its "collected" stats) into `into`, by
    kind (`sign` -1 takes them off); returns its seconds of backoff, signed alike."""
    for kind, (n, secs) in stats["failures"].items():
        tally = into.setdefault(kind, [0, 0.0])
        tally[0] += sign * n
        tally[1] += sign * secs
    return sign * float(stats["backoff_s"])


async def failover_phase(
    cluster: cl.Cluster,
    officer: Officer,
    r: int,
    children: list[_phones.Child],
    kill_after_s: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    killed = len(cluster.nodes) - 1
    if killed == 1:  # relay-2 sends: with two nodes, kill the first
        killed = 0
    on_killed = 0
    before = []  # each child's failed attempts and backoff until now, subtracted below
    for c in children:
        msg = await c.ask(("collect", []), "collected", 30)
        on_killed += msg[4].get(killed, 0)
        before.append(msg[5])
        if msg[3]:  # come-backs so far (none expected)
            reasons = sorted({cb[4] for cb in msg[3]})
            log(
                f"child {c.proc.pid}: {len(msg[3])} phones came back before the failover: {reasons}"
            )
    await asyncio.sleep(0.3)
    msg = m.AlertSend(
        id=officer.next_id(),
        idem=f"bench-cluster-{os.getpid()}-{r}",
        info=round_info(m.Polygon(coordinates=fence_ring()), r),
    )
    t0 = time.time()
    await officer.send(msg)
    await asyncio.sleep(max(0.0, t0 + kill_after_s - time.time()))
    t_kill = time.time()
    cluster.kill(killed)
    log(f"kill -9 relay-{killed + 1} ({on_killed} phones) {_ms(t_kill - t0)} ms after the send")
    reply = await officer.reply_to(msg.id)
    if not isinstance(reply, m.AlertAccepted):
        raise RuntimeError(f"alert.send refused: {reply}")
    alert_id = reply.alert.alert_id
    loop = asyncio.get_running_loop()
    end = loop.time() + args.failover_timeout
    for c in children:
        await c.wait_got(alert_id, max(0.1, end - loop.time()))
    comebacks: list[Any] = []
    while loop.time() < end:  # every phone of the dead node back (those that had the
        comebacks = []  # alert before the kill come back too)
        attempts: dict[str, list[float]] = {}
        backoff_s = sum(_add_attempts(attempts, stats, -1) for stats in before)
        for c in children:
            msg = await c.ask(("collect", []), "collected", 30)
            comebacks += [cb for cb in msg[3] if cb[1] >= t_kill]
            backoff_s += _add_attempts(attempts, msg[5])
        if sum(1 for cb in comebacks if cb[0] == killed) >= on_killed:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a late repeat (a held push and a note's push both) shows now
    arrivals, repeats = await collect(children, alert_id)
    await quiet(children)
    back = [t_back - t_kill for node, _lost, t_back, *_ in comebacks if node == killed]
    noticed = [lost - t_kill for node, lost, *_ in comebacks if node == killed]
    connect_s = [cb[5] for cb in comebacks if cb[0] == killed]
    auth_s = [cb[6] for cb in comebacks if cb[0] == killed]
    why: dict[str, int] = {}
    for *_, reason, _connect_s, _auth_s in comebacks:
        why[reason] = why.get(reason, 0) + 1
    pushed_before = sum(1 for _t, node in arrivals if node == killed)
    out = {
        "killed": f"relay-{killed + 1}",
        "kill_after_send_ms": _ms(t_kill - t0),
        "phones_on_killed": on_killed,
        "reconnected": len(back),
        "dropped_elsewhere": sum(1 for node, *_ in comebacks if node != killed),
        "reconnect_s_p50": round(pct(back, 50), 2) if back else None,
        "reconnect_s_max": round(max(back), 2) if back else None,
        "reconnect_target_s": RECONNECT_TARGET_S,
        # from the kill until the phone saw its connection end (the rest is its backoff,
        # then connecting and signing in through the balancer)
        "noticed_s_p50": round(pct(noticed, 50), 2) if noticed else None,
        "noticed_s_max": round(max(noticed), 2) if noticed else None,
        # the successful attempt: TCP, TLS and the websocket upgrade; then device.auth
        "connect_s_p50": round(pct(connect_s, 50), 2) if connect_s else None,
        "auth_s_p50": round(pct(auth_s, 50), 2) if auth_s else None,
        "reconnect_attempts_max": max((c[3] for c in comebacks), default=0),
        "close_reasons": why,
        # every come-back attempt that failed after the kill, by kind: how many, and the
        # seconds they took between them; and the phones' seconds of backoff
        "failed_attempts": {
            k: [int(n), round(s, 1)] for k, (n, s) in sorted(attempts.items()) if n
        },
        "backoff_s_total": round(backoff_s, 1),
        "killed_node_pushed_before_kill": pushed_before,
        "recipients": reply.alert.recipients,
        "delivered": len(arrivals),
        "all_delivered_s": round(max(t for t, _ in arrivals) - t0, 2) if arrivals else None,
        "lost": reply.alert.recipients - len(arrivals),
        "duplicates_on_wire": repeats,
        # a phone drops a repeat by alert id (bench/_phones.py counts each alert once)
        "duplicates_shown": 0,
    }
    log(f"failover: {json.dumps(out)}")
    return out


# ====================================================================== the run


async def run(args: argparse.Namespace) -> dict[str, Any]:
    wall0 = time.perf_counter()
    nofile = raise_nofile()  # the relays, HAProxy and the phones inherit it
    log(f"RLIMIT_NOFILE={nofile}, pid {os.getpid()}, {os.cpu_count()} cpus")
    settings: dict[str, object] = {**BENCH_LIMITS, "approval_threshold": 10**9}
    experiments = []
    # HAProxy's checks as docs/scaling.md deploys them, not the cluster tests' quick ones
    # (500 ms, which mark loaded survivors of a failover down): this process's copy only
    inter = DEPLOYED_CHECK_INTER_MS if args.check_inter is None else args.check_inter
    for fixture, deployed in (
        ("inter 500ms fall 2", f"inter {inter:g}ms fall 3"),
        ("timeout check 2s", "timeout check 5s"),
    ):
        assert fixture in cl.HAPROXY_CONFIG, fixture
        cl.HAPROXY_CONFIG = cl.HAPROXY_CONFIG.replace(fixture, deployed)
    if args.check_inter is not None:
        experiments.append(f"HAProxy health checks every {args.check_inter:g} ms")
        log(f"EXPERIMENT: {experiments[-1]}")
    tmp = tempfile.TemporaryDirectory(prefix="lookout-cluster-bench-")
    cluster = await asyncio.to_thread(
        cl.start_cluster, Path(tmp.name) / "cluster", args.relays, settings
    )
    children: list[_phones.Child] = []
    officers: list[Officer] = []
    try:
        log(
            f"{args.relays} relays on PostgreSQL behind HAProxy (127.0.0.1:{cluster.balancer_port})"
            f" up in {time.perf_counter() - wall0:.1f}s"
        )
        citizen = [f"{n.url}/v1/citizen" for n in cluster.nodes]
        balancer = f"wss://127.0.0.1:{cluster.balancer_port}/v1/citizen"
        t_setup = time.perf_counter()
        children = _phones.start(
            _phones.Plan(
                urls=(citizen[0],),
                ca_path=str(cluster.ca),
                n=n,
                seed=1000 + i,
                batch=args.batch,
                deadline=DEADLINE_S,
                offset=sum(_phones.shares(args.devices, args.procs)[:i]),
                ack=True,
                reconnect_url=balancer,
            )
            for i, n in enumerate(_phones.shares(args.devices, args.procs))
        )
        connected = await _phones.ready(children, args.setup_timeout, log)
        setup_s = time.perf_counter() - t_setup
        log(f"{connected}/{args.devices} devices registered on relay-1 in {setup_s:.1f}s")
        await asyncio.sleep(1.0)  # the other nodes read the last fixes' notes

        def login(name: str, k: int) -> Any:
            return Officer.login(
                f"{cluster.nodes[k].url}/v1/officer",
                cluster.client_ssl,
                name,
                PASSWORD,
                fresh_code(cluster.totp[name]),
            )

        rounds = itertools.count()  # every send's headline and idempotency key its own
        single_officer = await login(SENDER_SINGLE, 0)
        officers.append(single_officer)
        log("fan-out, single: every phone on relay-1; warm-up send")
        await fanout_round(single_officer, next(rounds), children, args)
        single = [
            await fanout_round(single_officer, next(rounds), children, args)
            for _ in range(args.rounds)
        ]

        t_move = time.perf_counter()
        for c in children:
            c.conn.send(("move", tuple(citizen), args.move_batch))
        for c in children:
            _, ok, failed = await c.expect("moved", args.setup_timeout)
            if failed:
                log(f"child {c.proc.pid}: {failed} phones did not move")
        move_s = time.perf_counter() - t_move
        log(f"phones moved to {args.relays} nodes (device.auth) in {move_s:.1f}s")
        await asyncio.sleep(1.0)
        cluster_officer = await login(SENDER_CLUSTER, 1)
        officers.append(cluster_officer)
        log(f"fan-out, cluster: phones on {args.relays} nodes, sent on relay-2; warm-up send")
        await fanout_round(cluster_officer, next(rounds), children, args)
        spread = [
            await fanout_round(cluster_officer, next(rounds), children, args)
            for _ in range(args.rounds)
        ]

        log(f"events: {args.filers} phones filing for {args.seconds}s, consoles on each node")
        events = await events_phase(cluster, children, args)

        killed_node = f"relay-{args.relays}" if args.relays > 2 else "relay-1"
        if args.kill_after_ms is not None:
            kill_after_s = args.kill_after_ms / 1000
        else:
            medians = [rec["node_p50_ms"].get(killed_node) for rec in spread]
            kill_after_s = (_median([x for x in medians if x is not None]) or 0.0) / 1000
        failover = await failover_phase(
            cluster, cluster_officer, next(rounds), children, kill_after_s, args
        )

        fan_single, fan_cluster = fanout_summary(single), fanout_summary(spread)
        ratio = (
            round(fan_cluster["p99_ms"] / fan_single["p99_ms"], 3)
            if fan_cluster["p99_ms"] and fan_single["p99_ms"]
            else None
        )
        fan_ok = bool(
            all(rec["delivered"] == connected == args.devices for rec in single + spread)
            and fan_cluster["duplicates"] == 0
            and ratio is not None
            and ratio <= P99_RATIO_TARGET
        )
        failover_ok = (
            failover["lost"] == 0
            and failover["duplicates_shown"] == 0
            and failover["reconnected"] == failover["phones_on_killed"]
            and (failover["reconnect_s_max"] or 0.0) <= RECONNECT_TARGET_S
        )
        return {
            "bench": "cluster",
            "relays": args.relays,
            "devices": args.devices,
            "connected": connected,
            "processes": len(children),
            "database": "postgresql (one server; both layouts on the same cluster)",
            "single_layout": "every phone on relay-1, the other nodes running with no phones",
            "phones_ack": True,
            "haproxy_checks": f"inter {inter:g}ms fall 3, timeout check 5s",
            "experiments": experiments,
            "fanout": {
                "single": fan_single,
                "cluster": fan_cluster,
                "p99_ratio": ratio,
                "p99_ratio_target": P99_RATIO_TARGET,
                "target_met": fan_ok,
            },
            "events": events,
            "failover": failover,
            "setup_s": round(setup_s, 1),
            "move_s": round(move_s, 1),
            "wall_s": round(time.perf_counter() - wall0, 1),
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "target_met": bool(
                fan_ok and failover_ok and events["all_saw_all_in_order"] and not experiments
            ),
        }
    finally:
        for o in officers:
            await o.close()
        await _phones.stop(children)
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for f in cluster.root.glob("*.log"):
                shutil.copy2(f, args.keep_logs / f.name)
        await asyncio.to_thread(cluster.stop)
        tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--relays", type=int, default=3)
    ap.add_argument("--devices", type=int, help="phones (default 6000, --quick 600)")
    ap.add_argument("--procs", type=int, default=2, help="phone processes")
    ap.add_argument("--batch", type=int, default=200, help="handshakes in flight per process")
    ap.add_argument("--move-batch", type=int, default=50, help="phones moving at once per process")
    ap.add_argument("--rounds", type=int, help="measured sends per layout (3, --quick 2)")
    ap.add_argument("--filers", type=int, default=192, help="phones filing reports, all nodes")
    ap.add_argument("--seconds", type=float, help="how long they file (10, --quick 3)")
    ap.add_argument(
        "--kill-after-ms",
        type=float,
        help="kill the node this long after the failover send (default: the median "
        "arrival on it in the cluster sends)",
    )
    ap.add_argument("--setup-timeout", type=float, default=180.0)
    ap.add_argument("--delivery-timeout", type=float, default=20.0)
    ap.add_argument("--failover-timeout", type=float, default=60.0)
    ap.add_argument(
        "--check-inter",
        type=float,
        metavar="MS",
        help="experiment: HAProxy's health-check interval (deployed: 2000 ms)",
    )
    ap.add_argument("--keep-logs", type=Path, help="copy the relays' and HAProxy's logs here")
    ap.add_argument("--quick", action="store_true", help="600 devices, 2 sends, 3 s of reports")
    args = ap.parse_args()
    for name, full, quick in (("devices", 6000, 600), ("rounds", 3, 2), ("seconds", 10.0, 3.0)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.relays < 2 or args.devices < 1 or args.procs < 1 or args.rounds < 1:
        ap.error("--relays must be at least 2; --devices, --procs and --rounds positive")
    try:
        result = asyncio.run(asyncio.wait_for(run(args), DEADLINE_S))
    except cl.ClusterUnavailable as exc:
        print(f"bench/cluster.py: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
