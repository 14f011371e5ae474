"""The relay behind a load balancer that ends TLS (`tls = "proxy"`): plain ws:// on the
listener, PROXY v2 headers from the trusted balancers only, and the per-address limits
counting the phone's address from the header, not the balancer's. The last test puts a real
HAProxy (Debian's package; `send-proxy-v2`, `ssl crt`) in front.

Every relay here runs without the loopback allowlist, so the limits apply to loopback
addresses as to any other; test clients bind 127.0.0.2 and 127.0.0.3 to be other phones.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage

from backend_client import codec
from backend_client import messages as m
from relay.proxy_protocol import SIGNATURE, encode
from tests.conftest import RunningRelay, relays
from tests.support.peer import Peer, next_id, wait_until

Start = Callable[..., Awaitable[RunningRelay]]
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n"


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Start]:
    """`await edge(**config)`: a plain relay (TLS at a balancer), loopback not exempt."""
    async with relays(tmp_path, tls="proxy", address_allowlist=()) as start:
        yield start


def port_of(r: RunningRelay) -> int:
    return int(r.relay.port)  # type: ignore[attr-defined]


def raw(port: int, data: bytes, local: str = "127.0.0.1", hang_up: bool = False) -> bytes | str:
    """Send `data` on a new TCP connection from `local` (then close our side if `hang_up`);
    everything the relay answered until it closed, or "reset" when it reset the connection."""
    with socket.socket() as s:
        s.settimeout(10)
        s.bind((local, 0))
        chunks = []
        try:
            s.connect(("127.0.0.1", port))  # a reset at accept may already reach connect()
            s.sendall(data)
            if hang_up:
                s.shutdown(socket.SHUT_WR)
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
        return b"".join(chunks)


async def ask(
    port: int, data: bytes, local: str = "127.0.0.1", hang_up: bool = False
) -> bytes | str:
    return await asyncio.to_thread(raw, port, data, local, hang_up)


async def phone_via_header(r: RunningRelay, source: tuple[str, int]) -> Peer:
    """A citizen connection whose PROXY header names `source` (as a balancer would)."""
    port = port_of(r)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(encode(source, ("127.0.0.1", port)))
    sock.setblocking(False)
    ws = await connect(f"{r.citizen_url}", sock=sock, compression=None, open_timeout=10)
    return Peer(ws, codec.citizen_outbound)


async def register(p: Peer) -> None:
    reg = await p.request(m.DeviceRegister(id=next_id(), platform="test"))
    assert isinstance(reg, m.DeviceRegistered), reg


def refused(r: RunningRelay, limit: str = "connections") -> float:
    """Connections the listener refused so far for `limit` (at accept or at the header)."""
    value = r.relay.metrics.registry.get_sample_value(  # type: ignore[attr-defined]
        "lookout_rate_limited_total", {"endpoint": "accept", "limit": limit}
    )
    return value or 0.0


def relay_side(r: RunningRelay) -> list[Any]:
    return list(r.relay.hub.citizens.values())  # type: ignore[attr-defined]


async def test_a_plain_relay_on_loopback_serves_phones_over_ws(edge: Start) -> None:
    r = await edge(connections_per_address=1)
    assert r.citizen_url.startswith("ws://127.0.0.1:")
    ws = await connect(r.citizen_url, compression=None, open_timeout=10)
    p = Peer(ws, codec.citizen_outbound)
    await register(p)
    [conn] = relay_side(r)
    assert conn.remote_address[0] == "127.0.0.1"
    # no PROXY header is read from anyone without trusted_proxies: a forged one is not
    # an address, just bytes that are not HTTP
    forged = encode(("203.0.113.9", 1), ("127.0.0.1", port_of(r))) + HEALTHZ
    answer = await ask(port_of(r), forged, local="127.0.0.2")
    assert isinstance(answer, bytes) and not answer.startswith(b"HTTP/1.1 200"), answer
    # and the per-address limit counts 127.0.0.1 itself: its second connection is refused
    assert await ask(port_of(r), HEALTHZ) == "reset"
    await p.ws.close()


async def test_per_address_limits_count_the_source_in_the_proxy_header(edge: Start) -> None:
    r = await edge(trusted_proxies=("127.0.0.1/32",), connections_per_address=1)
    port = port_of(r)
    first = await phone_via_header(r, ("203.0.113.7", 40001))
    await register(first)
    [conn] = relay_side(r)
    assert conn.remote_address == ("203.0.113.7", 40001)
    # the same phone's second connection through the balancer is over its limit...
    again = encode(("203.0.113.7", 40002), ("127.0.0.1", port)) + HEALTHZ
    assert await ask(port, again) == "reset"
    assert refused(r) == 1
    # ...another phone through the same balancer is not
    other = await phone_via_header(r, ("203.0.113.8", 40003))
    await register(other)
    assert {c.remote_address[0] for c in relay_side(r)} == {"203.0.113.7", "203.0.113.8"}
    # IPv6 phones count per /64 as without a balancer
    v6 = encode(("2001:db8:1:2::5", 1), ("::1", port)) + HEALTHZ
    assert (await ask(port, v6)).startswith(b"HTTP/1.1 200")  # type: ignore[union-attr]
    # the first phone's slot is free again once it has gone
    await first.ws.close()
    await wait_until(lambda: len(relay_side(r)) == 1)
    answer = await ask(port, again)
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 200"), answer
    await other.ws.close()


async def test_missing_malformed_and_oversized_headers_are_reset(edge: Start) -> None:
    r = await edge(trusted_proxies=("127.0.0.1/32",))
    port = port_of(r)
    good = encode(("198.51.100.1", 1), ("127.0.0.1", port))
    for bad in (
        HEALTHZ,  # no header at all
        b"PROXY TCP4 198.51.100.1 127.0.0.1 1 8765\r\n" + HEALTHZ,  # v1 text
        good[:12] + b"\x11" + good[13:] + HEALTHZ,  # version 1 in a v2 header
        good[:13] + b"\x00" + good[14:] + HEALTHZ,  # PROXY with no address family
        good[:14] + b"\x00\x05" + good[16:21],  # an address block too short
        SIGNATURE + b"\x21\x11\xff\xff" + b"\x00" * 2000,  # 64 KiB declared
    ):
        assert await ask(port, bad) == "reset", bad
    # a header cut short, then the balancer closes: nothing answered
    assert await ask(port, good[:20], hang_up=True) in (b"", "reset")
    answer = await ask(port, good + HEALTHZ)
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 200"), answer
    # the LOCAL command (the balancer's own health check) is served as from the balancer
    local = SIGNATURE + b"\x20\x00\x00\x00"
    answer = await ask(port, local + HEALTHZ)
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 200"), answer


async def test_only_the_trusted_proxies_may_connect(edge: Start) -> None:
    r = await edge(trusted_proxies=("127.0.0.2/32",))
    port = port_of(r)
    header = encode(("198.51.100.1", 1), ("127.0.0.1", port)) + HEALTHZ
    assert await ask(port, header, local="127.0.0.1") == "reset"  # around the balancer
    answer = await ask(port, header, local="127.0.0.2")
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 200"), answer


async def test_a_proxied_address_penalised_for_flooding_is_reset(edge: Start) -> None:
    r = await edge(trusted_proxies=("127.0.0.1/32",), abuse_penalty_s=30.0)
    penalties = r.relay.ctx.limits.penalties  # type: ignore[attr-defined]
    penalties.add("203.0.113.66", 30.0)
    port = port_of(r)
    flooder = encode(("203.0.113.66", 1), ("127.0.0.1", port)) + HEALTHZ
    assert await ask(port, flooder) == "reset"
    assert refused(r, "penalty") == 1
    honest = encode(("203.0.113.67", 1), ("127.0.0.1", port)) + HEALTHZ
    assert (await ask(port, honest)).startswith(b"HTTP/1.1 200")  # type: ignore[union-attr]


# ---------------------------------------------------------------- through a real HAProxy

HAPROXY_CFG = """global
    maxconn 100
    log stderr format short local0 notice
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend phones
    bind 127.0.0.1:{port} ssl crt {pem}
    default_backend relay
