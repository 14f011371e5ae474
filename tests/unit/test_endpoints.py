"""The endpoints' dispatch, driven with raw text frames over an in-memory RelayContext.

Everything behind the context is real (the SQLite writer in tmp_path, the media store, the
hub, the device index); only the socket is a stand-in that records what the endpoint
sends, because this tests what an endpoint answers to a frame, not the wire (the
integration tests run the real relay over TLS for that).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.protocol import State

from backend_client import codec
from backend_client import messages as m
from relay import admin
from relay.citizen import CitizenConnection
from relay.config import RelayConfig
from relay.context import RelayContext
from relay.db.uow import Database
from relay.delivery import Delivery
from relay.hub import Hub
from relay.media import MediaStore
from relay.metrics import Metrics
from relay.officer import OfficerConnection
from relay.secret_box import SecretBox, key_path
from relay.signin import SignIn
from relay.targeting import DeviceIndex
from tests.conftest import PASSWORD
from tests.support.totp import fresh_code

PRESTON = (53.7590, -2.6990)


class FakeWs:
    """Stands in for a ServerConnection: yields `incoming`, records every frame sent."""

    def __init__(self, incoming: list[str] | None = None) -> None:
        self.incoming = incoming or []
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass

    async def __aiter__(self) -> AsyncIterator[str]:
        for text in self.incoming:
            yield text


@dataclass
class Harness:
    ctx: RelayContext
    totp: dict[str, str]  # username -> TOTP secret


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    engine = admin.open_engine(tmp_path)
    totp = {
        name: admin.add_officer(engine, name, role, PASSWORD).totp_secret
        for name, role in [("dana", "dispatcher"), ("sam", "supervisor")]
    }
    hub, metrics = Hub(), Metrics()
    database = Database(engine, on_events=hub.publish)
    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        return task

    config = RelayConfig(data_dir=tmp_path)
    box = SecretBox.load_or_create(key_path(tmp_path))
    ctx = RelayContext(
        config=config,
        db=database,
        hub=hub,
        index=DeviceIndex(),
        media=MediaStore(tmp_path / "media"),
        metrics=metrics,
        spawn=spawn,
        delivery=Delivery(database, hub, metrics),
        signin=SignIn.for_config(config, box),
    )
    try:
        yield Harness(ctx, totp)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(database.close)


def frame(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, **fields})


async def login(h: Harness, name: str) -> OfficerConnection:
    conn = OfficerConnection(h.ctx, FakeWs())  # type: ignore[arg-type]
    reply = await conn.handle(
        frame(
            "auth.login",
            id="L1",
            username=name,
            password=PASSWORD,
            totp=fresh_code(h.totp[name]),
        )
    )
    assert isinstance(reply, m.AuthOk), reply
    assert reply.re == "L1" and reply.username == name
    return conn


# ------------------------------------------------------------ citizen


async def test_registered_device_report_is_accepted_and_published_to_the_hub(
    harness: Harness,
) -> None:
    hub = harness.ctx.hub
    observer = FakeWs()
    hub.begin_replay(observer)  # type: ignore[arg-type]  # an officer catching up sees it
    ws = FakeWs()
    cit = CitizenConnection(harness.ctx, ws)  # type: ignore[arg-type]

    reg = await cit.handle(frame("device.register", id="r1", platform="test"))
    assert isinstance(reg, m.DeviceRegistered) and reg.re == "r1"
    assert cit.device_key is not None and hub.citizens[cit.device_key] is cast(object, ws)

    acc = await cit.handle(
        frame(
            "report.submit",
            id="r2",
            client_ref="c1",
            category="burglary",
            text="Two men trying door handles",
            lat=PRESTON[0],
            lon=PRESTON[1],
        )
    )
    assert isinstance(acc, m.ReportAccepted), acc
    assert acc.re == "r2" and acc.missing == []

    published = hub.take_buffer(observer)  # type: ignore[arg-type]
    assert len(published) == 1
    seq, text = published[0]
    event = codec.officer_outbound.decode(text)
    assert isinstance(event, m.ReportCreated)
    assert event.seq == seq == harness.ctx.db.head_seq
    assert event.report.report_id == acc.report_id
    assert event.report.text == "Two men trying door handles"
    assert harness.ctx.metrics.registry.get_sample_value("lookout_reports_submitted_total") == 1.0
    assert ws.sent == []  # every reply went back through handle's return value

    cit.closed()
    assert hub.citizens == {}


async def test_citizen_request_before_registering_is_unauthenticated(harness: Harness) -> None:
    cit = CitizenConnection(harness.ctx, FakeWs())  # type: ignore[arg-type]
    reply = await cit.handle(frame("device.location", id="x1", lat=PRESTON[0], lon=PRESTON[1]))
    assert isinstance(reply, m.Error)
    assert (reply.code, reply.re) == ("unauthenticated", "x1")
    assert len(harness.ctx.index) == 0  # nothing applied
    assert harness.ctx.db.head_seq == 0


async def test_each_bad_frame_gets_exactly_one_error_and_the_connection_lives_on(
    harness: Harness,
) -> None:
    ws = FakeWs(
        [
            "{not json",
            frame("no.such.type", id="u1"),
            frame("device.register", id="m1", platform=7),
            frame("ping", id="p1", t=1.5),
        ]
    )
    await CitizenConnection(harness.ctx, ws).run()  # type: ignore[arg-type]

    replies = [codec.citizen_outbound.decode(text) for text in ws.sent]
    assert len(replies) == 4, replies
    errors = [e for e in replies[:3] if isinstance(e, m.Error)]
    assert [(e.code, e.re) for e in errors] == [
        ("malformed", None),
        ("unknown_type", "u1"),
        ("malformed", "m1"),
    ]
    assert replies[3] == m.Pong(re="p1", t=1.5)
    errors_total = harness.ctx.metrics.registry.get_sample_value(
        "lookout_errors_total", {"endpoint": "citizen", "code": "malformed"}
    )
    assert errors_total == 2.0


# ------------------------------------------------------------ officer


async def test_officer_request_without_login_is_unauthenticated(harness: Harness) -> None:
    conn = OfficerConnection(harness.ctx, FakeWs())  # type: ignore[arg-type]
    reply = await conn.handle(frame("subscribe", id="s1", since=0))
    assert isinstance(reply, m.Error)
    assert (reply.code, reply.re) == ("unauthenticated", "s1")
    assert harness.ctx.hub.sessions() == []
    assert harness.ctx.hub.officers_live == set()


async def test_dispatcher_may_not_approve_an_alert_but_a_supervisor_may_ask(
    harness: Harness,
) -> None:
    approve = frame("alert.approve", id="a1", idem="k1", alert_id="A-0000000001")

    dana = await login(harness, "dana")
    refused = await dana.handle(approve)
    assert isinstance(refused, m.Error)
    assert (refused.code, refused.re) == ("forbidden", "a1")

    sam = await login(harness, "sam")
    reply = await sam.handle(approve)
    assert isinstance(reply, m.Error)
    assert reply.code == "not_found"  # past the role check: there is no such alert


async def test_login_registers_the_session_in_the_hub_and_closing_drops_it(
    harness: Harness,
) -> None:
    hub = harness.ctx.hub
    dana = await login(harness, "dana")
    assert hub.sessions() == [dana]
    assert await dana.still_valid()
    dana.closed()
    assert hub.sessions() == []


# ------------------------------------------------------------ delivery


async def test_changed_alert_counts_are_taken_once_in_key_order(harness: Harness) -> None:
    delivery = harness.ctx.delivery
    for pk in (3, 1, 3):
        delivery.counts_changed(pk)
    assert delivery.take_dirty() == [1, 3]
    assert delivery.take_dirty() == []


class GoneWs(FakeWs):
    """A phone that drops as the relay answers its sign-in: every send raises."""

    state = State.OPEN

    async def send(self, text: str) -> None:
        self.sent.append(text)
        raise ConnectionClosedError(None, None)


async def test_a_phone_gone_while_signing_in_ends_its_connection_quietly(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A phone that vanishes while the relay sends it `device.authed` (thousands do when a
    node dies and they all come back at once) is a closed connection, not a failed request:
    no ERROR with a traceback, no `internal` error counted, nothing stored undone."""
    reg = await CitizenConnection(harness.ctx, FakeWs()).handle(  # type: ignore[arg-type]
        frame("device.register", id="r1", platform="test")
    )
    assert isinstance(reg, m.DeviceRegistered)
    ws = GoneWs([frame("device.auth", id="a1", device_id=reg.device_id, secret=reg.secret)])
    cit = CitizenConnection(harness.ctx, ws)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="relay"):
        await asyncio.wait_for(cit.run(), 10)
    assert [codec.citizen_outbound.decode(t).__class__ for t in ws.sent] == [m.DeviceAuthed]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    internal = harness.ctx.metrics.registry.get_sample_value(
        "lookout_errors_total", {"endpoint": "citizen", "code": "internal"}
    )
    assert internal in (None, 0.0)
    assert harness.ctx.hub.citizens == {}  # closed() detached it
