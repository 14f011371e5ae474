"""What the relay keeps per idle phone (bench/idle_connections.py measures how much): no
keepalive task of its own, no handshake headers, the shared TLS read buffer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend_client import messages as m
from relay import tls_buffers
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import device, officer
from tests.support.peer import next_id, wait_until


async def test_a_phone_holds_no_keepalive_task_or_headers_and_an_officer_keeps_its_pings(
    relay: RunningRelay,
) -> None:
    r: Any = relay.relay
    off = await officer(relay)
    phone, _ = await device(relay)
    ws = next(iter(r.hub.citizens.values()))
    assert ws.keepalive_task is None  # relay/keepalive.py pings it
    assert ws.request is not None and ws.request.path == "/v1/citizen"
    assert list(ws.request.headers.raw_items()) == [] and ws.response is None
    [officer_ws] = r.hub.officers_live
    assert officer_ws.keepalive_task is not None  # websockets' own, as before
    assert tls_buffers.installed()
    assert ws.transport._ssl_protocol._ssl_buffer is officer_ws.transport._ssl_protocol._ssl_buffer
    # the phone still gets every answer (the routes table) after all this
    pong = await phone.request(m.Ping(id=next_id(), t=1.0))
    assert isinstance(pong, m.Pong)
    await phone.ws.close()
    await off.ws.close()


async def test_the_relay_pings_idle_phones_and_drops_one_that_stopped_answering(
    tmp_path: Path,
) -> None:
    running = await start_relay(tmp_path / "relay", keepalive_s=0.2)
    r: Any = running.relay
    try:
        phone, _ = await device(running)
        ws = next(iter(r.hub.citizens.values()))
        await wait_until(lambda: ws.latency > 0)  # pinged by the shared task, pong came back
        # the phone goes silent (its pongs no longer reach the relay): dropped, 1011
        phone_ws: Any = phone.ws
        phone_ws.transport.pause_reading()
        await wait_until(lambda: ws.protocol.close_sent is not None, timeout=5)
        assert ws.protocol.close_sent.code == 1011  # keepalive ping timeout
        await wait_until(lambda: not r.hub.citizens, timeout=15)  # gone after close_timeout
    finally:
        await r.stop()