backend relay
    option httpchk GET /healthz
    http-check expect status 200
    server relay 127.0.0.1:{relay_port} send-proxy-v2 check check-send-proxy inter 200ms rise 1 fall 1
"""


async def test_behind_haproxy_the_limits_count_each_phone_not_the_balancer(
    edge: Start, tmp_path: Path
) -> None:
    exe = shutil.which("haproxy")
    if exe is None:
        pytest.skip("no haproxy on PATH (Debian's package: apt-get install haproxy)")
    r = await edge(trusted_proxies=("127.0.0.1/32",), connections_per_address=2)
    files = r.relay.tls_files  # type: ignore[attr-defined]
    pem = tmp_path / "haproxy.pem"
    pem.write_bytes(files.server_cert.read_bytes() + files.server_key.read_bytes())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=port, pem=pem, relay_port=port_of(r)))
    log = tmp_path / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    url = f"wss://127.0.0.1:{port}/v1/citizen"

    async def phone(local: str) -> Peer:
        ws = await connect(url, ssl=r.ssl, compression=None, open_timeout=10, local_addr=(local, 0))
        return Peer(ws, codec.citizen_outbound)

    try:
        await wait_until(lambda: _listening(port), timeout=10)
        a1, a2 = await phone("127.0.0.2"), await phone("127.0.0.2")
        for p in (a1, a2):
            await register(p)
        # HAProxy closes the phone's connection when the relay resets its own
        with pytest.raises((InvalidMessage, ConnectionClosed, OSError)):
            await register(await phone("127.0.0.2"))
        assert refused(r) == 1  # over the limit for 127.0.0.2, at its PROXY header
        b = await phone("127.0.0.3")  # another phone, the same balancer
        await register(b)
        assert sorted(c.remote_address[0] for c in relay_side(r)) == [
            "127.0.0.2",
            "127.0.0.2",
            "127.0.0.3",
        ]
        for p in (a1, a2, b):
            await p.ws.close()
        # its health checks (a PROXY header each, every 200 ms, one failure enough to take
        # the relay out: with `expect status 201` no phone gets in) passed all along
        text = log.read_text(errors="replace")
        assert "is DOWN" not in text, text
    finally:
        proc.terminate()
        proc.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
