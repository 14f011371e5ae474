"""Benchmark report ingest: reports committed durably before acknowledgement, per second.

    python bench/ingest.py --reports 20000                 # the target run
    python bench/ingest.py --reports 2000 --connections 20  # quick check

A relay runs in this process (temporary data dir, SQLite in WAL mode with
synchronous=FULL as relay/db/engine.py sets it, TLS on loopback). The client load runs in
`--procs` separate processes: `--connections` citizen devices in all, each registered over
the wire, then each submitting its share of `--reports` reports with up to `--inflight`
`report.submit` requests outstanding (pipelined; replies matched by `re`). The relay
acknowledges a report only after its group commit (relay/db/uow.py) is durable.

`reports_per_s` = acknowledged reports / (last acknowledgement - first submit), over
all connections. `p99_ack_ms` is measured per request in the client, from just before the
frame is sent to the `report.accepted` reply. After the run the relay is stopped and the
reports table is read back with SQLAlchemy: `lost` counts report ids that were
acknowledged but are not in the database (must be 0). With more than one core the clients
are pinned away from the first core, so the relay has a core to itself (`--no-pin` to
switch that off). `--profile DIR` samples the relay process with py-spy (collapsed stacks
per thread in DIR/relay.pyspy.txt; py-spy from PATH, $PY_SPY or the venv) and prints the
hottest relay functions; without py-spy it cProfiles the writer thread instead.

On PostgreSQL (issue 15 item 6; docs/scaling-ingest.md): `--postgres` starts a throwaway
server with fsync, synchronous_commit and full_page_writes on (bench/_pg.py; the JSON's
`settings` are the server's own SHOW), `--database-url URL` uses an empty database of
yours, and `--relays N` runs N relay processes on it with the devices spread round robin
over them. `lost` (acknowledged, not stored), `duplicates` and `event_seq_gaps` are
counted by SELECT afterwards; `postgres` says where the server's time went
(pg_stat_statements, pg_stat_wal, sampled pg_stat_activity) and the `*_cpu_ms_per_report`
figures split the CPU between the relays, the server and the clients.
`bench/ingest_compare.py` runs the setups side by side.
Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import multiprocessing as mp
import os
import pstats
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import BENCH_LIMITS, HARD_DEADLINE_S, PRESTON, make_log, pct, raise_nofile

from backend_client import codec
from backend_client import messages as m

log = make_log("ingest")

TEXTS = (
    "Two men trying car door handles on Fishergate, one in a grey hoodie.",
    "Back gate forced at the end of the terrace, shed door open.",
    "Lads on bikes going through front gardens near the park.",
    "Van parked with engine running, two people carrying boxes out of a house.",
)


# ====================================================================== client process


def child_main(
    conn: Connection,
    targets: list[tuple[str, str]],
    shares: list[tuple[int, int]],
    inflight: int,
    cpus: list[int] | None,
) -> None:
    """`shares`: (relay index in `targets`, reports to submit) for each device."""
    raise_nofile()
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        asyncio.run(asyncio.wait_for(_child(conn, targets, shares, inflight), HARD_DEADLINE_S))
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send(("error", repr(exc)))


async def _child(
    conn: Connection, targets: list[tuple[str, str]], shares: list[tuple[int, int]], inflight: int
) -> None:
    ctxs = [ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca) for _, ca in targets]
    ids = itertools.count(1)
    pid = os.getpid()

    async def open_device(target: int) -> ClientConnection:
        ws = await connect(
            f"{targets[target][0]}/v1/citizen",
            ssl=ctxs[target],
            compression=None,
            max_size=2**20,
            open_timeout=30,
        )
        rid = f"g{next(ids)}"
        await ws.send(codec.encode_text(m.DeviceRegister(id=rid, platform="bench")))
        async with asyncio.timeout(30):
            while True:
                reply = codec.citizen_outbound.decode(await ws.recv())
                if getattr(reply, "re", None) == rid:
                    break
        if not isinstance(reply, m.DeviceRegistered):
            raise RuntimeError(f"register refused: {reply}")
        return ws

    sockets = await asyncio.gather(*(open_device(target) for target, _ in shares))
    conn.send(("ready", len(sockets)))
    loop = asyncio.get_running_loop()
    go: asyncio.Future[Any] = loop.create_future()

    def on_command() -> None:
        if not go.done():
            go.set_result(conn.recv())

    loop.add_reader(conn.fileno(), on_command)
    await go
    loop.remove_reader(conn.fileno())

    acked: list[str] = []
    latencies: list[float] = []
    errors: list[str] = []
    first_send = time.time()
    cpu0 = time.process_time()

    async def pump(ci: int, ws: ClientConnection, n: int) -> None:
        sent_at: dict[str, float] = {}
        window = asyncio.Semaphore(inflight)
        done = asyncio.Event()
        remaining = n

        async def receive() -> None:
            nonlocal remaining
            while remaining > 0:
                frame = await ws.recv()
                t = time.perf_counter()
                reply = codec.citizen_outbound.decode(frame)
                rid = getattr(reply, "re", None)
                t0 = sent_at.pop(rid, None) if rid is not None else None
                if t0 is None:
                    continue  # not a reply to a submit (nothing else is expected)
                if isinstance(reply, m.ReportAccepted):
                    acked.append(reply.report_id)
                    latencies.append((t - t0) * 1000)
                else:
                    errors.append(repr(reply)[:200])
                remaining -= 1
                window.release()
            done.set()

        rx = asyncio.create_task(receive())
        for k in range(n):
            await window.acquire()
            if rx.done():
                break
            rid = f"s{ci}-{k}"
            msg = m.ReportSubmit(
                id=rid,
                client_ref=f"{pid}-{ci}-{k}",
                category="burglary",
                text=TEXTS[k % len(TEXTS)],
                lat=PRESTON[0] + (k % 97) * 1e-4,
                lon=PRESTON[1] - (k % 89) * 1e-4,
            )
            sent_at[rid] = time.perf_counter()
            await ws.send(codec.encode_text(msg))
        await rx

    await asyncio.gather(
        *(pump(i, ws, n) for i, (ws, (_, n)) in enumerate(zip(sockets, shares, strict=True)))
    )
    last_ack = time.time()
    cpu = time.process_time() - cpu0
    conn.send(("done", first_send, last_ack, acked, latencies, errors[:5], len(errors), cpu))
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# ====================================================================== relay process


async def recv_from(conn: Connection, timeout: float) -> Any:
    if not await asyncio.to_thread(conn.poll, timeout):
        raise TimeoutError(f"no word from a client process within {timeout}s")
    msg = conn.recv()
    if msg[0] == "error":
        raise RuntimeError(f"client process failed: {msg[1]}")
    return msg


def py_spy() -> str | None:
    exe = (
        os.environ.get("PY_SPY")
        or shutil.which("py-spy")
        or str(Path(sys.executable).parent / "py-spy")
    )
    return exe if Path(exe).exists() else None


def start_py_spy(out: Path) -> subprocess.Popen[bytes] | None:
    exe = py_spy()
    if exe is None:
        return None
    cmd = [
        exe,
        "record",
        "--pid",
        str(os.getpid()),
        "--threads",
        "--rate",
        "200",
        "--format",
        "raw",
        "-o",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarize_py_spy(path: Path, top: int = 25) -> None:
    """Per-thread share of samples, then the relay functions with the most inclusive time."""
    import collections
    import re

    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        thread = re.sub(r"\(\d+\)", "", frames[0])
        threads[thread] += n
        seen: set[str] = set()
        for f in frames[1:]:
            if f not in seen:
                seen.add(f)
                incl[f"{thread} | {f}"] += n
        self_[f"{thread} | {frames[-1]}"] += n
    if not total:
        return
    log(f"py-spy: {total} samples of busy threads")
    for t, n in threads.most_common():
        log(f"  {n / total:6.1%}  {t}")
    log("hottest relay/ and uow lines (inclusive):")
    for f, n in [x for x in incl.most_common() if "relay/" in x[0]][:top]:
        log(f"  {n / total:6.1%}  {f}")
    log("hottest leaf frames (self):")
    for f, n in self_.most_common(12):
        log(f"  {n / total:6.1%}  {f}")


class RelayHost:
    """One relay of the run, instrumented: the writer thread's CPU and wall time per batch
    (the group-commit thread is where ingest spends its time, and its CPU time is robust
    to other load on the machine; wall time is not), its batches and its process CPU.
    Runs in this process (one relay) or in a process of its own (`relay_main`)."""

    def __init__(self, data_dir: Path, database_url: str | None, node_id: str, args: Any):
        from relay.config import RelayConfig
        from relay.server import Relay

        if args.switch_interval:  # how soon a thread waiting for the GIL asks for it
            sys.setswitchinterval(args.switch_interval / 1000)
        self.relay = Relay(
            RelayConfig(
                data_dir=data_dir,
                port=0,
                database_url=database_url,
                node_id=node_id,
                wal_checkpoint_every_s=args.wal_checkpoint_every,
                **BENCH_LIMITS,
            )
        )
        self.profiler: cProfile.Profile | None = None
        self.writer = [0.0, 0.0, 0.0]  # thread CPU s, wall s inside _run_batch, max wall s
        db_ = self.relay.db
        inner_batch = db_._run_batch

        def timed_batch(batch: Any) -> None:
            c0, t0 = time.thread_time(), time.perf_counter()
            inner_batch(batch)
            wall = time.perf_counter() - t0
            self.writer[0] += time.thread_time() - c0
            self.writer[1] += wall
            self.writer[2] = max(self.writer[2], wall)

        db_._run_batch = timed_batch  # type: ignore[method-assign]
        self.mark()

    def profile_writer(self) -> None:
        """cProfile the writer thread (where the group commit runs): wrap its target."""
        self.profiler = cProfile.Profile()
        db_ = self.relay.db
        db_._queue.put(None)  # stop the writer the relay started; start a profiled one
        db_._thread.join(5)
        inner = db_._run
        profiler = self.profiler

        def profiled() -> None:
            profiler.runcall(inner)

        db_._thread = threading.Thread(target=profiled, name="relay-writer", daemon=True)
        db_._thread.start()

    async def start(self) -> tuple[str, str]:
        await self.relay.start()
        assert self.relay.ca_path is not None
        return self.relay.url, str(self.relay.ca_path)

    def mark(self) -> None:
        """Count from here (after the devices registered)."""
        self.batches0, self.jobs0 = self.relay.db.batches, self.relay.db.jobs
        self.writer[:] = [0.0, 0.0, 0.0]
        self.cpu0 = time.process_time()
        self.lock0 = (self.relay.db.lock_wait_s, self.relay.db.lock_held_s)
        self.reads0 = self._follower_reads()

    def _follower_reads(self) -> int:
        """Reads of the shared log for other nodes' events (relay/cluster.py), 0 alone."""
        follower = self.relay.follower
        return follower.reads if follower is not None else 0

    def stats(self) -> dict[str, float]:
        return {
            "batches": self.relay.db.batches - self.batches0,
            "jobs": self.relay.db.jobs - self.jobs0,
            "writer_cpu_s": self.writer[0],
            "writer_wall_s": self.writer[1],
            "max_batch_s": self.writer[2],
            "cpu_s": time.process_time() - self.cpu0,
            "lock_wait_s": self.relay.db.lock_wait_s - self.lock0[0],
            "lock_held_s": self.relay.db.lock_held_s - self.lock0[1],
            "follower_reads": self._follower_reads() - self.reads0,
        }

    async def stop(self) -> None:
        await asyncio.wait_for(self.relay.stop(), 60)


