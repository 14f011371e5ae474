"""Floods against the real relay over TLS: each is limited, answered `rate_limited` with a
retry time, honest clients carry on, and nothing stored is lost.

Each relay here is started with small limits and without the loopback allowlist the other
tests use (tests/conftest.py TEST_LIMITS), so the limits apply to 127.0.0.1 as they would
to any address on the internet.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend_client import messages as m
from relay.listener import GatedListener
from tests.conftest import LOOPBACK, PASSWORD, RunningRelay, relays
from tests.support.flows import PRESTON, device, device_back, officer, report
from tests.support.peer import Peer, next_id, wait_until
from tests.support.totp import fresh_code

Start = Callable[..., Awaitable[RunningRelay]]


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Start]:
    """`await limited(**config)`: a relay with those limits, loopback not exempt."""
    async with relays(tmp_path, address_allowlist=(), counts_interval_s=0.1) as start:
        yield start


async def wait_seconds(seconds: float) -> None:
    """Let a bucket refill: wait on the clock the relay's limits use."""
    until = time.monotonic() + seconds
    await wait_until(lambda: time.monotonic() >= until, timeout=seconds + 5)


async def pings(p: Peer, n: int) -> list[m.Msg]:
    """Send `n` pings back to back (no waiting), then collect the reply to each."""
    ids = [next_id() for _ in range(n)]
    for rid in ids:
        await p.send(m.Ping(id=rid))
    return [await p.wait_for(lambda x, r=rid: getattr(x, "re", None) == r) for rid in ids]


def rate_limited(msg: m.Msg) -> bool:
    return isinstance(msg, m.Error) and msg.code == "rate_limited"


async def raw_citizen(r: RunningRelay) -> Peer:
    return await Peer.open(r.citizen_url, r.ssl, officer=False)


# ---------------------------------------------------------------- messages per connection


async def test_a_ping_flood_is_limited_per_connection(limited: Start) -> None:
    r = await limited(citizen_messages_per_s=2.0, citizen_message_burst=10, refusals_before_close=0)
    flooder, _ = await device(r)  # register, categories, location: 3 of the 10
    honest, _ = await device(r)
    replies = await pings(flooder, 60)
    pongs = [x for x in replies if isinstance(x, m.Pong)]
    refused = [x for x in replies if rate_limited(x)]
    assert len(pongs) + len(refused) == 60
    assert 5 <= len(pongs) <= 12, len(pongs)  # the burst left, plus what refilled meanwhile
    assert all(isinstance(x, m.Error) and (x.retry_after_s or 0) > 0 for x in refused)
    # another connection is not affected, and the flooder is served again after waiting
    assert isinstance(await honest.request(m.Ping(id=next_id())), m.Pong)
    last = refused[-1]
    assert isinstance(last, m.Error) and last.retry_after_s is not None
    await wait_seconds(last.retry_after_s)
    assert isinstance(await flooder.request(m.Ping(id=next_id())), m.Pong)


async def test_a_flood_that_ignores_rate_limited_is_closed(limited: Start) -> None:
    r = await limited(citizen_messages_per_s=1.0, citizen_message_burst=5, refusals_before_close=10)
    flooder, _ = await device(r)
    honest, _ = await device(r)
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(200):
            await flooder.send(m.Ping(id=next_id()))
        while True:
            await flooder.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert "rate limit" in info.value.rcvd.reason
    assert isinstance(await honest.request(m.Ping(id=next_id())), m.Pong)


async def test_a_flood_that_squeezes_frames_through_on_refills_is_closed_too(
    limited: Start,
) -> None:
    """A flooder that paces itself just above the limit gets a frame through on every
    refill, so it is never refused many times *in a row*; it is still closed, for the
    refusals it collects within a few seconds."""
    r = await limited(
        citizen_messages_per_s=20.0, citizen_message_burst=5, refusals_before_close=60
    )
    flooder, _ = await device(r)
    honest, _ = await device(r)
    passed = refused = 0
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(400):  # about 8 s at one request per poll of the clock (~20 ms)
            reply = await flooder.request(m.Ping(id=next_id()))
            passed += isinstance(reply, m.Pong)
            refused += rate_limited(reply)
            await wait_seconds(0.001)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert passed >= 5 and refused >= 30  # it did squeeze frames through between refusals
    assert isinstance(await honest.request(m.Ping(id=next_id())), m.Pong)


