"""Benchmark idle citizen connections: how much memory one relay process needs to hold them.

    python bench/idle_connections.py --connections 10000   # the target run (2-3 minutes)
    python bench/idle_connections.py --connections 500 --idle 5 --no-bare  # quick check

The relay runs in a child process of its own (temporary data dir, its own TLS CA, loopback
only), so its resident set is measured alone: VmRSS from /proc/PID/status once it has
started and before any client connects (`rss_baseline_mb`), and again after every citizen
connection has registered (`device.register`), set its categories and a location, and then
sat idle for `--idle` seconds with the relay's keepalive pings flowing (`rss_mb`). The
relay's garbage collector is run just before each reading, so garbage is not counted.

The devices are real TLS websocket clients (`compression=None`) spread over `--procs`
child processes, each opening its share with `--batch` handshakes in flight at a time.
Every process involved raises RLIMIT_NOFILE. After the idle reading each client pings the
relay on every connection: `held` counts the connections that are still open and answer.
`pinged` counts the relay's connections that have answered at least one of its keepalive
pings during the run.

Unless `--no-bare`, the same run then repeats the exercise against a bare websockets TLS
server in another child process (same certificate, same `serve()` options, a handler that
answers each request with a minimal reply): `bare_*` figures are the floor that
websockets + asyncio's TLS + OpenSSL set, so the relay's own share per connection is the
difference. `--tracemalloc` traces Python allocations in the server child from the
baseline on and prints the biggest sources at the end (tracing costs memory of its own,
so the RSS of such a run is not the figure to quote); what tracemalloc cannot see (the
native side: OpenSSL) is RSS growth minus traced growth.

Deployments (`deployment` in the JSON): `tls-in-relay` (the default: the relay ends TLS
itself), `tls-at-haproxy` (`--haproxy`: HAProxy, Debian's package, ends TLS on loopback in
TCP mode in front of the relay, which serves plain ws://; the phones still speak wss:// and
verify the relay's certificate; `haproxy_*` figures are HAProxy's own RSS and
`total_rss_mb` both processes) and `plain-no-tls` (`--plain`/`--no-tls`: no TLS anywhere,
to size what TLS costs; never a deployment). Both run the relay's own `tls = "proxy"`;
behind HAProxy also `trusted_proxies = ["127.0.0.1/32"]`, HAProxy sending a PROXY v2
header on every connection (`send-proxy-v2`), as docs/scaling.md deploys it. The bare
server serves plain ws:// for both, and gets no PROXY header.

Experiments (patches applied in the server child only, never to relay/ itself; report them
as experiments): `--ssl-read-buffer KB` sets asyncio's `SSLProtocol.max_size` (the read
buffer the relay shares per thread: relay/tls_buffers.py), `--max-queue` /
`--write-limit` override those `serve()` arguments, `--tls-tickets N` sets the relay's
`SSLContext.num_tickets` (TLS 1.3 tickets sent after each handshake; Python's default is
2: 0 saved nothing, 2026-12-02), `--malloc-trim` calls glibc's `malloc_trim(0)` before
each reading (to tell freed-but-kept heap from live objects: 0.5 KB of 31 per phone with
TLS, so what remains is live), and `--no-portal` starts the relay without its web portal.
(CPython already sets OpenSSL's SSL_MODE_RELEASE_BUFFERS on every context, so OpenSSL's
record buffers are not kept while a connection is idle.)

Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import itertools
import json
import multiprocessing as mp
import os
import random
import ssl
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import BENCH_LIMITS, HARD_DEADLINE_S, PRESTON, citizen_request, make_log, raise_nofile

from backend_client import codec
from backend_client import messages as m

log = make_log("idle_connections")

TARGET_MB = 250.0  # for TARGET_CONNECTIONS held
TARGET_CONNECTIONS = 10_000
KEEPALIVE_S = 20.0  # RelayConfig.keepalive_s default; the bare server uses the same

_ids = itertools.count(1)


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon, RssFile of `pid` in MB, from /proc/PID/status."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0]) / 1024.0  # kB -> MB
    return out


# ====================================================================== HAProxy (TLS ended in front)

HAPROXY_CFG = """global
    maxconn {maxconn}
    nbthread 1
    log stderr format short local0 warning
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend phones
    bind 127.0.0.1:{port} ssl crt {pem}
    default_backend relay