def relay_main(conn: Connection, data_dir: str, url: str, node_id: str, args: Any) -> None:
    """A relay in a process of its own: ready, then mark, then stop (with its stats)."""
    raise_nofile()

    async def serve() -> None:
        host = RelayHost(Path(data_dir), url, node_id, args)
        conn.send(("ready", *(await host.start())))
        for command in ("mark", "stop"):
            await asyncio.to_thread(conn.poll, HARD_DEADLINE_S)
            assert conn.recv() == command
            if command == "mark":
                host.mark()
                conn.send(("marked",))
        stats = host.stats()
        await host.stop()
        conn.send(("stats", stats))

    try:
        asyncio.run(asyncio.wait_for(serve(), HARD_DEADLINE_S))
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send(("error", repr(exc)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    with contextlib.ExitStack() as stack:
        url = args.database_url
        if args.postgres:
            import _pg

            url = stack.enter_context(_pg.durable_cluster())
        return await run_on(args, url)


async def run_on(args: argparse.Namespace, url: str | None) -> dict[str, Any]:
    from relay.db.engine import sqlite_url

    tmp = tempfile.TemporaryDirectory(prefix="lookout-ingest-")
    root = Path(tmp.name)
    ctx_mp = mp.get_context("spawn")
    local: RelayHost | None = None
    nodes: list[tuple[mp.process.BaseProcess, Connection]] = []
    targets: list[tuple[str, str]] = []  # (url, CA file) of each relay
    observer = None
    if url is not None and url.startswith("postgresql"):
        import _pg

        observer = _pg.Observer(url)
    if args.relays == 1:
        local = RelayHost(root / "relay", url, "", args)
        if args.profile and py_spy() is None:
            local.profile_writer()
        targets.append(await local.start())
    else:
        for i in range(args.relays):  # one after another: the first one migrates
            a, b = ctx_mp.Pipe()
            p = ctx_mp.Process(
                target=relay_main,
                args=(b, str(root / f"relay-{i}"), url, f"bench-{i}", args),
                daemon=True,
            )
            p.start()
            b.close()
            nodes.append((p, a))
            _, relay_url, ca = await recv_from(a, 120)
            targets.append((relay_url, ca))
    database_url = url or sqlite_url(root / "relay")

    cpus = sorted(os.sched_getaffinity(0))
    client_cpus = cpus[1:] if args.pin and len(cpus) >= 2 else None
    log(f"relays at {[t[0] for t in targets]}; clients on cpus {client_cpus or cpus}")

    k = args.connections
    per_conn = [
        (i % len(targets), args.reports // k + (1 if i < args.reports % k else 0)) for i in range(k)
    ]
    groups = [per_conn[i :: args.procs] for i in range(args.procs)]
    procs: list[tuple[mp.process.BaseProcess, Connection]] = []
    spy: subprocess.Popen[bytes] | None = None
    stats: list[dict[str, float]] = []
    try:
        for g in groups:
            a, b = ctx_mp.Pipe()
            p = ctx_mp.Process(
                target=child_main,
                args=(b, targets, g, args.inflight, client_cpus),
                daemon=True,
            )
            p.start()
            b.close()
            procs.append((p, a))
        for _, c in procs:
            await recv_from(c, 60)
        log(
            f"{k} devices registered over {len(procs)} processes on {len(targets)} relays; "
            f"submitting {args.reports} reports"
        )
        if args.profile and local is not None:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            spy = start_py_spy(Path(args.profile) / "relay.pyspy.txt")
            await asyncio.sleep(1.0)
        if local is not None:
            local.mark()
        for _, c in nodes:
            c.send("mark")
            await recv_from(c, 30)
        if observer is not None:
            observer.start()
        for _, c in procs:
            c.send("go")
        results = [await recv_from(c, HARD_DEADLINE_S) for _, c in procs]
        server = observer.finish() if observer is not None else None
        if local is not None:
            stats.append(local.stats())
        for _, c in nodes:
            c.send("stop")
        for _, c in nodes:
            stats.append((await recv_from(c, 90))[1])
    finally:
        if spy is not None:
            spy.send_signal(2)
            try:
                spy.wait(20)
            except subprocess.TimeoutExpired:
                spy.kill()
        for proc, _ in procs + nodes:
            await asyncio.to_thread(proc.join, 20)
            if proc.is_alive():
                proc.terminate()
        if local is not None:
            await local.stop()

    if spy is not None and args.profile:
        summarize_py_spy(Path(args.profile) / "relay.pyspy.txt")
    if local is not None and local.profiler is not None and args.profile:
        out = Path(args.profile) / "writer.pstats"
        local.profiler.dump_stats(str(out))
        log(f"writer thread profile: {out}")
        pstats.Stats(local.profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)

    first = min(r[1] for r in results)
    last = max(r[2] for r in results)
    acked = [rid for r in results for rid in r[3]]
    lat = [x for r in results for x in r[4]]
    n_err = sum(r[6] for r in results)
    if n_err:
        log(f"{n_err} submits refused, e.g. {[e for r in results for e in r[5]][:3]}")

    import _pg

    held = _pg.stored(database_url)
    settings = observer.settings() if observer is not None else {"sqlite_synchronous": "FULL"}
    lost = len(set(acked) - held["ids"])
    tmp.cleanup()
    elapsed = last - first
    batches = sum(int(x["batches"]) for x in stats)
    jobs = sum(int(x["jobs"]) for x in stats)
    result: dict[str, Any] = {
        "database": "postgresql" if observer is not None else "sqlite",
        "relays": len(targets),
        "reports": len(acked),
        "reports_per_s": round(len(acked) / elapsed, 1) if elapsed > 0 else None,
        "p99_ack_ms": round(pct(lat, 99), 2) if lat else None,
        "lost": lost,
        "duplicates": held["duplicates"] + len(acked) - len(set(acked)),
        "event_seq_gaps": held["event_seq_gaps"],
        "connections": k,
        "p50_ack_ms": round(pct(lat, 50), 2) if lat else None,
        "requested": args.reports,
        "refused": n_err,
        "seconds": round(elapsed, 2),
        "inflight": args.inflight,
        "client_processes": len(procs),
        "commit_batches": batches,
        "jobs_per_batch": round(jobs / batches, 1) if batches else None,
        "batch_ms_mean": round(sum(x["writer_wall_s"] for x in stats) * 1000 / max(1, batches), 2),
        "batch_ms_max": round(max(x["max_batch_s"] for x in stats) * 1000, 1),
        "writer_cpu_ms_per_report": round(
            sum(x["writer_cpu_s"] for x in stats) * 1000 / max(1, jobs), 3
        ),
        "writer_wall_ms_per_report": round(
            sum(x["writer_wall_s"] for x in stats) * 1000 / max(1, jobs), 3
        ),
        "relay_cpu_ms_per_report": round(sum(x["cpu_s"] for x in stats) * 1000 / max(1, jobs), 3),
        "client_cpu_ms_per_report": round(sum(r[7] for r in results) * 1000 / max(1, jobs), 3),
        # the audit lock per batch: taking it (waiting for other nodes' batches), holding it
        "lock_wait_ms_per_batch": round(
            sum(x["lock_wait_s"] for x in stats) * 1000 / max(1, batches), 2
        ),
        "lock_held_ms_per_batch": round(
            sum(x["lock_held_s"] for x in stats) * 1000 / max(1, batches), 2
        ),
        "per_relay_reports": [int(x["jobs"]) for x in stats],
        "follower_reads": sum(int(x["follower_reads"]) for x in stats),
        "relay_pinned_apart": client_cpus is not None,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "settings": settings,
    }
    if server is not None:
        result["postgres_cpu_ms_per_report"] = round(server.pop("cpu_s") * 1000 / max(1, jobs), 3)
        result["postgres"] = server
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--inflight", type=int, default=4, help="outstanding submits per connection")
    ap.add_argument("--procs", type=int, default=1, help="client processes")
    ap.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="don't keep the clients off the relay's core",
    )
    ap.add_argument("--profile", metavar="DIR", help="write py-spy and cProfile output here")
    where = ap.add_mutually_exclusive_group()
    where.add_argument(
        "--database-url",
        metavar="URL",
        help="an empty PostgreSQL database (postgresql+psycopg://...); default: SQLite",
    )
    where.add_argument(
        "--postgres",
        action="store_true",
        help="start a throwaway PostgreSQL with fsync and synchronous_commit on (bench/_pg.py)",
    )
    ap.add_argument(
        "--switch-interval",
        type=float,
        metavar="MS",
        help="the relays' sys.setswitchinterval (Python's default is 5 ms)",
    )
    ap.add_argument(
        "--relays",
        type=int,
        default=1,
        help="relay processes sharing the (PostgreSQL) database; phones spread over them",
    )
    ap.add_argument(
        "--wal-checkpoint-every",
        type=float,
        default=60.0,
        metavar="S",
        help="the relay's WAL truncation interval (privacy at rest); 1 shows its cost",
    )
    args = ap.parse_args()
    if min(args.reports, args.connections, args.inflight, args.procs, args.relays) < 1:
        ap.error("--reports, --connections, --inflight, --procs and --relays must be positive")
    if args.relays > 1 and not (args.postgres or args.database_url):
        ap.error("--relays above 1 needs PostgreSQL (--postgres or --database-url)")
    if args.procs > args.connections:
        ap.error("--procs must not exceed --connections")
    result = asyncio.run(asyncio.wait_for(run(args), HARD_DEADLINE_S))
    result["target_met"] = bool(
        result["lost"] == 0
        and result["reports"] == args.reports
        and (result["reports_per_s"] or 0) >= 2000
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
