"""Common conversations with a running relay (log in an officer, register a device)."""

from __future__ import annotations

from typing import Any

from backend_client import messages as m
from tests.conftest import PASSWORD, RunningRelay
from tests.support.peer import Peer, next_id
from tests.support.totp import fresh_code

PRESTON = (53.7590, -2.6990)


async def officer(r: RunningRelay, name: str = "dana", subscribe: int | None = 0) -> Peer:
    p = await Peer.open(r.officer_url, r.ssl, officer=True)
    ok = await p.request(
        m.Login(id=next_id(), username=name, password=PASSWORD, totp=fresh_code(r.totp[name]))
    )
    assert isinstance(ok, m.AuthOk), ok
    if subscribe is not None:
        sub = await p.request(m.Subscribe(id=next_id(), since=subscribe))
        assert isinstance(sub, m.Subscribed), sub
    return p


async def device(
    r: RunningRelay,
    lat: float = PRESTON[0],
    lon: float = PRESTON[1],
    categories: tuple[str, ...] = ("burglary",),
) -> tuple[Peer, m.DeviceRegistered]:
    p = await Peer.open(r.citizen_url, r.ssl, officer=False)
    reg = await p.request(m.DeviceRegister(id=next_id(), platform="test"))
    assert isinstance(reg, m.DeviceRegistered), reg
    assert isinstance(
        await p.request(m.SetCategories(id=next_id(), categories=list(categories))), m.Ack
    )  # type: ignore[arg-type]
    assert isinstance(await p.request(m.LocationUpdate(id=next_id(), lat=lat, lon=lon)), m.Ack)
    return p, reg


async def device_back(r: RunningRelay, reg: m.DeviceRegistered) -> Peer:
    """A registered device coming back on a new connection (`device.auth`)."""
    p = await Peer.open(r.citizen_url, r.ssl, officer=False)
    ok = await p.request(m.DeviceAuth(id=next_id(), device_id=reg.device_id, secret=reg.secret))
    assert isinstance(ok, m.DeviceAuthed), ok
    return p


async def report(p: Peer, text: str = "Two men trying door handles", **kw: Any) -> m.ReportAccepted:
    fields: dict[str, Any] = dict(
        id=next_id(),
        client_ref=next_id(),
        category="burglary",
        text=text,
        lat=PRESTON[0],
        lon=PRESTON[1],
    )
    fields.update(kw)
    acc = await p.request(m.ReportSubmit(**fields))
    assert isinstance(acc, m.ReportAccepted), acc
    return acc


def square(d: float = 0.01, centre: tuple[float, float] = PRESTON) -> m.Polygon:
    """A square of 2d degrees around `centre` (lat, lon), as the map would draw it."""
    lat, lon = centre
    return m.Polygon(
        coordinates=[(lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d)]
    )


def alert_info(**kw: Any) -> m.AlertInfo:
    """A burglary alert for Preston centre, valid for an hour; override any field."""
    import time

    fields: dict[str, Any] = dict(
        categories=["burglary"],
        area=square(),
        area_desc="Preston centre",
        headline="Burglaries tonight",
        description="Lock doors",
        expires_at=time.time() + 3600,
        contact="Call 101",
        incident_ref=None,
    )
    fields.update(kw)
    return m.AlertInfo(**fields)