backend relay
    server relay 127.0.0.1:{relay_port} maxconn {maxconn}{send_proxy}
"""


class HAProxy:
    """HAProxy (Debian's package) ending TLS on loopback in front of the plain relay, in TCP
    mode: the relay's certificate and key, so the phones verify it as they verify the
    relay. Its own RSS is read too: ending TLS elsewhere moves memory, it does not free it."""

    def __init__(
        self, tmp: Path, relay_port: int, data_dir: Path, maxconn: int, i: int, send_proxy: bool
    ) -> None:
        import shutil
        import socket
        import subprocess

        exe = shutil.which("haproxy")
        if exe is None:
            raise SystemExit("--haproxy: haproxy is not installed (apt-get install haproxy)")
        from relay import tls

        files = tls.ensure_certificates(data_dir)  # the relay made them: these are read
        pem = tmp / f"haproxy-{i}.pem"
        pem.write_bytes(files.server_cert.read_bytes() + files.server_key.read_bytes())
        pem.chmod(0o600)
        with socket.socket() as probe:  # a free port (a race on a loopback-only box is moot)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        cfg = tmp / f"haproxy-{i}.cfg"
        cfg.write_text(
            HAPROXY_CFG.format(
                maxconn=maxconn,
                port=self.port,
                pem=pem,
                relay_port=relay_port,
                send_proxy=" send-proxy-v2" if send_proxy else "",
            )
        )
        self.proc = subprocess.Popen([exe, "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL)

    async def ready(self, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}")
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            except OSError:
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait(5)


# ====================================================================== server child


def _apply_experiments(opts: dict[str, Any]) -> list[str]:
    """Patch this (server) process for a measured experiment; never relay/ on disk."""
    applied: list[str] = []
    if opts.get("ssl_read_buffer_kb"):
        import asyncio.sslproto

        from relay import tls_buffers

        tls_buffers.TLS_READ_BUFFER = int(opts["ssl_read_buffer_kb"] * 1024)  # what start() sets
        asyncio.sslproto.SSLProtocol.max_size = tls_buffers.TLS_READ_BUFFER
        applied.append(f"SSLProtocol.max_size={asyncio.sslproto.SSLProtocol.max_size}")
    if opts.get("tls_tickets") is not None:
        from relay import tls

        made = tls.server_ssl_context

        def with_tickets(cert: Path, key: Path) -> ssl.SSLContext:
            ctx = made(cert, key)
            ctx.num_tickets = int(opts["tls_tickets"])
            return ctx

        tls.server_ssl_context = with_tickets  # type: ignore[assignment]
        applied.append(f"SSLContext.num_tickets={opts['tls_tickets']}")
    extra = {k: opts[k] for k in ("max_queue", "write_limit") if opts.get(k) is not None}
    if extra:
        import relay.server

        relay.server.serve = functools.partial(relay.server.serve, **extra)  # type: ignore[assignment]
        applied.append(", ".join(f"{k}={v}" for k, v in extra.items()))
    if opts.get("malloc_trim"):
        applied.append("malloc_trim(0) before each reading")
    if opts.get("no_portal"):
        applied.append("portal_enabled=False (no folium-offline import)")
    return applied


def server_main(conn: Connection, kind: str, data_dir: str, opts: dict[str, Any]) -> None:
    raise_nofile()
    try:
        asyncio.run(_server(conn, kind, Path(data_dir), opts))
    except Exception as exc:  # tell the parent, never hang it
        with contextlib.suppress(Exception):
            conn.send(("error", repr(exc)))


async def _bare_server(data_dir: Path, plain: bool) -> tuple[Any, dict[Any, None], str, str]:
    """A bare websockets TLS server with the relay's serve() options and certificate
    (plain ws:// when the relay serves it)."""
    from websockets.exceptions import ConnectionClosed

    import relay.server
    from backend_client.limits import MAX_FRAME_BYTES
    from relay import tls

    files = tls.ensure_certificates(data_dir)
    held: dict[Any, None] = {}

    async def handler(ws: Any) -> None:
        held[ws] = None
        with contextlib.suppress(ConnectionClosed):
            await serve_one(ws)

    async def serve_one(ws: Any) -> None:
        try:
            async for frame in ws:  # ends quietly when the client goes away
                msg = codec.citizen_inbound.decode(frame)
                if isinstance(msg, m.DeviceRegister):
                    reply: Any = m.DeviceRegistered(
                        re=msg.id, device_id="D0", secret="s", pseudonym="Citizen-BARE0"
                    )
                else:
                    reply = m.Ack(re=msg.id)
                await ws.send(codec.encode_text(reply))
        finally:
            held.pop(ws, None)

    # relay.server.serve, so the --max-queue/--write-limit experiments apply here too
    server = await relay.server.serve(
        handler,
        "127.0.0.1",
        0,
        ssl=None if plain else tls.server_ssl_context(files.server_cert, files.server_key),
        compression=None,
        max_size=MAX_FRAME_BYTES,
        max_queue=64,
        ping_interval=KEEPALIVE_S,
        ping_timeout=KEEPALIVE_S,
        close_timeout=5,
    )
    port = next(iter(server.sockets)).getsockname()[1]
    return server, held, f"{'ws' if plain else 'wss'}://localhost:{port}", str(files.ca_cert)


async def _server(conn: Connection, kind: str, data_dir: Path, opts: dict[str, Any]) -> None:
    applied = _apply_experiments(opts)
    relay: Any = None
    if kind == "relay":
        from relay.config import RelayConfig
        from relay.server import Relay

        extra: dict[str, Any] = {"portal_enabled": False} if opts.get("no_portal") else {}
        if opts.get("no_tls"):  # TLS ended in front (HAProxy) or nowhere
            extra["tls"] = "proxy"
        if opts.get("haproxy"):
            extra["trusted_proxies"] = ("127.0.0.1/32",)
        relay = Relay(
            RelayConfig(data_dir=data_dir, port=0, keepalive_s=KEEPALIVE_S, **BENCH_LIMITS, **extra)
        )
        await relay.start()
        server, url, ca = None, relay.url, str(relay.ca_path)

        def connections() -> list[Any]:
            return list(relay.hub.citizens.values())
    else:
        server, held, url, ca = await _bare_server(data_dir, bool(opts.get("no_tls")))

        def connections() -> list[Any]:
            return list(held)

    gc.collect()
    conn.send(("ready", url, ca, os.getpid(), applied))

    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
    while True:
        cmd = await commands.get()
        if cmd == "settle":
            gc.collect()
            if opts.get("malloc_trim"):
                import ctypes

                ctypes.CDLL("libc.so.6").malloc_trim(0)
            conns = connections()
            pinged = sum(1 for ws in conns if ws.latency > 0)
            conn.send(("settled", len(conns), pinged))
        elif cmd == "tracemalloc_start":
            import tracemalloc

            tracemalloc.start(1)
            conn.send(("tracing",))
        elif cmd == "tracemalloc_report":
            import tracemalloc

            gc.collect()
            snap = tracemalloc.take_snapshot()
            stats = snap.statistics("lineno")
            total = sum(s.size for s in stats)
            top = [
                (str(s.traceback[0]), round(s.size / 1024 / 1024, 2), s.count) for s in stats[:15]
            ]
            files = [
                (str(s.traceback[0].filename), round(s.size / 1024 / 1024, 2), s.count)
                for s in snap.statistics("filename")[:12]
            ]
            tracemalloc.stop()
            conn.send(("tracemalloc", round(total / 1024 / 1024, 2), top, files))
        elif cmd == "stop":
            loop.remove_reader(conn.fileno())
            if relay is not None:
                await asyncio.wait_for(relay.stop(), 60)
            else:
                server.close()
                await asyncio.wait_for(server.wait_closed(), 30)
            conn.send(("stopped",))
            return


# ====================================================================== client child


def client_main(
    conn: Connection, url: str, ca_path: str, n: int, seed: int, batch: int, deadline: float
) -> None:
    raise_nofile()
    try:
        asyncio.run(asyncio.wait_for(_client(conn, url, ca_path, n, seed, batch), deadline))
    except Exception as exc:  # tell the parent, never hang it
        with contextlib.suppress(Exception):
            conn.send(("error", repr(exc)))


async def _client(conn: Connection, url: str, ca_path: str, n: int, seed: int, batch: int) -> None:
    from websockets.asyncio.client import connect
    from websockets.protocol import State

    plain = url.startswith("ws://")  # the --no-tls experiment
    ctx = None if plain else ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path)
    rng = random.Random(seed)
    lat0, lon0 = PRESTON
    conns: list[Any] = []
    failures: list[str] = []
    sem = asyncio.Semaphore(batch)

    async def one() -> None:
        async with sem:
            try:
                ws = await connect(
                    url,
                    ssl=ctx,
                    compression=None,
                    max_size=2**20,
                    open_timeout=60,
                    ping_interval=None,  # the relay pings us; pongs go out without recv()
                    close_timeout=2,
                    proxy=None,
                )
            except Exception as exc:
                failures.append(f"connect: {exc!r}")
                return
            try:
                reg = await citizen_request(
                    ws, m.DeviceRegister(id=f"r{next(_ids)}", platform="bench"), timeout=60
                )
                assert isinstance(reg, m.DeviceRegistered), reg
                cats = await citizen_request(
                    ws,
                    m.SetCategories(id=f"c{next(_ids)}", categories=["burglary", "vehicle"]),
                    timeout=60,
                )
                assert isinstance(cats, m.Ack), cats
                lat = lat0 + rng.uniform(-0.05, 0.05)
                lon = lon0 + rng.uniform(-0.08, 0.08)
                loc = await citizen_request(
                    ws, m.LocationUpdate(id=f"l{next(_ids)}", lat=lat, lon=lon), timeout=60
                )
                assert isinstance(loc, m.Ack), loc
            except Exception as exc:
                failures.append(f"register: {exc!r}")
                ws.transport.abort()
                return
            conns.append(ws)

    await asyncio.gather(*(one() for _ in range(n)))
    gc.collect()
    conn.send(("ready", len(conns), failures[:3], len(failures)))

    async def alive(ws: Any) -> bool:
        if ws.state is not State.OPEN:
            return False
        try:
            waiter = await ws.ping()
            await asyncio.wait_for(waiter, 20)
            return True
        except Exception:
            return False

    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
    while True:
        cmd = await commands.get()
        if cmd == "check":
            is_open = sum(1 for ws in conns if ws.state is State.OPEN)
            answered = 0
            for i in range(0, len(conns), 500):  # bounded bursts of pings
                answered += sum(await asyncio.gather(*(alive(ws) for ws in conns[i : i + 500])))
            conn.send(("checked", is_open, answered))
        elif cmd == "close":
            loop.remove_reader(conn.fileno())
            for ws in conns:  # abort: no close handshakes to wait for
                ws.transport.abort()
            await asyncio.sleep(0.2)
            conn.send(("closed",))
            return


# ====================================================================== parent process


class Child:
    def __init__(self, proc: mp.process.BaseProcess, conn: Connection) -> None:
        self.proc, self.conn = proc, conn

    async def expect(self, kind: str, timeout: float) -> Any:
        if not await asyncio.to_thread(self.conn.poll, max(0.01, timeout)):
            raise TimeoutError(f"child {self.proc.pid}: no {kind!r} within {timeout:.0f}s")
        msg = self.conn.recv()
        if msg[0] == "error":
            raise RuntimeError(f"child {self.proc.pid} failed: {msg[1]}")
        if msg[0] != kind:
            raise RuntimeError(f"child {self.proc.pid}: expected {kind!r}, got {msg!r}")
        return msg

    async def ask(self, cmd: str, kind: str, timeout: float) -> Any:
        self.conn.send(cmd)
        return await self.expect(kind, timeout)

    async def finish(self, cmd: str, kind: str) -> None:
        with contextlib.suppress(Exception):
            await self.ask(cmd, kind, 30)
        await asyncio.to_thread(self.proc.join, 10)
        if self.proc.is_alive():
            self.proc.terminate()
            await asyncio.to_thread(self.proc.join, 5)


def start_child(target: Any, *args: Any) -> Child:
    ctx_mp = mp.get_context("spawn")
    parent_end, child_end = ctx_mp.Pipe()
    proc = ctx_mp.Process(target=target, args=(child_end, *args), daemon=True)
    proc.start()
    child_end.close()
    return Child(proc, parent_end)


async def measure(
    kind: str, data_dir: Path, args: argparse.Namespace, opts: dict[str, Any], end: float
) -> dict[str, Any]:
    """One server child, its baseline RSS, `args.connections` idle clients, its RSS again."""
    loop = asyncio.get_running_loop()
    server = start_child(server_main, kind, str(data_dir), opts)
    clients: list[Child] = []
    proxies: list[HAProxy] = []
    shares = [
        args.connections // args.procs + (1 if i < args.connections % args.procs else 0)
        for i in range(args.procs)
    ]
    try:
        _, url, ca, pid, applied = await server.expect("ready", 60)
        urls = [url] * args.procs
        if args.haproxy:
            # one HAProxy per client process: each holds 2 descriptors per phone, and a
            # process here may not open more than RLIMIT_NOFILE (20,000 on this machine)
            relay_port = int(url.rsplit(":", 1)[1])
            for i, n in enumerate(shares):
                proxies.append(
                    HAProxy(data_dir.parent, relay_port, data_dir, n + 500, i, kind == "relay")
                )
            for proxy in proxies:
                await proxy.ready()
            urls = [f"wss://127.0.0.1:{proxy.port}" for proxy in proxies]
            proxy_base = sum(proc_status(p.proc.pid)["VmRSS"] for p in proxies)
            log(f"{kind}: {len(proxies)} HAProxy end TLS at {urls} for ws://...:{relay_port}")
        if applied:
            log(f"{kind}: EXPERIMENT, patched in the server child: {'; '.join(applied)}")
        await server.ask("settle", "settled", 30)
        await asyncio.sleep(1.0)
        base = proc_status(pid)
        log(f"{kind} at {urls[0]} (pid {pid}): baseline RSS {base['VmRSS']:.1f} MB")
        if args.tracemalloc:
            await server.ask("tracemalloc_start", "tracing", 30)

        t0 = time.perf_counter()
        for i, n in enumerate(shares):
            budget = max(10.0, end - loop.time())
            clients.append(
                start_child(
                    client_main, f"{urls[i]}/v1/citizen", ca, n, 1000 + i, args.batch, budget
                )
            )
        connected = 0
        for c in clients:
            msg = await c.expect("ready", end - loop.time())
            connected += msg[1]
            if msg[3]:
                log(f"{kind}: client {c.proc.pid}: {msg[3]} devices failed, e.g. {msg[2]}")
        setup_s = time.perf_counter() - t0
        log(
            f"{kind}: {connected}/{args.connections} connected and set up in {setup_s:.1f}s; "
            f"RSS {proc_status(pid)['VmRSS']:.1f} MB; idle {args.idle:.0f}s"
        )

        idle_end = loop.time() + args.idle
        while (left := idle_end - loop.time()) > 0:
            await asyncio.sleep(min(10.0, left))
            log(f"{kind}: idle, RSS {proc_status(pid)['VmRSS']:.1f} MB")
        _, server_held, pinged = await server.ask("settle", "settled", 60)
        await asyncio.sleep(0.5)
        after = proc_status(pid)

        is_open = answered = 0
        for c in clients:
            _, o, a = await c.ask("check", "checked", max(10.0, end - loop.time()))
            is_open += o
            answered += a
        log(
            f"{kind}: RSS {after['VmRSS']:.1f} MB (peak {after['VmHWM']:.1f}); server holds "
            f"{server_held}, {pinged} answered its keepalive pings; clients: {is_open} open, "
            f"{answered} answered a ping"
        )
        out: dict[str, Any] = {
            "connections": args.connections,
            "connected": connected,
            "held": answered,
            "server_held": server_held,
            "pinged": pinged,
            "rss_mb": round(after["VmRSS"], 1),
            "rss_baseline_mb": round(base["VmRSS"], 1),
            "rss_per_connection_kb": round(
                (after["VmRSS"] - base["VmRSS"]) * 1024 / max(1, server_held), 2
            ),
            "rss_peak_mb": round(after["VmHWM"], 1),
            "rss_anon_mb": round(after["RssAnon"], 1),
            "setup_s": round(setup_s, 1),
            "experiments": applied,
        }
        if proxies:
            p_after = sum(proc_status(p.proc.pid)["VmRSS"] for p in proxies)
            out["haproxy_processes"] = len(proxies)
            out["haproxy_rss_mb"] = round(p_after, 1)
            out["haproxy_rss_baseline_mb"] = round(proxy_base, 1)
            out["haproxy_per_connection_kb"] = round(
                (p_after - proxy_base) * 1024 / max(1, server_held), 2
            )
            out["total_rss_mb"] = round(after["VmRSS"] + p_after, 1)
        if args.tracemalloc:
            _, traced, top, files = await server.ask("tracemalloc_report", "tracemalloc", 120)
            growth = after["VmRSS"] - base["VmRSS"]
            log(
                f"{kind}: tracemalloc: Python allocations grew {traced:.1f} MB of the "
                f"{growth:.1f} MB RSS growth; the rest ({growth - traced:.1f} MB) is native "
                "(OpenSSL, allocator overhead)"
            )
            for where, mb, count in top:
                log(f"    {mb:8.2f} MB {count:8d} blocks  {where}")
            log(f"{kind}: tracemalloc by file:")
            for where, mb, count in files:
                log(f"    {mb:8.2f} MB {count:8d} blocks  {where}")
            out["traced_mb"] = traced
        return out
    finally:
        for c in clients:
            await c.finish("close", "closed")
        await server.finish("stop", "stopped")
        for proxy in proxies:
            proxy.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    nofile = raise_nofile()
    log(f"RLIMIT_NOFILE={nofile}, pid {os.getpid()}, {os.cpu_count()} cpus")
    if nofile < args.connections // args.procs + 100 or nofile < args.connections + 100:
        log(f"warning: RLIMIT_NOFILE {nofile} may be too low for {args.connections} connections")
    opts = {
        "ssl_read_buffer_kb": args.ssl_read_buffer,
        "no_tls": args.no_tls or args.haproxy,
        "haproxy": args.haproxy,
        "max_queue": args.max_queue,
        "write_limit": args.write_limit,
        "malloc_trim": args.malloc_trim,
        "tls_tickets": args.tls_tickets,
        "no_portal": args.no_portal,
    }
    loop = asyncio.get_running_loop()
    end = loop.time() + HARD_DEADLINE_S - 15  # leave time to tear down
    with tempfile.TemporaryDirectory(prefix="lookout-idle-") as tmp:
        result = await measure("relay", Path(tmp) / "relay", args, opts, end)
        if args.bare:
            bare = await measure("bare", Path(tmp) / "bare", args, opts, end)
            for k in (
                "held",
                "rss_mb",
                "rss_baseline_mb",
                "rss_per_connection_kb",
                "setup_s",
                "traced_mb",
            ):
                if k in bare:
                    result[f"bare_{k}"] = bare[k]
            result["relay_own_per_connection_kb"] = round(
                result["rss_per_connection_kb"] - bare["rss_per_connection_kb"], 2
            )
    result["deployment"] = (
        "tls-at-haproxy" if args.haproxy else "plain-no-tls" if args.no_tls else "tls-in-relay"
    )
    result["idle_s"] = args.idle
    result["processes"] = args.procs
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--procs", type=int, default=2, help="client processes (2-4)")
    ap.add_argument(
        "--batch", type=int, default=200, help="connection handshakes in flight per process"
    )
    ap.add_argument("--idle", type=float, default=30.0, help="seconds to sit idle")
    ap.add_argument(
        "--no-bare", dest="bare", action="store_false", help="skip the bare websockets baseline"
    )
    ap.add_argument("--tracemalloc", action="store_true", help="trace the server's allocations")
    ap.add_argument("--ssl-read-buffer", type=float, metavar="KB", help="experiment")
    ap.add_argument(
        "--no-tls", "--plain", action="store_true", help="the relay serves plain ws:// (no proxy)"
    )
    ap.add_argument(
        "--haproxy", action="store_true", help="the relay serves ws:// behind HAProxy ending TLS"
    )
    ap.add_argument(
        "--tls-tickets", type=int, metavar="N", help="experiment: TLS 1.3 tickets per handshake"
    )
    ap.add_argument("--max-queue", type=int, help="experiment")
    ap.add_argument("--write-limit", type=int, help="experiment")
    ap.add_argument("--malloc-trim", action="store_true", help="experiment: glibc malloc_trim")
    ap.add_argument(
        "--no-portal", action="store_true", help="experiment: the relay without its web portal"
    )
    args = ap.parse_args()
    if args.connections < 1 or not 1 <= args.procs <= 16 or args.idle < 0:
        ap.error("--connections and --procs must be positive, --idle not negative")
    result = asyncio.run(asyncio.wait_for(run(args), HARD_DEADLINE_S))
    # behind HAProxy the relay process is what the target counts; HAProxy's RSS is
    # reported beside it
    experiments = result["experiments"]
    result["target_met"] = bool(
        args.connections >= TARGET_CONNECTIONS
        and result["held"] == args.connections
        and result["rss_mb"] <= TARGET_MB
        and result["deployment"] != "plain-no-tls"
        and not experiments
        and not args.tracemalloc
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