def _noise_png(side: int) -> bytes:
    """A PNG that does not compress (random pixels), so its size is about side² × 3."""
    import random

    rnd = random.Random(8)
    img = Image.frombytes("RGB", (side, side), rnd.randbytes(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


async def test_media_chunks_count_by_bytes_and_the_upload_completes(limited: Start) -> None:
    r = await limited(inbound_bytes_per_s=50_000, inbound_byte_burst=250_000)
    cit, _ = await device(r)
    photo = _noise_png(300)  # about 270 KB: two chunks of 150 KB, 200 KB each as base64
    sha = hashlib.sha256(photo).hexdigest()
    decl = m.MediaDecl(sha256=sha, mime="image/png", size=len(photo))
    acc = await report(cit, media=[decl])
    half = 150_000
    parts = [(0, photo[:half]), (half, photo[half:])]
    first, second = (
        m.MediaChunk(id=next_id(), report_id=acc.report_id, sha256=sha, offset=o, data=d)
        for o, d in parts
    )
    got = await cit.request(first)
    assert isinstance(got, m.MediaProgress) and not got.complete
    await cit.send(second)  # sent at once: over the byte budget
    refused = await cit.wait_for(lambda x: getattr(x, "re", None) == second.id)
    assert rate_limited(refused), refused
    assert isinstance(refused, m.Error) and refused.retry_after_s is not None
    await wait_seconds(refused.retry_after_s)
    done = await cit.request(second)  # the same chunk again, after the wait
    assert isinstance(done, m.MediaProgress) and done.complete
    assert r.relay.media.has(sha)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- reports per device


async def test_a_report_flood_from_one_device_is_limited_and_resubmissions_still_answer(
    limited: Start,
) -> None:
    r = await limited(reports_per_device_per_hour=3)
    off = await officer(r)
    cit, reg = await device(r)
    a = await report(cit, client_ref="ref-a", text="A")
    again = await report(cit, client_ref="ref-a", text="A")  # a lost ack: does not count
    assert again.report_id == a.report_id
    b = await report(cit, client_ref="ref-b", text="B")
    c = await report(cit, client_ref="ref-c", text="C")
    flood = [
        await cit.request(
            m.ReportSubmit(
                id=next_id(),
                client_ref=f"fake-{i}",
                category="violence",
                text="fake",
                lat=PRESTON[0],
                lon=PRESTON[1],
            )
        )
        for i in range(20)
    ]
    assert all(rate_limited(x) for x in flood), flood[:3]
    first = flood[0]
    assert isinstance(first, m.Error) and first.retry_after_s is not None
    assert 1000 <= first.retry_after_s <= 1201  # one report more in 20 minutes at 3 an hour
    # past the limit a resubmission still gets its original answer
    assert (await report(cit, client_ref="ref-b", text="B")).report_id == b.report_id
    # the limit is the device's, not the connection's
    await cit.close()
    back = await raw_citizen(r)
    authed = await back.request(
        m.DeviceAuth(id=next_id(), device_id=reg.device_id, secret=reg.secret)
    )
    assert isinstance(authed, m.DeviceAuthed)
    assert rate_limited(
        await back.request(
            m.ReportSubmit(
                id=next_id(),
                client_ref="after-reconnect",
                category="other",
                text="x",
                lat=PRESTON[0],
                lon=PRESTON[1],
            )
        )
    )
    # another device files normally; consoles saw the four real reports, no fake one
    other, _ = await device(r)
    d = await report(other, client_ref="ref-d", text="D")
    created: list[str] = []
    while len(created) < 4:
        ev = await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
        assert isinstance(ev, m.ReportCreated)
        created.append(ev.report.report_id)
    assert created == [a.report_id, b.report_id, c.report_id, d.report_id]
    # and everything stored is still there for a console replaying from the start
    fresh = await officer(r, name="dev", subscribe=None)
    await fresh.send(m.Subscribe(id=next_id(), since=0))
    await fresh.wait_for(lambda e: isinstance(e, m.Subscribed))
    replayed = [e.report.report_id for e in fresh.seen if isinstance(e, m.ReportCreated)]
    assert replayed == created


# ---------------------------------------------------------------- registrations per address


async def test_registrations_per_address_are_limited(limited: Start) -> None:
    r = await limited(registrations_per_address_per_hour=3)
    known, _ = await device(r)
    p = await raw_citizen(r)
    mine = []
    for _ in range(2):  # 3 an hour from this address: `known` took the first
        reg = await p.request(m.DeviceRegister(id=next_id(), platform="x"))
        assert isinstance(reg, m.DeviceRegistered)
        mine.append(reg)
    refused = [await p.request(m.DeviceRegister(id=next_id(), platform="x")) for _ in range(20)]
    assert all(rate_limited(x) for x in refused)
    assert isinstance(refused[0], m.Error) and (refused[0].retry_after_s or 0) > 1000
    other = await raw_citizen(r)  # a new socket from the same address is no way round
    assert rate_limited(await other.request(m.DeviceRegister(id=next_id(), platform="x")))
    # a device that already exists still signs in and works
    authed = await other.request(
        m.DeviceAuth(id=next_id(), device_id=mine[0].device_id, secret=mine[0].secret)
    )
    assert isinstance(authed, m.DeviceAuthed)
    assert isinstance(await known.request(m.Ping(id=next_id())), m.Pong)


async def test_an_allowlisted_address_is_not_limited_per_address(limited: Start) -> None:
    r = await limited(registrations_per_address_per_hour=3, address_allowlist=LOOPBACK)
    p = await raw_citizen(r)
    for _ in range(10):
        assert isinstance(
            await p.request(m.DeviceRegister(id=next_id(), platform="nat")), m.DeviceRegistered
        )


# ---------------------------------------------------------------- connections per address

#: a second loopback address: the honest peer, beside a flooder on 127.0.0.1
OTHER = "127.0.0.2"


async def _connect(r: RunningRelay, path: str = "/v1/citizen", source: str | None = None) -> Any:
    return await connect(
        f"{r.relay.url}{path}",  # type: ignore[attr-defined]
        ssl=r.ssl,
        compression=None,
        open_timeout=10,
        local_addr=(source, 0) if source else None,
    )


def refused(r: RunningRelay, where: str, limit: str) -> float:
    """Connections refused so far at `where` ("accept" or "http") for `limit`."""
    value = r.relay.metrics.registry.get_sample_value(  # type: ignore[attr-defined]
        "lookout_rate_limited_total", {"endpoint": where, "limit": limit}
    )
    return value or 0.0


async def reset_at_accept(r: RunningRelay, path: str = "/v1/citizen") -> None:
    """The connection is reset before its TLS handshake: an OSError, never an HTTP answer."""
    with pytest.raises(OSError):  # ConnectionResetError, or an SSL EOF: no InvalidStatus
        await _connect(r, path)


async def admitted_again(r: RunningRelay, source: str | None = None) -> Any:
    """A connection from `source`, retried until the relay admits one (5 s at most)."""
    for _ in range(50):
        try:
            return await _connect(r, source=source)
        except OSError:
            await wait_seconds(0.1)
    pytest.fail("no connection admitted")


async def test_a_connection_flood_from_one_address_is_refused_at_accept(limited: Start) -> None:
    r = await limited(connections_per_address=4)
    honest = await _connect(r, source=OTHER)
    held = [await _connect(r) for _ in range(4)]
    for path in ("/v1/citizen", "/v1/officer"):
        await reset_at_accept(r, path)
    assert refused(r, "accept", "connections") == 2
    assert refused(r, "http", "connections") == 0  # no handshake was paid for them
    await asyncio.wait_for(await honest.ping(), 5)  # another address is untouched
    await (await _connect(r, source=OTHER)).close()
    await held.pop().close()  # a slot frees when a socket closes
    held.append(await admitted_again(r))
    for ws in [*held, honest]:
        await ws.close()


async def test_a_tls_handshake_in_flight_holds_a_slot_until_it_fails(limited: Start) -> None:
    """Sockets are counted from accept, so connecting and never finishing TLS cannot get
    round the limit; a handshake that fails gives its slot back."""
    r = await limited(connections_per_address=3)
    port = r.relay.port  # type: ignore[attr-defined]
    raw = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await reset_at_accept(r)
    for _, writer in raw:
        writer.write(b"not a TLS ClientHello\r\n\r\n")  # the handshake fails at once
    for reader, writer in raw:
        await asyncio.wait_for(reader.read(), 10)  # until the relay closes it
        writer.close()
    await (await admitted_again(r)).close()


async def test_an_address_closed_for_flooding_is_refused_at_accept_for_a_while(
    limited: Start,
) -> None:
    r = await limited(
        citizen_messages_per_s=1.0,
        citizen_message_burst=5,
        refusals_before_close=10,
        abuse_penalty_s=1.0,
    )
    flooder, reg = await device(r)
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(20):  # 2 in the burst, 10 refused, a few more: it is closed at once
            await flooder.send(m.Ping(id=next_id()))
        while True:
            await flooder.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    closed_at = time.monotonic()
    await reset_at_accept(r)  # it comes straight back: reset before TLS
    assert refused(r, "accept", "penalty") == 1
    await (await _connect(r, source=OTHER)).close()  # only that address is penalised
    await (await admitted_again(r)).close()
    assert time.monotonic() - closed_at >= 0.9  # not before the penalty ran out
    back = await device_back(r, reg)  # and the device signs in as before
    assert isinstance(await back.request(m.Ping(id=next_id())), m.Pong)
    await back.close()


async def test_logins_while_locked_out_close_the_socket_and_penalise_its_address(
    limited: Start,
) -> None:
    r = await limited(
        login_free_failures=1,
        login_address_free_failures=1,
        login_refusals_before_close=10,
        abuse_penalty_s=30.0,
    )
    guesser = await Peer.open(r.officer_url, r.ssl, officer=True)
    answers: list[str] = []
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(50):
            guess = m.Login(id=next_id(), username="dana", password="guess", totp="000000")
            reply = await guesser.request(guess)
            answers.append(getattr(reply, "code", ""))
    # two failures (the second starts the lockout), then ten refusals, the last one closing
    assert answers == ["bad_credentials"] * 2 + ["rate_limited"] * 10, answers
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert "locked out" in info.value.rcvd.reason
    await reset_at_accept(r, "/v1/officer")
    honest = await _connect(r, "/v1/officer", source=OTHER)
    await honest.close()


async def test_on_a_loop_that_accepts_by_itself_the_upgrade_still_refuses_with_429(
    limited: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proactor loop (Windows) or uvloop never calls the listener's accept(): nothing is
    counted at accept, and the upgrade counts and refuses as it did before."""
    monkeypatch.setattr(GatedListener, "accept", socket.socket.accept)
    r = await limited(
        connections_per_address=4,
        citizen_messages_per_s=1.0,
        citizen_message_burst=5,
        refusals_before_close=10,
        abuse_penalty_s=30.0,
    )
    honest, _ = await device(r)  # one of the four
    held = [await _connect(r) for _ in range(3)]
    for path in ("/v1/citizen", "/v1/officer"):
        with pytest.raises(InvalidStatus) as status:
            await _connect(r, path)
        assert status.value.response.status_code == 429
        assert int(status.value.response.headers["Retry-After"]) > 0
    assert refused(r, "accept", "connections") == 0
    assert isinstance(await honest.request(m.Ping(id=next_id())), m.Pong)
    for ws in held:
        await ws.close()
    with pytest.raises(ConnectionClosed):  # a flood: closed, and its address penalised
        for _ in range(100):
            await honest.send(m.Ping(id=next_id()))
        while True:
            await honest.recv()
    with pytest.raises(InvalidStatus) as status:
        await _connect(r)
    assert status.value.response.status_code == 429
    assert "flooding" in status.value.response.body.decode()
    assert refused(r, "http", "penalty") == 1


async def test_allowlisted_address_may_hold_more_connections(limited: Start) -> None:
    r = await limited(connections_per_address=4, address_allowlist=("127.0.0.1/32", "::1"))
    held = [await _connect(r) for _ in range(12)]
    for ws in held:
        await ws.close()


# ---------------------------------------------------------------- authentication deadline


async def test_a_socket_that_never_authenticates_is_closed(limited: Start) -> None:
    r = await limited(auth_deadline_s=0.5)
    signed_in, _ = await device(r)
    idle_officer = await Peer.open(r.officer_url, r.ssl, officer=True)
    idle_citizen = await raw_citizen(r)
    pinging = await raw_citizen(r)  # pings keep no socket open: only signing in does
    assert isinstance(await pinging.request(m.Ping(id=next_id())), m.Pong)
    for p in (idle_officer, idle_citizen, pinging):
        with pytest.raises(ConnectionClosed) as info:
            await p.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        assert "authenticated" in info.value.rcvd.reason
    # well past the deadline, the signed-in device is still connected
    assert isinstance(await signed_in.request(m.Ping(id=next_id())), m.Pong)
    off = await officer(r)
    await wait_seconds(0.6)
    assert isinstance(await off.request(m.Ping(id=next_id())), m.Pong)


async def test_a_device_told_authed_is_not_closed_while_its_held_alerts_are_read(
    limited: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`device.authed` goes out before the held alerts and chat are read: a slow read (a
    busy database) must not let the deadline close the phone just told it is signed in."""
    from relay import alerts

    r = await limited(auth_deadline_s=0.5)
    phone, reg = await device(r)
    await phone.close()
    held_for = alerts.held_for
    reading, release, read = threading.Event(), threading.Event(), threading.Event()

    def slow_held_for(key: int, now: float) -> Callable[[Any], list[m.Alert]]:
        query = held_for(key, now)

        def slow(s: Any) -> list[m.Alert]:
            reading.set()
            release.wait(10)  # on the relay's reader thread, until past the deadline
            try:
                return query(s)
            finally:
                read.set()

        return slow

    monkeypatch.setattr(alerts, "held_for", slow_held_for)
    back = await device_back(r, reg)
    await wait_until(reading.is_set)
    await wait_seconds(1.0)  # the deadline (0.5 s) passes while the held alerts are read
    release.set()
    await wait_until(read.is_set)
    assert isinstance(await back.request(m.Ping(id=next_id())), m.Pong)
    assert isinstance(await back.request(m.Ping(id=next_id())), m.Pong)


async def test_a_device_auth_given_up_on_does_not_replace_the_newer_connection(
    limited: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone whose `device.auth` is slow (a busy database) gives up and signs in on a new
    connection; the old request, finishing later, must not close the new connection as
    "replaced by a newer connection"."""
    r = await limited()
    phone, reg = await device(r)
    await phone.close()
    database: Any = r.relay.db  # type: ignore[attr-defined]
    read = database.read
    slow_once = [True]
    waiting, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_read(fn: Any) -> Any:
        if not slow_once[0]:
            return await read(fn)
        slow_once[0] = False
        waiting.set()
        await asyncio.wait_for(release.wait(), 10)  # the database, busy
        try:
            return await read(fn)
        finally:
            finished.set()

    monkeypatch.setattr(database, "read", slow_read)
    given_up = await Peer.open(r.citizen_url, r.ssl, officer=False)
    await given_up.send(m.DeviceAuth(id=next_id(), device_id=reg.device_id, secret=reg.secret))
    await asyncio.wait_for(waiting.wait(), 10)  # the relay is waiting on the database
    await given_up.close()
    newer = await device_back(r, reg)
    release.set()  # the slow request finishes after the newer connection signed in
    await asyncio.wait_for(finished.wait(), 10)
    assert isinstance(await newer.request(m.Ping(id=next_id())), m.Pong)
    assert isinstance(await newer.request(m.Ping(id=next_id())), m.Pong)


async def test_the_auth_deadline_waits_for_a_sign_in_already_sent(
    limited: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline is for sending a sign-in: one sent in time but answered late (a busy
    database under the login's claim) still signs in; a wrong one answered late is then
    closed, as if the deadline had just passed."""
    r = await limited(auth_deadline_s=0.5)
    database: Any = r.relay.db  # type: ignore[attr-defined]
    write = database.write

    async def slow_write(fn: Any) -> Any:
        await asyncio.sleep(0.8)  # past the deadline, on every write of the login
        return await write(fn)

    monkeypatch.setattr(database, "write", slow_write)
    right = await Peer.open(r.officer_url, r.ssl, officer=True)
    ok = await right.request(
        m.Login(id=next_id(), username="dana", password=PASSWORD, totp=fresh_code(r.totp["dana"]))
    )
    assert isinstance(ok, m.AuthOk), ok
    wrong = await Peer.open(r.officer_url, r.ssl, officer=True)
    refused = await wrong.request(
        m.Login(id=next_id(), username="dev", password="not it", totp="000000")
    )
    assert isinstance(refused, m.Error), refused
    with pytest.raises(ConnectionClosed) as info:
        await wrong.recv(timeout=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    monkeypatch.setattr(database, "write", write)
    await wait_seconds(0.6)
    assert isinstance(await right.request(m.Ping(id=next_id())), m.Pong)


# ---------------------------------------------------------------- decoding


DEEP = ("[" * 100_000, '{"type":"ping","id":"deep","t":' + "[" * 100_000)


async def test_deep_nesting_is_malformed_without_a_traceback(
    relay: RunningRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for url, officer_side in ((relay.citizen_url, False), (relay.officer_url, True)):
        p = await Peer.open(url, relay.ssl, officer=officer_side)  # before any login
        for frame in DEEP:
            await p.send_raw(frame)
            err = await p.wait_for(lambda x: isinstance(x, m.Error))
            assert isinstance(err, m.Error) and err.code == "malformed", err
        alive = await p.request(m.Ping(id=next_id()))  # the connection still answers
        assert isinstance(alive, m.Pong) or getattr(alive, "code", "") == "unauthenticated"
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_repeated_bad_frames_log_one_line_per_connection(
    relay: RunningRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    p = await raw_citizen(relay)
    for frame in [*DEEP, "{not json", '{"type":"launch","id":"x"}'] * 10:
        await p.send_raw(frame)
        await p.wait_for(lambda x: isinstance(x, m.Error))
    lines = [r for r in caplog.records if r.name.startswith("relay")]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert not lines[0].exc_info
