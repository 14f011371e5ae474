"""A Lookout cluster on loopback: PostgreSQL, N relay processes, HAProxy in TCP mode in front.

`start_cluster(root, relays=3)` builds what docs/scaling.md tells an operator to build:

- one throwaway PostgreSQL (tests/support/postgres.py) and one database in it, migrated and
  given the test officers (tests/conftest.py's accounts and password);
- what every node must share: one server certificate and its CA (made once, passed to
  each node as --cert/--key), one secrets key (--secrets-key: TOTP secrets sealed by one
  node open on every other), one media directory (each node's data_dir/media is a link to
  it: the NFS-style shared store), one Ed25519 relay key (evidence and checkpoints signed
  alike wherever they are made);
- N `lookout-relay serve --node-id relay-K` processes, each with its own data directory,
  phones' port and /metrics port, on the test limits (tests/conftest.py's TEST_LIMITS);
- HAProxy (Debian's package) in TCP mode, round robin, TLS passed through to the nodes
  and checked over TLS with `GET /healthz` (a 503 there, storage failing, takes the node
  out), all on 127.0.0.1.

`Cluster.stop()` (or the context manager) stops HAProxy, then the relays (SIGTERM, then
SIGKILL after a timeout), then PostgreSQL, and deletes what they wrote. `kill(k)` is a
`kill -9` of node k, for failover tests. Each relay's and HAProxy's output goes to a log
file under the root, quoted in the error when something does not start.

Without PostgreSQL server binaries or HAProxy, `start_cluster` raises `ClusterUnavailable`
(a fixture turns it into a skip, or a failure under LOOKOUT_REQUIRE_CLUSTER=1).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import LOOPBACK, PASSWORD, TEST_CAP_SENDER, RunningRelay
from tests.support import postgres

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
#: TOTP codes are single-use: each test logs in officers of its own
ACCOUNTS = [("sam", "supervisor")] + [
    (n, "dispatcher")
    for n in ("dana", "dev", "kim", "lee", "max", "ned", "oli", "pat", "ray", "ann", "bob")
    + ("cal", "eve", "fay", "gil", "hal", "ivy")
]
#: the nodes' settings beside the command line: tests/conftest.py's test limits and counts
NODE_SETTINGS: dict[str, object] = {
    "address_allowlist": LOOPBACK,
    "reports_per_device_per_hour": 100_000.0,
    "citizen_message_burst": 10_000.0,
    "cap_sender": TEST_CAP_SENDER,
    "min_count_shown": 1,
    "preview_burst": 1_000_000,
    "counts_interval_s": 0.1,
    # SIGTERM leaves the balancer first, as docs/scaling.md tells an operator to set it
    # (short here: HAProxy checks every 500 ms and takes a node out after two failures)
    "drain_s": 2.0,
}


class ClusterUnavailable(RuntimeError):
    """PostgreSQL or HAProxy is not installed here: the caller should skip."""


def required() -> bool:
    """True when the environment says cluster tests must run, not skip."""
    flag = os.environ.get("LOOKOUT_REQUIRE_CLUSTER", "")
    return flag not in ("", "0", "false", "no") or postgres.required()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml(settings: dict[str, object]) -> str:
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str | Path):
            return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, tuple | list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"no TOML for {v!r}")

    return "".join(f"{k} = {value(v)}\n" for k, v in settings.items())


@dataclass
class Node:
    """One relay process of the cluster."""

    node_id: str
    data_dir: Path
    port: int
    metrics_port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metric(self, name: str) -> float:
        """One unlabelled sample of this node's /metrics (plain HTTP, loopback)."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            body = r.read().decode()
        match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", body, re.MULTILINE)
        if match is None:
            raise KeyError(f"{name} not in {self.node_id}'s metrics")
        return float(match.group(1))


@dataclass
class Cluster:
    root: Path
    pg: postgres.PostgresCluster
    database_url: str
    ca: Path
    cert: Path
    key: Path
    secrets_key: Path
    media: Path
    totp: dict[str, str]
    nodes: list[Node] = field(default_factory=list)
    balancer_port: int = 0
    #: every node's settings file (NODE_SETTINGS unless the caller adds its own)
    settings: dict[str, object] = field(default_factory=lambda: dict(NODE_SETTINGS))
    _haproxy: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------ what tests use

    @property
    def client_ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        return ctx

    def through_balancer(self) -> RunningRelay:
        """A RunningRelay whose URLs go through HAProxy (tests.support.flows works on it)."""
        return self._running(f"wss://127.0.0.1:{self.balancer_port}", self.root)

    def direct(self, k: int) -> RunningRelay:
        """A RunningRelay for node k alone (0-based), bypassing the balancer."""
        return self._running(self.nodes[k].url, self.nodes[k].data_dir)

    def _running(self, url: str, data_dir: Path) -> RunningRelay:
        handle = SimpleNamespace(url=url, ca_path=self.ca)
        return RunningRelay(handle, data_dir, self.client_ssl, self.totp)

    def connections(self) -> list[tuple[int, int]]:
        """(officers, citizens) connected to each node now, from its /metrics."""
        return [
            (
                int(n.metric("lookout_officer_connections")),
                int(n.metric("lookout_citizen_connections")),
            )
            for n in self.nodes
        ]

    def stop_postgres(self) -> None:
        """Stop PostgreSQL (fast shutdown: sessions are cut), keeping its data."""
        self.pg._pg("pg_ctl", "-D", str(self.pg.datadir), "-m", "fast", "-w", "stop")
        self.pg._running = False

    def start_postgres(self) -> None:
        """Start it again on the same port and data (`stop_postgres`)."""
        self.pg._start()

    def drain(self, k: int) -> None:
        """SIGTERM to node k, as systemd stops it: it leaves the balancer over `drain_s`,
        then exits (`Node.alive` tells when)."""
        proc = self.nodes[k].proc
        assert proc is not None
        proc.terminate()

    def healthz(self, k: int) -> int | None:
        """Node k's /healthz status as HAProxy's check sees it (None: no answer)."""
        return _healthz(self.nodes[k].port, self.client_ssl)

    def kill(self, k: int) -> None:
        """`kill -9` node k: no shutdown, its sockets die with it."""
        proc = self.nodes[k].proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)

    # ------------------------------------------------------------ starting

    def _start_node(self, node: Node) -> None:
        config = node.data_dir.parent / f"{node.node_id}.toml"
        config.write_text(_toml(self.settings))
        argv = [
            sys.executable,
            "-m",
            "relay.cli",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(node.data_dir),
            "--database-url",
            self.database_url,
            "--node-id",
            node.node_id,
            "--secrets-key",
            str(self.secrets_key),
            "--cert",
            str(self.cert),
            "--key",
            str(self.key),
            "--port",
            str(node.port),
            "--metrics-port",
            str(node.metrics_port),
        ]
        out = node.log.open("ab")
        node.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def _wait_healthy(self, node: Node) -> None:
        assert node.proc is not None
        problem = _until_healthy(node.proc, node.port, self.client_ssl)
        if problem is not None:
            raise RuntimeError(f"{node.node_id} {problem} at start:\n{_tail(node.log)}")

    def _start_haproxy(self) -> None:
        exe = shutil.which("haproxy")
        assert exe is not None
        cfg = self.root / "haproxy.cfg"
        servers = "".join(
            f"    server {n.node_id} 127.0.0.1:{n.port} check check-ssl verify none\n"
            for n in self.nodes
        )
        cfg.write_text(
            HAPROXY_CONFIG.format(port=self.balancer_port, servers=servers),
        )
        check = subprocess.run([exe, "-c", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its config: {check.stderr or check.stdout}")
        log = (self.root / "haproxy.log").open("ab")
        self._haproxy = subprocess.Popen([exe, "-db", "-f", str(cfg)], stdout=log, stderr=log)
        log.close()
        problem = _until_healthy(self._haproxy, self.balancer_port, self.client_ssl)
        if problem is not None:
            raise RuntimeError(f"haproxy {problem}:\n{_tail(self.root / 'haproxy.log')}")

    # ------------------------------------------------------------ stopping

    def stop(self) -> None:
        try:
            if self._haproxy is not None:
                _end(self._haproxy)
            for node in self.nodes:  # all at once: each drains for `drain_s`
                if node.proc is not None and node.proc.poll() is None:
                    node.proc.terminate()
            for node in self.nodes:
                if node.proc is not None:
                    _end(node.proc)
        finally:
            self.pg.stop()
            shutil.rmtree(self.root, ignore_errors=True)


#: TCP mode: TLS goes through untouched to a node (the relay ends it, as alone); the check
#: is `GET /healthz` over TLS every 500 ms, two failures take a node out, two passes
#: bring it back; connections to a node marked down are cut, so its phones reconnect
HAPROXY_CONFIG = """\
global
    maxconn 8000

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 2s
    # a connection refused by a node that just died is tried again on another
    retries 3
    option redispatch

frontend lookout
    bind 127.0.0.1:{port}
    default_backend relays

backend relays
    balance roundrobin
    option httpchk GET /healthz
    # a draining relay answers 404: no new connections, its own stay until it closes them
    http-check disable-on-404
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
{servers}"""


def _until_healthy(proc: subprocess.Popen[bytes], port: int, ctx: ssl.SSLContext) -> str | None:
    """Wait until `port` answers /healthz 200 (None) or `proc` exits or START_TIMEOUT_S
    passes (what went wrong). Between looks it waits on the process's exit, the other
    condition that ends the wait, for at most 0.1 s."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while _healthz(port, ctx) != 200:
        if time.monotonic() > deadline:
            return f"not healthy in {START_TIMEOUT_S}s"
        try:
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        return "exited"
    return None


def _healthz(port: int, ctx: ssl.SSLContext) -> int | None:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-4000:]
    except OSError:
        return "(no log)"


def start_cluster(
    root: Path, relays: int = 3, settings: dict[str, object] | None = None
) -> Cluster:
    """PostgreSQL, `relays` nodes and HAProxy, all started and healthy; see the module doc.
    `settings` go over NODE_SETTINGS in every node's settings file (bench/cluster.py lifts
    the limits for its load)."""
    if shutil.which("haproxy") is None:
        raise ClusterUnavailable(
            "no haproxy on PATH; install Debian's package (apt-get install haproxy, or "
            "`make sysdeps`) to run the cluster tests"
        )
    try:
        pg = postgres.start_cluster()
    except postgres.PostgresUnavailable as exc:
        raise ClusterUnavailable(str(exc)) from None
    try:
        return _build(root, pg, relays, {**NODE_SETTINGS, **(settings or {})})
    except BaseException:
        pg.stop()
        raise


def _build(
    root: Path, pg: postgres.PostgresCluster, relays: int, settings: dict[str, object]
) -> Cluster:
    from relay import admin, checkpoints, tls

    root.mkdir(parents=True, exist_ok=True)
    url = pg.create_database("lookout_cluster")
    shared = root / "shared"
    made = tls.ensure_certificates(shared / "ca", ("localhost", "127.0.0.1"))
    secrets_key = shared / "secrets.key"
    media = shared / "media"
    media.mkdir(parents=True)
    engine = admin.open_engine(shared / "admin", url, secrets_key)
    try:
        totp = {n: admin.add_officer(engine, n, r, PASSWORD).totp_secret for n, r in ACCOUNTS}
    finally:
        engine.dispose()
    relay_key = shared / "admin" / checkpoints.KEY_FILE
    checkpoints.relay_key(shared / "admin")
    cluster = Cluster(
        root=root,
        pg=pg,
        database_url=url,
        ca=made.ca_cert,
        cert=made.server_cert,
        key=made.server_key,
        secrets_key=secrets_key,
        media=media,
        totp=totp,
        balancer_port=free_port(),
        settings=settings,
    )
    for k in range(relays):
        data = root / f"relay-{k + 1}"
        data.mkdir(mode=0o700)
        (data / "media").symlink_to(media, target_is_directory=True)
        (data / checkpoints.KEY_FILE).parent.mkdir(mode=0o700, parents=True)
        shutil.copy2(relay_key, data / checkpoints.KEY_FILE)
        cluster.nodes.append(
            Node(f"relay-{k + 1}", data, free_port(), free_port(), root / f"relay-{k + 1}.log")
        )
    try:
        # the first node alone (it creates the shared counters), then the others together
        first, *rest = cluster.nodes
        cluster._start_node(first)
        cluster._wait_healthy(first)
        for node in rest:
            cluster._start_node(node)
        for node in rest:
            cluster._wait_healthy(node)
        cluster._start_haproxy()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def running(root: Path, relays: int = 3) -> Iterator[Cluster]:
    """For a pytest fixture: a started cluster, stopped after; skipped when PostgreSQL or
    HAProxy is missing (a failure under LOOKOUT_REQUIRE_CLUSTER=1)."""
    import pytest

    pytest.importorskip("psycopg", reason="the cluster runs on PostgreSQL: needs psycopg (v3)")
    try:
        c = start_cluster(root, relays=relays)
    except ClusterUnavailable as exc:
        if required():
            pytest.fail(f"cluster tests required but: {exc}")
        pytest.skip(f"cluster tests skipped: {exc}")
    try:
        yield c
    finally:
        c.stop()
